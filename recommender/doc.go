// Package recommender is the vertical side of Tailor: controller is the
// recommender loop writing VPA recommendations; model, logic and input are
// its pure decision code, sizing the pure pod-sizing decision shared by the
// webhook and the updater, promsource the Prometheus client every loop gets
// from cmd/tailor.
//
// Import rules (README's Layout; cmd/tailor TestImportRules enforces them):
//   - loops and controllers (*/controller, scaler/updater) are imported only
//     by cmd/tailor, which builds the shared clients and wires them up;
//   - pure packages (api, logic, model, sizing, validation, scale,
//     coordination, ...) may be imported across components;
//   - nothing imports webhook/, an entry point like cmd/, and nothing
//     outside test/ imports test/ (cmd/tailor only from its sandbox files,
//     which the release build leaves out).
package recommender
