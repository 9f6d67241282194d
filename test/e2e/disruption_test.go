package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/cloud/sim"
)

// The disruption acceptance (issue 12) on the real control plane with
// the sim cloud. Each scenario has its own tainted pool, as in
// provisioner_test.go; Tailor decides every second and validates tainted
// candidates for one.

// disruptionPool is a pool of c5 on-demand nodes of the given sizes that
// consolidates what is underused 5 s after its last pod event.
func disruptionPool(name string, sizes ...string) *testPool {
	types := make([]string, len(sizes))
	for i, s := range sizes {
		types[i] = "c5." + s
	}
	p := newTestPool(name, 0, req(provisionerv1.LabelInstanceType, corev1.NodeSelectorOpIn, types...),
		req(provisionerv1.LabelCapacityType, corev1.NodeSelectorOpIn, "on-demand"))
	p.np.Spec.Disruption = provisionerv1.Disruption{ConsolidationPolicy: provisionerv1.ConsolidationPolicyWhenEmptyOrUnderutilized,
		ConsolidateAfter: "5s", Budgets: []provisionerv1.Budget{{Nodes: "100%"}}}
	return p
}

// pinned is inflate pinned to the pool by nodeSelector (no webhook needed).
func pinned(ns, name string, replicas int32, p *testPool, mutate ...func(*corev1.PodTemplateSpec)) *appsv1.Deployment {
	d := inflate(ns, name, replicas, "1", p)
	d.Spec.Template.Spec.NodeSelector = map[string]string{provisionerv1.LabelNodePool: p.np.Name}
	for _, m := range mutate {
		m(&d.Spec.Template)
	}
	if _, err := env.Clientset().AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		panic(err)
	}
	return d
}

func maxUnavailable(t *testing.T, ns, app string, n int) {
	t.Helper()
	v := intstr.FromInt32(int32(n))
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: ns},
		Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &v, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}}}
	if _, err := env.Clientset().PolicyV1().PodDisruptionBudgets(ns).Create(context.Background(), pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// fleet is the pool's claims: names and total $/h.
func fleet(ctx context.Context, c client.Client, pool string) ([]string, float64, error) {
	claims, err := claimsOf(ctx, c, pool)
	var names []string
	var cost float64
	for _, nc := range claims {
		price, _ := strconv.ParseFloat(nc.Status.PricePerHour, 64)
		cost += price
		names = append(names, nc.Name+"/"+nc.Status.InstanceType)
	}
	return names, cost, err
}

// watchRunning records the fewest Running pods of app seen until stop.
func watchRunning(ns, app string) (stop func() int) {
	var mu sync.Mutex
	least := 1 << 30
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
			}
			n, err := runningPods(context.Background(), ns, map[string]string{"app": app})
			if err == nil {
				mu.Lock()
				least = min(least, n)
				mu.Unlock()
			}
		}
	}()
	return func() int {
		close(done)
		mu.Lock()
		defer mu.Unlock()
		return least
	}
}

