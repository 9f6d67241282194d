package scheduling

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/requirements"
)

// wellKnown: on a planned node these keys are settled by the instance type
// and offering, so a pod may constrain them though the pool does not.
func wellKnown(key string) bool { return provisionerv1.WellKnownLabels[key] }

type typeInfo struct {
	it       *InstanceType
	capacity vec
	alloc    vec
}

// poolType is an instance type as one pool sees it: less the DaemonSet
// pods that would run on it in that pool.
type poolType struct {
	ti       *typeInfo
	avail    vec
	daemons  vec
	minPrice float64
}

type poolState struct {
	idx       int // in solver.pools, the order of podState.poolTol
	name      string
	reqs      requirements.Requirements
	taints    []corev1.Taint
	weight    int32
	packing   provisionerv1.Packing
	types     []poolType // cheapest first
	maxAvail  vec
	hasLimits bool
	limits    vec // math.MaxInt64 where unlimited
	maxNodes  int64
	usage     vec
	nodes     int64
}

type hostPort struct {
	protocol corev1.Protocol
	ip       string
	port     int32
}

type podState struct {
	pod     *corev1.Pod
	index   int
	req     vec
	alts    []requirements.Requirements
	prefs   []requirements.Preferred
	tols    []corev1.Toleration
	terms   []term
	matches []int32 // groups whose selector matches the pod
	owns    []int32 // groups of the pod's required anti-affinity terms
	ports   []hostPort
	poolTol []int8 // per pool: 0 unknown, 1 tolerates, 2 does not
	err     error
	target  *target
}

// target is an existing node, an in-flight node or a planned claim.
type target struct {
	kind          Kind
	name          string
	reqs          requirements.Requirements
	taints        []corev1.Taint
	unschedulable bool
	used          vec
	alloc         vec // nodes
	hostCounts    []int32
	hostOwners    []int32
	ports         []hostPort
	// Claims only.
	pool     *poolState
	types    []int32 // indexes into pool.types, cheapest first
	maxAvail vec
	pods     []*podState
	reserved vec // capacity held against pool limits
	index    int
}

type solver struct {
	dims    *dims
	topo    *topology
	uidx    map[string]map[string]int // key → domain → index into topo.universe[key]
	pools   []*poolState
	nodes   []*target
	claims  []*target
	pods    []*podState
	daemons []*podState
	scratch []int32
	cache   *RequestCache
	// marginal: some pool packs by MarginalCost (placeClaims compares
	// claims by the rise of their price).
	marginal bool
}

// Solve places in.Pods. It returns an error only for input it cannot
// model at all (too many distinct resources); a pod it cannot place is an
// Unschedulable placement with a reason.
func Solve(in Input) (*Result, error) {
	s := &solver{dims: newDims(), topo: newTopology(), uidx: map[string]map[string]int{}, cache: in.Requests}
	if err := s.prepare(in); err != nil {
		return nil, err
	}
	order := s.order()
	res := &Result{Placements: make([]Placement, len(s.pods))}
	var failed []*podState
	for _, p := range order {
		if !s.place(p, &res.Placements[p.index]) {
			failed = append(failed, p)
		}
	}
	// Pod affinity can need pods placed later in the order: one more pass.
	for _, p := range failed {
		s.place(p, &res.Placements[p.index])
	}
	s.finish(res)
	return res, nil
}

