//go:build tools

// Package tools pins helm, which the chart tests (test/chart) and the e2e
// chart install use to render, lint and install deploy/chart.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