// eventAbout waits for an Event with reason about a cluster-scoped object
// (they are in "default") and returns its note.
func eventAbout(t *testing.T, reason, regarding string, since time.Time, timeout time.Duration) string {
	t.Helper()
	var note string
	eventually(t, timeout, func(ctx context.Context) (bool, string) {
		evs, err := env.Clientset().EventsV1().Events("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		// The latest one since since: a node may have been refused for an
		// earlier reason (pods not Running yet) under the same Event reason.
		var latest time.Time
		for _, e := range evs.Items {
			if e.Reason != reason || e.Regarding.Name != regarding {
				continue
			}
			at := e.EventTime.Time
			if e.Series != nil {
				at = e.Series.LastObservedTime.Time
			}
			if !at.Before(since.Truncate(time.Second)) && !at.Before(latest) {
				latest, note = at, e.Note
			}
		}
		return !latest.IsZero(), fmt.Sprintf("no %s Event about %s since %s", reason, regarding, since.Format(time.TimeOnly))
	})
	return note
}

// onlyClaim waits until the pool has one initialized claim, and returns it.
func onlyClaim(t *testing.T, c client.Client, pool string) provisionerv1.NodeClaim {
	t.Helper()
	var nc provisionerv1.NodeClaim
	eventually(t, 60*time.Second, func(ctx context.Context) (bool, string) {
		claims, err := claimsOf(ctx, c, pool)
		if err != nil || len(claims) != 1 {
			return false, fmt.Sprintf("%d claims (%v)", len(claims), err)
		}
		nc = claims[0]
		return isInitialized(&nc), "not initialized"
	})
	return nc
}

func isInitialized(nc *provisionerv1.NodeClaim) bool {
	for _, c := range nc.Status.Conditions {
		if c.Type == provisionerv1.ConditionInitialized {
			return c.Status == metav1.ConditionTrue
		}
	}
	return false
}

// stays checks, after a few disruption passes over the claim quiet
// (consolidateAfter passed since its last pod event, condition
// Consolidatable), that it is still there, not deleting, untainted.
func stays(t *testing.T, c client.Client, inst *instance, nc provisionerv1.NodeClaim, scaled time.Time) {
	t.Helper()
	eventually(t, 60*time.Second, func(ctx context.Context) (bool, string) {
		got := &provisionerv1.NodeClaim{}
		if err := c.Get(ctx, client.ObjectKey{Name: nc.Name}, got); err != nil {
			return false, err.Error()
		}
		// Quiet again after the scale-down's pod event (consolidateAfter 5s).
		cond := meta.FindStatusCondition(got.Status.Conditions, provisionerv1.ConditionConsolidatable)
		return cond != nil && cond.Status == metav1.ConditionTrue && cond.LastTransitionTime.After(scaled),
			fmt.Sprintf("Consolidatable %+v; scaled down at %s", cond, scaled.Format(time.TimeOnly))
	})
	waitPasses(t, inst, "disruption", 3)
	claims, err := claimsOf(context.Background(), c, nc.Labels[provisionerv1.LabelNodePool])
	if err != nil || len(claims) != 1 || claims[0].Name != nc.Name || claims[0].DeletionTimestamp != nil {
		t.Fatalf("claims now %v (%v), want %s alone, not deleting", claims, err, nc.Name)
	}
	node, err := env.Clientset().CoreV1().Nodes().Get(context.Background(), nc.Status.NodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, taint := range node.Spec.Taints {
		if taint.Key == provisionerv1.TaintDisrupted {
			t.Errorf("node %s is tainted %s", node.Name, taint.Key)
		}
	}
}

// TestDisruption runs the acceptance scenarios that share one Tailor.
func TestDisruption(t *testing.T) {
	t.Parallel() // own namespaces, pools and Tailor (testLabel)
	c := provClient(t)
	ensureNodeClass(t, c)
	state := namespace(t, nil)
	inst := startProvisioner(t, state, "--disruption-interval", "1s", "--disruption-validation-period", "1s")
	ownClaimsGoneAtCleanup(t, c)

	// Acceptance 1: 10 pods × 1 CPU on four c5.xlarge (three fit one),
	// scaled to 3: fewer nodes, strictly cheaper, never more than the PDB's
	// one pod down.
	t.Run("ConsolidateMany", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t, nil)
		p := disruptionPool("e2e-dis-many", "xlarge")
		p.create(t, c)
		pinned(ns, "many", 10, p)
		maxUnavailable(t, ns, "many", 1)
		waitRunning(t, ns, "many", 10, 2*time.Minute)
		before, costBefore, _ := fleet(context.Background(), c, p.np.Name)
		scaleTo(t, ns, "many", 3)
		waitRunning(t, ns, "many", 3, 2*time.Minute)
		stop := watchRunning(ns, "many")
		start := time.Now()
		eventually(t, 120*time.Second, func(ctx context.Context) (bool, string) {
			names, cost, err := fleet(ctx, c, p.np.Name)
			return err == nil && len(names) == 1, fmt.Sprintf("fleet %v $%.4f/h (%v)", names, cost, err)
		})
		least := stop()
		after, costAfter, _ := fleet(context.Background(), c, p.np.Name)
		t.Logf("10 → 3 pods: %v ($%.4f/h) → %v ($%.4f/h) in %s; fewest Running pods meanwhile %d", before, costBefore, after, costAfter,
			time.Since(start).Round(100*time.Millisecond), least)
		if costAfter >= costBefore {
			t.Errorf("cost $%.4f/h, not below $%.4f/h", costAfter, costBefore)
		}
		if least < 2 {
			t.Errorf("%d pods Running at one point, the PDB allows one of 3 down", least)
		}
		waitRunning(t, ns, "many", 3, 2*time.Minute)
		scaleTo(t, ns, "many", 0)
	})

	// Acceptance 1, replacement: 6 pods on a c5.2xlarge scaled to 2: the
	// node is replaced by a c5.xlarge, launched and initialized first.
	t.Run("ConsolidateReplace", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t, nil)
		p := disruptionPool("e2e-dis-replace", "xlarge", "2xlarge")
		p.create(t, c)
		pinned(ns, "replace", 6, p)
		maxUnavailable(t, ns, "replace", 1)
		waitRunning(t, ns, "replace", 6, 2*time.Minute)
		old := onlyClaim(t, c, p.np.Name)
		scaleTo(t, ns, "replace", 2)
		waitRunning(t, ns, "replace", 2, 2*time.Minute)
		stop := watchRunning(ns, "replace")
		start := time.Now()
		var now provisionerv1.NodeClaim
		eventually(t, 120*time.Second, func(ctx context.Context) (bool, string) {
			claims, err := claimsOf(ctx, c, p.np.Name)
			if err != nil || len(claims) != 1 || claims[0].Name == old.Name {
				return false, fmt.Sprintf("%d claims (%v)", len(claims), err)
			}
			now = claims[0]
			return true, ""
		})
		least := stop()
		waitRunning(t, ns, "replace", 2, 2*time.Minute)
		t.Logf("6 → 2 pods: %s %s $%s/h replaced by %s %s $%s/h in %s; fewest Running pods meanwhile %d", old.Name, old.Status.InstanceType, old.Status.PricePerHour,
			now.Name, now.Status.InstanceType, now.Status.PricePerHour, time.Since(start).Round(100*time.Millisecond), least)
		before, _ := strconv.ParseFloat(old.Status.PricePerHour, 64)
		after, _ := strconv.ParseFloat(now.Status.PricePerHour, 64)
		if after >= before {
			t.Errorf("replacement costs $%.4f/h, not less than $%.4f/h", after, before)
		}
		if least < 1 {
			t.Errorf("%d pods Running at one point, the PDB allows one of 2 down", least)
		}
		note := eventAbout(t, "DisruptionStarted", old.Name, time.Time{}, 10*time.Second)
		t.Logf("Event on %s: %s", old.Name, note)
		scaleTo(t, ns, "replace", 0)
	})

	// Acceptance 2–4: 6 pods on a c5.2xlarge scaled to 2, which a
	// c5.xlarge would carry for half the price, and something that keeps
	// the node: a threshold above the saving, a pod annotated
	// tailor.dev/do-not-disrupt, a PDB with maxUnavailable 0. The node
	// stays untainted; an Event says why (and what the move would save).
	for _, tc := range []struct {
		name, want string
		pool       func(*testPool)
		pods       func(*corev1.PodTemplateSpec)
		pdb        bool
	}{
		{name: "BelowThreshold", want: "would save $0.1700/h (50.0%), less than the pool's minimum saving of $1.0000/h",
			pool: func(p *testPool) { p.np.Spec.Disruption.MinimumSavings = &provisionerv1.MinimumSavings{PerHour: "1"} }},
		// Balanced (Karpenter's): the move saves half the pool's price
		// and evicts all its disruption cost (the node and 2 pods): 0.5,
		// enough at consolidationThreshold 2, not at 1.
		{name: "Balanced", want: "would save $0.1700/h: Balanced score 0.50 < 1.00 (saves 50.0% of NodePool e2e-dis-balanced's $0.3400/h, evicts 100.0% of its disruption cost; consolidationThreshold 1)",
			pool: func(p *testPool) {
				p.np.Spec.Disruption.ConsolidationPolicy = provisionerv1.ConsolidationPolicyBalanced
				p.np.Spec.Disruption.ConsolidationThreshold = ptr.To[int32](1)
			}},
		{name: "DoNotDisrupt", want: "is annotated " + provisionerv1.AnnotationDoNotDisrupt, pods: func(tmpl *corev1.PodTemplateSpec) {
			tmpl.Annotations = map[string]string{provisionerv1.AnnotationDoNotDisrupt: "true"}
		}},
		{name: "PDB", want: "PodDisruptionBudget", pdb: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := namespace(t, nil)
			app := strings.ToLower(tc.name)
			p := disruptionPool("e2e-dis-"+app, "xlarge", "2xlarge")
			if tc.pool != nil {
				tc.pool(p)
			}
			p.create(t, c)
			var mutate []func(*corev1.PodTemplateSpec)
			if tc.pods != nil {
				mutate = append(mutate, tc.pods)
			}
			pinned(ns, app, 6, p, mutate...)
			if tc.pdb {
				maxUnavailable(t, ns, app, 0)
			}
			waitRunning(t, ns, app, 6, 2*time.Minute)
			nc := onlyClaim(t, c, p.np.Name)
			scaled := time.Now()
			scaleTo(t, ns, app, 2)
			stays(t, c, inst, nc, scaled)
			note := eventAbout(t, "DisruptionBlocked", nc.Name, scaled, 10*time.Second)
			t.Logf("Event on %s: %s", nc.Name, note)
			if !strings.Contains(note, tc.want) {
				t.Errorf("the Event does not say %q: %s", tc.want, note)
			}
			// The claim's status says it too.
			got := &provisionerv1.NodeClaim{}
			if err := c.Get(context.Background(), client.ObjectKey{Name: nc.Name}, got); err != nil {
				t.Fatal(err)
			}
			if cond := meta.FindStatusCondition(got.Status.Conditions, provisionerv1.ConditionDisrupting); cond == nil ||
				cond.Status != metav1.ConditionFalse || cond.Reason != provisionerv1.ReasonBlocked || !strings.Contains(cond.Message, tc.want) {
				t.Errorf("Disrupting condition %+v, want False, %s, saying %q", cond, provisionerv1.ReasonBlocked, tc.want)
			}
			if tc.name == "Balanced" {
				// The rejected 0.50 is in the score histogram, in the
				// bucket up to 0.5 and not below.
				series := `tailor_disruption_consolidation_score_bucket\{decision="rejected",nodepool="` + p.np.Name + `",le="%s"\} (\S+)`
				in, below := metricValue(t, inst, regexp.MustCompile(fmt.Sprintf(series, "0.5"))), metricValue(t, inst, regexp.MustCompile(fmt.Sprintf(series, "0.3333333333333333")))
				if in != 1 || below != 0 {
					t.Errorf("score histogram of %s: %v at ≤ 0.5 and %v at ≤ 1/3, want 1 and 0", p.np.Name, in, below)
				}
			}
			_ = env.Clientset().PolicyV1().PodDisruptionBudgets(ns).Delete(context.Background(), app, metav1.DeleteOptions{})
			scaleTo(t, ns, app, 0)
		})
	}

	// Acceptance 5: budget nodes "0" during a schedule window: an empty
	// node stays inside it and goes after it.
	t.Run("ScheduledBudget", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t, nil)
		p := disruptionPool("e2e-dis-window", "xlarge")
		start := time.Now().UTC().Truncate(time.Minute)
		end := start.Add(2 * time.Minute)
		schedule := fmt.Sprintf("%d %d * * *", start.Minute(), start.Hour())
		p.np.Spec.Disruption.Budgets = []provisionerv1.Budget{{Nodes: "100%"},
			{Nodes: "0", Schedule: &schedule, Duration: &metav1.Duration{Duration: 2 * time.Minute}}}
		p.create(t, c)
		pinned(ns, "window", 1, p)
		waitRunning(t, ns, "window", 1, 2*time.Minute)
		nc := onlyClaim(t, c, p.np.Name)
		emptied := time.Now()
		scaleTo(t, ns, "window", 0)
		note := eventAbout(t, "DisruptionBlocked", nc.Name, emptied, 60*time.Second)
		t.Logf("inside the window (%s for 2m, ends %s): %s", schedule, end.Format(time.TimeOnly), note)
		if !strings.Contains(note, "budget") {
			t.Errorf("the Event does not name the budget: %s", note)
		}
		var gone time.Time
		eventually(t, time.Until(end)+60*time.Second, func(ctx context.Context) (bool, string) {
			claims, err := claimsOf(ctx, c, p.np.Name)
			if err != nil {
				return false, err.Error()
			}
			if len(claims) == 0 {
				gone = time.Now()
				return true, ""
			}
			return false, fmt.Sprintf("%d claims", len(claims))
		})
		t.Logf("empty node gone %s after the window ended", gone.Sub(end).Round(100*time.Millisecond))
		if gone.Before(end) {
			t.Errorf("the node went at %s, inside the window (ends %s)", gone.Format(time.TimeOnly), end.Format(time.TimeOnly))
		}
	})

	// Acceptance 6: expireAfter 30s: the nodes are replaced one at a time
	// (budget 1), the pods run on.
	t.Run("Expiry", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t, nil)
		p := disruptionPool("e2e-dis-expiry", "xlarge")
		p.np.Spec.Template.Spec.ExpireAfter = "30s"
		p.np.Spec.Disruption.Budgets = []provisionerv1.Budget{{Nodes: "1"}}
		p.create(t, c)
		pinned(ns, "expiry", 4, p)
		waitRunning(t, ns, "expiry", 4, 2*time.Minute)
		replacedOneAtATime(t, c, p.np.Name, ns, "expiry", 4, func() {})
	})

	// Acceptance 7: drift: the pool's labels change; its nodes are
	// replaced one budget step (1) at a time.
	t.Run("Drift", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t, nil)
		p := disruptionPool("e2e-dis-drift", "xlarge")
		p.np.Spec.Disruption.Budgets = []provisionerv1.Budget{{Nodes: "1"}}
		p.create(t, c)
		pinned(ns, "drift", 4, p)
		waitRunning(t, ns, "drift", 4, 2*time.Minute)
		replacedOneAtATime(t, c, p.np.Name, ns, "drift", 4, func() {
			np := &provisionerv1.NodePool{}
			if err := c.Get(context.Background(), client.ObjectKey{Name: p.np.Name}, np); err != nil {
				t.Fatal(err)
			}
			np.Spec.Template.Metadata.Labels["e2e.tailor.dev/version"] = "2"
			if err := c.Update(context.Background(), np); err != nil {
				t.Fatal(err)
			}
		})
		nodes, _ := nodesOf(context.Background(), p.np.Name)
		for _, n := range nodes {
			if n.Labels["e2e.tailor.dev/version"] != "2" {
				t.Errorf("node %s lacks the new label", n.Name)
			}
		}
	})
}

