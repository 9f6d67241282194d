module github.com/tailor-dev/tailor/test/tools/golangci-lint

// Pinned golangci-lint for make vet (importas: one alias per API package).
go 1.26.0

require github.com/golangci/golangci-lint/v2 v2.15.0 // indirect
