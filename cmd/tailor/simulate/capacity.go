package simulate

import (
	"container/heap"
	"fmt"
	"math"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/catalog"
	"github.com/tailor-dev/tailor/provisioner/scheduling"
)

// Cluster is the capacity replay's model (README, "tailor simulate").
type Cluster struct {
	// Types is the catalogue nodes are bought from.
	Types []*scheduling.InstanceType
	// Pool is the one NodePool (on-demand only by default: the trace's
	// pods are long-lived and spot interruptions are not simulated).
	Pool *provisionerv1.NodePool
	// BatchIdle and BatchMax: pending pods are solved together once no
	// pod arrived for BatchIdle seconds, or BatchMax after the first
	// (the provisioner's 1 s and 10 s).
	BatchIdle, BatchMax int64
	// NodeStart is how long a new node takes to take pods (60 s).
	NodeStart int64
	// ConsolidateAfter: an empty node is removed after this long (the
	// NodePool default, 0 s). No other disruption is simulated yet.
	ConsolidateAfter int64
	// SkipGPU leaves pods that request GPUs out of the replay; by default
	// they request whole GPUs (nvidia.com/gpu) and get GPU instance types.
	SkipGPU bool
}

// DefaultCluster is the catalogue of provisioner/catalog in us-east-1
// with one on-demand pool.
func DefaultCluster() Cluster {
	np := &provisionerv1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	np.Spec.Template.Spec.NodeClassRef = &provisionerv1.NodeClassReference{Group: "tailor.dev", Kind: "AWSNodeClass", Name: "default"}
	np.Spec.Template.Spec.Requirements = []provisionerv1.NodeSelectorRequirementWithMinValues{
		{Key: provisionerv1.LabelCapacityType, Operator: corev1.NodeSelectorOpIn, Values: []string{provisionerv1.CapacityTypeOnDemand}},
	}
	return Cluster{Types: Undominated(catalog.InstanceTypes(catalog.DefaultOptions()), provisionerv1.CapacityTypeOnDemand), Pool: np, BatchIdle: 1, BatchMax: 10, NodeStart: 60}
}

// Undominated drops the instance types that another type beats: at most
// the same cheapest price of capacity type ct and at least as much of every
// allocatable resource (equal types: the first by name stays). For pods
// without node requirements the solver never needs a dominated type (the
// dominating one fits whatever it fits, for no more), and the solver's
// setup, which looks at every type on every solve, gets ~5× cheaper.
func Undominated(types []*scheduling.InstanceType, ct string) []*scheduling.InstanceType {
	type cand struct {
		it    *scheduling.InstanceType
		price float64
	}
	var cs []cand
	for _, it := range types {
		p := math.Inf(1)
		for _, o := range it.Offerings {
			if o.Available && o.CapacityType == ct {
				p = min(p, o.Price)
			}
		}
		if !math.IsInf(p, 1) {
			cs = append(cs, cand{it, p})
		}
	}
	covers := func(a, b *scheduling.InstanceType) bool { // a has at least b's every resource
		for n, q := range b.Allocatable {
			if qa, ok := a.Allocatable[n]; !ok || qa.Cmp(q) < 0 {
				return false
			}
		}
		return true
	}
	var out []*scheduling.InstanceType
	for i, b := range cs {
		dominated := false
		for j, a := range cs {
			if i == j || a.price > b.price || !covers(a.it, b.it) {
				continue
			}
			// Equal both ways: keep the first by name.
			if a.price == b.price && covers(b.it, a.it) && b.it.Name < a.it.Name {
				continue
			}
			dominated = true
			break
		}
		if !dominated {
			out = append(out, b.it)
		}
	}
	return out
}

// CapacityPolicy turns a batch of pending pods into placements.
type CapacityPolicy interface {
	Name() string
	Solve(in scheduling.Input) (*scheduling.Result, error)
}

// Provisioner is Tailor's provisioner as it runs: scheduling.Solve.
type Provisioner struct{}

// Name of the policy.
func (Provisioner) Name() string { return "provisioner" }

// Solve is scheduling.Solve.
func (Provisioner) Solve(in scheduling.Input) (*scheduling.Result, error) {
	return scheduling.Solve(in)
}

