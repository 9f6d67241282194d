//go:build tools

// Package tools pins metrics-server for the e2e harness.
package tools

import _ "sigs.k8s.io/metrics-server/cmd/metrics-server"
