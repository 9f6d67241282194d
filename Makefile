# Tailor's developer entry points. `make test` is what CI runs.
GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
# Every target builds as the release does: static (no cgo) and with paths
# trimmed. One build configuration means CI compiles the module's
# dependencies once, where the tests' default one and TestReleaseBuild's
# release build (deploy/Dockerfile's line) compiled them twice, ~6 minutes
# of a cold run. (go env's own GOFLAGS, e.g. -buildvcs=false, are kept.)
export CGO_ENABLED := 0
export GOFLAGS := -trimpath $(shell $(GO) env GOFLAGS)
# The release this tree is, from the image tag the manifests deploy.
RELEASE_VERSION := $(shell sed -n 's/^ *newTag: *//p' deploy/base/kustomization.yaml)
# The shipped binary (make release, deploy/Dockerfile) is built without the
# sandbox, which links the test harness; cmd/tailor's TestReleaseBuild checks
# that both use these tags and that the result links no test/ package.
RELEASE_TAGS := nosandbox
# The first e2e run builds the control plane (about 22 minutes on 2 cores with
# empty Go caches; README's "Two commands" has the whole cold run).
E2E_TIMEOUT ?= 60m
# Top-level e2e tests that call t.Parallel run this many at a time (each has
# its own namespaces and Tailor; see testLabel in test/e2e).
E2E_PARALLEL ?= 12
# An exec count, not a duration: a duration that expires while a worker is
# busy makes go test report "context deadline exceeded" on loaded machines.
FUZZTIME  ?= 20000x

.PHONY: build release version test unit hpacompare e2e fuzz bench bench-admission bench-admission-scale vet sandbox sandbox-down generate fresh-check scale

# The developer's binary, with "tailor sandbox" (make sandbox, the e2e tests).
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/tailor ./cmd/tailor

# The shipped binary, as deploy/Dockerfile builds it.
release:
	CGO_ENABLED=0 $(GO) build -tags $(RELEASE_TAGS) -trimpath -ldflags "-s -w -X main.version=$(RELEASE_VERSION) -X main.commit=$(COMMIT)" -o bin/tailor-release ./cmd/tailor

version:
	@echo $(RELEASE_VERSION)

# vet, gofmt and the rules of README's Layout section (cmd/tailor
# TestImportRules, TestImportAliases, TestReleaseBuild). The aliases were
# golangci-lint's importas, its only linter: a parse of the imports does
# the same without building golangci-lint (4 minutes of a cold run).
# (The release tags only leave files out: the release build itself, in
# TestReleaseBuild, is the check that what remains compiles.)
vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) test -count=1 -timeout 30m -run '^(TestImportRules|TestImportAliases|TestReleaseBuild)$$' ./cmd/tailor

# TestImportRules and TestReleaseBuild (a go list of the module and a
# release build: most of cmd/tailor's time) are make vet's, which make
# test runs first.
unit:
	$(GO) test -count=1 -timeout 20m -skip '^(TestImportRules|TestImportAliases|TestReleaseBuild)$$' $$($(GO) list ./... | grep -v /test/)

# scaler/logic against the upstream HPA replica calculator, from its own
# module (test/hpacompare) so that k8s.io/kubernetes stays out of go.mod.
hpacompare:
	cd test/hpacompare && $(GO) test ./...

# The first run builds the pinned control plane into ~/.cache/tailor (TestMain
# prints progress); later runs reuse it.
e2e:
	$(GO) test -count=1 -timeout $(E2E_TIMEOUT) -parallel $(E2E_PARALLEL) -v ./test/...

# One instrumented test binary per package (not one link per fuzzer),
# FUZZ_JOBS packages at a time (.ci/fuzz).
FUZZ_JOBS ?= 2
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) FUZZ_JOBS=$(FUZZ_JOBS) bash .ci/fuzz

test: vet unit hpacompare fuzz e2e

# Benchmarks of the decision logic and the webhook server (test/ is left
# out: its TestMain starts a control plane).
bench:
	$(GO) test -run '^$$' -bench . -benchmem $$($(GO) list ./... | grep -v /test/) | grep -E '^(Benchmark|ok|FAIL|goos|cpu)'

