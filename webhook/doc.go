// Package webhook is Tailor's admission path: the pod mutator that gives new
// pods their recommended requests (the decision itself is the pure function
// in recommender/sizing) and the validators of the objects Tailor acts on.
// The pod handler runs a pipeline of steps (sizing first; placement next)
// whose patches and annotations are emitted once.
//
// Import rules (README's Layout; cmd/tailor TestImportRules enforces them):
//   - loops and controllers (*/controller, scaler/updater) are imported only
//     by cmd/tailor, which builds the shared clients and wires them up;
//   - pure packages (api, logic, model, sizing, validation, scale,
//     coordination, ...) may be imported across components;
//   - nothing imports webhook/, an entry point like cmd/, and nothing
//     outside test/ imports test/ (cmd/tailor only from its sandbox files,
//     which the release build leaves out).
package webhook