// order is first-fit-decreasing with a twist for two resources: pods are
// split into CPU-heavy and memory-heavy ones (against the batch's own
// memory:CPU ratio), each list sorted largest first, and the two are
// interleaved so that the running totals keep that ratio. Consecutive pods
// fill the same claims, so every claim gets the batch's mix and ends up
// full in both resources; plain FFD by CPU gives the first claims all the
// CPU-heavy pods and the last ones all the memory-heavy pods, and pays for
// the idle half of each (about 30% more on a random mix).
func (s *solver) order() []*podState {
	var cpu, mem float64
	for _, p := range s.pods {
		cpu += float64(p.req[dimCPU])
		mem += float64(p.req[dimMemory])
	}
	size := func(p *podState) float64 {
		v := 0.0
		if cpu > 0 {
			v += float64(p.req[dimCPU]) / cpu
		}
		if mem > 0 {
			v += float64(p.req[dimMemory]) / mem
		}
		return v
	}
	var heavyCPU, heavyMem []*podState
	for _, p := range s.pods {
		if float64(p.req[dimMemory])*cpu < float64(p.req[dimCPU])*mem {
			heavyCPU = append(heavyCPU, p)
		} else {
			heavyMem = append(heavyMem, p)
		}
	}
	bySize := func(list []*podState) {
		sort.SliceStable(list, func(i, j int) bool { return size(list[i]) > size(list[j]) })
	}
	bySize(heavyCPU)
	bySize(heavyMem)
	out := make([]*podState, 0, len(s.pods))
	var rc, rm float64
	for len(heavyCPU) > 0 || len(heavyMem) > 0 {
		var p *podState
		// Take memory when the running mix is short of it (rm/rc < mem/cpu).
		if len(heavyCPU) == 0 || (len(heavyMem) > 0 && rm*cpu < rc*mem) {
			p, heavyMem = heavyMem[0], heavyMem[1:]
		} else {
			p, heavyCPU = heavyCPU[0], heavyCPU[1:]
		}
		rc += float64(p.req[dimCPU])
		rm += float64(p.req[dimMemory])
		out = append(out, p)
	}
	return out
}

func (s *solver) prepare(in Input) error {
	reqOf := func(pod *corev1.Pod) (vec, error) {
		rl := in.Requests.of(pod)
		if err := s.dims.register(rl); err != nil {
			return vec{}, err
		}
		return s.dims.vec(rl), nil
	}
	// Resource dimensions first: every vec below depends on them.
	for _, p := range in.Pods {
		if err := s.dims.register(in.Requests.of(p)); err != nil {
			return err
		}
	}
	for _, p := range in.DaemonSetPods {
		if err := s.dims.register(podRequests(p)); err != nil {
			return err
		}
	}
	for _, n := range in.Nodes {
		if err := s.dims.register(n.Allocatable); err != nil {
			return err
		}
	}
	types := map[*InstanceType]*typeInfo{}
	for _, pl := range in.Pools {
		if err := s.dims.register(pl.NodePool.Spec.Limits); err != nil {
			return err
		}
		for _, it := range pl.InstanceTypes {
			if err := s.dims.register(it.Allocatable); err != nil {
				return err
			}
			if _, ok := types[it]; !ok {
				types[it] = &typeInfo{it: it, capacity: s.dims.vec(it.Capacity), alloc: s.dims.vec(it.Allocatable)}
			}
		}
	}

	// Pods and their topology terms; groups also come from the required
	// anti-affinity of bound pods.
	for i, pod := range in.Pods {
		p := &podState{pod: pod, index: i, tols: pod.Spec.Tolerations, poolTol: make([]int8, len(in.Pools))}
		p.req, _ = reqOf(pod)
		p.alts, p.err = requirements.ForPod(pod)
		if p.err == nil {
			p.prefs = requirements.PreferredForPod(pod)
			p.terms, p.err = s.topo.termsOf(pod)
		}
		for _, tm := range p.terms {
			if tm.kind == antiAffinity && tm.hard {
				p.owns = append(p.owns, tm.group)
			}
		}
		p.ports = hostPorts(pod)
		s.pods = append(s.pods, p)
	}
	bound := make([][]int32, len(in.Nodes))
	for i, n := range in.Nodes {
		for _, pod := range n.Pods {
			bound[i] = append(bound[i], s.topo.ownerTerms(pod)...)
		}
	}
	for _, d := range in.DaemonSetPods {
		p := &podState{pod: d, tols: d.Spec.Tolerations}
		p.req, _ = reqOf(d)
		if p.alts, p.err = requirements.ForPod(d); p.err == nil {
			s.daemons = append(s.daemons, p)
		}
	}
	ngroups := len(s.topo.groups)
	for _, p := range s.pods {
		p.matches = s.matchingGroups(p.pod)
	}

	// Pools, cheapest types first, heaviest pool first.
	for _, pl := range in.Pools {
		ps, err := s.pool(pl, types)
		if err != nil {
			return err
		}
		s.pools = append(s.pools, ps)
	}
	sort.SliceStable(s.pools, func(i, j int) bool {
		if s.pools[i].weight != s.pools[j].weight {
			return s.pools[i].weight > s.pools[j].weight
		}
		return s.pools[i].name < s.pools[j].name
	})
	for i, ps := range s.pools {
		ps.idx = i
	}

	// Domains of every non-hostname key used by a term.
	for key := range s.topo.universe {
		seen := map[string]bool{}
		for _, ps := range s.pools {
			r := ps.reqs.Get(key)
			for _, pt := range ps.types {
				for _, v := range typeDomains(pt.ti.it, key) {
					if r == nil || r.Has(v) {
						seen[v] = true
					}
				}
			}
		}
		for _, n := range in.Nodes {
			if r := n.Requirements.Get(key); r != nil {
				for _, v := range r.Values() {
					seen[v] = true
				}
			}
		}
		vals := make([]string, 0, len(seen))
		for v := range seen {
			vals = append(vals, v)
		}
		sort.Strings(vals)
		s.topo.universe[key] = vals
		idx := make(map[string]int, len(vals))
		for i, v := range vals {
			idx[v] = i
		}
		s.uidx[key] = idx
	}

	// Existing and in-flight nodes, with what is bound to them.
	for i, n := range in.Nodes {
		t := &target{kind: ExistingNode, name: n.Name, reqs: n.Requirements, taints: n.Taints,
			unschedulable: n.Unschedulable, alloc: s.dims.vec(n.Allocatable),
			hostCounts: make([]int32, ngroups), hostOwners: make([]int32, ngroups)}
		if n.InFlight {
			t.kind = InFlightNode
		}
		present := map[string]bool{}
		for _, pod := range n.Pods {
			r, _ := reqOf(pod)
			t.used.add(&r)
			t.ports = append(t.ports, hostPorts(pod)...)
			if ds := daemonSetOf(pod); ds != "" {
				present[ds] = true
			}
			for _, g := range s.matchingGroups(pod) {
				s.count(t, g, 1)
			}
		}
		for _, g := range bound[i] {
			s.own(t, g)
		}
		// DaemonSet pods that will still arrive (a fresh or launching node).
		for _, d := range s.daemons {
			if present[daemonSetOf(d.pod)] {
				continue
			}
			if _, bad := requirements.Untolerated(t.taints, d.tols); bad {
				continue
			}
			if s.anyAltFits(t.reqs, d.alts, t.kind == InFlightNode) {
				t.used.add(&d.req)
			}
		}
		s.nodes = append(s.nodes, t)
	}
	return nil
}

