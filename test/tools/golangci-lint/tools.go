//go:build tools

// Package tools pins golangci-lint, which make vet runs with .golangci.yml
// (one import alias per API package).
package tools

import _ "github.com/golangci/golangci-lint/v2/cmd/golangci-lint"
