package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// KubernetesVersion is the version of the control plane the harness builds;
// it must match the k8s.io/kubernetes requirement in test/tools/kube/go.mod.
const KubernetesVersion = "v1.37.2"

// Binaries locates the control-plane executables in the cache.
type Binaries struct {
	Dir string
}

// Path returns the path of the named executable (etcd, kube-apiserver, …).
func (b Binaries) Path(name string) string { return filepath.Join(b.Dir, name) }

// StagesDir holds the kwok Stage, Metric and ResourceUsage manifests copied
// from the pinned kwok module.
func (b Binaries) StagesDir() string { return filepath.Join(b.Dir, "kwok-stages") }

// CertManagerCRDsDir holds cert-manager's CRDs, one file per CRD, copied from
// the pinned cert-manager module.
func (b Binaries) CertManagerCRDsDir() string { return filepath.Join(b.Dir, "cert-manager-crds") }

// tool is one executable built from a pinned module under test/tools.
type tool struct {
	name    string // executable name in the cache
	module  string // folder under test/tools
	pkg     string // package to build
	ldflags string
	tags    string // build tags, comma-separated
}

func tools() []tool {
	var stamp []string
	for _, p := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		minor := strings.Split(strings.TrimPrefix(KubernetesVersion, "v"), ".")[1]
		stamp = append(stamp,
			"-X "+p+".gitVersion="+KubernetesVersion,
			"-X "+p+".gitMajor=1",
			"-X "+p+".gitMinor="+minor,
			"-X "+p+".gitTreeState=clean")
	}
	kube := strings.Join(stamp, " ")
	return []tool{
		// etcd carries the kube stamps too (unused there): one go build
		// links all five, two at a time, sharing one module load.
		{"etcd", "kube", "go.etcd.io/etcd/server/v3", kube, ""},
		{"kube-apiserver", "kube", "k8s.io/kubernetes/cmd/kube-apiserver", kube, ""},
		{"kube-controller-manager", "kube", "k8s.io/kubernetes/cmd/kube-controller-manager", kube, ""},
		{"kube-scheduler", "kube", "k8s.io/kubernetes/cmd/kube-scheduler", kube, ""},
		{"kubectl", "kube", "k8s.io/kubernetes/cmd/kubectl", kube, ""},
		{"kwok", "kwok", "sigs.k8s.io/kwok/cmd/kwok", "", ""},
		{"metrics-server", "metrics-server", "sigs.k8s.io/metrics-server/cmd/metrics-server", "", ""},
		// Trimmed cert-manager mains (SelfSigned and CA issuers only, no
		// webhook): the official cmd/* modules are not served by the proxy.
		{"cert-manager-controller", "cert-manager", "github.com/cert-manager/cert-manager/tailor-test-tools/controller", "", ""},
		{"cert-manager-cainjector", "cert-manager", "github.com/cert-manager/cert-manager/tailor-test-tools/cainjector", "", ""},
		// File and HTTP service discovery only (the tests use kwok's HTTP
		// SD) and no embedded web UI: about 3 minutes on 2 cores.
		{name: "prometheus", module: "prometheus", pkg: "github.com/prometheus/prometheus/cmd/prometheus",
			ldflags: "-X github.com/prometheus/common/version.Version=" + PrometheusVersion, tags: "remove_all_sd"},
	}
}

// PrometheusVersion is the Prometheus release that the module version in
// test/tools/prometheus/go.mod (v0.316.0) stands for; stamped into the binary.
const PrometheusVersion = "3.16.0"

// toolModules are the folders under test/tools whose builds land in the cache.
func toolModules() []string {
	seen := map[string]bool{}
	var mods []string
	for _, t := range tools() {
		if !seen[t.module] {
			seen[t.module] = true
			mods = append(mods, t.module)
		}
	}
	return mods
}

// kwokManifests are copied out of the kwok module: fast node and pod
// lifecycles, lease heartbeats, usage from pod annotations and the kubelet
// /metrics/resource emulation that metrics-server scrapes.
var kwokManifests = []string{
	"kustomize/stage/node/fast/node-initialize.yaml",
	"kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
	"kustomize/stage/pod/fast/pod-ready.yaml",
	"kustomize/stage/pod/fast/pod-complete.yaml",
	"kustomize/stage/pod/fast/pod-delete.yaml",
	"kustomize/metrics/usage/usage-from-annotation.yaml",
	"kustomize/metrics/resource/metrics-resource.yaml",
}

