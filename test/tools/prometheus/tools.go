//go:build tools

// Package tools pins Prometheus for the e2e tests that read usage and history
// from it. It is built with -tags remove_all_sd (file and HTTP service
// discovery only; the tests use kwok's HTTP SD) and without the web UI
// assets (no builtinassets tag): the tests need only the HTTP API.
package tools

import _ "github.com/prometheus/prometheus/cmd/prometheus"
