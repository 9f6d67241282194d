//go:build tools

// Package tools pins controller-gen, which generates the deepcopy functions and
// CRD manifests of Tailor's APIs (make generate).
package tools

import _ "sigs.k8s.io/controller-tools/cmd/controller-gen"
