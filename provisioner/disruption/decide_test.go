package disruption

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/scheduling"
)

func TestDecide(t *testing.T) {
	strp := func(s string) *string { return &s }
	withBudget := func(b ...provisionerv1.Budget) func(*provisionerv1.NodePool) {
		return func(np *provisionerv1.NodePool) { np.Spec.Disruption.Budgets = b }
	}
	savings := func(ms provisionerv1.MinimumSavings) func(*provisionerv1.NodePool) {
		return func(np *provisionerv1.NodePool) { np.Spec.Disruption.MinimumSavings = &ms }
	}
	mod := func(n Node, f func(*Node)) Node { f(&n); return n }
	balancedK := func(k int32) func(*provisionerv1.NodePool) {
		return func(np *provisionerv1.NodePool) {
			np.Spec.Disruption.ConsolidationPolicy = provisionerv1.ConsolidationPolicyBalanced
			if k > 0 {
				np.Spec.Disruption.ConsolidationThreshold = &k
			}
		}
	}
	costly := func(p *corev1.Pod) { p.Annotations = map[string]string{corev1.PodDeletionCost: "2147483647"} }
	expired := func(n *Node) { n.ExpireAfter = time.Hour }
	annotated := func(p *corev1.Pod) { p.Annotations = map[string]string{provisionerv1.AnnotationDoNotDisrupt: "true"} }
	pending := func(p *corev1.Pod) { p.Status.Phase = corev1.PodPending }
	hour := &metav1.Duration{Duration: 30 * time.Minute}

	cases := []struct {
		name  string
		pools []scheduling.Pool
		nodes []Node
		pdbs  []*policyv1.PodDisruptionBudget
		now   time.Time
		want  []string
	}{
		{name: "an empty node goes", pools: []scheduling.Pool{pool("a")},
			nodes: []Node{node("e", "a", 1)},
			want:  []string{"emptiness delete [e]→[] $0.60→$0.00"}},
		{name: "an empty node within consolidateAfter stays", pools: []scheduling.Pool{pool("a")},
			nodes: []Node{mod(node("e", "a", 1), func(n *Node) { n.LastPodEvent = t0.Add(-10 * time.Second) })}},
		{name: "an empty node with consolidateAfter Never stays", pools: []scheduling.Pool{pool("a", func(np *provisionerv1.NodePool) { np.Spec.Disruption.ConsolidateAfter = provisionerv1.Never })},
			nodes: []Node{node("e", "a", 1)}},
		{name: "an empty node annotated do-not-disrupt stays", pools: []scheduling.Pool{pool("a")},
			nodes: []Node{mod(node("e", "a", 1), func(n *Node) { n.DoNotDisrupt = true })},
			want:  []string{"refused emptiness e do_not_disrupt"}},
		{name: "Cluster Autoscaler's safe-to-evict=false holds like do-not-disrupt", pools: []scheduling.Pool{pool("a")},
			nodes: []Node{node("x", "a", 3, runningPod("p1", "1", func(p *corev1.Pod) {
				p.Annotations = map[string]string{CAPodAnnotationSafeToEvict: "false"}
			})), node("y", "a", 3, runningPod("p2", "2"), runningPod("p3", "500m"))},
			pdbs: []*policyv1.PodDisruptionBudget{budgetOf("p2", 0, "p2")},
			want: []string{"refused single_node_consolidation x do_not_disrupt", "refused single_node_consolidation y pdb"}},
		{name: "an empty node with nominated pods stays", pools: []scheduling.Pool{pool("a")},
			nodes: []Node{mod(node("e", "a", 1), func(n *Node) { n.Nominated = true })},
			want:  []string{"refused emptiness e pods_nominated"}},
		{name: "a node not yet initialized is never chosen", pools: []scheduling.Pool{pool("a")},
			nodes: []Node{mod(node("e", "a", 1), func(n *Node) { n.Initialized = false })}},
		{name: "an underused node is replaced by a cheaper one", pools: []scheduling.Pool{pool("a")},
			nodes: []Node{node("big", "a", 7, runningPod("p", "500m"))},
			want:  []string{"single_node_consolidation replace [big]→[fake-it-0] $2.40→$0.30"}},
		{name: "pods that fit on another node: delete", pools: []scheduling.Pool{pool("a")},
			nodes: []Node{node("x", "a", 3, runningPod("p1", "1")), node("y", "a", 3, runningPod("p2", "2"), runningPod("p3", "500m"))},
			pdbs:  []*policyv1.PodDisruptionBudget{budgetOf("p2", 0, "p2")}, // y stays
			want:  []string{"single_node_consolidation delete [x]→[] $1.20→$0.00", "refused single_node_consolidation y pdb"}},
		{name: "two half-used nodes: one goes (multi-node first)", pools: []scheduling.Pool{pool("a")},
			nodes: []Node{node("x", "a", 3, runningPod("p1", "1")), node("y", "a", 3, runningPod("p2", "2"), runningPod("p3", "500m"))},
			want:  []string{"multi_node_consolidation replace [x y]→[fake-it-3] $2.40→$1.20"}},
		{name: "several nodes to one", pools: []scheduling.Pool{pool("a")},
			nodes: []Node{node("x", "a", 3, runningPod("p1", "1")), node("y", "a", 3, runningPod("p2", "1")), node("z", "a", 3, runningPod("p3", "1"))},
			want:  []string{"multi_node_consolidation replace [x y z]→[fake-it-3] $3.60→$1.20"}},
		{name: "WhenEmpty keeps underused nodes", pools: []scheduling.Pool{pool("a", func(np *provisionerv1.NodePool) {
			np.Spec.Disruption.ConsolidationPolicy = provisionerv1.ConsolidationPolicyWhenEmpty
		})}, nodes: []Node{node("big", "a", 7, runningPod("p", "500m"))}},
		{name: "a saving below perHour is refused, priced", pools: []scheduling.Pool{pool("a", savings(provisionerv1.MinimumSavings{PerHour: "5"}))},
			nodes: []Node{node("big", "a", 7, runningPod("p", "500m"))},
			want:  []string{"refused single_node_consolidation big below_threshold"}},
		{name: "a saving above the fraction goes", pools: []scheduling.Pool{pool("a", savings(provisionerv1.MinimumSavings{Fraction: "0.5"}))},
			nodes: []Node{node("big", "a", 7, runningPod("p", "500m"))},
			want:  []string{"single_node_consolidation replace [big]→[fake-it-0] $2.40→$0.30"}},
		{name: "perPod weighs the pods evicted", pools: []scheduling.Pool{pool("a", savings(provisionerv1.MinimumSavings{PerPod: "0.8"}))},
			nodes: []Node{node("big", "a", 7, runningPod("p1", "100m"), runningPod("p2", "100m"), runningPod("p3", "100m"))},
			want:  []string{"refused single_node_consolidation big below_threshold"}},
		{name: "Balanced: a replace saving 7/8 of the pool for all its disruption goes", pools: []scheduling.Pool{pool("a", balancedK(0))},
			nodes: []Node{node("big", "a", 7, runningPod("p", "500m"))},
			want:  []string{"single_node_consolidation replace [big]→[fake-it-0] $2.40→$0.30"}},
		{name: "Balanced: consolidationThreshold 1 refuses it (score 0.875 < 1)", pools: []scheduling.Pool{pool("a", balancedK(1))},
			nodes: []Node{node("big", "a", 7, runningPod("p", "500m"))},
			want:  []string{"refused single_node_consolidation big below_threshold"}},
		{name: "Balanced: default pods on a node move", pools: []scheduling.Pool{pool("a", balancedK(0))},
			nodes: []Node{node("big", "a", 7, runningPod("p1", "250m"), runningPod("p2", "250m")), node("w", "a", 7, runningPod("full", "7800m"))},
			want:  []string{"single_node_consolidation replace [big]→[fake-it-0] $2.40→$0.30", "refused single_node_consolidation w no_cheaper_replacement"}},
		{name: "Balanced: pods with the highest pod-deletion-cost keep it", pools: []scheduling.Pool{pool("a", balancedK(0))},
			nodes: []Node{node("big", "a", 7, runningPod("p1", "250m", costly), runningPod("p2", "250m", costly)), node("w", "a", 7, runningPod("full", "7800m"))},
			want:  []string{"refused single_node_consolidation w no_cheaper_replacement", "refused single_node_consolidation big below_threshold"}},
		{name: "Balanced: an empty node goes", pools: []scheduling.Pool{pool("a", balancedK(1))},
			nodes: []Node{node("e", "a", 1), node("w", "a", 7, runningPod("full", "7800m"))},
			want:  []string{"emptiness delete [e]→[] $0.60→$0.00"}},
		{name: "a pod annotated do-not-disrupt keeps its node", pools: []scheduling.Pool{pool("a")},
			nodes: []Node{node("big", "a", 7, runningPod("p", "500m", annotated))},
			want:  []string{"refused single_node_consolidation big do_not_disrupt"}},
		{name: "do-not-disrupt \"false\" does not", pools: []scheduling.Pool{pool("a")},
			nodes: []Node{node("big", "a", 7, runningPod("p", "500m", func(p *corev1.Pod) {
				p.Annotations = map[string]string{provisionerv1.AnnotationDoNotDisrupt: "false"}
			}))},
			want: []string{"single_node_consolidation replace [big]→[fake-it-0] $2.40→$0.30"}},
		{name: "a pod not yet Running keeps its node", pools: []scheduling.Pool{pool("a")},
			nodes: []Node{node("big", "a", 7, runningPod("p", "500m", pending))},
			want:  []string{"refused single_node_consolidation big pods_not_running"}},
		{name: "a PDB that allows nothing keeps the node", pools: []scheduling.Pool{pool("a")},
			nodes: []Node{node("big", "a", 7, runningPod("p", "500m"))},
			pdbs:  []*policyv1.PodDisruptionBudget{budgetOf("p", 0, "p")},
			want:  []string{"refused single_node_consolidation big pdb"}},
		{name: "a PDB that allows one does not", pools: []scheduling.Pool{pool("a")},
			nodes: []Node{node("big", "a", 7, runningPod("p", "500m"))},
			pdbs:  []*policyv1.PodDisruptionBudget{budgetOf("p", 1, "p")},
			want:  []string{"single_node_consolidation replace [big]→[fake-it-0] $2.40→$0.30"}},
		{name: "a PDB of another namespace does not", pools: []scheduling.Pool{pool("a")},
			nodes: []Node{node("big", "a", 7, runningPod("p", "500m"))},
			pdbs: []*policyv1.PodDisruptionBudget{func() *policyv1.PodDisruptionBudget {
				b := budgetOf("p", 0, "p")
				b.Namespace = "other"
				return b
			}()},
			want: []string{"single_node_consolidation replace [big]→[fake-it-0] $2.40→$0.30"}},
		{name: "a node recently changed is not consolidated", pools: []scheduling.Pool{pool("a")},
			nodes: []Node{mod(node("big", "a", 7, runningPod("p", "500m")), func(n *Node) { n.LastPodEvent = t0.Add(-5 * time.Second) })}},
		{name: "budget 0 holds everything", pools: []scheduling.Pool{pool("a", withBudget(provisionerv1.Budget{Nodes: "0"}))},
			nodes: []Node{node("e", "a", 1), node("big", "a", 7, runningPod("p", "500m"))},
			want:  []string{"refused emptiness e budget", "refused single_node_consolidation big budget"}},
		{name: "a budget for another reason does not hold", pools: []scheduling.Pool{pool("a", withBudget(provisionerv1.Budget{Nodes: "0", Reasons: []provisionerv1.DisruptionReason{"Drifted"}}))},
			nodes: []Node{node("e", "a", 1)},
			want:  []string{"emptiness delete [e]→[] $0.60→$0.00"}},
		{name: "a scheduled budget holds inside its window", pools: []scheduling.Pool{pool("a", withBudget(provisionerv1.Budget{Nodes: "0", Schedule: strp("0 * * * *"), Duration: hour}))},
			nodes: []Node{node("e", "a", 1)},
			want:  []string{"refused emptiness e budget"}},
		{name: "… and not outside it", pools: []scheduling.Pool{pool("a", withBudget(provisionerv1.Budget{Nodes: "0", Schedule: strp("0 * * * *"), Duration: hour}))},
			nodes: []Node{node("e", "a", 1)}, now: t0.Add(30 * time.Minute),
			want: []string{"emptiness delete [e]→[] $0.60→$0.00"}},
		{name: "nodes already disrupting use the budget", pools: []scheduling.Pool{pool("a", withBudget(provisionerv1.Budget{Nodes: "1"}))},
			nodes: []Node{node("e", "a", 1), mod(node("d", "a", 1), func(n *Node) { n.Disrupting = true })},
			want:  []string{"refused emptiness e budget"}},
		{name: "10% of 3 nodes rounds up to 1", pools: []scheduling.Pool{pool("a", withBudget(provisionerv1.Budget{Nodes: "10%"}))},
			nodes: []Node{node("e1", "a", 1), node("e2", "a", 1), node("e3", "a", 1)},
			want:  []string{"emptiness delete [e1]→[] $0.60→$0.00", "refused emptiness e2 budget", "refused emptiness e3 budget"}},
		{name: "expired nodes are replaced, one per budget", pools: []scheduling.Pool{pool("a", withBudget(provisionerv1.Budget{Nodes: "1"}))},
			nodes: []Node{mod(node("old1", "a", 1, runningPod("p1", "1")), expired), mod(node("old2", "a", 1, runningPod("p2", "1")), expired)},
			want:  []string{"expiration replace [old1]→[fake-it-1] $0.60→$0.60", "refused expiration old2 budget"}},
		{name: "expiration is not held by a budget for a reason", pools: []scheduling.Pool{pool("a", withBudget(provisionerv1.Budget{Nodes: "0", Reasons: []provisionerv1.DisruptionReason{"Underutilized", "Empty", "Drifted"}}))},
			nodes: []Node{mod(node("old", "a", 1, runningPod("p", "1")), expired)},
			want:  []string{"expiration replace [old]→[fake-it-1] $0.60→$0.60"}},
		{name: "an expired node whose pods fit elsewhere is deleted", pools: []scheduling.Pool{pool("a")},
			nodes: []Node{mod(node("old", "a", 1, runningPod("p", "1")), expired), node("roomy", "a", 3, runningPod("q", "1"))},
			want:  []string{"expiration delete [old]→[] $0.60→$0.00"}},
		{name: "an interrupted node is replaced whatever the budget, do-not-disrupt and PDBs", pools: []scheduling.Pool{pool("a", withBudget(provisionerv1.Budget{Nodes: "0"}))},
			nodes: []Node{mod(node("spot", "a", 1, runningPod("p", "1", annotated)), func(n *Node) { n.Interrupted = "SpotInterruption"; n.DoNotDisrupt = true })},
			pdbs:  []*policyv1.PodDisruptionBudget{budgetOf("p", 0, "p")},
			want:  []string{"interruption replace [spot]→[fake-it-1] $0.60→$0.60"}},
		{name: "an interrupted node comes before an expired one", pools: []scheduling.Pool{pool("a", withBudget(provisionerv1.Budget{Nodes: "1"}))},
			nodes: []Node{mod(node("old", "a", 1, runningPod("p1", "1")), expired), mod(node("spot", "a", 1, runningPod("p2", "1")), func(n *Node) { n.Interrupted = "ScheduledChange" })},
			want:  []string{"interruption replace [spot]→[fake-it-1] $0.60→$0.60", "refused expiration old budget"}},
		{name: "an interrupted node not yet initialized is left to registration", pools: []scheduling.Pool{pool("a")},
			nodes: []Node{mod(node("spot", "a", 1), func(n *Node) { n.Interrupted = "SpotInterruption"; n.Initialized = false })}},
		{name: "drifted nodes are replaced", pools: []scheduling.Pool{pool("a")},
			nodes: []Node{mod(node("d", "a", 1, runningPod("p", "1")), func(n *Node) { n.Drifted = "labels changed" })},
			want:  []string{"drift replace [d]→[fake-it-1] $0.60→$0.60"}},
		{name: "a drifted node's pods are not also consolidated in the same pass", pools: []scheduling.Pool{pool("a")},
			nodes: []Node{mod(node("d", "a", 1, runningPod("p", "1")), func(n *Node) { n.Drifted = "labels changed" }), node("big", "a", 7, runningPod("q", "500m"))},
			want:  []string{"drift delete [d]→[] $0.60→$0.00"}},
		{name: "a replacement of a running command is not chosen", pools: []scheduling.Pool{pool("a")},
			nodes: []Node{mod(node("r", "a", 1), func(n *Node) { n.Replacement = true })}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			now := tc.now
			if now.IsZero() {
				now = t0
			}
			d, err := Decide(Input{Now: now, Nodes: tc.nodes, Pools: tc.pools, PDBs: tc.pdbs})
			if err != nil {
				t.Fatal(err)
			}
			got := summary(d)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
			for _, r := range d.Refusals {
				if r.Message == "" {
					t.Errorf("refusal of %s has no message", r.Claim)
				}
			}
			for _, c := range d.Commands {
				if c.Message == "" {
					t.Errorf("command %v has no message", c.Candidates)
				}
			}
		})
	}
}

