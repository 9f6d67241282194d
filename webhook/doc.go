// Package webhook is Tailor's admission path: the pod mutator that gives new
// pods their recommended requests (the decision itself is the pure function
// in recommender/sizing) and the validators of the objects Tailor acts on.
// The pod handler runs a pipeline of steps (sizing, the startup boost,
// placement) whose patches and annotations are emitted once. It is on the
// API server's path for every pod of an opted-in namespace, so it serves
// AdmissionReviews itself (review.go: one validating pass over the body,
// the pod's fields decoded in the same scanner, decode.go; the response
// written from pooled buffers), reads the informers' indexers without
// copies and batches its Events; the validators use controller-runtime's
// admission.Webhook.
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
