// Package generate checks that the files make generate writes are up to date.
package generate

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestGeneratedFilesUpToDate runs the pinned controller-gen into a temporary
// folder with the Makefile's arguments and compares its output with the
// committed deepcopy files and CRDs.
func TestGeneratedFilesUpToDate(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^API_PATHS\s*:=\s*(.+)$`).FindSubmatch(makefile)
	if m == nil {
		t.Fatal("Makefile has no API_PATHS")
	}
	apiPaths := strings.Fields(string(m[1]))

	tmp := t.TempDir()
	gen := filepath.Join(tmp, "controller-gen")
	run(t, filepath.Join(root, "test", "tools", "controller-tools"), "go", "build", "-o", gen, "sigs.k8s.io/controller-tools/cmd/controller-gen")

	// CRDs: every file controller-gen writes must be committed, byte for byte.
	crdOut := filepath.Join(tmp, "crds")
	args := []string{"crd"}
	for _, p := range apiPaths {
		args = append(args, "paths="+p)
	}
	run(t, root, gen, append(args, "output:crd:artifacts:config="+crdOut)...)
	compareDir(t, crdOut, filepath.Join(root, "deploy", "crds"))

	// Deepcopy: one package at a time, since an output folder takes one file.
	pkgs := strings.Fields(run(t, root, "go", append([]string{"list", "-f", "{{.Dir}}"}, apiPaths...)...))
	if len(pkgs) == 0 {
		t.Fatal("no API packages found")
	}
	for _, dir := range pkgs {
		rel, err := filepath.Rel(root, dir)
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(tmp, "object", rel)
		run(t, root, gen, "object", "paths=./"+rel, "output:object:dir="+out)
		compareDir(t, out, dir)
	}
}

func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// compareDir checks that every file in got exists in committed with the same content.
func compareDir(t *testing.T, got, committed string) {
	t.Helper()
	entries, err := os.ReadDir(got)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 {
		t.Fatalf("controller-gen wrote nothing into %s", got)
	}
	for _, e := range entries {
		want, err := os.ReadFile(filepath.Join(got, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		have, err := os.ReadFile(filepath.Join(committed, e.Name()))
		if err != nil || !bytes.Equal(have, want) {
			t.Errorf("%s is stale or missing: run make generate and commit the result", filepath.Join(committed, e.Name()))
		}
	}
}

// TestChartUpToDate: the Helm chart's copies that make generate writes —
// its CRDs (deploy/crds), its dashboard (deploy/monitoring) and its version
// and appVersion (the release tag, deploy/base/kustomization.yaml images
// newTag) — match their sources.
func TestChartUpToDate(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	chart := filepath.Join(root, "deploy", "chart")
	stale := func(what string) {
		t.Errorf("deploy/chart/%s is stale or missing: run make generate and commit the result", what)
	}

	kust, err := os.ReadFile(filepath.Join(root, "deploy", "base", "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*newTag:\s*(\S+)\s*$`).FindSubmatch(kust)
	if m == nil {
		t.Fatal("deploy/base/kustomization.yaml has no images newTag")
	}
	tag := string(m[1])
	chartYAML, err := os.ReadFile(filepath.Join(chart, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"version: " + strings.TrimPrefix(tag, "v"), `appVersion: "` + tag + `"`} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(want) + `$`).Match(chartYAML) {
			t.Errorf("Chart.yaml lacks %q (release tag %s)", want, tag)
			stale("Chart.yaml")
		}
	}

	// crds/ holds exactly deploy/crds' manifests, byte for byte.
	want := map[string][]byte{}
	entries, err := os.ReadDir(filepath.Join(root, "deploy", "crds"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if filepath.Ext(e.Name()) != ".yaml" || e.Name() == "kustomization.yaml" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(root, "deploy", "crds", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		want[e.Name()] = data
	}
	if len(want) == 0 {
		t.Fatal("no CRD manifests in deploy/crds")
	}
	got, err := os.ReadDir(filepath.Join(chart, "crds"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range got {
		if _, ok := want[e.Name()]; !ok {
			t.Errorf("deploy/chart/crds/%s is not in deploy/crds: run make generate", e.Name())
		}
	}
	for name, data := range want {
		have, err := os.ReadFile(filepath.Join(chart, "crds", name))
		if err != nil || !bytes.Equal(have, data) {
			stale("crds/" + name)
		}
	}

	src, err := os.ReadFile(filepath.Join(root, "deploy", "monitoring", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	if have, err := os.ReadFile(filepath.Join(chart, "files", "grafana-dashboard.json")); err != nil || !bytes.Equal(have, src) {
		stale("files/grafana-dashboard.json")
	}
}
