// Package scaler is the horizontal side of Tailor and the pod updater:
// controller is the ReplicaAutoscaler loop and updater the in-place resize
// loop; api/v1alpha1 (imported as scalerv1), logic, validation, convert,
// resize and coordination are pure, and scale is the scale-subresource
// client and target resolution every loop gets from cmd/tailor.
//
// Import rules (README's Layout; cmd/tailor TestImportRules enforces them):
//   - loops and controllers (*/controller, scaler/updater) are imported only
//     by cmd/tailor, which builds the shared clients and wires them up;
//   - pure packages (api, logic, model, sizing, validation, scale,
//     coordination, ...) may be imported across components;
//   - nothing imports webhook/, an entry point like cmd/, and nothing
//     outside test/ imports test/ (cmd/tailor only from its sandbox files,
//     which the release build leaves out).
package scaler
