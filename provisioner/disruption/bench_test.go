package disruption

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/requirements"
	"github.com/tailor-dev/tailor/provisioner/scheduling"
)

// benchCluster builds a cluster from the solver benchmark's mix: n pods
// of its sizes, with its zone spread and zone affinity fifths (its
// hostname terms would need n/5 nodes), bound first-fit in arrival order
// to nodes of 13 to 29 vCPU round the three zones — well packed, as after
// provisioning — then a share deleted at random (scale-downs), which
// leaves nodes underused.
func benchCluster(n int, deleted float64, seed int64) (Input, []*scheduling.InstanceType) {
	its := scheduling.SyntheticTypes(64)
	p := pool("bench", func(np *provisionerv1.NodePool) {
		np.Spec.Disruption.Budgets = []provisionerv1.Budget{{Nodes: "10%"}}
	})
	p.InstanceTypes = its
	pods := scheduling.MixPods(n, seed, scheduling.MixOptions{NoHostnameTerms: true})
	rng := rand.New(rand.NewSource(seed))
	in := Input{Now: t0, Pools: []scheduling.Pool{p}}
	reqs := scheduling.NewRequestCache()
	var cur *Node
	var used [3]float64
	for _, pod := range pods {
		pod.Status.Phase = corev1.PodRunning
		r := reqs.Of(pod)
		need := [3]float64{r.Cpu().AsApproximateFloat64(), r.Memory().AsApproximateFloat64(), 1}
		fits := cur != nil
		for i, name := range roomDims {
			if fits {
				q := cur.Node.Allocatable[name]
				fits = used[i]+need[i] <= q.AsApproximateFloat64()
			}
		}
		if !fits {
			i := len(in.Nodes)
			in.Nodes = append(in.Nodes, boundNode(fmt.Sprintf("n%d", i), "bench", its[12+i%17], scheduling.MixZones[i%3]))
			cur, used = &in.Nodes[i], [3]float64{}
		}
		for i := range used {
			used[i] += need[i]
		}
		if rng.Float64() >= deleted {
			cur.Pods = append(cur.Pods, pod)
			cur.Node.Pods = cur.Pods
		}
	}
	return in, its
}

// boundNode is an initialized, quiet, on-demand node of type it in zone.
func boundNode(name, pool string, it *scheduling.InstanceType, zone string) Node {
	labels := map[string]string{}
	for k, v := range it.Labels {
		labels[k] = v
	}
	labels[provisionerv1.LabelZone] = zone
	labels[provisionerv1.LabelCapacityType] = provisionerv1.CapacityTypeOnDemand
	labels[provisionerv1.LabelNodePool] = pool
	labels[corev1.LabelHostname] = name
	var price float64
	for _, o := range it.Offerings {
		if o.Zone == zone && o.CapacityType == provisionerv1.CapacityTypeOnDemand {
			price = o.Price
		}
	}
	core := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	return Node{
		Claim: name, Pool: pool, Price: price, Created: t0.Add(-2 * time.Hour), LastPodEvent: t0.Add(-time.Hour), Initialized: true,
		Node: scheduling.Node{Name: name, Requirements: requirements.ForNode(core), Allocatable: it.Allocatable},
	}
}

// nodeOfClaim makes a planned claim a node: its cheapest type, in the
// first zone its requirements allow.
func nodeOfClaim(name string, c *scheduling.Claim, pods []*corev1.Pod) Node {
	it := c.InstanceTypes[0]
	zone := ""
	for _, o := range it.Offerings {
		z, ct := c.Requirements.Get(provisionerv1.LabelZone), c.Requirements.Get(provisionerv1.LabelCapacityType)
		if o.Available && o.CapacityType == provisionerv1.CapacityTypeOnDemand && (z == nil || z.Has(o.Zone)) && (ct == nil || ct.Has(o.CapacityType)) {
			zone = o.Zone
			break
		}
	}
	n := boundNode(name, c.Pool, it, zone)
	n.Pods, n.Node.Pods = pods, pods
	return n
}