# The admission table of README's Performance section: Tailor's pod handler
# against a no-op webhook in one server process, alternating, over HTTPS
# (h2 and h1 × 1 and 3 containers × 1, 8 and 32 clients; several minutes).
BENCH_ROUNDS  ?= 5
BENCH_REVIEWS ?= 2000
bench-admission:
	TAILOR_BENCH_ADMISSION=1 TAILOR_BENCH_ROUNDS=$(BENCH_ROUNDS) TAILOR_BENCH_REVIEWS=$(BENCH_REVIEWS) $(GO) test -count=1 -timeout 60m -run '^$$' -bench '^BenchmarkAdmissionFloor$$' -benchtime 1x ./webhook | grep -vE '^(goos|goarch|pkg|cpu):'

# The same reviews posted to Tailor as installed over a filled cluster
# (SCALE_PODS pods, a VPA per 10): an admission replica (--components
# webhook) beside a process running the loops (LOOPS=same: one process
# with every default component instead), alternating with a no-op webhook
# in a process of its own (BENCH_ROUNDS rounds of BENCH_REVIEWS/2 per side
# and cell; several minutes; ADMISSION_ARGS adds flags to the measured
# tailor run; AA=1 puts a second no-op in Tailor's place: the noise floor).
LOOPS ?= separate
AA ?=
bench-admission-scale:
	TAILOR_ADMISSION_SCALE_PODS=$(SCALE_PODS) TAILOR_ADMISSION_LOOPS=$(LOOPS) TAILOR_ADMISSION_AA=$(AA) TAILOR_ADMISSION_ARGS='$(ADMISSION_ARGS)' TAILOR_BENCH_ROUNDS=$(BENCH_ROUNDS) TAILOR_BENCH_REVIEWS=$(BENCH_REVIEWS) $(GO) test -count=1 -timeout 40m -v ./test/e2e -run '^TestAdmissionAtScale$$' 2>&1 | grep -E 'MEASURED|\| proto|ready|written in|idle:|^(--- |ok|FAIL)|admission_scale_test'

# README's two commands verbatim in a fresh clone with empty caches (slow:
# builds everything; nightly-style, not part of make test).
fresh-check:
	bash .ci/fresh-check

# Tailor's memory over a filled cluster (10,000 pods, 1,000 VPAs; several
# minutes): the numbers behind README's sizing table.
SCALE_PODS ?= 10000
scale:
	TAILOR_SCALE_PODS=$(SCALE_PODS) $(GO) test -count=1 -timeout 40m -v ./test/e2e -run '^TestMemoryAtScale$$' 2>&1 | grep -E 'MEASURED|written in|^(--- |ok|FAIL)|scale_test'

sandbox: build
	@bin/tailor sandbox up

sandbox-down: build
	@bin/tailor sandbox down

# Deepcopy functions and CRD manifests from the API types, by the
# controller-gen pinned in test/tools/controller-tools, and the Helm chart's
# copies of them. test/generate fails when the committed output is stale.
CONTROLLER_GEN := bin/controller-gen
API_PATHS      := ./scaler/api/... ./provisioner/api/...

generate:
	$(GO) build -C test/tools/controller-tools -o $(CURDIR)/$(CONTROLLER_GEN) sigs.k8s.io/controller-tools/cmd/controller-gen
	$(CONTROLLER_GEN) object $(addprefix paths=,$(API_PATHS))
	$(CONTROLLER_GEN) crd $(addprefix paths=,$(API_PATHS)) output:crd:artifacts:config=deploy/crds
	@# The Helm chart: its CRDs and dashboard copied from deploy/, its version
	@# and appVersion from the release tag (test/generate checks all three).
	rm -f deploy/chart/crds/*.yaml
	for f in deploy/crds/*.yaml; do [ "$${f##*/}" = kustomization.yaml ] || cp "$$f" deploy/chart/crds/; done
	cp deploy/monitoring/grafana-dashboard.json deploy/chart/files/
	sed -i -E -e 's/^version: .*/version: $(patsubst v%,%,$(RELEASE_VERSION))/' -e 's/^appVersion: .*/appVersion: "$(RELEASE_VERSION)"/' deploy/chart/Chart.yaml