// CapacityScore is one policy's result over an arrivals trace.
type CapacityScore struct {
	Policy string
	// NodeCost is Σ node price × lifetime ($·h); Bound the LP lower bound
	// of it: at every instant, for each resource, the live pods' requests
	// times the lowest price per unit of that resource of any offering the
	// pool allows, the largest of these, integrated over time.
	NodeCost, Bound float64
	// PendingPodSeconds: Σ over pods of the time from creation to running
	// (bound to a ready node) or deletion.
	PendingPodSeconds float64
	// Disrupted pods: 0 until disruption is simulated (only empty nodes go).
	Disrupted int
	// Pods replayed, SkippedGPU left out, Unplaced deleted before they
	// were ever placed.
	Pods, SkippedGPU, Unplaced int
	// Nodes launched, PeakNodes the most at once, Solves the solver calls.
	Nodes, PeakNodes, Solves int
	// Hourly $/h of the nodes and of the bound (for plots), from the
	// trace's time 0.
	CostRate, BoundRate []float64
}

// CostRatio is NodeCost ÷ Bound.
func (s *CapacityScore) CostRatio() float64 { return ratio(s.NodeCost, s.Bound) }

type simNode struct {
	node       scheduling.Node
	price      float64
	created    int64
	readyAt    int64
	emptySince int64 // when the last pod left; -1 while it has pods
	pods       []int // trace pod indexes
}

type podPhase int8

const (
	podFuture podPhase = iota
	podPending
	podNominated // placed on a node that is not ready yet
	podRunning
	podGone
)

// ReplayCapacity replays a through each policy under cl.
func ReplayCapacity(a *Arrivals, cl Cluster, policies []CapacityPolicy) ([]*CapacityScore, error) {
	out := make([]*CapacityScore, len(policies))
	for i, p := range policies {
		s, err := replayCapacity(a, cl, p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.Name(), err)
		}
		out[i] = s
	}
	return out, nil
}

// units are the per-resource lowest prices per unit of allocatable
// (millicore, byte, GPU) among the pool's offerings.
type units struct{ cpu, mem, gpu float64 }

func unitPrices(cl Cluster) units {
	u := units{math.Inf(1), math.Inf(1), math.Inf(1)}
	allowed := map[string]bool{}
	for _, r := range cl.Pool.Spec.Template.Spec.Requirements {
		if r.Key == provisionerv1.LabelCapacityType && r.Operator == corev1.NodeSelectorOpIn {
			for _, v := range r.Values {
				allowed[v] = true
			}
		}
	}
	for _, it := range cl.Types {
		price := math.Inf(1)
		for _, o := range it.Offerings {
			if o.Available && (len(allowed) == 0 || allowed[o.CapacityType]) {
				price = min(price, o.Price)
			}
		}
		if c := it.Allocatable.Cpu().MilliValue(); c > 0 {
			u.cpu = min(u.cpu, price/float64(c))
		}
		if m := it.Allocatable.Memory().Value(); m > 0 {
			u.mem = min(u.mem, price/float64(m))
		}
		if g, ok := it.Allocatable[gpuResource]; ok && g.Value() > 0 {
			u.gpu = min(u.gpu, price/float64(g.Value()))
		}
	}
	return u
}

const gpuResource corev1.ResourceName = "nvidia.com/gpu"

func corePod(p *Pod) *corev1.Pod {
	req := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewMilliQuantity(p.CPUMilli, resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(p.MemMiB<<20, resource.BinarySI),
	}
	if p.GPUs > 0 {
		req[gpuResource] = *resource.NewQuantity(p.GPUs, resource.DecimalSI)
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: "trace"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: req}}}},
	}
}

// deletions is a min-heap of (time, pod index).
type deletions [][2]int64