// certManagerCRDs are copied out of the cert-manager module: all of its CRDs,
// as a real install has them (StartCertManager installs every file).
var certManagerCRDs = []string{
	"deploy/crds/cert-manager.io_certificaterequests.yaml",
	"deploy/crds/cert-manager.io_certificates.yaml",
	"deploy/crds/cert-manager.io_clusterissuers.yaml",
	"deploy/crds/cert-manager.io_issuers.yaml",
	"deploy/crds/acme.cert-manager.io_challenges.yaml",
	"deploy/crds/acme.cert-manager.io_orders.yaml",
}

// manifestSet is a list of files that EnsureBinaries copies out of a module
// pinned by a tools module into a folder of the cache.
type manifestSet struct {
	tools  string // folder under test/tools whose go.mod pins the module
	module string // module path
	files  []string
	dir    string // destination; files keep their base names
}

func manifestSets(b Binaries) []manifestSet {
	return []manifestSet{
		{"kwok", "sigs.k8s.io/kwok", kwokManifests, b.StagesDir()},
		{"cert-manager", "github.com/cert-manager/cert-manager", certManagerCRDs, b.CertManagerCRDsDir()},
	}
}

// ToolsDir finds test/tools: $TAILOR_TOOLS_DIR, else beside this source file
// (tests and binaries built from a checkout), else below the working directory.
func ToolsDir() (string, error) {
	if d := os.Getenv("TAILOR_TOOLS_DIR"); d != "" {
		return d, nil
	}
	var candidates []string
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		candidates = append(candidates, filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "test", "tools"))
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			candidates = append(candidates, filepath.Join(d, "test", "tools"))
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	for _, c := range candidates {
		if _, err := os.Stat(filepath.Join(c, "kube", "go.mod")); err == nil {
			return filepath.Clean(c), nil
		}
	}
	return "", errors.New("cannot find Tailor's test/tools folder: run from a checkout of Tailor or set TAILOR_TOOLS_DIR")
}

// CacheDir is where built binaries live, outside the repository:
// $TAILOR_CACHE_DIR, else $XDG_CACHE_HOME/tailor (~/.cache/tailor).
func CacheDir() (string, error) {
	if d := os.Getenv("TAILOR_CACHE_DIR"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory: %w (set TAILOR_CACHE_DIR)", err)
	}
	return filepath.Join(d, "tailor"), nil
}

// EnsureBinaries builds the pinned control plane into the cache on first use
// and returns it. The key of the cache folder is a hash of the tools modules,
// so a version bump rebuilds. A file lock makes concurrent callers (parallel
// test packages, a sandbox) wait for one build instead of racing. Progress goes
// to progress (may be nil).
func EnsureBinaries(ctx context.Context, progress io.Writer) (Binaries, error) {
	if progress == nil {
		progress = io.Discard
	}
	toolsDir, err := ToolsDir()
	if err != nil {
		return Binaries{}, err
	}
	key, err := toolsKey(toolsDir)
	if err != nil {
		return Binaries{}, err
	}
	cache, err := CacheDir()
	if err != nil {
		return Binaries{}, err
	}
	b := Binaries{Dir: filepath.Join(cache, "bin", KubernetesVersion+"-"+key)}
	if err := os.MkdirAll(b.Dir, 0o755); err != nil {
		return Binaries{}, err
	}
	unlock, err := lockFile(ctx, b.Dir+".lock", progress)
	if err != nil {
		return Binaries{}, err
	}
	defer unlock()

	var missing []tool
	for _, t := range tools() {
		if _, err := os.Stat(b.Path(t.name)); err != nil {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		start := time.Now()
		fmt.Fprintf(progress, "building %d control-plane binaries into %s (first use only; about 25 minutes on 2 cores with empty Go caches)\n", len(missing), b.Dir)
		for _, g := range buildGroups(missing) {
			if err := build(ctx, toolsDir, b, g, progress); err != nil {
				return Binaries{}, err
			}
		}
		fmt.Fprintf(progress, "control-plane binaries built in %s\n", time.Since(start).Round(time.Second))
	}
	for _, m := range manifestSets(b) {
		if _, err := os.Stat(filepath.Join(m.dir, filepath.Base(m.files[len(m.files)-1]))); err != nil {
			if err := copyManifests(ctx, toolsDir, m); err != nil {
				return Binaries{}, err
			}
		}
	}
	return b, nil
}

// buildGroups splits ts into runs of one go build each: the tools of one
// module with the same flags, in first-seen order.
func buildGroups(ts []tool) [][]tool {
	var groups [][]tool
	at := map[string]int{}
	for _, t := range ts {
		k := t.module + "|" + t.ldflags + "|" + t.tags
		i, ok := at[k]
		if !ok {
			i = len(groups)
			at[k] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], t)
	}
	return groups
}