// replacedOneAtATime runs change, then waits until every claim the pool
// had is gone, checking all along that at most one claim is disrupting at
// once; then that the pods run again.
func replacedOneAtATime(t *testing.T, c client.Client, pool, ns, app string, pods int, change func()) {
	t.Helper()
	first, _, _ := fleet(context.Background(), c, pool)
	old := map[string]bool{}
	for _, f := range first {
		old[strings.Split(f, "/")[0]] = true
	}
	change()
	most := 0
	start := time.Now()
	eventually(t, 180*time.Second, func(ctx context.Context) (bool, string) {
		claims, err := claimsOf(ctx, c, pool)
		if err != nil {
			return false, err.Error()
		}
		disrupting, left := 0, 0
		for _, nc := range claims {
			if nc.DeletionTimestamp != nil || nc.Annotations[provisionerv1.AnnotationDisruption] != "" {
				disrupting++
			}
			if old[nc.Name] {
				left++
			}
		}
		most = max(most, disrupting)
		return left == 0, fmt.Sprintf("%d of %d first claims left, %d disrupting", left, len(old), disrupting)
	})
	now, _, _ := fleet(context.Background(), c, pool)
	t.Logf("%v replaced by %v in %s; at most %d disrupting at once", first, now, time.Since(start).Round(100*time.Millisecond), most)
	if most > 1 {
		t.Errorf("%d claims disrupting at once, the budget allows 1", most)
	}
	waitRunning(t, ns, app, pods, 2*time.Minute)
	scaleTo(t, ns, app, 0)
}

