package disruption

import (
	"fmt"
	"math"
	"math/rand"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/scheduling"
)

// FuzzDecide builds random small clusters (pools with random budgets,
// policies and savings thresholds; nodes of random types, ages and states;
// pods with random requests, annotations, phases and PDBs) and checks what
// every pass must hold: no blocked, uninitialized or held node is chosen,
// no node twice, budgets are kept, consolidations save at least their
// threshold (several replacements only for MarginalCost pools, each of
// its types within the saving), and every evicted pod has a place.
func FuzzDecide(f *testing.F) {
	for _, seed := range []int64{1, 2, 3, 42, 1234} {
		f.Add(seed)
	}
	steep := steepTypes()
	f.Fuzz(func(t *testing.T, seed int64) {
		rng := rand.New(rand.NewSource(seed))
		pick := func(s ...string) string { return s[rng.Intn(len(s))] }
		var pools []scheduling.Pool
		for i := 0; i < 1+rng.Intn(3); i++ {
			pools = append(pools, pool(fmt.Sprintf("p%d", i), func(np *provisionerv1.NodePool) {
				np.Spec.Disruption.ConsolidationPolicy = provisionerv1.ConsolidationPolicy(pick("WhenEmpty", "WhenEmptyOrUnderutilized", "Balanced"))
				if np.Spec.Disruption.ConsolidationPolicy == provisionerv1.ConsolidationPolicyBalanced && rng.Intn(2) == 0 {
					k := int32(1 + rng.Intn(3))
					np.Spec.Disruption.ConsolidationThreshold = &k
				}
				np.Spec.Disruption.ConsolidateAfter = provisionerv1.NillableDuration(pick("0s", "30s", "10m", "Never"))
				np.Spec.Disruption.Budgets = []provisionerv1.Budget{{Nodes: pick("0", "1", "2", "50%", "100%")}}
				if rng.Intn(3) == 0 {
					np.Spec.Disruption.Budgets = append(np.Spec.Disruption.Budgets, provisionerv1.Budget{Nodes: "0",
						Reasons: []provisionerv1.DisruptionReason{provisionerv1.DisruptionReason(pick("Empty", "Underutilized", "Drifted"))}})
				}
				np.Spec.Packing = provisionerv1.Packing(pick("", "FirstFit", "MarginalCost"))
				if rng.Intn(2) == 0 {
					np.Spec.Disruption.MinimumSavings = &provisionerv1.MinimumSavings{Fraction: pick("", "0.1", "0.5"), PerHour: pick("", "0.2", "2"), PerPod: pick("", "0.05")}
				}
			}))
			if rng.Intn(2) == 0 {
				pools[i].InstanceTypes = steep
			}
		}
		var pdbs []*policyv1.PodDisruptionBudget
		var nodes []Node
		for i := 0; i < 1+rng.Intn(8); i++ {
			var pods []*corev1.Pod
			for j := 0; j < rng.Intn(5); j++ {
				name := fmt.Sprintf("n%d-p%d", i, j)
				pods = append(pods, runningPod(name, pick("100m", "500m", "1", "2"), func(p *corev1.Pod) {
					switch rng.Intn(10) {
					case 0:
						p.Annotations = map[string]string{provisionerv1.AnnotationDoNotDisrupt: "true"}
					case 1:
						p.Status.Phase = corev1.PodPending
					case 2:
						pdbs = append(pdbs, budgetOf(name, int32(rng.Intn(2)), name))
					case 3:
						p.Annotations = map[string]string{corev1.PodDeletionCost: pick("-100000000", "200000000", "2147483647")}
					}
				}))
			}
			n := node(fmt.Sprintf("n%d", i), pools[rng.Intn(len(pools))].NodePool.Name, rng.Intn(8), pods...)
			n.Initialized = rng.Intn(8) != 0
			n.Disrupting = rng.Intn(8) == 0
			n.Replacement = rng.Intn(10) == 0
			n.DoNotDisrupt = rng.Intn(10) == 0
			n.Nominated = rng.Intn(10) == 0
			n.LastPodEvent = t0.Add(-time.Duration(rng.Intn(1200)) * time.Second)
			if rng.Intn(3) == 0 {
				n.ExpireAfter = time.Duration(1+rng.Intn(4)) * time.Hour
			}
			if rng.Intn(4) == 0 {
				n.Drifted = "labels changed"
			}
			nodes = append(nodes, n)
		}
		in := Input{Now: t0, Nodes: nodes, Pools: pools, PDBs: pdbs, Options: Options{Offset: rng.Intn(5)}}
		d, err := Decide(in)
		if err != nil {
			t.Fatal(err)
		}
		byClaim := map[string]*Node{}
		total, used := map[string]int{}, map[string]int{}
		// Balanced's denominators, every node of the pool.
		poolPrice, poolCost := map[string]float64{}, map[string]float64{}
		for i := range nodes {
			byClaim[nodes[i].Claim] = &nodes[i]
			total[nodes[i].Pool]++
			poolPrice[nodes[i].Pool] += nodes[i].Price
			poolCost[nodes[i].Pool] += NodeDisruptionCost(&nodes[i])
			if nodes[i].Disrupting {
				used[nodes[i].Pool]++
			}
		}
		pools2 := map[string]*provisionerv1.NodePool{}
		for _, p := range pools {
			pools2[p.NodePool.Name] = p.NodePool
		}
		chosen := map[string]bool{}
		pdbIdx := NewPDBs(pdbs)
		// A deferred claim is neither chosen nor refused, and deferred once.
		deferred := map[string]bool{}
		for _, name := range d.Deferred {
			if deferred[name] || byClaim[name] == nil {
				t.Fatalf("deferred %q twice or unknown: %q", name, d.Deferred)
			}
			deferred[name] = true
		}
		for _, r := range d.Refusals {
			if deferred[r.Claim] {
				t.Fatalf("%s both refused and deferred", r.Claim)
			}
		}
		for _, c := range d.Commands {
			pods := 0
			threshold := 0.0
			for _, name := range c.Candidates {
				n := byClaim[name]
				if chosen[name] {
					t.Fatalf("%s chosen twice", name)
				}
				chosen[name] = true
				if deferred[name] {
					t.Fatalf("%s both chosen and deferred", name)
				}
				if !n.Initialized || n.Disrupting || n.Replacement {
					t.Fatalf("%s chosen though initialized %v disrupting %v replacement %v", name, n.Initialized, n.Disrupting, n.Replacement)
				}
				if r, msg := Blocked(n, pdbIdx); r != "" {
					t.Fatalf("%s chosen though %s", name, msg)
				}
				used[n.Pool]++
				if allowed, _ := Allowed(pools2[n.Pool], c.Reason, total[n.Pool], t0); used[n.Pool] > allowed {
					t.Fatalf("%s: pool %s has %d disrupting, its budget for %q allows %d", name, n.Pool, used[n.Pool], c.Reason, allowed)
				}
				pods += len(n.Pods)
			}
			for _, name := range c.Candidates {
				threshold = max(threshold, Threshold(pools2[byClaim[name].Pool], c.PriceBefore, pods))
			}
			if pods != c.Pods || len(c.Placements) != pods {
				t.Fatalf("command %v: %d pods, %d placements, says %d", c.Candidates, pods, len(c.Placements), c.Pods)
			}
			for _, pl := range c.Placements {
				if pl.Kind == scheduling.Unschedulable {
					t.Fatalf("command %v leaves pod %s without a place", c.Candidates, pl.Pod.Name)
				}
			}
			if (c.Method == MultiNode || c.Method == SingleNode) && (c.Savings() <= 0 || c.Savings() < threshold) {
				t.Fatalf("consolidation %v saves %.4f (threshold %.4f)", c.Candidates, c.Savings(), threshold)
			}
			if c.Method == MultiNode || c.Method == SingleNode {
				moved := 0.0
				for _, name := range c.Candidates {
					moved += NodeDisruptionCost(byClaim[name])
				}
				for _, name := range c.Candidates {
					np := pools2[byClaim[name].Pool]
					if np.Spec.Disruption.ConsolidationPolicy != provisionerv1.ConsolidationPolicyBalanced {
						continue
					}
					k := 2.0
					if np.Spec.Disruption.ConsolidationThreshold != nil {
						k = float64(*np.Spec.Disruption.ConsolidationThreshold)
					}
					score := (c.Savings() / poolPrice[np.Name]) / (moved / poolCost[np.Name])
					if score < 1/k-1e-9 {
						t.Fatalf("consolidation %v in Balanced pool %s scores %.4f < 1/%v", c.Candidates, np.Name, score, k)
					}
				}
			}
			if c.Method == MultiNode || c.Method == SingleNode {
				sum := 0.0
				for _, r := range c.Replacements {
					sum += r.Price
					if len(c.Replacements) > 1 && pools2[r.Pool].Spec.Packing != provisionerv1.PackingMarginalCost {
						t.Fatalf("consolidation %v buys %d replacements, one in %s pool %s", c.Candidates, len(c.Replacements), pools2[r.Pool].Spec.Packing, r.Pool)
					}
					for _, it := range r.InstanceTypes {
						if p := scheduling.Cheapest(it, r.Requirements); c.PriceAfter-r.Price+p >= c.PriceBefore-threshold+1e-9 {
							t.Fatalf("consolidation %v: replacement type %s ($%.4f) takes the total past the candidates' $%.4f", c.Candidates, it.Name, p, c.PriceBefore)
						}
					}
				}
				if math.Abs(sum-c.PriceAfter) > 1e-9 {
					t.Fatalf("consolidation %v: replacements cost $%.4f, PriceAfter $%.4f", c.Candidates, sum, c.PriceAfter)
				}
			}
			for _, pl := range c.Placements {
				if pl.Kind == scheduling.NewClaim && (pl.Claim < 0 || pl.Claim >= len(c.Replacements)) {
					t.Fatalf("command %v places %s on replacement %d of %d", c.Candidates, pl.Pod.Name, pl.Claim, len(c.Replacements))
				}
			}
		}
	})
}
