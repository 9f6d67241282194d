// Package chart checks deploy/chart against the kustomize overlays it
// stands for: for each choice set, `helm template` and `kustomize build` of
// the matching overlay render the same objects. helm and kustomize are
// built from their pinned modules (test/tools/helm, test/tools/kustomize)
// into ~/.cache/tailor on first use.
package chart

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pmezard/go-difflib/difflib"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/tailor-dev/tailor/cmd/tailor/sandbox/cluster"
)

var helmBin, kustomizeBin string

// root is the repository's top folder.
var root = filepath.Join("..", "..")

var chartDir = filepath.Join(root, "deploy", "chart")

func TestMain(m *testing.M) {
	ctx := context.Background()
	var err error
	if helmBin, err = cluster.EnsureTool(ctx, "helm", os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if kustomizeBin, err = cluster.EnsureTool(ctx, "kustomize", os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// choice is one install choice: the chart's values for it, and the
// kustomize folders (an overlay, then deploy/monitoring where monitoring is
// on) whose output is the same install.
type choice struct {
	name      string
	set       []string // helm --set arguments
	kustomize []string // folders under deploy/
}

var choices = []choice{
	{"cert-manager", nil, []string{"overlays/cert-manager"}},
	{"self-signed", []string{"certificates.mode=self-signed"}, []string{"overlays/self-signed"}},
	// The eks overlay's placeholders, as values.
	{"eks", []string{
		"aws.cloud=aws", "aws.clusterName=CLUSTER_NAME", "aws.region=REGION",
		"aws.clusterEndpoint=https://CLUSTER_ENDPOINT", "aws.interruptionQueue=QUEUE_NAME",
		"aws.roleArn=arn:aws:iam::ACCOUNT_ID:role/tailor",
	}, []string{"overlays/eks"}},
	{"cert-manager+monitoring", []string{"monitoring.enabled=true"}, []string{"overlays/cert-manager", "monitoring"}},
	{"self-signed+monitoring", []string{"certificates.mode=self-signed", "monitoring.enabled=true"}, []string{"overlays/self-signed", "monitoring"}},
}

func setArgs(set []string) []string {
	var args []string
	for _, s := range set {
		args = append(args, "--set", s)
	}
	return args
}

func run(t *testing.T, name string, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// helmTemplate renders the chart with its CRDs, as `helm install` would
// create them.
func helmTemplate(t *testing.T, set []string) ([]byte, error) {
	t.Helper()
	return run(t, helmBin, append([]string{"template", "tailor", chartDir, "--include-crds"}, setArgs(set)...)...)
}

// object is one decoded manifest, keyed by what identifies it in a cluster.
type object struct {
	key string // apiVersion kind [namespace/]name
	obj map[string]any
}

func decode(t *testing.T, what string, data []byte) map[string]object {
	t.Helper()
	objs := map[string]object{}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		var o map[string]any
		if err := yaml.Unmarshal(doc, &o); err != nil {
			t.Fatalf("%s: %v\n%s", what, err, doc)
		}
		if len(o) == 0 {
			continue // comments only
		}
		meta, _ := o["metadata"].(map[string]any)
		key := fmt.Sprintf("%v %v %v", o["apiVersion"], o["kind"], meta["name"])
		if ns, ok := meta["namespace"]; ok {
			key = fmt.Sprintf("%v %v %v/%v", o["apiVersion"], o["kind"], ns, meta["name"])
		}
		if _, dup := objs[key]; dup {
			t.Fatalf("%s renders %s twice", what, key)
		}
		objs[key] = object{key, o}
	}
	if len(objs) == 0 {
		t.Fatalf("%s rendered no object", what)
	}
	return objs
}

// helmOnlyLabels are the labels the chart adds to the metadata of the
// objects it templates, Helm's convention for finding a release's objects
// (`helm.sh/chart`: chart name and version; `app.kubernetes.io/managed-by:
// Helm`). They are the one difference allowed, and are removed from the
// chart's side before comparing; nothing else is normalised (not the pod
// template's labels, not selectors, not CRDs, which the chart copies as
// they are).
var helmOnlyLabels = []string{"helm.sh/chart", "app.kubernetes.io/managed-by"}

func normaliseHelm(o map[string]any) {
	meta, _ := o["metadata"].(map[string]any)
	labels, _ := meta["labels"].(map[string]any)
	for _, l := range helmOnlyLabels {
		delete(labels, l)
	}
}

func toYAML(t *testing.T, o map[string]any) string {
	t.Helper()
	out, err := yaml.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// compare reports every object one side has and the other lacks, and a
// line diff of every object that differs.
func compare(t *testing.T, helm, kust map[string]object) {
	t.Helper()
	var keys []string
	for k := range kust {
		keys = append(keys, k)
	}
	for k := range helm {
		if _, ok := kust[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		h, inHelm := helm[k]
		ku, inKust := kust[k]
		switch {
		case !inHelm:
			t.Errorf("%s: kustomize renders it, the chart does not", k)
		case !inKust:
			t.Errorf("%s: the chart renders it, kustomize does not", k)
		case !reflect.DeepEqual(h.obj, ku.obj):
			diff, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
				A: difflib.SplitLines(toYAML(t, ku.obj)), B: difflib.SplitLines(toYAML(t, h.obj)),
				FromFile: "kustomize", ToFile: "helm", Context: 3,
			})
			t.Errorf("%s differs:\n%s", k, diff)
		}
	}
}

// TestChartMatchesOverlays: for each choice, the chart and the overlay
// render the same set of objects (apiVersion, kind, namespace, name), equal
// field by field once the chart's helmOnlyLabels are removed.
func TestChartMatchesOverlays(t *testing.T) {
	for _, c := range choices {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			out, err := helmTemplate(t, c.set)
			if err != nil {
				t.Fatal(err)
			}
			helm := decode(t, "helm template", out)
			for _, o := range helm {
				normaliseHelm(o.obj)
			}
			var all []byte
			for _, dir := range c.kustomize {
				out, err := run(t, kustomizeBin, "build", filepath.Join(root, "deploy", dir))
				if err != nil {
					t.Fatal(err)
				}
				all = append(append(all, out...), "\n---\n"...)
			}
			compare(t, helm, decode(t, "kustomize build "+strings.Join(c.kustomize, " + "), all))
		})
	}
}

// TestChartLint: helm lint --strict is clean for every choice.
func TestChartLint(t *testing.T) {
	for _, c := range choices {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			out, err := run(t, helmBin, append([]string{"lint", "--strict", chartDir}, setArgs(c.set)...)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !strings.Contains(string(out), "0 chart(s) failed") {
				t.Fatalf("helm lint:\n%s", out)
			}
		})
	}
}

