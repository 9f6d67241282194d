package cluster

import "testing"

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