func (s *solver) anyAltFits(reqs requirements.Requirements, alts []requirements.Requirements, planned bool) bool {
	undefined := wellKnownIf(planned)
	for _, a := range alts {
		if _, bad := reqs.Conflict(a, undefined); !bad {
			return true
		}
	}
	return false
}

func wellKnownIf(planned bool) func(string) bool {
	if planned {
		return wellKnown
	}
	return nil
}

func (s *solver) matchingGroups(pod *corev1.Pod) []int32 {
	var out []int32
	for i, g := range s.topo.groups {
		if g.matches(pod) {
			out = append(out, int32(i))
		}
	}
	return out
}

// pool prepares a NodePool: its requirements, its instance types that
// meet them with DaemonSet overhead subtracted, its limits.
func (s *solver) pool(pl Pool, types map[*InstanceType]*typeInfo) (*poolState, error) {
	np := pl.NodePool
	reqs, err := requirements.FromNodePool(np)
	if err != nil {
		return nil, fmt.Errorf("nodepool %s: %w", np.Name, err)
	}
	ps := &poolState{name: np.Name, reqs: reqs, taints: np.Spec.Template.Spec.Taints, maxNodes: -1, packing: np.Spec.Packing}
	s.marginal = s.marginal || ps.packing == provisionerv1.PackingMarginalCost
	if np.Spec.Weight != nil {
		ps.weight = *np.Spec.Weight
	}
	if len(np.Spec.Limits) > 0 {
		ps.hasLimits = true
		for i := range ps.limits {
			ps.limits[i] = math.MaxInt64
		}
		lv := s.dims.vec(np.Spec.Limits)
		for n := range np.Spec.Limits {
			if i, ok := s.dims.index[n]; ok {
				ps.limits[i] = lv[i]
			}
		}
		if q, ok := np.Spec.Limits[provisionerv1.ResourceNodes]; ok {
			ps.maxNodes = q.Value()
		}
		ps.usage = s.dims.vec(pl.Usage)
		if q, ok := pl.Usage[provisionerv1.ResourceNodes]; ok {
			ps.nodes = q.Value()
		}
	}
	var daemons []*podState
	for _, d := range s.daemons {
		if _, bad := requirements.Untolerated(ps.taints, d.tols); !bad {
			daemons = append(daemons, d)
		}
	}
	types2 := make([]poolType, 0, len(pl.InstanceTypes))
	for _, it := range pl.InstanceTypes {
		ti := types[it]
		if !typeAllows(it, reqs) {
			continue
		}
		pt := poolType{ti: ti, avail: ti.alloc, minPrice: Cheapest(it, reqs)}
		if len(daemons) > 0 {
			tr := reqs.Intersect(s.cache.labels(it))
			for _, d := range daemons {
				for _, a := range d.alts {
					if _, bad := tr.Conflict(a, wellKnown); !bad && typeAllows(it, a) {
						pt.daemons.add(&d.req)
						break
					}
				}
			}
		}
		pt.avail.sub(&pt.daemons)
		if pt.avail[dimPods] <= 0 || pt.avail[dimCPU] < 0 || pt.avail[dimMemory] < 0 {
			continue
		}
		types2 = append(types2, pt)
		maxVec(&ps.maxAvail, &pt.avail)
	}
	// Sorted by index, not by moving the (large) entries around.
	order := make([]int32, len(types2))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortStableFunc(order, func(i, j int32) int {
		a, b := &types2[i], &types2[j]
		return cmp.Or(cmp.Compare(a.minPrice, b.minPrice), strings.Compare(a.ti.it.Name, b.ti.it.Name))
	})
	ps.types = make([]poolType, len(order))
	for k, i := range order {
		ps.types[k] = types2[i]
	}
	return ps, nil
}