// TestValuesSchemaRejects: values.schema.json refuses bad values before
// anything renders, naming the field.
func TestValuesSchemaRejects(t *testing.T) {
	for _, c := range []struct {
		name  string
		set   []string
		field string // in helm's error, where it names the value (JSON pointer)
	}{
		{"unknown certificate mode", []string{"certificates.mode=vault"}, "'/certificates/mode'"},
		{"no replicas", []string{"replicas=0"}, "'/replicas'"},
		{"no admission replicas", []string{"admission.replicas=0"}, "'/admission/replicas'"},
		{"misspelt admission key", []string{"admission.replica=3"}, "'replica' not allowed"},
		{"replicas not a number", []string{"replicas=two"}, "'/replicas'"},
		{"misspelt top-level key", []string{"replica=3"}, "'replica' not allowed"},
		{"misspelt aws key", []string{"aws.clustername=x"}, "'clustername' not allowed"},
		{"unknown cloud", []string{"aws.cloud=gcp"}, "'/aws/cloud'"},
		{"aws without cluster name", []string{"aws.cloud=aws", "aws.region=us-east-1", "aws.clusterEndpoint=https://x"}, "'/aws/clusterName'"},
		{"aws without endpoint", []string{"aws.cloud=aws", "aws.clusterName=c", "aws.region=us-east-1"}, "'/aws/clusterEndpoint'"},
		{"endpoint not https", []string{"aws.clusterEndpoint=http://x"}, "'/aws/clusterEndpoint'"},
		{"role not an ARN", []string{"aws.roleArn=tailor"}, "'/aws/roleArn'"},
		{"digest not sha256", []string{"image.digest=latest"}, "'/image/digest'"},
		{"extra arg not a flag", []string{"extraArgs={run}"}, "'/extraArgs/0'"},
		{"admission extra arg not a flag", []string{"admission.extraArgs={x}"}, "'/admission/extraArgs/0'"},
		{"monitoring not a boolean", []string{"monitoring.enabled=yes"}, "'/monitoring/enabled'"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(helmBin, append([]string{"template", "tailor", chartDir}, setArgs(c.set)...)...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Run(); err == nil {
				t.Fatalf("helm template accepted %v", c.set)
			}
			// helm's own words only: the command line names the field too.
			if msg := stderr.String(); !strings.Contains(msg, "don't meet the specifications of the schema") || !strings.Contains(msg, c.field) {
				t.Fatalf("helm does not name %s as a schema violation:\n%s", c.field, msg)
			}
		})
	}
}