// run applies a decision's commands to the cluster as if done at once:
// candidates gone, pods where the simulation put them, replacements up.
func run(in *Input, d *Decision, pass int) {
	gone := map[string]bool{}
	for _, c := range d.Commands {
		for _, name := range c.Candidates {
			gone[name] = true
		}
	}
	byName := map[string]int{}
	var nodes []Node
	for _, n := range in.Nodes {
		if !gone[n.Claim] {
			byName[n.Node.Name] = len(nodes)
			nodes = append(nodes, n)
		}
	}
	for ci, c := range d.Commands {
		reps := make([][]*corev1.Pod, len(c.Replacements))
		for _, pl := range c.Placements {
			switch pl.Kind {
			case scheduling.NewClaim:
				reps[pl.Claim] = append(reps[pl.Claim], pl.Pod)
			case scheduling.ExistingNode, scheduling.InFlightNode:
				n := &nodes[byName[pl.Node]]
				n.Pods = append(n.Pods[:len(n.Pods):len(n.Pods)], pl.Pod)
				n.Node.Pods = n.Pods
			}
		}
		for i, r := range c.Replacements {
			name := fmt.Sprintf("r%d-%d-%d", pass, ci, i)
			byName[name] = len(nodes)
			nodes = append(nodes, nodeOfClaim(name, r, reps[i]))
		}
	}
	in.Nodes = nodes
}

func cost(in *Input) (float64, int) {
	sum, pods := 0.0, 0
	for _, n := range in.Nodes {
		sum += n.Price
		pods += len(n.Pods)
	}
	return sum, pods
}

// BenchmarkDecide: one full pass over a cluster of the solver benchmark's
// mix (≈1,000 nodes carrying 20,000 pods, a third deleted). It reports the
// nodes and pods, the $/h before, what the pass saves, and — passes
// repeated until none finds a command (at most 40) — the $/h the cluster
// converges to, beside the LP lower bound of the same pods; the same
// with the pool packing by MarginalCost, and with one node in 50
// being disrupted already.
func BenchmarkDecide(b *testing.B) {
	for _, bc := range []struct {
		name    string
		pods    int
		deleted float64
		packing provisionerv1.Packing
		// disrupting: every this many nodes is a candidate of a command
		// in flight (its pods are placed first); 0: none.
		disrupting int
	}{
		{"pods=20000", 30000, 1.0 / 3, "", 0}, // 30,000 bound, a third deleted
		{"pods=20000/MarginalCost", 30000, 1.0 / 3, provisionerv1.PackingMarginalCost, 0},
		{"pods=20000/disrupting=2%", 30000, 1.0 / 3, "", 50},
		{"pods=20000/Balanced", 30000, 1.0 / 3, "", 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			in, its := benchCluster(bc.pods, bc.deleted, 42)
			in.Pools[0].NodePool.Spec.Packing = bc.packing
			if strings.HasSuffix(bc.name, "/Balanced") {
				in.Pools[0].NodePool.Spec.Disruption.ConsolidationPolicy = provisionerv1.ConsolidationPolicyBalanced
			}
			for i := range in.Nodes {
				in.Nodes[i].Disrupting = bc.disrupting > 0 && i%bc.disrupting == 0
			}
			before, pods := cost(&in)
			var d *Decision
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				var err error
				if d, err = Decide(in); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			saved := 0.0
			for _, c := range d.Commands {
				saved += c.Savings()
			}
			var all []*corev1.Pod
			for _, n := range in.Nodes {
				all = append(all, n.Pods...)
			}
			conv := in
			passes := 0
			for ; passes < 40; passes++ {
				dd, err := Decide(conv)
				if err != nil {
					b.Fatal(err)
				}
				if len(dd.Commands) == 0 {
					break
				}
				run(&conv, dd, passes)
			}
			after, left := cost(&conv)
			if left != pods {
				b.Fatalf("%d pods before, %d after the passes", pods, left)
			}
			b.ReportMetric(float64(len(in.Nodes)), "nodes")
			b.ReportMetric(float64(pods), "pods")
			b.ReportMetric(float64(d.Solves), "solves/pass")
			b.ReportMetric(before, "$/h")
			b.ReportMetric(saved, "saved$/h/pass")
			b.ReportMetric(after, "converged$/h")
			b.ReportMetric(float64(passes), "passes")
			b.ReportMetric(scheduling.LowerBound(all, its), "bound$/h")
		})
	}
}
