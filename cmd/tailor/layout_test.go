package main

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The import rules of README's Layout section, checked on what go list
// reports so that they stay true. make vet runs these tests.

const module = "github.com/tailor-dev/tailor/"

type listed struct {
	ImportPath                         string
	Imports, TestImports, XTestImports []string
}

func goList(t *testing.T, args ...string) []listed {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list", "-e", "-json=ImportPath,Imports,TestImports,XTestImports"}, args...)...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list %v: %v\n%s", args, err, ee.Stderr)
		}
		t.Fatalf("go list %v: %v", args, err)
	}
	var pkgs []listed
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p listed
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// under reports whether the module-relative path p is dir or inside it.
func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

// isLoop: controllers (*/controller, */controllers) and the updater run the
// background loops; only cmd/tailor wires them up.
func isLoop(p string) bool {
	for _, seg := range strings.Split(p, "/") {
		if seg == "controller" || seg == "controllers" {
			return true
		}
	}
	return p == "scaler/updater"
}

// importRuleViolations returns one line per import of pkgs that breaks a
// rule; tests of a package may import the package itself.
func importRuleViolations(pkgs []listed) []string {
	var bad []string
	for _, p := range pkgs {
		from, ok := strings.CutPrefix(p.ImportPath, module)
		if !ok {
			continue
		}
		for _, imp := range slices.Concat(p.Imports, p.TestImports, p.XTestImports) {
			to, ok := strings.CutPrefix(imp, module)
			if !ok || to == from {
				continue
			}
			switch {
			case isLoop(to) && from != "cmd/tailor":
				bad = append(bad, from+" imports the loop package "+to+": loops are imported only by cmd/tailor; move what it needs to a pure package")
			case under(to, "webhook") && !under(from, "webhook") && from != "cmd/tailor":
				bad = append(bad, from+" imports "+to+": webhook/ is an entry point like cmd/ and nothing imports it")
			case under(to, "test") && !under(from, "test"):
				bad = append(bad, from+" imports "+to+": nothing outside test/ imports test/ (the sandbox's control plane is cmd/tailor/sandbox/cluster)")
			}
		}
	}
	slices.Sort(bad)
	return slices.Compact(bad)
}

func TestImportRules(t *testing.T) {
	pkgs := goList(t, module+"...")
	if len(pkgs) < 10 {
		t.Fatalf("go list found %d packages: is the pattern right?", len(pkgs))
	}
	for _, v := range importRuleViolations(pkgs) {
		t.Error(v)
	}
}

// The rules catch what they should, on made-up packages.
func TestImportRulesCatchViolations(t *testing.T) {
	pkgs := []listed{
		{ImportPath: module + "scaler/updater", Imports: []string{module + "recommender/controller"}},
		{ImportPath: module + "scaler/resize", TestImports: []string{module + "webhook"}},
		{ImportPath: module + "deploy/base", XTestImports: []string{module + "test/cluster"}},
		{ImportPath: module + "cmd/tailor", Imports: []string{module + "scaler/updater", module + "webhook", module + "cmd/tailor/sandbox/cluster"}},
		{ImportPath: module + "cmd/tailor/simulate", Imports: []string{module + "test/e2e"}},
		{ImportPath: module + "webhook", Imports: []string{module + "webhook/validation", module + "recommender/sizing"}},
		{ImportPath: module + "recommender/controller", XTestImports: []string{module + "recommender/controller"}},
		{ImportPath: module + "test/e2e", Imports: []string{module + "test/cluster"}},
	}
	got := importRuleViolations(pkgs)
	if len(got) != 4 || !strings.HasPrefix(got[0], "cmd/tailor/simulate imports test/e2e") || !strings.HasPrefix(got[1], "deploy/base imports test/cluster") ||
		!strings.HasPrefix(got[2], "scaler/resize imports webhook") || !strings.HasPrefix(got[3], "scaler/updater imports the loop package recommender/controller") {
		t.Errorf("violations:\n%s", strings.Join(got, "\n"))
	}
}