// deployment renders the chart with set and returns its Deployment name
// (tailor or tailor-admission) as plain data.
func deployment(t *testing.T, name string, set []string) map[string]any {
	t.Helper()
	out, err := helmTemplate(t, set)
	if err != nil {
		t.Fatal(err)
	}
	d, ok := decode(t, "helm template", out)["apps/v1 Deployment tailor-system/"+name]
	if !ok {
		t.Fatalf("no Deployment tailor-system/%s", name)
	}
	return d.obj
}

func field(o any, path ...any) any {
	for _, p := range path {
		switch p := p.(type) {
		case string:
			m, _ := o.(map[string]any)
			o = m[p]
		case int:
			l, _ := o.([]any)
			if p >= len(l) {
				return nil
			}
			o = l[p]
		}
	}
	return o
}

// TestChartValuesApply: the values that have no overlay counterpart change
// what they say and nothing of the rest.
func TestChartValuesApply(t *testing.T) {
	container := []any{"spec", "template", "spec", "containers", 0}
	args := func(d map[string]any) []string {
		var out []string
		for _, a := range field(d, append(container, "args")...).([]any) {
			out = append(out, a.(string))
		}
		return out
	}
	base := deployment(t, "tailor", nil)
	for _, c := range []struct {
		name       string
		deployment string // "": tailor
		set        []string
		check      func(t *testing.T, d map[string]any)
	}{
		{"image tag", "", []string{"image.repository=registry.example/tailor", "image.tag=v9"}, func(t *testing.T, d map[string]any) {
			if got := field(d, append(container, "image")...); got != "registry.example/tailor:v9" {
				t.Errorf("image %v", got)
			}
		}},
		{"image digest wins over the tag", "", []string{"image.tag=v9", "image.digest=sha256:" + strings.Repeat("ab", 32)}, func(t *testing.T, d map[string]any) {
			if got := field(d, append(container, "image")...); got != "ghcr.io/tailor-dev/tailor@sha256:"+strings.Repeat("ab", 32) {
				t.Errorf("image %v", got)
			}
		}},
		{"replicas", "", []string{"replicas=3"}, func(t *testing.T, d map[string]any) {
			if got := field(d, "spec", "replicas"); got != float64(3) {
				t.Errorf("replicas %v", got)
			}
		}},
		{"extra args last", "", []string{"extraArgs={--enable-http2,--metrics-secure=false}"}, func(t *testing.T, d map[string]any) {
			want := append(args(base), "--enable-http2", "--metrics-secure=false")
			if got := args(d); !slices.Equal(got, want) {
				t.Errorf("args %v, want %v", got, want)
			}
		}},
		{"asg: no endpoint nor queue", "", []string{"aws.cloud=asg", "aws.clusterName=c", "aws.region=eu-west-1", "aws.interruptionQueue=q"}, func(t *testing.T, d map[string]any) {
			want := slices.Clone(args(base))
			i := slices.Index(want, "--components=recommender,scaler,updater")
			if i < 0 {
				t.Fatalf("base args %v have no --components", want)
			}
			want[i] = "--components=recommender,scaler,updater,provisioner"
			want = append(want, "--cloud=asg", "--cluster-name=c", "--aws-region=eu-west-1")
			if got := args(d); !slices.Equal(got, want) {
				t.Errorf("args %v, want %v", got, want)
			}
		}},
		{"scheduling", "", []string{"nodeSelector.pool=system", "tolerations=null", "affinity=null", "priorityClassName="}, func(t *testing.T, d map[string]any) {
			spec := field(d, "spec", "template", "spec").(map[string]any)
			if got := spec["nodeSelector"]; !reflect.DeepEqual(got, map[string]any{"kubernetes.io/os": "linux", "pool": "system"}) {
				t.Errorf("nodeSelector %v", got)
			}
			for _, k := range []string{"tolerations", "affinity", "priorityClassName"} {
				if v, ok := spec[k]; ok {
					t.Errorf("%s still set: %v", k, v)
				}
			}
		}},
		{"resources", "", []string{"resources.limits.memory=1Gi"}, func(t *testing.T, d map[string]any) {
			if got := field(d, append(container, "resources", "limits", "memory")...); got != "1Gi" {
				t.Errorf("memory limit %v", got)
			}
			if got := field(d, append(container, "resources", "requests", "cpu")...); got != "100m" {
				t.Errorf("cpu request %v, want the default kept", got)
			}
		}},
		{"admission replicas", "tailor-admission", []string{"admission.replicas=5"}, func(t *testing.T, d map[string]any) {
			if got := field(d, "spec", "replicas"); got != float64(5) {
				t.Errorf("replicas %v", got)
			}
			if got := field(deployment(t, "tailor", []string{"admission.replicas=5"}), "spec", "replicas"); got != float64(2) {
				t.Errorf("tailor's replicas %v, want the default kept", got)
			}
		}},
		{"admission resources", "tailor-admission", []string{"admission.resources.limits.memory=2Gi"}, func(t *testing.T, d map[string]any) {
			if got := field(d, append(container, "resources", "limits", "memory")...); got != "2Gi" {
				t.Errorf("memory limit %v", got)
			}
			if got := field(deployment(t, "tailor", []string{"admission.resources.limits.memory=2Gi"}), append(container, "resources", "limits", "memory")...); got != "512Mi" {
				t.Errorf("tailor's memory limit %v, want the default kept", got)
			}
		}},
		{"extra args reach the admission replicas too", "tailor-admission", []string{"extraArgs={--enable-http2}"}, func(t *testing.T, d map[string]any) {
			if got := args(d); got[len(got)-1] != "--enable-http2" {
				t.Errorf("args %v, want --enable-http2 last", got)
			}
		}},
		{"admission extra args only there, after extraArgs", "tailor-admission", []string{"extraArgs={--enable-http2}", "admission.extraArgs={--cert-validity=2160h}"}, func(t *testing.T, d map[string]any) {
			if got := args(d); !slices.Equal(got[len(got)-2:], []string{"--enable-http2", "--cert-validity=2160h"}) {
				t.Errorf("args %v, want --enable-http2 --cert-validity=2160h last", got)
			}
			if got := args(deployment(t, "tailor", []string{"admission.extraArgs={--cert-validity=2160h}"})); slices.Contains(got, "--cert-validity=2160h") {
				t.Errorf("tailor's args %v hold the admission's flag", got)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			name := c.deployment
			if name == "" {
				name = "tailor"
			}
			c.check(t, deployment(t, name, c.set))
		})
	}
}
