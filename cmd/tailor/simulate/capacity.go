package simulate

import (
	"cmp"
	"container/heap"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/catalog"
	"github.com/tailor-dev/tailor/provisioner/disruption"
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
	// ConsolidateAfter is the pool's consolidateAfter, seconds (the
	// NodePool default, 0 s), and ConsolidationPolicy its policy (the
	// default WhenEmptyOrUnderutilized): disruption is
	// provisioner/disruption.Decide, a pass every DisruptionInterval
	// seconds (the controller's 10 s) while the cluster changes; a
	// command runs as the controller's does (see command): its
	// candidates are tainted at the first pass after its replacements are
	// ready and drain DisruptionValidation (15 s) after that.
	ConsolidateAfter                         int64
	ConsolidationPolicy                      provisionerv1.ConsolidationPolicy
	DisruptionInterval, DisruptionValidation int64
	// Scheduler is how kube-scheduler picks among the ready nodes a new
	// pod fits (default LeastAllocated, the default profile EKS runs).
	Scheduler Scoring
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
	return Cluster{Types: Undominated(catalog.InstanceTypes(catalog.DefaultOptions()), provisionerv1.CapacityTypeOnDemand), Pool: np, BatchIdle: 1, BatchMax: 10, NodeStart: 60,
		ConsolidationPolicy: provisionerv1.ConsolidationPolicyWhenEmptyOrUnderutilized, DisruptionInterval: 10, DisruptionValidation: 15,
		Scheduler: LeastAllocated}
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

// poolPolicy is a capacity policy that is a NodePool setting: the replay
// sets it on its pool, so the solves of both provisioning and disruption
// see it, as the controller's do.
type poolPolicy interface {
	configure(np *provisionerv1.NodePool)
}

// Marginal is the provisioner with the pool's spec.packing MarginalCost.
type Marginal struct{ Provisioner }

// Name of the policy.
func (Marginal) Name() string { return "marginal" }

func (Marginal) configure(np *provisionerv1.NodePool) {
	np.Spec.Packing = provisionerv1.PackingMarginalCost
}

// CapacityScore is one policy's result over an arrivals trace.
type CapacityScore struct {
	Policy string
	// NodeCost is Σ node price × lifetime ($·h); Bound the LP lower bound
	// of it: at every instant, scheduling.Bound of the live pods' CPU,
	// memory and GPU requests (the cheapest fractional mix of instance
	// types at their cheapest allowed offering), integrated over time.
	NodeCost, Bound float64
	// FitBound is the tighter scheduling.FitBound of the same, still
	// below any placement's cost: a pod counts only against the types
	// that hold it.
	FitBound float64
	// Repack is a reference, neither bound nor policy: once an hour (at
	// its middle) the pods live then packed from scratch by
	// scheduling.Solve onto new nodes, that $/h counted for the hour;
	// RepackFit the FitBound at the same instants. Repack ÷ RepackFit is
	// how far a good packing of a frozen instant is above the fit bound:
	// what the bound leaves out even for a policy that could move every
	// pod for free. The same for every policy.
	Repack, RepackFit float64
	// PendingPodSeconds: Σ over pods of the time from creation to running
	// (bound to a ready node) or deletion.
	PendingPodSeconds float64
	// Disrupted: pods evicted by disruption commands (each eviction counts).
	Disrupted int
	// Commands started by method (emptiness, consolidation…), and
	// DisruptionSolves the solver calls the disruption passes made.
	Commands         map[string]int
	DisruptionSolves int
	// Pods replayed, SkippedGPU left out, Unplaced deleted before they
	// were ever placed.
	Pods, SkippedGPU, Unplaced int
	// Nodes launched, PeakNodes the most at once, Solves the solver calls
	// of the provisioner's batches.
	Nodes, PeakNodes, Solves int
	// BoundAtOnce: new pods the scheduler bound on arrival (no batch);
	// OnCandidate: placements (by the scheduler or a batch) on a command's
	// candidate before its taint, evicted at its drain unless gone before.
	BoundAtOnce, OnCandidate int
	// Hourly $/h of the nodes and of the bound (for plots), from the
	// trace's time 0.
	CostRate, BoundRate, FitBoundRate []float64
}

// CostRatio is NodeCost ÷ Bound.
func (s *CapacityScore) CostRatio() float64 { return ratio(s.NodeCost, s.Bound) }

// FitRatio is NodeCost ÷ FitBound.
func (s *CapacityScore) FitRatio() float64 { return ratio(s.NodeCost, s.FitBound) }

type simNode struct {
	node    scheduling.Node
	price   float64
	created int64
	readyAt int64
	// allocMilliCPU and allocMemory: allocatable, for scoring.
	allocMilliCPU, allocMemory int64
	// lastPodEvent: when a pod last started on or left the node (its
	// readiness if none did), what consolidateAfter counts from.
	lastPodEvent int64
	pods         []int // trace pod indexes, running or nominated
	// disrupting: a candidate of a command in flight (marked; it takes
	// pods until tainted); replacement: launched by one.
	disrupting, replacement bool
}

// disruptedTaint is the controller's taint on a command's candidates once
// its replacements are ready: the solver, the replay's scheduler and
// Decide's simulations see it on the node as they see it on a real one.
var disruptedTaint = corev1.Taint{Key: provisionerv1.TaintDisrupted, Effect: corev1.TaintEffectNoSchedule}

type podPhase int8

const (
	podFuture podPhase = iota
	podPending
	podNominated // placed on a node that is not ready yet
	podRunning
	podGone
)

// command is a disruption command in flight, in the controller's order
// (provisioner/controller/disruption.go): the candidates are marked
// (disrupting: Decide counts them as such, but they stay schedulable) and
// the replacements launch; at the first pass with every replacement ready
// the candidates are checked again (disruption.Blocked; an emptiness
// candidate that got a pod rolls back) and tainted; DisruptionValidation
// later, at a pass, they are checked again and drained (their pods, those
// that landed before the taint included, evicted to be placed again) and
// removed. A command without replacements is checked and tainted in the
// pass that starts it; an emptiness command drains in that pass too.
type command struct {
	method                   disruption.Method
	candidates, replacements []int // node ids
	tainted                  bool
	// due: the pass at which the command next moves on (taint, or drain).
	due int64
}

// ReplayCapacity replays a through each policy under cl.
func ReplayCapacity(a *Arrivals, cl Cluster, policies []CapacityPolicy) ([]*CapacityScore, error) {
	repack, repackFit, err := Repack(a, cl)
	if err != nil {
		return nil, err
	}
	out := make([]*CapacityScore, len(policies))
	for i, p := range policies {
		s, err := replayCapacity(a, cl, p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.Name(), err)
		}
		s.Repack, s.RepackFit = repack, repackFit
		out[i] = s
	}
	return out, nil
}