// The shipped binary (deploy/Dockerfile, make release) is built with the
// release tags and links neither the test harness nor envtest; the
// developer's build (with "tailor sandbox") does link the harness, which is
// why the tag exists.
func TestReleaseBuild(t *testing.T) {
	docker, err := os.ReadFile("../../deploy/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	makefile, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	dm := regexp.MustCompile(`go build -tags (\S+) .*\./cmd/tailor`).FindSubmatch(docker)
	mm := regexp.MustCompile(`(?m)^RELEASE_TAGS\s*:=\s*(\S+)\s*$`).FindSubmatch(makefile)
	if dm == nil || mm == nil {
		t.Fatalf("deploy/Dockerfile must build ./cmd/tailor with go build -tags X, and the Makefile set RELEASE_TAGS := X (found %q and %q)", dm, mm)
	}
	tags := string(mm[1])
	if string(dm[1]) != tags {
		t.Fatalf("deploy/Dockerfile builds with -tags %s, the Makefile's release with %s: they must agree", dm[1], tags)
	}
	deps := func(args ...string) []string {
		out, err := exec.Command("go", append([]string{"list", "-deps"}, args...)...).Output()
		if err != nil {
			t.Fatalf("go list -deps %v: %v", args, err)
		}
		return strings.Fields(string(out))
	}
	for _, d := range deps("-tags", tags, ".") {
		if strings.HasPrefix(d, module+"test/") || strings.Contains(d, "envtest") {
			t.Errorf("the release build (-tags %s) links %s", tags, d)
		}
	}
	for _, d := range deps("-tags", tags, ".") {
		if strings.HasPrefix(d, module+"cmd/tailor/sandbox/") {
			t.Errorf("the release build (-tags %s) links the sandbox's %s", tags, d)
		}
	}
	if !slices.Contains(deps("."), module+"cmd/tailor/sandbox/cluster") {
		t.Errorf("the default build no longer links cmd/tailor/sandbox/cluster: the %s tag may be unnecessary", tags)
	}
	dockerfileBuilds(t, string(docker))
}

// dockerfileBuilds: no Docker engine runs in CI, so the Dockerfile's own go
// build line runs here verbatim (build args substituted) and the binary it
// makes must report the release version the manifests deploy; every base
// image must be pinned by digest.
func dockerfileBuilds(t *testing.T, docker string) {
	for _, from := range regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(docker, -1) {
		if !regexp.MustCompile(`@sha256:[0-9a-f]{64}$`).MatchString(from[1]) {
			t.Errorf("deploy/Dockerfile: base image %s is not pinned by digest", from[1])
		}
	}
	kust, err := os.ReadFile("../../deploy/base/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tag := regexp.MustCompile(`(?m)^\s*newTag:\s*(v\d+\.\d+\.\d+\S*)\s*$`).FindSubmatch(kust)
	if tag == nil {
		t.Fatal("deploy/base/kustomization.yaml pins no release tag (images: newTag: vX.Y.Z)")
	}
	version := string(tag[1])
	run := regexp.MustCompile(`(?m)^RUN (CGO_ENABLED=0 go build .*) -o /tailor (\./cmd/tailor)$`).FindStringSubmatch(docker)
	if run == nil {
		t.Fatal("deploy/Dockerfile: no 'RUN CGO_ENABLED=0 go build ... -o /tailor ./cmd/tailor' line")
	}
	bin := t.TempDir() + "/tailor"
	line := strings.NewReplacer("${VERSION}", version, "${COMMIT}", "test").Replace(run[1]) + " -o " + bin + " " + run[2]
	cmd := exec.Command("sh", "-c", line)
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the Dockerfile's build (%s) fails: %v\n%s", line, err, out)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), version) {
		t.Errorf("the image's binary says %q (%v), want release %s", out, err, version)
	}
}
