package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tailor-dev/tailor/cmd/tailor/sandbox/demo"
	"github.com/tailor-dev/tailor/cmd/tailor/sandbox/demo/demoplot"
	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
)

// testWriter sends the demo's progress and tables to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestDemo plays "tailor sandbox demo"'s four scenarios — the seed's
// php-apache (HPA), hamster (VPA), a node group from zero (Cluster
// Autoscaler) and inflate (Karpenter) — in parallel, each in its own
// namespace, against one Tailor running what the sandbox runs (webhook,
// recommender, updater, scaler, provisioner with the sim cloud, load). The
// expectations are the demo's own checks (cmd/tailor/sandbox/demo); beyond
// them this test reads the Events and metrics that explain each decision.
// It replaces TestScalerPhpApache and TestProvisioner's Inflate, and checks
// what they did: the ra columns at rest, the trajectory 1 → 5 → 7 at 44 %
// → 1, the pods pinned to their pool, the fleet's price.
func TestDemo(t *testing.T) {
	t.Parallel() // own namespaces, pools and Tailor (testLabel)
	start := time.Now()
	// Registered first, so it runs last: after Tailor's shutdown logs, the
	// summary with every failure ends this test's output (what a CI log's
	// tail shows).
	var summary []string
	t.Cleanup(func() {
		if t.Failed() {
			t.Log("TestDemo failed:\n" + strings.Join(summary, "\n"))
		}
	})
	inst := startProvisioner(t, namespace(t, nil), "--components", "webhook,recommender,updater,scaler,provisioner,load",
		"--scaler-interval", "3s", "--recommender-interval", "5s", "--updater-interval", "2s")
	registerWebhooks(t, inst)

	c := provClient(t)
	// Every demo claim gone before Tailor stops (its finalizers).
	ownClaimsGoneAtCleanup(t, c)
	r, err := demo.New(env.RESTConfig(), testWriter{t}, demo.Options{Keep: true, Poll: 500 * time.Millisecond, Labels: map[string]string{testLabel: testID(t)}})
	if err != nil {
		t.Fatal(err)
	}
	// The scenarios run at once, as `tailor sandbox demo` runs them, in
	// goroutines of this test: parallel subtests would wait for free
	// -parallel slots behind the other tests (78 s in CI), this one
	// already holds one. Each is then checked in a subtest of its own.
	ran := map[string]demo.Result{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, name := range demo.Scenarios {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := r.Run(context.Background(), name)
			mu.Lock()
			ran[name] = res
			mu.Unlock()
		}()
	}
	wg.Wait()
	summary = append(summary, demo.Summary(ordered(ran)))
	results := map[string]demo.Result{}
	t.Run("scenarios", func(t *testing.T) {
		for _, name := range demo.Scenarios {
			t.Run(name, func(t *testing.T) {
				res := ran[name]
				t.Cleanup(func() {
					if res.NodePool != "" {
						_ = c.Delete(context.Background(), &provisionerv1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: res.NodePool}})
					}
					if res.Namespace != "" {
						_ = env.Clientset().CoreV1().Namespaces().Delete(context.Background(), res.Namespace, metav1.DeleteOptions{})
					}
				})
				t.Logf("%s: %s (%s)", name, res.What, res.Took.Round(time.Second))
				for _, f := range res.Failures {
					t.Error(f)
				}
				if !res.Passed() {
					return
				}
				switch name {
				case "hpa":
					// Back at rest, kubectl get ra reads as the seed's first table.
					tab, err := demo.GetTable(context.Background(), env.Clientset().CoreV1().RESTClient(), demo.ResourceRA, res.Namespace)
					if err != nil {
						t.Fatal(err)
					}
					text, err := demo.FormatTable(tab, false)
					if err != nil {
						t.Fatal(err)
					}
					if !regexp.MustCompile(`(?m)^php-apache\s+Deployment/php-apache\s+cpu: 0%/50%\s+1\s+10\s+1\s`).MatchString(text) {
						summary = append(summary, "kubectl get ra:\n"+text)
						t.Errorf("kubectl get ra:\n%s\nwant php-apache Deployment/php-apache cpu: 0%%/50%% 1 10 1", text)
					}
					if n := specReplicas(t, res.Namespace, "php-apache"); n != 1 {
						summary = append(summary, fmt.Sprintf("php-apache spec.replicas %d", n))
						t.Errorf("Deployment spec.replicas %d after the load, want 1", n)
					}
					// Each decision explained, as the HPA's Events do.
					waitEventMessage(t, res.Namespace, "SuccessfulRescale", "php-apache", "above target; metrics: cpu ")
					waitEventMessage(t, res.Namespace, "SuccessfulRescale", "php-apache", "New size: 1; reason: All metrics below target")
				case "vpa":
					waitEvent(t, res.Namespace, "InPlaceResizedPod", "hamster-vpa")
				case "ca", "karpenter":
					// Every pod told which NodeClaim it waits for.
					if evs := eventsWith(t, res.Namespace, "Nominated"); len(evs) == 0 {
						t.Error("no Nominated Event on the pods")
					}
				}
				results[name] = res
			})
		}
	})
	t.Log("\n" + demo.Summary(ordered(results)))
	files, err := demoplot.Write(t.TempDir(), r.Recorder())
	if err != nil || len(files) != 2 {
		t.Errorf("plot: %v %v", files, err)
	}
	_, body, err := get(inst.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, re := range []string{
		`tailor_scaler_rescales_total\{direction="up"\} [1-9]`,
		`tailor_scaler_rescales_total\{direction="down"\} [1-9]`,
		`tailor_updater_updates_total\{action="resize",result="ok"\} [2-9]`,
		`tailor_provisioner_nodeclaims_launched_total\{[^}]*\} [1-9]`,
		`tailor_provisioner_nodeclaims_terminated_total\{[^}]*reason="disrupted"[^}]*\} [1-9]`,
		`tailor_disruption_decisions_total\{[^}]*reason="Empty"[^}]*\} [1-9]`,
	} {
		if !regexp.MustCompile(`(?m)^` + re).MatchString(body) {
			t.Errorf("/metrics has no line matching %s", re)
		}
	}
	if n := len(results); n != len(demo.Scenarios) && !t.Failed() {
		t.Errorf("%d scenarios passed, want %d", n, len(demo.Scenarios))
	}
	t.Logf("TestDemo took %s", time.Since(start).Round(time.Second))
}

// ordered is the results in the demo's order of scenarios.
func ordered(results map[string]demo.Result) []demo.Result {
	var out []demo.Result
	for _, name := range demo.Scenarios {
		if r, ok := results[name]; ok {
			out = append(out, r)
		}
	}
	return out
}