func (h deletions) Len() int { return len(h) }
func (h deletions) Less(i, j int) bool {
	return h[i][0] < h[j][0] || h[i][0] == h[j][0] && h[i][1] < h[j][1]
}
func (h deletions) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *deletions) Push(x any)   { *h = append(*h, x.([2]int64)) }
func (h *deletions) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func replayCapacity(a *Arrivals, cl Cluster, pol CapacityPolicy) (*CapacityScore, error) {
	sc := &CapacityScore{Policy: pol.Name()}
	u := unitPrices(cl)
	var pods []Pod
	for _, p := range a.Pods {
		if cl.SkipGPU && p.GPUs > 0 {
			sc.SkippedGPU++
			continue
		}
		pods = append(pods, p)
	}
	sc.Pods = len(pods)
	core := make([]*corev1.Pod, len(pods))
	for i := range pods {
		core[i] = corePod(&pods[i])
	}
	phase := make([]podPhase, len(pods))
	nodeOf := make([]int, len(pods))
	var nodes []*simNode // index = id; removed nodes are nil
	var pending []int
	var del deletions
	var live [3]float64 // requests of live pods: millicores, bytes, GPUs
	var costRate float64
	nodeCount := 0
	boundRate := func() float64 {
		return max(live[0]*u.cpu, live[1]*u.mem, zeroIfNaN(live[2]*u.gpu))
	}
	var last int64
	var hourCost, hourBound float64
	// advance integrates cost and bound up to t.
	advance := func(t int64) {
		for last < t {
			next := min(t, (last/Hour+1)*Hour)
			dt := float64(next-last) / 3600
			sc.NodeCost += costRate * dt
			b := boundRate()
			sc.Bound += b * dt
			hourCost += costRate * dt
			hourBound += b * dt
			last = next
			if last%Hour == 0 {
				sc.CostRate = append(sc.CostRate, hourCost)
				sc.BoundRate = append(sc.BoundRate, hourBound)
				hourCost, hourBound = 0, 0
			}
		}
	}
	start := func(i int, t int64) {
		phase[i] = podRunning
		sc.PendingPodSeconds += float64(t - pods[i].Create)
	}
	removePod := func(i int, t int64) {
		switch phase[i] {
		case podPending:
			sc.PendingPodSeconds += float64(t - pods[i].Create)
			sc.Unplaced++
			pending = slices.DeleteFunc(pending, func(j int) bool { return j == i })
		case podNominated:
			sc.PendingPodSeconds += float64(t - pods[i].Create)
			fallthrough
		case podRunning:
			n := nodes[nodeOf[i]]
			k := slices.Index(n.pods, i)
			n.pods = slices.Delete(n.pods, k, k+1)
			n.node.Pods = slices.Delete(n.node.Pods, k, k+1)
			if len(n.pods) == 0 {
				n.emptySince = t
			}
		}
		phase[i] = podGone
		live[0] -= float64(pods[i].CPUMilli)
		live[1] -= float64(pods[i].MemMiB << 20)
		live[2] -= float64(pods[i].GPUs)
	}
	solve := func(t int64) error {
		in := scheduling.Input{Pools: []scheduling.Pool{{NodePool: cl.Pool, InstanceTypes: cl.Types}}}
		for _, i := range pending {
			in.Pods = append(in.Pods, core[i])
		}
		ids := make([]int, 0, len(nodes))
		for id, n := range nodes {
			if n == nil {
				continue
			}
			n.node.InFlight = t < n.readyAt
			in.Nodes = append(in.Nodes, n.node)
			ids = append(ids, id)
		}
		res, err := pol.Solve(in)
		if err != nil {
			return err
		}
		sc.Solves++
		byName := make(map[string]int, len(ids))
		for _, id := range ids {
			byName[nodes[id].node.Name] = id
		}
		claimNode := make([]int, len(res.Claims))
		for k, c := range res.Claims {
			n, err := newNode(cl, c, len(nodes), t)
			if err != nil {
				return err
			}
			claimNode[k] = len(nodes)
			nodes = append(nodes, n)
			costRate += n.price
			sc.Nodes++
			nodeCount++
			sc.PeakNodes = max(sc.PeakNodes, nodeCount)
		}
		var still []int
		for k, pl := range res.Placements {
			i := pending[k]
			var id int
			switch pl.Kind {
			case scheduling.ExistingNode, scheduling.InFlightNode:
				id = byName[pl.Node]
			case scheduling.NewClaim:
				id = claimNode[pl.Claim]
			default:
				still = append(still, i)
				continue
			}
			n := nodes[id]
			n.pods = append(n.pods, i)
			n.node.Pods = append(n.node.Pods, core[i])
			n.emptySince = -1
			nodeOf[i] = id
			if t >= n.readyAt {
				start(i, t)
			} else {
				phase[i] = podNominated
			}
		}
		pending = still
		return nil
	}

	next := 0 // next arrival
	batchOpen, batchStart, lastArrival := false, int64(0), int64(0)
	retry := false // room freed while pods wait: solve again
	const never = math.MaxInt64
	for {
		// The next event: an arrival, a deletion, a batch closing, a node
		// becoming ready, an empty node expiring.
		t := int64(never)
		if next < len(pods) {
			t = pods[next].Create
		}
		if len(del) > 0 {
			t = min(t, del[0][0])
		}
		if batchOpen {
			t = min(t, min(lastArrival+cl.BatchIdle, batchStart+cl.BatchMax))
		}
		for _, n := range nodes {
			if n == nil {
				continue
			}
			if n.readyAt > last {
				t = min(t, n.readyAt)
			}
			if n.emptySince >= 0 {
				t = min(t, max(n.emptySince+cl.ConsolidateAfter, n.readyAt))
			}
		}
		if t == never {
			break
		}
		advance(t)
		// Nodes ready: their nominated pods start.
		for _, n := range nodes {
			if n != nil && n.readyAt == t {
				for _, i := range n.pods {
					if phase[i] == podNominated {
						start(i, t)
					}
				}
			}
		}
		for len(del) > 0 && del[0][0] == t {
			i := int(heap.Pop(&del).([2]int64)[1])
			if phase[i] != podGone {
				removePod(i, t)
				retry = retry || len(pending) > 0
			}
		}
		for next < len(pods) && pods[next].Create == t {
			i := next
			next++
			phase[i] = podPending
			pending = append(pending, i)
			live[0] += float64(pods[i].CPUMilli)
			live[1] += float64(pods[i].MemMiB << 20)
			live[2] += float64(pods[i].GPUs)
			heap.Push(&del, [2]int64{pods[i].Delete, int64(i)})
			if !batchOpen {
				batchOpen, batchStart = true, t
			}
			lastArrival = t
		}
		if retry && !batchOpen {
			batchOpen, batchStart, lastArrival = true, t, t
		}
		retry = false
		if batchOpen && (t >= lastArrival+cl.BatchIdle || t >= batchStart+cl.BatchMax) {
			batchOpen = false
			if len(pending) > 0 {
				if err := solve(t); err != nil {
					return nil, err
				}
			}
		}
		for id, n := range nodes {
			if n != nil && len(n.pods) == 0 && n.emptySince >= 0 && t >= n.emptySince+cl.ConsolidateAfter && t >= n.readyAt {
				costRate -= n.price
				nodes[id] = nil
				nodeCount--
			}
		}
	}
	if hourCost > 0 || hourBound > 0 {
		sc.CostRate = append(sc.CostRate, hourCost)
		sc.BoundRate = append(sc.BoundRate, hourBound)
	}
	return sc, nil
}

