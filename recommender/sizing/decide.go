package sizing

import (
	"fmt"
	"math"
	"math/bits"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
)

// bound is a lower or upper limit in units; q is kept to reuse its spelling.
type bound struct {
	n  int64
	q  *resource.Quantity
	ok bool
}

// slot is one resource (cpu or memory) of one container.
type slot struct {
	active  bool // the VPA sizes this resource of this container
	target  int64
	targetQ *resource.Quantity // points at tq
	tq      resource.Quantity

	// Originals. A key that is present with value 0 counts as unset, as upstream.
	reqKey, limKey bool
	req, lim       int64
	reqQ, limQ     resource.Quantity
	origErr        error

	polMin, polMax bound

	newReq, newLim int64
	setLim         bool
	reasons        []string
	podWhy         string
}

func (s *slot) hasReq() bool { return s.reqKey && s.req > 0 }
func (s *slot) hasLim() bool { return s.limKey && s.lim > 0 }

// item is a container the decision considers: every regular container and
// every native sidecar. Regular init containers are never items.
type item struct {
	c       *corev1.Container
	index   int
	init    bool
	reqOnly bool
	slots   [numKinds]slot
}

type decider struct {
	pod       *corev1.Pod
	vpa       *vpav1.VerticalPodAutoscaler
	hold      []corev1.ResourceName
	lr        [numKinds]lrBounds // merged container-type LimitRange
	items     []item
	anyActive bool
	patchOnly bool // build no Decision.Changes
	inPlace   bool // write the new values into the pod's containers
}

// collect builds the items and reads every quantity the decision may need.
//
// Init containers: upstream v1.8.1 never touches any init container. Its
// admission controller patches spec.containers only, and its recommender drops
// init-container samples (restartable ones included), so its status never
// recommends them. We match that for regular init containers. A native sidecar
// (restartPolicy Always) runs beside the app like a regular container, so it
// is sized exactly like one when, and only when, the status holds a
// recommendation under its name; with an upstream recommender there is none
// and the result equals upstream's.
func (d *decider) collect() error {
	spec := &d.pod.Spec
	n := len(spec.Containers)
	for i := range spec.InitContainers {
		if isSidecar(&spec.InitContainers[i]) {
			n++
		}
	}
	if n > cap(d.items) {
		d.items = make([]item, 0, n)
	}
	for i := range spec.Containers {
		if err := d.add(&spec.Containers[i], i, false); err != nil {
			return err
		}
	}
	for i := range spec.InitContainers {
		if c := &spec.InitContainers[i]; isSidecar(c) {
			if err := d.add(c, i, true); err != nil {
				return err
			}
		}
	}
	return nil
}

func isSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

func (d *decider) add(c *corev1.Container, index int, init bool) error {
	d.items = append(d.items, item{c: c, index: index, init: init})
	it := &d.items[len(d.items)-1]
	pol := containerPolicy(d.vpa.Spec.ResourcePolicy, c.Name)
	var rec *vpav1.RecommendedContainerResources
	if pol == nil || pol.Mode == nil || *pol.Mode != vpav1.ContainerScalingModeOff {
		rec = recommendationFor(d.vpa.Status.Recommendation, c.Name)
	}
	if pol != nil && pol.ControlledValues != nil && *pol.ControlledValues != vpav1.ContainerControlledValuesRequestsAndLimits {
		// RequestsOnly, and any value the enum does not know: leave limits alone.
		it.reqOnly = true
	}
	for ki := range kinds {
		k := &kinds[ki]
		s := &it.slots[ki]
		if q, ok := c.Resources.Requests[k.name]; ok {
			s.reqKey, s.reqQ = true, q
			if s.req, s.origErr = k.units(q); s.origErr != nil {
				s.origErr = fmt.Errorf("container %q: request: %w", c.Name, s.origErr)
			}
		}
		if q, ok := c.Resources.Limits[k.name]; ok {
			s.limKey, s.limQ = true, q
			var err error
			if s.lim, err = k.units(q); err != nil && s.origErr == nil {
				s.origErr = fmt.Errorf("container %q: limit: %w", c.Name, err)
			} else if err == nil && s.lim > 0 && !k.exact(&q) {
				// units rounds up; a limit caps, so round it down: a request
				// in whole units then never exceeds it (1u of memory is 0
				// bytes, i.e. a zero limit).
				s.lim--
			}
		}
		if s.origErr != nil {
			// A value out of range cannot be carried through a patch unchanged
			// (nor compared): leave the whole pod as it is, even where this
			// resource itself would not change (a LimitRange default could
			// still rewrite the container).
			return fmt.Errorf("sizing: %w", s.origErr)
		}
		if rec == nil || !controlled(pol, k.name) || slices.Contains(d.hold, k.name) {
			continue
		}
		q, ok := rec.Target[k.name]
		if !ok {
			continue
		}
		t, err := k.units(q)
		if err != nil {
			return fmt.Errorf("sizing: vpa %s: container %q target: %w", d.vpa.Name, c.Name, err)
		}
		if t == 0 {
			continue // a zero target is no recommendation
		}
		if s.origErr != nil {
			return fmt.Errorf("sizing: %w", s.origErr)
		}
		if s.limKey && s.lim == 0 {
			continue // an explicit zero limit admits no positive request; leave it be
		}
		s.active, s.target = true, t
		// d.items never grows past the capacity collect gives it, so the
		// slot (and this pointer into it) stays put.
		s.tq = q
		s.targetQ = &s.tq
		if pol != nil {
			s.polMin = newBound(k, pol.MinAllowed)
			s.polMax = newBound(k, pol.MaxAllowed)
		}
		d.anyActive = true
	}
	return nil
}