// TestDisruptionInsufficientCapacity (acceptance 8): the replacement finds
// no capacity; the old node keeps serving, untainted.
func TestDisruptionInsufficientCapacity(t *testing.T) {
	t.Parallel() // own namespaces, pools and Tailor (testLabel)
	c := provClient(t)
	ensureNodeClass(t, c)
	state := namespace(t, nil)
	inst := startProvisioner(t, state, "--disruption-interval", "1s", "--disruption-validation-period", "1s")
	ns := namespace(t, nil)
	p := disruptionPool("e2e-dis-ice", "xlarge", "2xlarge")
	p.create(t, c)
	pinned(ns, "ice", 6, p)
	waitRunning(t, ns, "ice", 6, 2*time.Minute)
	nc := onlyClaim(t, c, p.np.Name)
	simFaults(t, state, map[string]string{sim.FaultInsufficientCapacity: "c5.xlarge/*/*"})
	scaled := time.Now()
	scaleTo(t, ns, "ice", 2)
	note := eventAbout(t, "DisruptionRolledBack", nc.Name, scaled, 60*time.Second)
	t.Logf("Event on %s: %s", nc.Name, note)
	stays(t, c, inst, nc, scaled)
	waitRunning(t, ns, "ice", 2, 10*time.Second)
	scaleTo(t, ns, "ice", 0)
	waitPoolEmpty(t, c, p.np.Name, 60*time.Second)
}