func zeroIfNaN(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

// newNode launches a claim: its cheapest instance type in the zone of its
// cheapest allowed offering.
func newNode(cl Cluster, c *scheduling.Claim, id int, t int64) (*simNode, error) {
	if len(c.InstanceTypes) == 0 {
		return nil, fmt.Errorf("claim without instance types")
	}
	it := c.InstanceTypes[0]
	zr, cr := c.Requirements.Get(provisionerv1.LabelZone), c.Requirements.Get(provisionerv1.LabelCapacityType)
	var off *scheduling.Offering
	for k := range it.Offerings {
		o := &it.Offerings[k]
		if o.Available && (zr == nil || zr.Has(o.Zone)) && (cr == nil || cr.Has(o.CapacityType)) && (off == nil || o.Price < off.Price) {
			off = o
		}
	}
	if off == nil {
		return nil, fmt.Errorf("no offering of %s for its claim", it.Name)
	}
	name := "node-" + strconv.Itoa(id)
	labels := make(map[string]string, len(it.Labels)+4)
	for k, v := range it.Labels {
		labels[k] = v
	}
	labels[provisionerv1.LabelZone] = off.Zone
	labels[provisionerv1.LabelCapacityType] = off.CapacityType
	labels[provisionerv1.LabelNodePool] = c.Pool
	labels[provisionerv1.LabelHostname] = name
	kn := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Status: corev1.NodeStatus{Allocatable: it.Allocatable}}
	return &simNode{node: scheduling.NodeFromCore(kn, nil), price: off.Price, created: t, readyAt: t + cl.NodeStart, emptySince: -1}, nil
}

// CapacityPolicies are the selectable capacity policies by name.
func CapacityPolicies() map[string]func() (CapacityPolicy, error) {
	return map[string]func() (CapacityPolicy, error){"provisioner": func() (CapacityPolicy, error) { return Provisioner{}, nil }}
}

// DefaultCapacityPolicies is what a replay runs when none are named.
var DefaultCapacityPolicies = []string{"provisioner"}

// PickCapacity returns the named policies.
func PickCapacity(names []string) ([]CapacityPolicy, error) {
	return pick("capacity", CapacityPolicies(), names)
}