// buildLDFlags are added to every tool's: no symbol table or DWARF, which
// the tests never read and which take a third of a link.
const buildLDFlags = "-s -w"

// build runs one go build for ts (one module, the same flags) into a
// scratch folder of b and moves each executable to its name.
func build(ctx context.Context, toolsDir string, b Binaries, ts []tool, progress io.Writer) error {
	start := time.Now()
	var names, pkgs []string
	for _, t := range ts {
		names = append(names, t.name)
		pkgs = append(pkgs, t.pkg)
	}
	fmt.Fprintf(progress, "  go build %s ...", strings.Join(names, ", "))
	tmp, err := os.MkdirTemp(b.Dir, ".build-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	t := ts[0]
	args := []string{"build", "-o", tmp + string(filepath.Separator), "-ldflags", strings.TrimSpace(buildLDFlags + " " + t.ldflags)}
	if t.tags != "" {
		args = append(args, "-tags", t.tags)
	}
	args = append(args, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = filepath.Join(toolsDir, t.module)
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly -buildvcs=false")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(progress, " failed")
		return fmt.Errorf("build %s: %w\n%s", strings.Join(names, ", "), err, out.String())
	}
	for _, t := range ts {
		if err := os.Rename(filepath.Join(tmp, exeName(t.pkg)), b.Path(t.name)); err != nil {
			return fmt.Errorf("build %s: %w", t.name, err)
		}
	}
	fmt.Fprintf(progress, " %s\n", time.Since(start).Round(time.Second))
	return nil
}

// exeName is the file go build -o DIR/ writes for a main package: its
// last path element, or the one before a major-version suffix (…/v3).
func exeName(pkg string) string {
	name := path.Base(pkg)
	if len(name) > 1 && name[0] == 'v' && strings.Trim(name[1:], "0123456789") == "" {
		name = path.Base(path.Dir(pkg))
	}
	return name
}

func copyManifests(ctx context.Context, toolsDir string, m manifestSet) error {
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", m.module)
	cmd.Dir = filepath.Join(toolsDir, m.tools)
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("locate the %s module: %w", m.module, err)
	}
	src := strings.TrimSpace(string(out))
	if err := os.MkdirAll(m.dir, 0o755); err != nil {
		return err
	}
	for _, f := range m.files {
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			return fmt.Errorf("%s manifest: %w", m.tools, err)
		}
		if err := os.WriteFile(filepath.Join(m.dir, filepath.Base(f)), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// toolsKey hashes every go.mod and go.sum under test/tools, the Go sources
// of the tools modules (cert-manager's are mains of our own) and the build
// recipe, so any pin or source change lands in a fresh cache folder.
func toolsKey(toolsDir string) (string, error) {
	h := sha256.New()
	fmt.Fprintln(h, buildLDFlags)
	for _, t := range tools() {
		fmt.Fprintf(h, "%s|%s|%s|%s|%s\n", t.name, t.module, t.pkg, t.ldflags, t.tags)
	}
	for _, m := range toolModules() {
		for _, f := range []string{"go.mod", "go.sum"} {
			data, err := os.ReadFile(filepath.Join(toolsDir, m, f))
			if err != nil {
				return "", fmt.Errorf("tools module: %w", err)
			}
			h.Write(data)
		}
		if err := hashGoFiles(h, filepath.Join(toolsDir, m)); err != nil {
			return "", fmt.Errorf("tools module: %w", err)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

// hashGoFiles adds the path and content of every .go file under dir, in
// lexical order, to h.
func hashGoFiles(h io.Writer, dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".go" {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		fmt.Fprintf(h, "%s|%d\n", filepath.ToSlash(rel), len(data))
		_, err = h.Write(data)
		return err
	})
}

// lockFile takes an exclusive flock on path, waiting (and saying so) while
// another process holds it.
func lockFile(ctx context.Context, path string, progress io.Writer) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	said := false
	err = wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(context.Context) (bool, error) {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return false, fmt.Errorf("lock %s: %w", path, err)
		}
		if !said {
			fmt.Fprintf(progress, "waiting for another build of the control plane (%s)\n", path)
			said = true
		}
		return false, nil
	})
	if err != nil {
		_ = f.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); _ = f.Close() }, nil
}
