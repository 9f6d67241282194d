package cluster

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRequiredVersion(t *testing.T) {
	for _, c := range []struct {
		name, gomod, module, want string
	}{
		{"single line", "module x\n\nrequire helm.sh/helm/v3 v3.22.0\n", "helm.sh/helm/v3", "v3.22.0"},
		{"block", "module x\n\nrequire (\n\tfoo v1.0.0\n\thelm.sh/helm/v3 v3.22.0 // indirect\n)\n", "helm.sh/helm/v3", "v3.22.0"},
		{"prefix of another path", "require helm.sh/helm/v3x v9.9.9\n", "helm.sh/helm/v3", ""},
		{"absent", "module x\n", "helm.sh/helm/v3", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := requiredVersion([]byte(c.gomod), c.module); got != c.want {
				t.Errorf("requiredVersion = %q, want %q", got, c.want)
			}
		})
	}
}

// Every dev tool's module is pinned in its tools module, so EnsureTool can
// name its cache folder.
func TestDevToolsPinned(t *testing.T) {
	dir, err := ToolsDir()
	if err != nil {
		t.Fatal(err)
	}
	for name, d := range devTools {
		gomod, err := os.ReadFile(filepath.Join(dir, d.tool.module, "go.mod"))
		if err != nil {
			t.Fatal(err)
		}
		if requiredVersion(gomod, d.modulePath) == "" {
			t.Errorf("%s: test/tools/%s/go.mod does not require %s", name, d.tool.module, d.modulePath)
		}
	}
}
