package cluster

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestExeName(t *testing.T) {
	for pkg, want := range map[string]string{
		"k8s.io/kubernetes/cmd/kube-apiserver": "kube-apiserver",
		"go.etcd.io/etcd/server/v3":            "server",
		"sigs.k8s.io/kustomize/kustomize/v5":   "kustomize",
		"helm.sh/helm/v3/cmd/helm":             "helm",
		"example.com/tools/v":                  "v",
		"example.com/tools/v2beta":             "v2beta",
	} {
		if got := exeName(pkg); got != want {
			t.Errorf("exeName(%q) = %q, want %q", pkg, got, want)
		}
	}
}

// Every control-plane tool is built, and no two tools of one go build
// write the same file.
func TestBuildGroups(t *testing.T) {
	groups := buildGroups(tools())
	built := 0
	for _, g := range groups {
		seen := map[string]string{}
		for _, tl := range g {
			built++
			if tl.module != g[0].module || tl.ldflags != g[0].ldflags || tl.tags != g[0].tags {
				t.Errorf("%s shares a go build with %s but not its module or flags", tl.name, g[0].name)
			}
			if other, ok := seen[exeName(tl.pkg)]; ok {
				t.Errorf("%s and %s both build %s in one folder", other, tl.name, exeName(tl.pkg))
			}
			seen[exeName(tl.pkg)] = tl.name
		}
	}
	if built != len(tools()) {
		t.Errorf("groups hold %d tools, want %d", built, len(tools()))
	}
	// The five kube binaries are one build.
	if len(groups[0]) != 5 || groups[0][0].name != "etcd" {
		t.Errorf("first group %v, want etcd and the four kube binaries", names(groups[0]))
	}
}

func names(ts []tool) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.name)
	}
	return out
}

// TestToolsModulesAgree: every module that two of test/tools' modules
// require is required at one version (after replaces), so a package two
// tools compile (client-go, apiserver: most of kwok, metrics-server and
// cert-manager is kube's) has one action ID and a cold run compiles it
// once. To realign after pinning a tool: a temporary go.work over all of
// them, go work sync, go mod tidy in each, then require by hand any
// module kube replaces (its k8s.io/* staging modules) where this still
// names two versions.
func TestToolsModulesAgree(t *testing.T) {
	dir, err := ToolsDir()
	if err != nil {
		t.Fatal(err)
	}
	mods, err := filepath.Glob(filepath.Join(dir, "*", "go.mod"))
	if err != nil || len(mods) < len(toolModules()) {
		t.Fatalf("tools modules: %v, %v", mods, err)
	}
	line := regexp.MustCompile(`^(?:require\s+)?(\S+)\s+(v\S+)`)
	replace := regexp.MustCompile(`^(?:replace\s+)?(\S+)(?:\s+v\S+)?\s+=>\s+\S+\s+(v\S+)`)
	seen := map[string]map[string][]string{} // module → version → tools modules
	for _, m := range mods {
		data, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(filepath.Dir(m))
		req, rep := map[string]string{}, map[string]string{}
		block := ""
		for _, l := range strings.Split(string(data), "\n") {
			l = strings.TrimSpace(l)
			switch {
			case strings.HasSuffix(l, "("):
				block = strings.Fields(l)[0]
				continue
			case l == ")":
				block = ""
				continue
			}
			if r := replace.FindStringSubmatch(l); r != nil && (block == "replace" || strings.HasPrefix(l, "replace ")) {
				rep[r[1]] = r[2]
			} else if r := line.FindStringSubmatch(l); r != nil && (block == "require" || strings.HasPrefix(l, "require ")) {
				req[r[1]] = r[2]
			}
		}
		if len(req) == 0 {
			t.Fatalf("%s: no requirements read", m)
		}
		for mod, v := range req {
			if r, ok := rep[mod]; ok {
				v = r
			}
			if seen[mod] == nil {
				seen[mod] = map[string][]string{}
			}
			seen[mod][v] = append(seen[mod][v], name)
		}
	}
	for mod, vs := range seen {
		if len(vs) > 1 {
			t.Errorf("%s at several versions: %v", mod, vs)
		}
	}
}
