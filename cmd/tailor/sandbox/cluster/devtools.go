package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
)

// devTools are executables built from pinned modules under test/tools that
// the control plane does not run: the chart's tests render, lint and
// install deploy/chart with them. Each has a cache folder of its own, keyed
// by its module's version and go.mod/go.sum, so pinning one of them never
// rebuilds the control plane (whose key, toolsKey, covers tools() only).
var devTools = map[string]struct {
	tool
	modulePath string // the module whose version names the cache folder
	versionVar string // the variable stamped with that version (-X), if any
}{
	"helm": {tool{name: "helm", module: "helm", pkg: "helm.sh/helm/v3/cmd/helm"}, "helm.sh/helm/v3", "helm.sh/helm/v3/internal/version.version"},
	// kustomize reads its version from the module's build info.
	"kustomize": {tool{name: "kustomize", module: "kustomize", pkg: "sigs.k8s.io/kustomize/kustomize/v5"}, "sigs.k8s.io/kustomize/kustomize/v5", ""},
}

// EnsureTool builds the named dev tool (helm, kustomize) from its pinned
// module into ~/.cache/tailor/bin/<name>-<version>-<key>/ on first use and
// returns the executable's path. Concurrent callers wait on a file lock for
// one build.
func EnsureTool(ctx context.Context, name string, progress io.Writer) (string, error) {
	if progress == nil {
		progress = io.Discard
	}
	d, ok := devTools[name]
	if !ok {
		return "", fmt.Errorf("unknown tool %q", name)
	}
	toolsDir, err := ToolsDir()
	if err != nil {
		return "", err
	}
	gomod, err := os.ReadFile(filepath.Join(toolsDir, d.tool.module, "go.mod"))
	if err != nil {
		return "", fmt.Errorf("tools module: %w", err)
	}
	version := requiredVersion(gomod, d.modulePath)
	if version == "" {
		return "", fmt.Errorf("test/tools/%s/go.mod does not require %s", d.tool.module, d.modulePath)
	}
	t := d.tool
	if d.versionVar != "" {
		t.ldflags = "-X " + d.versionVar + "=" + version
	}
	gosum, err := os.ReadFile(filepath.Join(toolsDir, d.tool.module, "go.sum"))
	if err != nil {
		return "", fmt.Errorf("tools module: %w", err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s|%s|%s|%s|%s|%s\n", t.name, t.module, t.pkg, t.ldflags, t.tags, buildLDFlags)
	h.Write(gomod)
	h.Write(gosum)
	if err := hashGoFiles(h, filepath.Join(toolsDir, d.tool.module)); err != nil {
		return "", fmt.Errorf("tools module: %w", err)
	}
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	b := Binaries{Dir: filepath.Join(cache, "bin", name+"-"+version+"-"+hex.EncodeToString(h.Sum(nil))[:12])}
	if err := os.MkdirAll(b.Dir, 0o755); err != nil {
		return "", err
	}
	unlock, err := lockFile(ctx, b.Dir+".lock", progress)
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(b.Path(name)); err != nil {
		fmt.Fprintf(progress, "building %s %s into %s (first use only)\n", name, version, b.Dir)
		if err := build(ctx, toolsDir, b, []tool{t}, progress); err != nil {
			return "", err
		}
	}
	return b.Path(name), nil
}

// requiredVersion is the version go.mod requires of module ("" if none).
func requiredVersion(gomod []byte, module string) string {
	m := regexp.MustCompile(`(?m)^(?:require)?\s+` + regexp.QuoteMeta(module) + `\s+(v\S+)`).FindSubmatch(gomod)
	if m == nil {
		return ""
	}
	return string(m[1])
}