// Repack is the CapacityScore.Repack reference: once an hour, at its
// middle, the pods live then are solved together by scheduling.Solve onto
// new nodes of the pool (each at its cheapest offering), and that $/h
// counts for the hour; RepackFit is the FitBound at the same instants,
// for the ratio.
func Repack(a *Arrivals, cl Cluster) (repack, fit float64, err error) {
	var pods []*corev1.Pod
	var span [][2]int64
	var dem [][]float64
	end := int64(0)
	for i := range a.Pods {
		p := &a.Pods[i]
		if cl.SkipGPU && p.GPUs > 0 {
			continue
		}
		pods = append(pods, corePod(p))
		span = append(span, [2]int64{p.Create, p.Delete})
		dem = append(dem, []float64{float64(p.CPUMilli) / 1000, float64(p.MemMiB << 20), float64(p.GPUs)})
		end = max(end, p.Delete)
	}
	reqs := scheduling.NewRequestCache()
	fb := lowerBound(cl)
	for h := int64(0); h < end; h += Hour {
		t := h + Hour/2
		in := scheduling.Input{Pools: []scheduling.Pool{{NodePool: cl.Pool, InstanceTypes: cl.Types}}, Requests: reqs}
		var live []int
		for i, s := range span {
			if s[0] <= t && s[1] > t {
				in.Pods = append(in.Pods, pods[i])
				fb.Add(dem[i], 1)
				live = append(live, i)
			}
		}
		if len(in.Pods) == 0 {
			continue
		}
		fit += fb.Cost()
		for _, i := range live {
			fb.Add(dem[i], -1)
		}
		res, err := scheduling.Solve(in)
		if err != nil {
			return 0, 0, err
		}
		for k, c := range res.Claims {
			n, err := newNode(cl, c, k, h)
			if err != nil {
				return 0, 0, err
			}
			repack += n.price
		}
	}
	return repack, fit, nil
}

