package scheduling

import (
	"fmt"
	"math"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/requirements"
)

// attempt is one pod with one set of constraints: an alternative of its
// required node affinity, the preferences still kept, the soft topology
// terms still kept. Domain sets are computed once per attempt (counts do
// not change while the pod looks for a place).
type attempt struct {
	reqs      requirements.Requirements
	hostTerms []term
	inverse   []int32 // hostname groups with owners the pod matches
	pins      []pin
	bad       string // the attempt cannot succeed (why)
}

// pin is a non-hostname key the pod's node must be settled on, and the
// domains allowed, best first.
type pin struct {
	key     string
	allowed domSet
	order   []int
}

// place tries the pod's attempts from most to least constrained.
func (s *solver) place(p *podState, out *Placement) bool {
	*out = Placement{Pod: p.pod, Claim: -1}
	if p.err != nil {
		out.Reason = p.err.Error()
		return false
	}
	soft := 0
	for _, tm := range p.terms {
		if !tm.hard {
			soft++
		}
	}
	var reason string
	var poolReasons map[string]string
	for _, alt := range p.alts {
		levels := len(p.prefs) + 1
		if soft > 0 {
			levels += 2
		}
		for level := 0; level < levels; level++ {
			att := s.attempt(p, alt, level)
			if att.bad != "" {
				reason = att.bad
				continue
			}
			if s.placeExisting(p, att, out) || s.placeClaims(p, att, out) {
				return true
			}
			var ok bool
			if ok, poolReasons = s.placeNew(p, att, out); ok {
				return true
			}
			reason = "fits no node and no planned node, and no NodePool can make one"
		}
	}
	out.Kind, out.Reason, out.PoolReasons = Unschedulable, reason, poolReasons
	return false
}

// attempt builds the constraints of level: levels 0…len(prefs) keep the
// heaviest len(prefs)-level preferred node affinity terms and every soft
// topology term; the next level drops preferred pod (anti-)affinity, the
// last drops ScheduleAnyway spread too.
func (s *solver) attempt(p *podState, alt requirements.Requirements, level int) *attempt {
	att := &attempt{reqs: alt}
	keep := len(p.prefs) - level
	for i := 0; i < keep; i++ {
		att.reqs = att.reqs.Intersect(p.prefs[i].Requirements)
	}
	byKey := map[string]domSet{}
	var spreadOrder map[string]*group
	for _, tm := range p.terms {
		if !tm.hard {
			if level > len(p.prefs) && tm.kind != spread {
				continue
			}
			if level > len(p.prefs)+1 {
				continue
			}
		}
		g := s.topo.groups[tm.group]
		if g.host {
			att.hostTerms = append(att.hostTerms, tm)
			continue
		}
		allowed := s.allowed(p, att.reqs, tm, g)
		if cur, ok := byKey[g.key]; ok {
			cur.and(allowed)
		} else {
			byKey[g.key] = allowed
		}
		if tm.kind == spread {
			if spreadOrder == nil {
				spreadOrder = map[string]*group{}
			}
			spreadOrder[g.key] = g
		}
	}
	for _, gi := range p.matches {
		g := s.topo.groups[gi]
		if !g.hasOwners {
			continue
		}
		if g.host {
			att.inverse = append(att.inverse, gi)
			continue
		}
		u := s.topo.universe[g.key]
		free := newDomSet(len(u))
		for i, d := range u {
			if g.owners[d] == 0 {
				free.set(i)
			}
		}
		if cur, ok := byKey[g.key]; ok {
			cur.and(free)
		} else {
			byKey[g.key] = free
		}
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		allowed := byKey[k]
		if allowed.empty() {
			att.bad = fmt.Sprintf("no %s domain satisfies its topology spread and pod (anti-)affinity", k)
			return att
		}
		pn := pin{key: k, allowed: allowed}
		for i := range s.topo.universe[k] {
			if allowed.has(i) {
				pn.order = append(pn.order, i)
			}
		}
		if g := spreadOrder[k]; g != nil { // emptiest domain first
			u := s.topo.universe[k]
			sort.SliceStable(pn.order, func(a, b int) bool { return g.counts[u[pn.order[a]]] < g.counts[u[pn.order[b]]] })
		}
		att.pins = append(att.pins, pn)
	}
	return att
}