// TestDisruptionRestart (acceptance 9): Tailor is killed once the
// candidate is tainted and before it drains; its successor completes the
// command (or rolls it back): no node is left tainted and idle, and no
// second replacement is made.
func TestDisruptionRestart(t *testing.T) {
	t.Parallel() // own namespaces, pools and Tailor (testLabel)
	c := provClient(t)
	ensureNodeClass(t, c)
	state := namespace(t, nil)
	inst := startProvisioner(t, state, "--disruption-interval", "1s", "--disruption-validation-period", "10m")
	ns := namespace(t, nil)
	p := disruptionPool("e2e-dis-restart", "xlarge", "2xlarge")
	p.create(t, c)
	pinned(ns, "restart", 6, p)
	waitRunning(t, ns, "restart", 6, 2*time.Minute)
	old := onlyClaim(t, c, p.np.Name)
	scaleTo(t, ns, "restart", 2)
	eventually(t, 60*time.Second, func(ctx context.Context) (bool, string) {
		node, err := env.Clientset().CoreV1().Nodes().Get(ctx, old.Status.NodeName, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, taint := range node.Spec.Taints {
			if taint.Key == provisionerv1.TaintDisrupted {
				return true, ""
			}
		}
		return false, fmt.Sprintf("node %s taints %v", node.Name, node.Spec.Taints)
	})
	claims, _ := claimsOf(context.Background(), c, p.np.Name)
	_ = inst.cmd.Process.Signal(syscall.SIGKILL)
	<-inst.done
	t.Logf("killed Tailor with %s tainted (validation 10m) and %d claims", old.Name, len(claims))
	if len(claims) != 2 {
		t.Fatalf("%d claims when tainted, want the old one and its replacement", len(claims))
	}
	startProvisioner(t, state, "--disruption-interval", "1s", "--disruption-validation-period", "1s")
	eventually(t, 60*time.Second, func(ctx context.Context) (bool, string) {
		claims, err := claimsOf(ctx, c, p.np.Name)
		if err != nil {
			return false, err.Error()
		}
		for _, nc := range claims {
			if nc.Name == old.Name {
				return false, "the old claim is still there"
			}
		}
		return len(claims) == 1, fmt.Sprintf("%d claims", len(claims))
	})
	waitRunning(t, ns, "restart", 2, 2*time.Minute)
	nodes, _ := nodesOf(context.Background(), p.np.Name)
	for _, n := range nodes {
		for _, taint := range n.Spec.Taints {
			if taint.Key == provisionerv1.TaintDisrupted {
				t.Errorf("node %s left tainted", n.Name)
			}
		}
	}
	now, cost, _ := fleet(context.Background(), c, p.np.Name)
	t.Logf("after the restart the command completed: %v ($%.4f/h), %d node(s)", now, cost, len(nodes))
	scaleTo(t, ns, "restart", 0)
	waitPoolEmpty(t, c, p.np.Name, 60*time.Second)
}