// lowerBound is the capacity replay's bound: scheduling.FitBound (and the
// Bound within it) over CPU, memory and GPUs, each type at its cheapest
// offering the pool allows.
func lowerBound(cl Cluster) *scheduling.FitBound {
	allowed := allowedCapacityTypes(cl.Pool)
	return scheduling.NewFitBound(cl.Types, func(it *scheduling.InstanceType) float64 { return cheapest(it, allowed) },
		[]corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, gpuResource})
}

// allowedCapacityTypes are the capacity types the pool's requirements
// allow (empty: any).
func allowedCapacityTypes(np *provisionerv1.NodePool) map[string]bool {
	allowed := map[string]bool{}
	for _, r := range np.Spec.Template.Spec.Requirements {
		if r.Key == provisionerv1.LabelCapacityType && r.Operator == corev1.NodeSelectorOpIn {
			for _, v := range r.Values {
				allowed[v] = true
			}
		}
	}
	return allowed
}

// cheapest is the lowest price of it's available offerings of an allowed
// capacity type (+Inf if none).
func cheapest(it *scheduling.InstanceType, allowed map[string]bool) float64 {
	price := math.Inf(1)
	for _, o := range it.Offerings {
		if o.Available && (len(allowed) == 0 || allowed[o.CapacityType]) {
			price = min(price, o.Price)
		}
	}
	return price
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

const never = math.MaxInt64

// capReplay is one policy's replay of an arrivals trace.
type capReplay struct {
	cl    Cluster
	pool  *provisionerv1.NodePool
	pol   CapacityPolicy
	sc    *CapacityScore
	bound *scheduling.FitBound
	reqs  *scheduling.RequestCache // pods' requests and types' labels, for every solve

	pods   []Pod
	core   []*corev1.Pod
	phase  []podPhase
	since  []int64 // pending since (creation, or eviction)
	nodeOf []int
	nodes  []*simNode // index = id; removed nodes are nil

	pending []int
	del     deletions

	costRate                     float64
	nodeCount                    int
	last                         int64
	hourCost, hourBound, hourFit float64

	batchOpen               bool
	batchStart, lastArrival int64
	retry                   bool // room freed while pods wait: solve again

	cmds              []*command
	passDue, lastPass int64
	offset            int
	sweep             int // passes without a command since the cluster changed
}

func replayCapacity(a *Arrivals, cl Cluster, pol CapacityPolicy) (*CapacityScore, error) {
	if cl.DisruptionInterval <= 0 {
		return nil, fmt.Errorf("disruption interval must be positive, got %ds", cl.DisruptionInterval)
	}
	r := &capReplay{cl: cl, pol: pol, sc: &CapacityScore{Policy: pol.Name(), Commands: map[string]int{}}, bound: lowerBound(cl), reqs: scheduling.NewRequestCache(), passDue: never, lastPass: -1}
	r.pool = cl.Pool.DeepCopy()
	r.pool.Spec.Disruption.ConsolidateAfter = provisionerv1.NillableDuration((time.Duration(cl.ConsolidateAfter) * time.Second).String())
	if cl.ConsolidationPolicy != "" {
		r.pool.Spec.Disruption.ConsolidationPolicy = cl.ConsolidationPolicy
	}
	if pp, ok := pol.(poolPolicy); ok {
		pp.configure(r.pool)
	}
	for _, p := range a.Pods {
		if cl.SkipGPU && p.GPUs > 0 {
			r.sc.SkippedGPU++
			continue
		}
		r.pods = append(r.pods, p)
	}
	r.sc.Pods = len(r.pods)
	r.core = make([]*corev1.Pod, len(r.pods))
	for i := range r.pods {
		r.core[i] = corePod(&r.pods[i])
	}
	r.phase = make([]podPhase, len(r.pods))
	r.since = make([]int64, len(r.pods))
	r.nodeOf = make([]int, len(r.pods))
	if err := r.run(); err != nil {
		return nil, err
	}
	return r.sc, nil
}

// demand is pod i's requests as the bound counts them: cores, bytes, GPUs.
func (r *capReplay) demand(i int) []float64 {
	p := &r.pods[i]
	return []float64{float64(p.CPUMilli) / 1000, float64(p.MemMiB << 20), float64(p.GPUs)}
}

// advance integrates cost and bound up to t.
func (r *capReplay) advance(t int64) {
	for r.last < t {
		next := min(t, (r.last/Hour+1)*Hour)
		dt := float64(next-r.last) / 3600
		b, fb := r.bound.Costs()
		r.sc.NodeCost += r.costRate * dt
		r.sc.Bound += b * dt
		r.sc.FitBound += fb * dt
		r.hourCost += r.costRate * dt
		r.hourBound += b * dt
		r.hourFit += fb * dt
		r.last = next
		if r.last%Hour == 0 {
			r.sc.CostRate = append(r.sc.CostRate, r.hourCost)
			r.sc.BoundRate = append(r.sc.BoundRate, r.hourBound)
			r.sc.FitBoundRate = append(r.sc.FitBoundRate, r.hourFit)
			r.hourCost, r.hourBound, r.hourFit = 0, 0, 0
		}
	}
}

// tick is the first disruption pass at or after t (passes run every
// DisruptionInterval, as the controller's loop does).
func (r *capReplay) tick(t int64) int64 {
	iv := r.cl.DisruptionInterval
	return (t + iv - 1) / iv * iv
}

// touch: the cluster changed at t; the next pass looks at it.
func (r *capReplay) touch(t int64) {
	due := r.tick(t)
	if due <= r.lastPass {
		due = r.tick(r.lastPass + 1)
	}
	r.passDue = min(r.passDue, due)
	r.sweep = 0
}

func (r *capReplay) podEvent(n *simNode, t int64) {
	n.lastPodEvent = max(n.lastPodEvent, t)
	r.touch(t)
}

func (r *capReplay) start(i int, t int64) {
	r.phase[i] = podRunning
	r.core[i].Status.Phase = corev1.PodRunning
	r.sc.PendingPodSeconds += float64(t - r.since[i])
	r.podEvent(r.nodes[r.nodeOf[i]], t)
}

func (r *capReplay) addPending(i int, t int64) {
	r.phase[i] = podPending
	r.core[i].Status.Phase = corev1.PodPending
	r.since[i] = t
	r.pending = append(r.pending, i)
	if !r.batchOpen {
		r.batchOpen, r.batchStart = true, t
	}
	r.lastArrival = t
}

// arrive is a new pod at t (created, or re-created after an eviction):
// kube-scheduler binds it at once if it fits a ready node; the rest wait,
// marked Unschedulable, for the provisioner's batch.
func (r *capReplay) arrive(i int, t int64) {
	r.since[i] = t
	if !r.schedule(i, t) {
		r.addPending(i, t)
	}
}

// schedule is kube-scheduler's binding of a new pod: which nodes it fits
// is the solver's call (its predicates; scheduling.Solve over the ready
// nodes only, no pools, so no new claims; tainted candidates are left by
// their taint), and of those it gets the one the cluster's Scoring rates
// best (ties: the oldest; kube-scheduler breaks them at random).
// In-flight nodes are the provisioner's, not the scheduler's.
func (r *capReplay) schedule(i int, t int64) bool {
	in := scheduling.Input{Pods: []*corev1.Pod{r.core[i]}, Requests: r.reqs}
	var ids []int
	for id, n := range r.nodes {
		if n == nil || t < n.readyAt {
			continue
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return false
	}
	if s := r.cl.Scheduler; s != OldestFirst && s != "" {
		p := &r.pods[i]
		score := make(map[int]int64, len(ids))
		for _, id := range ids {
			score[id] = s.Score(r.schedNode(id), p.CPUMilli, p.MemMiB<<20)
		}
		// Solve takes the first node that fits: the best first.
		slices.SortStableFunc(ids, func(a, b int) int { return cmp.Compare(score[b], score[a]) })
	}
	for _, id := range ids {
		n := r.nodes[id]
		n.node.InFlight = false
		in.Nodes = append(in.Nodes, n.node)
	}
	res, err := scheduling.Solve(in)
	if err != nil || res.Placements[0].Kind != scheduling.ExistingNode {
		return false
	}
	r.sc.BoundAtOnce++
	k := slices.IndexFunc(in.Nodes, func(n scheduling.Node) bool { return n.Name == res.Placements[0].Node })
	r.bind(i, ids[k], t)
	return true
}

// schedNode is node id as scoring sees it: allocatable and its pods'
// requests.
func (r *capReplay) schedNode(id int) SchedNode {
	n := r.nodes[id]
	sn := SchedNode{AllocMilliCPU: n.allocMilliCPU, AllocMemory: n.allocMemory}
	for _, i := range n.pods {
		sn.MilliCPU += r.pods[i].CPUMilli
		sn.Memory += r.pods[i].MemMiB << 20
	}
	return sn
}

// bind puts pod i on node id: running if the node is ready, else
// nominated to it.
func (r *capReplay) bind(i, id int, t int64) {
	n := r.nodes[id]
	if n.disrupting {
		r.sc.OnCandidate++
	}
	n.pods = append(n.pods, i)
	n.node.Pods = append(n.node.Pods, r.core[i])
	r.nodeOf[i] = id
	if t >= n.readyAt {
		r.start(i, t)
	} else {
		r.phase[i] = podNominated
	}
}

// unbind takes pod i off its node.
func (r *capReplay) unbind(i int, t int64) {
	n := r.nodes[r.nodeOf[i]]
	k := slices.Index(n.pods, i)
	n.pods = slices.Delete(n.pods, k, k+1)
	n.node.Pods = slices.Delete(n.node.Pods, k, k+1)
	r.podEvent(n, t)
}

func (r *capReplay) removePod(i int, t int64) {
	switch r.phase[i] {
	case podPending:
		r.sc.PendingPodSeconds += float64(t - r.since[i])
		r.sc.Unplaced++
		r.pending = slices.DeleteFunc(r.pending, func(j int) bool { return j == i })
	case podNominated:
		r.sc.PendingPodSeconds += float64(t - r.since[i])
		r.unbind(i, t)
	case podRunning:
		r.unbind(i, t)
	}
	r.phase[i] = podGone
	r.bound.Add(r.demand(i), -1)
}

func (r *capReplay) addNode(n *simNode) int {
	id := len(r.nodes)
	r.nodes = append(r.nodes, n)
	r.costRate += n.price
	r.sc.Nodes++
	r.nodeCount++
	r.sc.PeakNodes = max(r.sc.PeakNodes, r.nodeCount)
	return id
}

func (r *capReplay) removeNode(id int) {
	r.costRate -= r.nodes[id].price
	r.nodes[id] = nil
	r.nodeCount--
}

// solve places the pending pods: the provisioner's batch.
func (r *capReplay) solve(t int64) error {
	in := scheduling.Input{Pools: []scheduling.Pool{{NodePool: r.pool, InstanceTypes: r.cl.Types}}, Requests: r.reqs}
	for _, i := range r.pending {
		in.Pods = append(in.Pods, r.core[i])
	}
	byName := map[string]int{}
	for id, n := range r.nodes {
		if n == nil { // tainted candidates stay in: the solver sees the taint
			continue
		}
		n.node.InFlight = t < n.readyAt
		in.Nodes = append(in.Nodes, n.node)
		byName[n.node.Name] = id
	}
	res, err := r.pol.Solve(in)
	if err != nil {
		return err
	}
	r.sc.Solves++
	claimNode := make([]int, len(res.Claims))
	for k, c := range res.Claims {
		n, err := newNode(r.cl, c, len(r.nodes), t)
		if err != nil {
			return err
		}
		claimNode[k] = r.addNode(n)
	}
	var still []int
	for k, pl := range res.Placements {
		i := r.pending[k]
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
		r.bind(i, id, t)
	}
	r.pending = still
	return nil
}

// pass is one disruption pass: provisioner/disruption.Decide over the
// simulated cluster, as the controller feeds it; its commands start.
func (r *capReplay) pass(t int64) error {
	r.lastPass, r.passDue = t, never
	in := disruption.Input{Now: time.Unix(t, 0), Pools: []scheduling.Pool{{NodePool: r.pool, InstanceTypes: r.cl.Types}}, Options: disruption.DefaultOptions(), Requests: r.reqs}
	in.Options.Offset = r.offset
	r.offset++
	byName := map[string]int{}
	for id, n := range r.nodes {
		if n == nil {
			continue
		}
		in.Nodes = append(in.Nodes, r.disruptionNode(n, t))
		byName[n.node.Name] = id
	}
	dec, err := disruption.Decide(in)
	if err != nil {
		return err
	}
	r.sc.DisruptionSolves += dec.Solves
	if len(dec.Commands) > 0 {
		r.sweep = 0
	} else if r.sweep++; dec.Solves >= in.Options.SingleNodeMaxSolves && r.sweep*in.Options.SingleNodeMaxSolves < len(in.Nodes) {
		// Single-node consolidation stopped at its bound: the next pass
		// goes on from the next offset, as the controller's does, until
		// every node had its turn (on a cluster that has not changed, the
		// passes after that decide the same again).
		r.passDue = r.tick(t + 1)
	}
	for _, c := range dec.Commands {
		// The controller's start: mark the candidates, launch the
		// replacements; without replacements it moves on at once.
		cmd := &command{method: c.Method, due: t}
		for _, name := range c.Candidates {
			id := byName[name]
			r.nodes[id].disrupting = true
			cmd.candidates = append(cmd.candidates, id)
		}
		for _, claim := range c.Replacements {
			n, err := newNode(r.cl, claim, len(r.nodes), t)
			if err != nil {
				return err
			}
			n.replacement = true
			cmd.replacements = append(cmd.replacements, r.addNode(n))
			cmd.due = max(cmd.due, r.tick(n.readyAt))
		}
		r.sc.Commands[string(c.Method)]++
		if cmd.due == t {
			r.progress(cmd, t)
		}
		if !cmd.done() {
			r.cmds = append(r.cmds, cmd)
		}
	}
	return nil
}

// disruptionNode is node n as the controller's disruption pass describes
// it to Decide (and to Blocked).
func (r *capReplay) disruptionNode(n *simNode, t int64) disruption.Node {
	dn := disruption.Node{
		Claim: n.node.Name, Pool: r.pool.Name, Price: n.price,
		Created: time.Unix(n.created, 0), LastPodEvent: time.Unix(n.lastPodEvent, 0),
		Initialized: t >= n.readyAt, Disrupting: n.disrupting, Replacement: n.replacement, Node: n.node,
	}
	dn.Node.InFlight = !dn.Initialized
	for _, i := range n.pods {
		if r.phase[i] == podNominated {
			dn.Nominated = true
		} else {
			dn.Pods = append(dn.Pods, r.core[i])
		}
	}
	return dn
}

// done: drained or rolled back.
func (c *command) done() bool { return c.due == never }

// progress moves a command on at the pass t, as the controller's progress
// does once every replacement is ready: the candidates are checked again
// (a failed check rolls the command back), tainted if not yet, and
// drained once DisruptionValidation has passed since the taint (an
// emptiness command at once).
func (r *capReplay) progress(cmd *command, t int64) {
	for _, id := range cmd.replacements {
		if t < r.nodes[id].readyAt {
			return
		}
	}
	pdbs := disruption.NewPDBs(nil)
	for _, id := range cmd.candidates {
		dn := r.disruptionNode(r.nodes[id], t)
		if reason, _ := disruption.Blocked(&dn, pdbs); reason != "" || cmd.method == disruption.Emptiness && len(dn.Pods) > 0 {
			r.rollback(cmd, t)
			return
		}
	}
	if !cmd.tainted {
		for _, id := range cmd.candidates {
			n := r.nodes[id]
			n.node.Taints = append(slices.Clip(n.node.Taints), disruptedTaint)
		}
		cmd.tainted = true
		r.touch(t)
		if cmd.method != disruption.Emptiness {
			cmd.due = r.tick(t + r.cl.DisruptionValidation)
			return
		}
	}
	r.drain(cmd, t)
}

// rollback leaves the candidates serving, untainted and unmarked; the
// replacements become ordinary nodes. (The replay has no PDBs nor
// do-not-disrupt annotations, its bound pods run at once and an emptiness
// command drains in the pass that checks it: nothing it replays fails the
// check yet, but the order is the controller's.)
func (r *capReplay) rollback(cmd *command, t int64) {
	for _, id := range cmd.candidates {
		n := r.nodes[id]
		n.disrupting = false
		n.node.Taints = slices.DeleteFunc(slices.Clone(n.node.Taints), func(x corev1.Taint) bool { return x.Key == disruptedTaint.Key })
	}
	r.finish(cmd)
	r.touch(t)
}

// finish: the replacements are ordinary nodes from now on.
func (r *capReplay) finish(cmd *command) {
	for _, id := range cmd.replacements {
		if n := r.nodes[id]; n != nil {
			n.replacement = false
		}
	}
	cmd.due = never
}

// drain finishes a command: the candidates are removed and their pods
// evicted (new pods to schedule: bound at once where they fit, else
// pending for the next batch).
func (r *capReplay) drain(cmd *command, t int64) {
	var evicted []int
	for _, id := range cmd.candidates {
		for _, i := range r.nodes[id].pods {
			r.sc.Disrupted++
			evicted = append(evicted, i)
		}
		r.removeNode(id)
	}
	for _, i := range evicted {
		r.arrive(i, t)
	}
	r.finish(cmd)
	r.touch(t)
}

// next is the time of the next event: an arrival, a deletion, a batch
// closing, a node becoming ready, a command moving on, a disruption pass
// (due after a change, or when a node's consolidateAfter runs out).
func (r *capReplay) next(arrival int) int64 {
	t := int64(never)
	if arrival < len(r.pods) {
		t = r.pods[arrival].Create
	}
	if len(r.del) > 0 {
		t = min(t, r.del[0][0])
	}
	if r.batchOpen {
		t = min(t, min(r.lastArrival+r.cl.BatchIdle, r.batchStart+r.cl.BatchMax))
	}
	for _, c := range r.cmds {
		t = min(t, c.due)
	}
	t = min(t, r.passDue)
	for _, n := range r.nodes {
		if n == nil {
			continue
		}
		if n.readyAt > r.last {
			t = min(t, n.readyAt)
		}
		if !n.disrupting {
			if q := r.tick(max(n.lastPodEvent+r.cl.ConsolidateAfter, n.readyAt)); q > r.lastPass {
				t = min(t, q)
			}
		}
	}
	return t
}

func (r *capReplay) run() error {
	arrival := 0
	for {
		t := r.next(arrival)
		if t == never {
			break
		}
		r.advance(t)
		// Nodes ready: their nominated pods start.
		for _, n := range r.nodes {
			if n != nil && n.readyAt == t {
				r.podEvent(n, t)
				for _, i := range n.pods {
					if r.phase[i] == podNominated {
						r.start(i, t)
					}
				}
			}
		}
		for len(r.del) > 0 && r.del[0][0] == t {
			i := int(heap.Pop(&r.del).([2]int64)[1])
			if r.phase[i] != podGone {
				r.removePod(i, t)
				r.retry = r.retry || len(r.pending) > 0
			}
		}
		for arrival < len(r.pods) && r.pods[arrival].Create == t {
			i := arrival
			arrival++
			r.arrive(i, t)
			r.bound.Add(r.demand(i), 1)
			heap.Push(&r.del, [2]int64{r.pods[i].Delete, int64(i)})
		}
		if r.retry && !r.batchOpen {
			r.batchOpen, r.batchStart, r.lastArrival = true, t, t
		}
		r.retry = false
		if r.batchOpen && (t >= r.lastArrival+r.cl.BatchIdle || t >= r.batchStart+r.cl.BatchMax) {
			r.batchOpen = false
			if len(r.pending) > 0 {
				if err := r.solve(t); err != nil {
					return err
				}
			}
		}
		// The disruption pass: running commands move on, then Decide.
		for _, c := range r.cmds {
			if c.due == t {
				r.progress(c, t)
			}
		}
		r.cmds = slices.DeleteFunc(r.cmds, (*command).done)
		if t >= r.passDue || t == r.tick(t) && t > r.lastPass && r.quietDue(t) {
			if err := r.pass(t); err != nil {
				return err
			}
		}
	}
	if r.hourCost > 0 || r.hourBound > 0 {
		r.sc.CostRate = append(r.sc.CostRate, r.hourCost)
		r.sc.BoundRate = append(r.sc.BoundRate, r.hourBound)
		r.sc.FitBoundRate = append(r.sc.FitBoundRate, r.hourFit)
	}
	return nil
}

// quietDue: some node's consolidateAfter ran out at or before the tick t
// since the last pass.
func (r *capReplay) quietDue(t int64) bool {
	for _, n := range r.nodes {
		if n != nil && !n.disrupting {
			if q := r.tick(max(n.lastPodEvent+r.cl.ConsolidateAfter, n.readyAt)); q > r.lastPass && q <= t {
				return true
			}
		}
	}
	return false
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
	return &simNode{node: scheduling.NodeFromCore(kn, nil), price: off.Price, created: t, readyAt: t + cl.NodeStart, lastPodEvent: t + cl.NodeStart,
		allocMilliCPU: it.Allocatable.Cpu().MilliValue(), allocMemory: it.Allocatable.Memory().Value()}, nil
}

// CapacityPolicies are the selectable capacity policies by name.
func CapacityPolicies() map[string]func() (CapacityPolicy, error) {
	return map[string]func() (CapacityPolicy, error){
		"provisioner": func() (CapacityPolicy, error) { return Provisioner{}, nil },
		"ffd":         func() (CapacityPolicy, error) { return FFD{}, nil },
		"marginal":    func() (CapacityPolicy, error) { return Marginal{}, nil },
	}
}

// DefaultCapacityPolicies is what a replay runs when none are named.
var DefaultCapacityPolicies = []string{"ffd", "provisioner", "marginal"}

// PickCapacity returns the named policies.
func PickCapacity(names []string) ([]CapacityPolicy, error) {
	return pick("capacity", CapacityPolicies(), names)
}