// allowed is the set of domains of g.key where p may go under tm.
func (s *solver) allowed(p *podState, reqs requirements.Requirements, tm term, g *group) domSet {
	u := s.topo.universe[g.key]
	out := newDomSet(len(u))
	r := reqs.Get(g.key)
	switch tm.kind {
	case spread:
		// Eligible domains: those the pod's node requirements allow.
		low, n := int32(-1), 0
		for _, d := range u {
			if r == nil || r.Has(d) {
				if c := g.counts[d]; low < 0 || c < low {
					low = c
				}
				n++
			}
		}
		if int32(n) < tm.minDomains {
			low = 0
		}
		for i, d := range u {
			if (r == nil || r.Has(d)) && g.counts[d]+1-low <= tm.maxSkew {
				out.set(i)
			}
		}
	case affinity:
		for i, d := range u {
			if g.counts[d] > 0 {
				out.set(i)
			}
		}
		if out.empty() && g.total == 0 && g.matches(p.pod) {
			for i := range u { // the first pod of a self-affine group goes anywhere
				out.set(i)
			}
		}
	case antiAffinity:
		for i, d := range u {
			if g.counts[d] == 0 {
				out.set(i)
			}
		}
	}
	return out
}

// hostOK checks hostname terms and the anti-affinity of pods already on t.
func (s *solver) hostOK(p *podState, att *attempt, t *target) bool {
	for _, tm := range att.hostTerms {
		c := t.hostCounts[tm.group]
		switch tm.kind {
		case spread:
			if c+1 > tm.maxSkew {
				return false
			}
		case affinity:
			if c == 0 {
				g := s.topo.groups[tm.group]
				if g.total > 0 || !g.matches(p.pod) {
					return false
				}
			}
		case antiAffinity:
			if c > 0 {
				return false
			}
		}
	}
	for _, g := range att.inverse {
		if t.hostOwners[g] > 0 {
			return false
		}
	}
	return true
}

