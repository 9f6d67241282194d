package sizing

import (
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Gap is a resource of a container whose request lies outside the
// recommendation's [lowerBound, upperBound].
type Gap struct {
	Container string
	Init      bool
	Resource  corev1.ResourceName
	// Request is the container's request (zero when it has none); Lower and
	// Upper are the bounds after the policy's minAllowed/maxAllowed, Lower
	// zero and Upper nil when the recommendation has no such bound.
	Request resource.Quantity
	Lower   resource.Quantity
	Upper   *resource.Quantity
	// Target is the plain recommendation target.
	Target resource.Quantity
	// Distance is how far the request is from the target, relative to the
	// target (0.5 = 50% off), to rank pods: the farthest is updated first.
	Distance float64
}

func (g Gap) String() string {
	if g.Request.Cmp(g.Lower) < 0 {
		return fmt.Sprintf("%s %s request %s below lowerBound %s", g.Container, g.Resource, g.Request.String(), g.Lower.String())
	}
	return fmt.Sprintf("%s %s request %s above upperBound %s", g.Container, g.Resource, g.Request.String(), g.Upper.String())
}

// OutsideBounds lists the resources of in.Pod's containers that the VPA
// controls (the same containers, resources, policy and holds as Decide) and
// whose request falls outside the recommendation's bounds. Like upstream's
// updater, the bounds are first capped to minAllowed/maxAllowed, so a pod
// at maxAllowed is not chased towards a higher upper bound. The caller
// passes the pod with its current requests (for a running pod, those the
// kubelet reports). LimitRanges do not enter: what they cap, Decide caps.
//
// A nil VPA, a mode Decide skips, or no recommendation give no gaps; bad
// quantities give an error.
func OutsideBounds(in Input) ([]Gap, error) {
	if in.Pod == nil {
		return nil, errors.New("sizing: nil pod")
	}
	vpa := in.VPA
	if vpa == nil || modeSkip(vpa) != "" {
		return nil, nil
	}
	rec := vpa.Status.Recommendation
	if rec == nil || len(rec.ContainerRecommendations) == 0 {
		return nil, nil
	}
	d := decider{pod: in.Pod, vpa: vpa, hold: in.Hold, patchOnly: true}
	if err := d.collect(); err != nil {
		return nil, err
	}
	var gaps []Gap
	for i := range d.items {
		it := &d.items[i]
		cr := recommendationFor(rec, it.c.Name)
		for ki := range it.slots {
			s := &it.slots[ki]
			if !s.active {
				continue
			}
			k := &kinds[ki]
			lo, err := boundOf(k, cr.LowerBound, s)
			if err != nil {
				return nil, fmt.Errorf("sizing: vpa %s: container %q lowerBound: %w", vpa.Name, it.c.Name, err)
			}
			hi, err := boundOf(k, cr.UpperBound, s)
			if err != nil {
				return nil, fmt.Errorf("sizing: vpa %s: container %q upperBound: %w", vpa.Name, it.c.Name, err)
			}
			req := int64(0)
			if s.hasReq() {
				req = s.req
			}
			below := lo.ok && req < lo.n
			above := hi.ok && req > hi.n
			if !below && !above {
				continue
			}
			g := Gap{Container: it.c.Name, Init: it.init, Resource: k.name, Target: s.tq}
			if s.hasReq() {
				g.Request = s.reqQ
			}
			if lo.ok {
				g.Lower = k.quantity(lo.n, lo.q)
			}
			if hi.ok {
				u := k.quantity(hi.n, hi.q)
				g.Upper = &u
			}
			g.Distance = float64(req-s.target) / float64(s.target)
			if g.Distance < 0 {
				g.Distance = -g.Distance
			}
			gaps = append(gaps, g)
		}
	}
	return gaps, nil
}

// boundOf reads one bound of the recommendation and caps it to the policy,
// as upstream caps target and bounds alike.
func boundOf(k *kind, l corev1.ResourceList, s *slot) (bound, error) {
	q, ok := l[k.name]
	if !ok {
		return bound{}, nil
	}
	n, err := k.units(q)
	if err != nil || n == 0 {
		return bound{}, err // a zero bound is no bound, as a zero target is no target
	}
	b := bound{n: n, q: &q, ok: true}
	if s.polMin.ok && b.n < s.polMin.n {
		b = s.polMin
	}
	if s.polMax.ok && b.n > s.polMax.n {
		b = s.polMax
	}
	return b, nil
}
