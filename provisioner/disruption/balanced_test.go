package disruption

import (
	"math"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/scheduling"
)

func TestPodDisruptionCost(t *testing.T) {
	prio := func(v int32) func(*corev1.Pod) { return func(p *corev1.Pod) { p.Spec.Priority = &v } }
	del := func(v string) func(*corev1.Pod) {
		return func(p *corev1.Pod) { p.Annotations = map[string]string{corev1.PodDeletionCost: v} }
	}
	cases := []struct {
		name string
		pod  *corev1.Pod
		want float64
	}{
		{"a default pod costs 1", runningPod("p", "1"), 1},
		{"deletion cost 2^27 adds 1", runningPod("p", "1", del("134217728")), 2},
		{"the largest deletion cost is clamped to 10", runningPod("p", "1", del("2147483647")), 10},
		{"a negative deletion cost goes to 0, not below", runningPod("p", "1", del("-2147483648")), 0},
		{"an unparsable deletion cost counts as none", runningPod("p", "1", del("lots")), 1},
		{"priority 2^25 adds 1", runningPod("p", "1", prio(1<<25)), 2},
		{"system-node-critical (2000001000) is clamped to 10", runningPod("p", "1", prio(2000001000)), 10},
	}
	for _, c := range cases {
		if got := PodDisruptionCost(c.pod); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// TestBalancedScore checks the score against the Balanced RFC's worked
// examples (prices per day there; the shares do not care).
func TestBalancedScore(t *testing.T) {
	cases := []struct {
		name                      string
		poolPrice, poolDisruption float64
		saving, disruption        float64
		k                         int32
		score                     float64
		pass                      bool
	}{
		{"oversized node", 58.08, 80, 7.26, 3, 2, 3.33, true},
		{"spare capacity delete", 58.08, 80, 4.84, 4, 2, 1.67, true},
		{"marginal move", 58.08, 80, 2.42, 8, 2, 0.42, false},
		{"uniform pool: half the price is the boundary", 48.40, 80, 2.42, 8, 2, 0.50, true},
		{"the same at consolidationThreshold 1", 48.40, 80, 2.42, 8, 1, 0.50, false},
		{"scale invariance: 10 × the pool", 580.80, 800, 7.26, 3, 2, 3.33, true},
		{"a zero saving never passes", 58.08, 80, 0, 1, 3, 0, false},
		{"a pool without a price scores 0", 0, 80, 0, 1, 2, 0, false},
	}
	for _, c := range cases {
		b := balanced{ok: true, pool: "p", k: c.k, disruption: c.disruption, totals: poolTotals{price: c.poolPrice, disruption: c.poolDisruption},
			minSaving: c.poolPrice * c.disruption / (float64(c.k) * c.poolDisruption)}
		if got := b.score(c.saving); math.Abs(got-c.score) > 0.005 {
			t.Errorf("%s: score %.3f, want %.2f", c.name, got, c.score)
		}
		if pass := c.saving > 0 && c.saving >= b.minSaving-1e-9; pass != c.pass {
			t.Errorf("%s: passes %v (bar %.3f), want %v", c.name, pass, b.minSaving, c.pass)
		}
		if c.poolPrice == 0 {
			if got := b.describe(c.saving); !strings.Contains(got, "have no price") {
				t.Errorf("%s: %q", c.name, got)
			}
			continue
		}
		if want := map[bool]string{true: " ≥ ", false: " < "}[c.pass]; !strings.Contains(b.describe(c.saving), want) {
			t.Errorf("%s: %q does not say %q", c.name, b.describe(c.saving), want)
		}
	}
}

// TestBalancedRefusal: the refusal says the score, the bar and the shares.
func TestBalancedRefusal(t *testing.T) {
	costly := func(p *corev1.Pod) { p.Annotations = map[string]string{corev1.PodDeletionCost: "2147483647"} }
	np := pool("a", func(np *provisionerv1.NodePool) {
		np.Spec.Disruption.ConsolidationPolicy = provisionerv1.ConsolidationPolicyBalanced
	})
	in := Input{Now: t0, Pools: []scheduling.Pool{np}, Options: DefaultOptions(), Nodes: []Node{
		node("big", "a", 7, runningPod("p1", "250m", costly), runningPod("p2", "250m", costly)),
		node("w", "a", 7, runningPod("full", "7800m")),
	}}
	dec, err := Decide(in)
	if err != nil {
		t.Fatal(err)
	}
	var msg string
	for _, r := range dec.Refusals {
		if r.Claim == "big" {
			msg = r.Message
		}
	}
	// Pool: $4.80/h, disruption 23 (big: 1 + 10 + 10, w: 1 + 1); the
	// move saves $2.10/h (43.75 %) for 21 (91.3 %): 0.48 < 0.50.
	want := "would save $2.1000/h: Balanced score 0.48 < 0.50 (saves 43.8% of NodePool a's $4.8000/h, evicts 91.3% of its disruption cost; consolidationThreshold 2)"
	if !strings.Contains(msg, want) {
		t.Errorf("refusal %q, want it to contain %q", msg, want)
	}
}

// TestBalancedRanking: under a solve limit a Balanced pool's candidates
// are tried by their delete score, so the move that passes is found
// before the one that cannot; a node that could not pass even if deleted
// is refused without a simulation, with the score it would reach.
func TestBalancedRanking(t *testing.T) {
	oneAtATime := func(np *provisionerv1.NodePool) {
		np.Spec.Disruption.ConsolidationPolicy = provisionerv1.ConsolidationPolicyBalanced
		np.Spec.Disruption.Budgets = []provisionerv1.Budget{{Nodes: "1"}} // no multi-node move
	}
	// Pool $2.70/h, disruption 5. cheap ($0.30, 1 pod) scores at most
	// (0.30/2.70)/(2/5) = 0.28 < 0.50 even if deleted; big ($2.40, 2
	// pods) replaced by a $0.30 node saves $2.10: (2.10/2.70)/(3/5) = 1.30.
	// The default order (fewest pods first) tries cheap first.
	in := Input{Now: t0, Pools: []scheduling.Pool{pool("a", oneAtATime)}, Options: Options{SingleNodeMaxSolves: 1}, Nodes: []Node{
		node("cheap", "a", 0, runningPod("p", "900m")),
		node("big", "a", 7, runningPod("q1", "250m"), runningPod("q2", "250m")),
	}}
	dec, err := Decide(in)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := summary(dec), []string{"single_node_consolidation replace [big]→[fake-it-0] $2.40→$0.30"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if dec.Solves != 1 {
		t.Errorf("%d solves, want 1", dec.Solves)
	}
	if c := dec.Commands[0]; c.Balanced == nil || math.Abs(c.Balanced.Score-1.30) > 0.005 || c.Balanced.Threshold != 0.5 || c.Balanced.NodePool != "a" {
		t.Errorf("command score %+v, want 1.30 against 0.50 in a", c.Balanced)
	}

	// Beside a full node (no cheaper type holds its pod, no room for it
	// elsewhere) cheap is refused unsimulated: (0.30/2.70)/(2/4) = 0.22.
	full := in
	full.Options = DefaultOptions()
	full.Nodes = []Node{node("cheap", "a", 0, runningPod("p", "900m")), node("w", "a", 7, runningPod("full", "7800m"))}
	if dec, err = Decide(full); err != nil {
		t.Fatal(err)
	}
	if got, want := summary(dec), []string{"refused single_node_consolidation w no_cheaper_replacement", "refused single_node_consolidation cheap below_threshold"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if dec.Solves != 0 {
		t.Errorf("%d solves, want 0", dec.Solves)
	}
	r := dec.Refusals[1]
	if !strings.Contains(r.Message, "even deleting it would save at most $0.3000/h: Balanced score 0.22 < 0.50") {
		t.Errorf("refusal %q", r.Message)
	}
	if r.Balanced == nil || math.Abs(r.Balanced.Score-2.0/9) > 1e-9 || r.Balanced.Threshold != 0.5 {
		t.Errorf("refusal score %+v, want 2/9 against 0.50", r.Balanced)
	}

	// A default pool keeps the default order: cheap is simulated first
	// (its pods fit on big: a delete) and takes the one solve.
	in.Pools = []scheduling.Pool{pool("a", func(np *provisionerv1.NodePool) { np.Spec.Disruption.Budgets = []provisionerv1.Budget{{Nodes: "1"}} })}
	if dec, err = Decide(in); err != nil {
		t.Fatal(err)
	}
	if got, want := summary(dec), []string{"single_node_consolidation delete [cheap]→[] $0.30→$0.00"}; !slices.Equal(got, want) {
		t.Errorf("default pool: got %q, want %q", got, want)
	}
	if dec.Commands[0].Balanced != nil {
		t.Errorf("a default pool's command has a Balanced score")
	}
}