func (s *solver) placeExisting(p *podState, att *attempt, out *Placement) bool {
	for _, t := range s.nodes {
		if t.unschedulable || !fits(&t.used, &p.req, &t.alloc) || !s.hostOK(p, att, t) {
			continue
		}
		if len(p.ports) > 0 && portsConflict(t.ports, p.ports) {
			continue
		}
		if _, bad := t.reqs.Conflict(att.reqs, wellKnownIf(t.kind == InFlightNode)); bad {
			continue
		}
		if _, bad := requirements.Untolerated(t.taints, p.tols); bad {
			continue
		}
		ok := true
		for _, pn := range att.pins {
			d, settled := s.domain(t, pn.key)
			if !settled || !pn.allowed.has(s.uidx[pn.key][d]) {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		t.used.add(&p.req)
		s.record(p, t)
		out.Kind, out.Node = t.kind, t.name
		return true
	}
	return false
}

func (s *solver) placeClaims(p *podState, att *attempt, out *Placement) bool {
	if !s.marginal {
		for _, c := range s.claims {
			if ok, _ := s.tryClaim(p, att, c, false, nil); ok {
				out.Kind, out.Claim = NewClaim, c.index
				return true
			}
		}
		return false
	}
	// MarginalCost: the first claim whose cheapest type still has room
	// (its price does not rise); else, among the first marginalCandidates
	// claims that can take the pod, the one whose price rises least,
	// unless a claim of the pod's own costs no more than that rise: at
	// the same price, two nodes are better than a grown one, as each can
	// go when its pods do, with no eviction.
	var best *target
	rise := math.Inf(1)
	for _, c := range s.claims {
		used := c.used
		used.add(&p.req)
		if !lessEq(&used, &c.pool.types[c.types[0]].avail) {
			continue
		}
		var price float64
		if ok, _ := s.tryClaim(p, att, c, false, &price); ok && price <= c.pool.types[c.types[0]].minPrice {
			best, rise = c, 0
			break
		}
	}
	if best == nil {
		seen := 0
		for _, c := range s.claims {
			var price float64
			if ok, _ := s.tryClaim(p, att, c, false, &price); !ok {
				continue
			}
			if d := price - c.pool.types[c.types[0]].minPrice; d < rise {
				best, rise = c, d
			}
			if seen++; seen == marginalCandidates {
				break
			}
		}
	}
	if best == nil {
		return false
	}
	if rise > 0 {
		if alone, ok := s.aloneCost(p, att); ok && alone <= rise*(1+1e-9) {
			return false // placeNew opens the pod's own claim
		}
	}
	s.tryClaim(p, att, best, false, nil)
	out.Kind, out.Claim = NewClaim, best.index
	return true
}

// marginalCandidates bounds the planned nodes MarginalCost prices for a
// pod (each is a trial placement): a batch of thousands of pods stays
// linear in its size.
const marginalCandidates = 32

// aloneCost is the price of a new claim for p alone in the first pool
// that would open one (placeNew's choice), if that pool packs by
// MarginalCost.
func (s *solver) aloneCost(p *podState, att *attempt) (float64, bool) {
	for pi, ps := range s.pools {
		if !s.tolerates(p, pi, ps) || ps.reqs.Compatible(att.reqs, wellKnown) != nil || ps.maxNodes >= 0 && ps.nodes+1 > ps.maxNodes {
			continue
		}
		var price float64
		if ok, _ := s.tryClaim(p, att, s.newClaim(ps), false, &price); !ok {
			continue
		}
		return price, ps.packing == provisionerv1.PackingMarginalCost
	}
	return 0, false
}

// newClaim is an empty claim of pool ps, any of its types.
func (s *solver) newClaim(ps *poolState) *target {
	c := &target{kind: NewClaim, name: fmt.Sprintf("%s-%d", ps.name, len(s.claims)), reqs: ps.reqs, taints: ps.taints,
		pool: ps, maxAvail: ps.maxAvail, index: len(s.claims),
		hostCounts: make([]int32, len(s.topo.groups)), hostOwners: make([]int32, len(s.topo.groups))}
	c.types = make([]int32, len(ps.types))
	for i := range c.types {
		c.types[i] = int32(i)
	}
	return c
}

// placeNew opens a claim in the first pool (heaviest first) that takes
// the pod; otherwise it says, per pool, why not.
func (s *solver) placeNew(p *podState, att *attempt, out *Placement) (bool, map[string]string) {
	reasons := map[string]string{}
	for pi, ps := range s.pools {
		if !s.tolerates(p, pi, ps) {
			t, _ := requirements.Untolerated(ps.taints, p.tols)
			reasons[ps.name] = "does not tolerate taint " + describe(t)
			continue
		}
		if err := ps.reqs.Compatible(att.reqs, wellKnown); err != nil {
			reasons[ps.name] = "incompatible requirements: " + err.Error()
			continue
		}
		if ps.maxNodes >= 0 && ps.nodes+1 > ps.maxNodes {
			reasons[ps.name] = "limit on nodes reached"
			continue
		}
		c := s.newClaim(ps)
		ok, why := s.tryClaim(p, att, c, true, nil)
		if !ok {
			reasons[ps.name] = why
			continue
		}
		ps.nodes++
		s.claims = append(s.claims, c)
		out.Kind, out.Claim = NewClaim, c.index
		return true, nil
	}
	if len(s.pools) == 0 {
		reasons = nil
	}
	return false, reasons
}

func (s *solver) tolerates(p *podState, pi int, ps *poolState) bool {
	switch p.poolTol[pi] {
	case 1:
		return true
	case 2:
		return false
	}
	_, bad := requirements.Untolerated(ps.taints, p.tols)
	p.poolTol[pi] = 1
	if bad {
		p.poolTol[pi] = 2
	}
	return !bad
}

// tryClaim adds p to claim c if some instance type can still carry c with
// p under the narrowed requirements. explain asks for a reason on failure
// (only for new claims: the failure path of existing claims is hot). With
// price set, it only checks: c is left as it was and *price is what c's
// cheapest type would cost with p.
func (s *solver) tryClaim(p *podState, att *attempt, c *target, explain bool, price *float64) (bool, string) {
	fail := func(format string, args ...any) (bool, string) {
		if !explain {
			return false, ""
		}
		return false, fmt.Sprintf(format, args...)
	}
	if !fits(&c.used, &p.req, &c.maxAvail) {
		return fail("no instance type has room for %s", s.describeVec(&p.req))
	}
	if !explain { // new claims were checked against the pool already
		if !s.tolerates(p, c.pool.idx, c.pool) {
			return false, ""
		}
	}
	if !s.hostOK(p, att, c) {
		return fail("hostname topology spread or pod (anti-)affinity cannot be met on a new node")
	}
	if len(p.ports) > 0 && portsConflict(c.ports, p.ports) {
		return false, ""
	}
	if _, bad := c.reqs.Conflict(att.reqs, wellKnown); bad {
		return false, ""
	}
	reqs := c.reqs
	changed := !reqs.Subsumes(att.reqs)
	if changed {
		reqs = reqs.Intersect(att.reqs)
	}
	used := c.used
	used.add(&p.req)
	// Settle every pinned key on one allowed domain, best first.
	for _, pn := range att.pins {
		u := s.topo.universe[pn.key]
		r := reqs.Get(pn.key)
		if d, ok := s.settled(r); ok {
			if !pn.allowed.has(s.uidx[pn.key][d]) {
				return fail("topology: %s %s is not allowed", pn.key, d)
			}
			continue
		}
		found := false
		for _, i := range pn.order {
			if r != nil && !r.Has(u[i]) {
				continue
			}
			try := reqs.With(requirements.Single(pn.key, u[i]))
			if len(s.filter(c, &used, try, true)) > 0 {
				reqs, changed, found = try, true, true
				break
			}
		}
		if !found {
			return fail("topology: no allowed %s has an instance type that fits", pn.key)
		}
	}
	types := s.filter(c, &used, reqs, changed)
	if len(types) == 0 {
		return fail("no instance type meets %s with room for %s", reqs.String(), s.describeVec(&used))
	}
	if key, ok := minValuesShort(c.pool, types, reqs); !ok {
		return fail("fewer than minValues values of %s remain", key)
	}
	var reserve vec
	if c.pool.hasLimits {
		room := c.pool.limits
		room.sub(&c.pool.usage)
		room.add(&c.reserved)
		kept := types[:0]
		for _, i := range types {
			if lessEq(&c.pool.types[i].ti.capacity, &room) {
				kept = append(kept, i)
			}
		}
		if types = kept; len(types) == 0 {
			return fail("pool limits leave no room for an instance type that fits")
		}
		reserve = c.pool.types[types[0]].ti.capacity
	}

	if price != nil {
		*price = c.pool.types[types[0]].minPrice
		return true, ""
	}

	// Commit.
	var before []string
	for key := range s.topo.universe {
		if _, ok := s.domain(c, key); !ok {
			before = append(before, key)
		}
	}
	c.reqs = reqs
	c.types = append(c.types[:0], types...)
	c.used = used
	c.maxAvail = vec{}
	for _, i := range c.types {
		maxVec(&c.maxAvail, &c.pool.types[i].avail)
	}
	if c.pool.hasLimits {
		c.pool.usage.sub(&c.reserved)
		c.pool.usage.add(&reserve)
		c.reserved = reserve
	}
	// Pods already on c are counted in domains that just got settled.
	for _, key := range before {
		d, ok := s.domain(c, key)
		if !ok {
			continue
		}
		for _, q := range c.pods {
			for _, g := range q.matches {
				if grp := s.topo.groups[g]; grp.key == key {
					grp.counts[d]++
				}
			}
			for _, g := range q.owns {
				if grp := s.topo.groups[g]; grp.key == key {
					grp.owners[d]++
				}
			}
		}
	}
	c.pods = append(c.pods, p)
	s.record(p, c)
	return true, ""
}

func (s *solver) settled(r *requirements.Requirement) (string, bool) {
	if r == nil || r.AbsentOK() {
		return "", false
	}
	if v := r.Values(); len(v) == 1 {
		return v[0], true
	}
	return "", false
}

// filter returns c's types that fit used (and meet reqs when checkReqs),
// in s.scratch: valid until the next call.
func (s *solver) filter(c *target, used *vec, reqs requirements.Requirements, checkReqs bool) []int32 {
	out := s.scratch[:0]
	for _, i := range c.types {
		pt := &c.pool.types[i]
		if !lessEq(used, &pt.avail) {
			continue
		}
		if checkReqs && !typeAllows(pt.ti.it, reqs) {
			continue
		}
		out = append(out, i)
	}
	s.scratch = out
	return out
}

// minValuesShort checks every minValues of reqs against the types left.
func minValuesShort(ps *poolState, types []int32, reqs requirements.Requirements) (string, bool) {
	items := reqs.Items()
	for k := range items {
		r := &items[k]
		if r.MinValues == 0 {
			continue
		}
		seen := map[string]bool{}
		for _, i := range types {
			for _, v := range typeDomains(ps.types[i].ti.it, r.Key) {
				if r.Has(v) {
					seen[v] = true
				}
			}
		}
		if len(seen) < r.MinValues {
			return r.Key, false
		}
	}
	return "", true
}

func lessEq(a, b *vec) bool {
	for i := range a {
		if a[i] > b[i] {
			return false
		}
	}
	return true
}

// record counts p on t for every group it matches and every group of its
// required anti-affinity, and takes its host ports.
func (s *solver) record(p *podState, t *target) {
	for _, g := range p.matches {
		s.count(t, g, 1)
	}
	for _, g := range p.owns {
		s.own(t, g)
	}
	t.ports = append(t.ports, p.ports...)
	p.target = t
}

func (s *solver) describeVec(v *vec) string {
	rl := s.dims.list(v)
	names := make([]string, 0, len(rl))
	for n := range rl {
		names = append(names, string(n))
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		q := rl[corev1.ResourceName(n)]
		parts[i] = n + "=" + q.String()
	}
	return strings.Join(parts, ",")
}