func newBound(k *kind, l corev1.ResourceList) bound {
	q, ok := l[k.name]
	if !ok {
		return bound{}
	}
	n, ok := k.boundUnits(q)
	return bound{n: n, q: &q, ok: ok}
}

// containerPolicy returns the policy named after the container, else the "*" one.
func containerPolicy(p *vpav1.PodResourcePolicy, name string) *vpav1.ContainerResourcePolicy {
	if p == nil {
		return nil
	}
	var wildcard *vpav1.ContainerResourcePolicy
	for i := range p.ContainerPolicies {
		cp := &p.ContainerPolicies[i]
		if cp.ContainerName == name {
			return cp
		}
		if cp.ContainerName == vpav1.DefaultContainerResourcePolicy && wildcard == nil {
			wildcard = cp
		}
	}
	return wildcard
}

func recommendationFor(r *vpav1.RecommendedPodResources, name string) *vpav1.RecommendedContainerResources {
	for i := range r.ContainerRecommendations {
		if r.ContainerRecommendations[i].ContainerName == name {
			return &r.ContainerRecommendations[i]
		}
	}
	return nil
}

// controlled applies controlledResources; nil means cpu and memory.
func controlled(p *vpav1.ContainerResourcePolicy, name corev1.ResourceName) bool {
	if p == nil || p.ControlledResources == nil {
		return true
	}
	return slices.Contains(*p.ControlledResources, name)
}

func (d *decider) decideAll(it *item) {
	for ki := range it.slots {
		if s := &it.slots[ki]; s.active {
			d.decideSlot(it, ki, s.target)
		}
	}
}

// decideSlot turns the wanted request t into the new request and limit.
// Order: VPA policy, then container LimitRange (which wins, since breaking it
// gets the pod rejected), then the limit.
func (d *decider) decideSlot(it *item, ki int, t int64) {
	k, s, lr := &kinds[ki], &it.slots[ki], &d.lr[ki]
	s.reasons = s.reasons[:0]
	if s.polMin.ok && t < s.polMin.n {
		t = s.polMin.n
		s.reason(k, "capped to minAllowed")
	}
	if s.polMax.ok && t > s.polMax.n {
		t = s.polMax.n
		s.reason(k, "capped to maxAllowed")
	}

	// The original limit and request as upstream reads them: a missing limit
	// is the LimitRange default (LimitRanger would set it), a missing request
	// equals the limit (the API server would default it so).
	L, hasL, fromDefault := s.lim, s.hasLim(), false
	if !hasL && lr.def.ok {
		L, hasL, fromDefault = lr.def.n, true, true
	}
	R := L
	if s.hasReq() {
		R = s.req
	}

	lo, hi := int64(1), k.maxN
	loWhy, hiWhy := "", ""
	if lr.min.ok {
		lo, loWhy = lr.min.n, "raised to LimitRange min"
	}
	if lr.max.ok {
		hi, hiWhy = lr.max.n, "capped to LimitRange max"
	}
	switch {
	case it.reqOnly && hasL:
		// The limit stays, so the request must fit under it and within the ratio.
		if L < hi {
			hi, hiWhy = L, "capped to limit"
			if fromDefault {
				hiWhy = "capped to LimitRange default limit"
			}
		}
		if lr.ratio > 0 {
			if m, _ := mulDiv(L, 1000, lr.ratio, true); m > lo {
				lo, loWhy = m, "raised to LimitRange maxLimitRequestRatio"
			}
		}
	case !it.reqOnly && hasL && R != L:
		// The limit follows the request, so LimitRange bounds on the limit
		// bound the request too.
		if lr.min.ok {
			if m, _ := mulDiv(lr.min.n, R, L, true); m > lo {
				lo, loWhy = m, "raised to LimitRange min"
			}
		}
		if lr.max.ok {
			if m, _ := mulDiv(lr.max.n, R, L, false); m < hi {
				hi, hiWhy = m, "capped to LimitRange max"
			}
		}
	}
	if t < lo {
		t = lo
		if loWhy != "" {
			s.reason(k, loWhy)
		}
	}
	if t > hi {
		t = hi
		s.reason(k, hiWhy)
	}
	t = max(t, 1)
	s.newReq, s.newLim, s.setLim = t, 0, false
	if it.reqOnly || !hasL {
		return
	}

	// Keep the original limit/request ratio (upstream's proportional limit).
	l := t
	if R != L {
		var ok bool
		if l, ok = mulDiv(t, L, R, false); !ok || l > k.maxN {
			l = k.maxN
			s.reason(k, "limit capped, ratio not kept")
		}
	}
	if lr.ratio > 0 {
		if m, ok := mulDiv(t, lr.ratio, 1000, false); ok && l > m {
			l = m
			s.reason(k, "limit lowered to LimitRange maxLimitRequestRatio")
		}
	}
	if lr.max.ok && l > lr.max.n {
		l = lr.max.n
		s.reason(k, "limit capped to LimitRange max")
	}
	l = max(l, t) // requests never exceed limits
	if fromDefault {
		s.reason(k, "limit from LimitRange default")
	}
	s.newLim, s.setLim = l, true
}

func (s *slot) reason(k *kind, why string) {
	s.reasons = append(s.reasons, string(k.name)+" "+why)
}

// mulDiv returns a*b/c rounded down or up for non-negative a, b and positive
// c, and false when the result does not fit in int64.
func mulDiv(a, b, c int64, up bool) (int64, bool) {
	if a < 0 || b < 0 || c <= 0 {
		return 0, false
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi >= uint64(c) {
		return math.MaxInt64, false
	}
	q, r := bits.Div64(hi, lo, uint64(c))
	if up && r != 0 {
		q++
	}
	if q > math.MaxInt64 {
		return math.MaxInt64, false
	}
	return int64(q), true
}

// satAdd adds non-negative values, saturating at MaxInt64.
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