// TestConsolidationPacking: under MarginalCost a consolidation may buy
// several replacements when they cost less together than the candidates
// (FirstFit pools: one at most), and takes FirstFit's single node when
// that is cheaper than MarginalCost's several.
func TestConsolidationPacking(t *testing.T) {
	steep := steepTypes()
	withTypes := func(ts []*scheduling.InstanceType, packing provisionerv1.Packing) scheduling.Pool {
		p := pool("a", func(np *provisionerv1.NodePool) { np.Spec.Packing = packing })
		p.InstanceTypes = ts
		return p
	}
	// A ladder whose middle type costs more than three small ones and
	// the large one little more: MarginalCost's pod-by-pod choice buys
	// three small nodes ($3), FirstFit one large ($2.70).
	ladder := func(name string, cpu int64, price float64) *scheduling.InstanceType {
		it := *steep[cpu-1]
		it.Name = name
		it.Labels = map[string]string{provisionerv1.LabelInstanceType: name}
		it.Offerings = append([]scheduling.Offering(nil), it.Offerings...)
		for k := range it.Offerings {
			it.Offerings[k].Price = price
		}
		return &it
	}
	odd := []*scheduling.InstanceType{ladder("small", 4, 1), ladder("medium", 8, 2.6), ladder("large", 12, 2.7), ladder("xlarge", 16, 4)}
	two := func() []*corev1.Pod { return []*corev1.Pod{runningPod("p1", "1500m"), runningPod("p2", "1500m")} }
	three := func() []*corev1.Pod {
		return []*corev1.Pod{runningPod("p1", "3"), runningPod("p2", "3"), runningPod("p3", "3")}
	}
	cases := []struct {
		name  string
		pool  scheduling.Pool
		nodes []Node
		want  []string
	}{
		{name: "FirstFit: one larger node", pool: withTypes(steep, ""),
			nodes: []Node{nodeOn("big", "a", steep[7], two()...)},
			want:  []string{"single_node_consolidation replace [big]→[steep-3] $4.80→$1.80"}},
		{name: "MarginalCost: two small nodes for less", pool: withTypes(steep, provisionerv1.PackingMarginalCost),
			nodes: []Node{nodeOn("big", "a", steep[7], two()...)},
			want:  []string{"single_node_consolidation replace [big]→[steep-1 steep-1] $4.80→$1.50"}},
		{name: "MarginalCost: FirstFit's one node when it is cheaper", pool: withTypes(odd, provisionerv1.PackingMarginalCost),
			nodes: []Node{nodeOn("n", "a", odd[3], three()...)},
			want:  []string{"single_node_consolidation replace [n]→[large] $4.00→$2.70"}},
		{name: "MarginalCost: several nodes cheaper than the candidates only", pool: withTypes(steep, provisionerv1.PackingMarginalCost),
			nodes: []Node{nodeOn("two", "a", steep[1], two()[:1]...), nodeOn("one", "a", steep[1], runningPod("p2", "1500m"))},
			want:  []string{"refused single_node_consolidation one no_cheaper_replacement", "refused single_node_consolidation two no_cheaper_replacement"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Decide(Input{Now: t0, Nodes: tc.nodes, Pools: []scheduling.Pool{tc.pool}})
			if err != nil {
				t.Fatal(err)
			}
			if got := summary(d); !slices.Equal(got, tc.want) {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
			for _, c := range d.Commands {
				sum := 0.0
				for _, r := range c.Replacements {
					sum += r.Price
				}
				if math.Abs(sum-c.PriceAfter) > 1e-9 || c.Message == "" {
					t.Errorf("command %v: replacements cost %v, PriceAfter %v, message %q", c.Candidates, sum, c.PriceAfter, c.Message)
				}
			}
		})
	}
}

// TestReserve: the pods of nodes being disrupted are placed before the
// pass decides, so it plans no move onto the room they will take, and
// does not empty or consolidate the nodes they will go to.
func TestReserve(t *testing.T) {
	disrupting := func(n Node) Node { n.Disrupting = true; return n }
	cases := []struct {
		name  string
		nodes []Node
		want  []string
	}{
		{name: "the room a drained pod needs is not free",
			nodes: []Node{node("x", "a", 1, runningPod("px", "1500m")), node("room", "a", 3, runningPod("r", "1")),
				disrupting(node("d", "a", 1, runningPod("pd", "2")))},
			want: []string{"refused single_node_consolidation room pods_nominated", "refused single_node_consolidation x no_cheaper_replacement"}},
		{name: "an empty node a drained pod goes to stays",
			nodes: []Node{node("e", "a", 3), disrupting(node("d", "a", 1, runningPod("pd", "2")))},
			want:  []string{"refused emptiness e pods_nominated"}},
		{name: "without pods to place, the same pass consolidates",
			nodes: []Node{node("x", "a", 1, runningPod("px", "1500m")), node("room", "a", 3, runningPod("r", "1")), disrupting(node("d", "a", 1))},
			want:  []string{"multi_node_consolidation replace [room x]→[fake-it-2] $1.80→$0.90"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Decide(Input{Now: t0, Nodes: tc.nodes, Pools: []scheduling.Pool{pool("a")}})
			if err != nil {
				t.Fatal(err)
			}
			if got := summary(d); !slices.Equal(got, tc.want) {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

// TestDeferred: the consolidation candidates a pass does not reach are
// deferred, neither refused nor cleared: all of them when another method
// found a command first, those past the simulation limit, and those after
// the one taken.
func TestDeferred(t *testing.T) {
	stingy := func(np *provisionerv1.NodePool) {
		np.Spec.Disruption.MinimumSavings = &provisionerv1.MinimumSavings{PerHour: "5"}
	}
	for _, tc := range []struct {
		name     string
		pool     scheduling.Pool
		solves   int
		nodes    []Node
		want     []string // summary
		deferred []string
	}{
		{name: "emptiness first", pool: pool("a"), nodes: []Node{
			node("empty", "a", 3),
			node("under", "a", 3, runningPod("p", "500m")),
		}, want: []string{"emptiness delete [empty]→[] $1.20→$0.00"}, deferred: []string{"under"}},
		{name: "past the limit", pool: pool("a", stingy), solves: 1, nodes: []Node{
			node("u1", "a", 3, runningPod("p1", "500m")),
			node("u2", "a", 3, runningPod("p2", "500m")),
			node("u3", "a", 3, runningPod("p3", "500m")),
		}, want: []string{"refused single_node_consolidation u1 below_threshold"}, deferred: []string{"u2", "u3"}},
		{name: "after the one taken", pool: pool("a", func(np *provisionerv1.NodePool) {
			np.Spec.Disruption.Budgets = []provisionerv1.Budget{{Nodes: "1"}} // no multi-node move
		}), nodes: []Node{
			node("u1", "a", 3, runningPod("p1", "500m")),
			node("u2", "a", 3, runningPod("p2", "500m")),
		}, want: []string{"single_node_consolidation delete [u1]→[] $1.20→$0.00"}, deferred: []string{"u2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dec, err := Decide(Input{Now: t0, Pools: []scheduling.Pool{tc.pool}, Nodes: tc.nodes, Options: Options{SingleNodeMaxSolves: tc.solves}})
			if err != nil {
				t.Fatal(err)
			}
			if got := summary(dec); !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if !slices.Equal(dec.Deferred, tc.deferred) {
				t.Errorf("deferred %q, want %q", dec.Deferred, tc.deferred)
			}
		})
	}
}
