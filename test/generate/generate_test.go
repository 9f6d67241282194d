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
