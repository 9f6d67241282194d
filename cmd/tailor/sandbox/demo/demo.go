// Package demo plays the seed's four scenarios on a cluster where Tailor
// runs with the scaler, recommender, updater, provisioner (sim cloud) and
// the sandbox's load component: "tailor sandbox demo" and the e2e test
// TestDemo share it. Each scenario works in a namespace of its own (and a
// NodePool of its own for the node scenarios), prints live progress and the
// kubectl get tables the seed shows, and returns a Result; whether the run
// met the seed's expectations is decided by the pure checks of check.go.
package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	scalerv1 "github.com/tailor-dev/tailor/scaler/api/v1alpha1"
)

// Scenarios in the order "all" plays them.
var Scenarios = []string{"hpa", "vpa", "ca", "karpenter"}

// Parse turns --scenario's list ("all", "hpa,vpa") into scenario names.
func Parse(list []string) ([]string, error) {
	var out []string
	for _, s := range list {
		for _, name := range strings.Split(s, ",") {
			name = strings.TrimSpace(name)
			switch {
			case name == "all":
				for _, n := range Scenarios {
					if !slices.Contains(out, n) {
						out = append(out, n)
					}
				}
			case slices.Contains(Scenarios, name):
				if !slices.Contains(out, name) {
					out = append(out, name)
				}
			default:
				return nil, fmt.Errorf("unknown scenario %q: want %s or all", name, strings.Join(Scenarios, ", "))
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no scenario: want %s or all", strings.Join(Scenarios, ", "))
	}
	return out, nil
}

// Options tune a run for the cluster it plays on.
type Options struct {
	// Poll is how often the scenarios look (default 1s).
	Poll time.Duration
	// Keep leaves the namespaces and NodePools behind.
	Keep bool
	// Labels go on the scenarios' namespaces and NodePools too, e.g. to
	// match the --namespace-selector and --nodepool-selector of the
	// Tailor that plays them.
	Labels map[string]string
}

// Runner plays scenarios on one cluster; its methods may run concurrently.
type Runner struct {
	cs    kubernetes.Interface
	c     client.Client
	rc    rest.Interface
	o     Options
	start time.Time

	mu  sync.Mutex // out
	out io.Writer
	rec *Recorder
}

// Scheme knows what the scenarios create and read.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, scalerv1.AddToScheme, provisionerv1.AddToScheme, vpav1.AddToScheme} {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// New is a Runner on the cluster of cfg writing progress and tables to out.
func New(cfg *rest.Config, out io.Writer, o Options) (*Runner, error) {
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	s, err := Scheme()
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Runner{cs: cs, c: c, rc: cs.CoreV1().RESTClient(), o: o, start: time.Now(), out: out, rec: newRecorder()}, nil
}

// Run plays one scenario by name.
func (r *Runner) Run(ctx context.Context, name string) Result {
	start := time.Now()
	var res Result
	switch name {
	case "hpa":
		res = r.hpa(ctx)
	case "vpa":
		res = r.vpa(ctx)
	case "ca":
		res = r.nodes(ctx, caScenario)
	case "karpenter":
		res = r.nodes(ctx, karpenterScenario)
	default:
		res = Result{Failures: []string{"unknown scenario"}}
	}
	res.Scenario, res.Took = name, time.Since(start)
	if res.Namespace != "" && r.o.Keep {
		r.say(name, "kept namespace %s %s", res.Namespace, res.NodePool)
	}
	if res.Passed() {
		r.say(name, "done in %s: %s", res.Took.Round(time.Second), res.What)
	} else {
		r.say(name, "FAILED after %s: %s", res.Took.Round(time.Second), strings.Join(res.Failures, "; "))
	}
	return res
}

// RunAll plays the scenarios concurrently, each in its own namespace, and
// returns their results in the order given.
func (r *Runner) RunAll(ctx context.Context, names []string) []Result {
	out := make([]Result, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = r.Run(ctx, n)
		}()
	}
	wg.Wait()
	return out
}

// Recorder is what the run recorded over time, for the plot.
func (r *Runner) Recorder() *Recorder { return r.rec }

// say prints one progress line: "[hpa       +1m02s] ...".
func (r *Runner) say(scenario, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.out, "[%-9s +%s] %s\n", scenario, clock(time.Since(r.start)), fmt.Sprintf(format, args...))
}

func clock(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
}

// table prints "kubectl get" for res in ns as the API server renders it.
func (r *Runner) table(ctx context.Context, scenario string, res Resource, ns string) {
	t, err := GetTable(ctx, r.rc, res, ns)
	var text string
	if err == nil {
		text, err = FormatTable(t, res.Wide)
	}
	if err != nil {
		r.say(scenario, "%v", err)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.out, "[%-9s +%s] $ %s\n%s", scenario, clock(time.Since(r.start)), res.Command(ns), indent(text))
}

func indent(s string) string {
	lines := strings.SplitAfter(s, "\n")
	var b strings.Builder
	for _, l := range lines {
		if l != "" {
			b.WriteString("    " + l)
		}
	}
	return b.String()
}

// namespace creates the scenario's namespace, opted in to Tailor;
// placement off for the scenarios that use the cluster's own nodes.
func (r *Runner) namespace(ctx context.Context, scenario string, placement bool) (string, func(), error) {
	labels := map[string]string{"tailor.dev/enabled": "true"}
	maps.Copy(labels, r.o.Labels)
	if !placement {
		labels["tailor.dev/placement"] = "disabled"
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "demo-" + scenario + "-", Labels: labels}}
	created, err := r.cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	if err != nil {
		return "", nil, err
	}
	r.say(scenario, "namespace %s (tailor.dev/enabled=true)", created.Name)
	return created.Name, func() {
		if !r.o.Keep {
			_ = r.cs.CoreV1().Namespaces().Delete(context.Background(), created.Name, metav1.DeleteOptions{})
		}
	}, nil
}

// failed is the Result of a scenario stopped at step by err.
func failed(ns, pool, step string, err error) Result {
	return Result{Namespace: ns, NodePool: pool, What: step, Failures: []string{step + ": " + err.Error()}}
}

// poll calls look every Poll until it returns true, an error, or timeout.
func (r *Runner) poll(ctx context.Context, timeout time.Duration, look func(ctx context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(r.o.Poll)
	defer t.Stop()
	var last error
	for {
		done, err := look(ctx)
		if done {
			return nil
		}
		if err != nil && ctx.Err() == nil {
			// Not the deadline's own error: it would hide why.
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("gave up after %s: %w", timeout, last)
			}
			return fmt.Errorf("gave up after %s", timeout)
		case <-t.C:
		}
	}
}

// events counts the namespace's Events by reason.
func (r *Runner) events(ctx context.Context, ns string) (map[string]int, error) {
	evs, err := r.cs.EventsV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, e := range evs.Items {
		n := int(e.DeprecatedCount)
		if e.Series != nil {
			n = int(e.Series.Count)
		}
		out[e.Reason] += max(n, 1)
	}
	return out, nil
}

func deployment(name string, replicas int32, pod corev1.PodSpec, annotations map[string]string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations}, Spec: pod},
		},
	}
}

// runningPods lists the Running, bound, not deleted pods with app=name.
func (r *Runner) runningPods(ctx context.Context, ns, name string) ([]corev1.Pod, int, error) {
	list, err := r.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
	if err != nil {
		return nil, 0, err
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.Status.Phase == corev1.PodRunning && p.Spec.NodeName != "" && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out, len(list.Items), nil
}

func decodeTable(body []byte, t *metav1.Table) error { return json.Unmarshal(body, t) }