// typeDomains are the values an instance type can give key.
func typeDomains(it *InstanceType, key string) []string {
	var field func(o *Offering) string
	switch key {
	case provisionerv1.LabelZone:
		field = func(o *Offering) string { return o.Zone }
	case provisionerv1.LabelCapacityType:
		field = func(o *Offering) string { return o.CapacityType }
	}
	if field != nil {
		var out []string
		for i := range it.Offerings {
			if v := field(&it.Offerings[i]); it.Offerings[i].Available && !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
		return out
	}
	if v, ok := it.Labels[key]; ok {
		return []string{v}
	}
	return nil
}

// typeAllows reports whether a node of type it can meet rs: its labels
// meet the well-known keys of rs, and an available offering meets the
// zone and capacity type. Other keys are the pool's business, not the type's.
func typeAllows(it *InstanceType, rs requirements.Requirements) bool {
	var zr, cr *requirements.Requirement
	items := rs.Items()
	for i := range items {
		r := &items[i]
		switch r.Key {
		case provisionerv1.LabelZone:
			zr = r
		case provisionerv1.LabelCapacityType:
			cr = r
		case provisionerv1.LabelNodePool:
		default:
			if !provisionerv1.WellKnownLabels[r.Key] {
				continue
			}
			if v, ok := it.Labels[r.Key]; ok {
				if !r.Has(v) {
					return false
				}
			} else if !r.AbsentOK() {
				return false
			}
		}
	}
	for _, o := range it.Offerings {
		if o.Available && (zr == nil || zr.Has(o.Zone)) && (cr == nil || cr.Has(o.CapacityType)) {
			return true
		}
	}
	return false
}

// Cheapest is the lowest price of an available offering of it that rs
// allows (+Inf when none).
func Cheapest(it *InstanceType, rs requirements.Requirements) float64 {
	zr, cr := rs.Get(provisionerv1.LabelZone), rs.Get(provisionerv1.LabelCapacityType)
	best := math.Inf(1)
	for _, o := range it.Offerings {
		if o.Available && (zr == nil || zr.Has(o.Zone)) && (cr == nil || cr.Has(o.CapacityType)) && o.Price < best {
			best = o.Price
		}
	}
	return best
}

func daemonSetOf(pod *corev1.Pod) string {
	for _, o := range pod.OwnerReferences {
		if o.Kind == "DaemonSet" {
			return o.Name
		}
	}
	return ""
}

func hostPorts(pod *corev1.Pod) []hostPort {
	var out []hostPort
	add := func(cs []corev1.Container) {
		for _, c := range cs {
			for _, p := range c.Ports {
				if p.HostPort > 0 {
					proto := p.Protocol
					if proto == "" {
						proto = corev1.ProtocolTCP
					}
					out = append(out, hostPort{protocol: proto, ip: p.HostIP, port: p.HostPort})
				}
			}
		}
	}
	add(pod.Spec.InitContainers)
	add(pod.Spec.Containers)
	return out
}

func portsConflict(have, want []hostPort) bool {
	for _, w := range want {
		for _, h := range have {
			if w.port == h.port && w.protocol == h.protocol &&
				(w.ip == h.ip || w.ip == "" || h.ip == "" || w.ip == "0.0.0.0" || h.ip == "0.0.0.0") {
				return true
			}
		}
	}
	return false
}

// count records n pods of group g on t (in its settled domain).
func (s *solver) count(t *target, g int32, n int32) {
	grp := s.topo.groups[g]
	grp.total += n
	if grp.host {
		t.hostCounts[g] += n
	} else if d, ok := s.domain(t, grp.key); ok {
		grp.counts[d] += n
	}
}

// own records a required anti-affinity term of group g on t.
func (s *solver) own(t *target, g int32) {
	grp := s.topo.groups[g]
	grp.hasOwners = true
	if grp.host {
		t.hostOwners[g]++
	} else if d, ok := s.domain(t, grp.key); ok {
		grp.owners[d]++
	}
}

// domain is t's settled value of key, if it has exactly one.
func (s *solver) domain(t *target, key string) (string, bool) {
	r := t.reqs.Get(key)
	if r == nil || r.AbsentOK() {
		return "", false
	}
	if v := r.Values(); len(v) == 1 {
		return v[0], true
	}
	return "", false
}

// finish turns planned claims into Result.Claims: cheapest types first.
func (s *solver) finish(res *Result) {
	for _, c := range s.claims {
		type priced struct {
			pt    *poolType
			price float64
		}
		ps := make([]priced, 0, len(c.types))
		for _, i := range c.types {
			pt := &c.pool.types[i]
			ps = append(ps, priced{pt, Cheapest(pt.ti.it, c.reqs)})
		}
		sort.SliceStable(ps, func(i, j int) bool {
			if ps[i].price != ps[j].price {
				return ps[i].price < ps[j].price
			}
			return ps[i].pt.ti.it.Name < ps[j].pt.ti.it.Name
		})
		out := &Claim{Pool: c.pool.name, Price: ps[0].price}
		names := make([]string, len(ps))
		for i, p := range ps {
			out.InstanceTypes = append(out.InstanceTypes, p.pt.ti.it)
			names[i] = p.pt.ti.it.Name
		}
		r, _ := requirements.New(provisionerv1.LabelInstanceType, corev1.NodeSelectorOpIn, names)
		out.Requirements = c.reqs.With(r)
		total := c.used
		total.add(&ps[0].pt.daemons)
		out.Requests = s.dims.list(&total)
		for _, p := range c.pods {
			out.Pods = append(out.Pods, p.pod)
		}
		res.Claims = append(res.Claims, out)
	}
}

func describe(t corev1.Taint) string {
	var b strings.Builder
	b.WriteString(t.Key)
	if t.Value != "" {
		b.WriteString("=" + t.Value)
	}
	b.WriteString(":" + string(t.Effect))
	return b.String()
}
