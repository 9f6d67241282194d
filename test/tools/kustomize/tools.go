//go:build tools

// Package tools pins kustomize, which the chart tests (test/chart) use to
// build the overlays of deploy/overlays that the chart must match.
package tools

import _ "sigs.k8s.io/kustomize/kustomize/v5"
