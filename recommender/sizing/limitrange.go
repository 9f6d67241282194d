package sizing

import (
	"fmt"
	"math/bits"

	corev1 "k8s.io/api/core/v1"
)

// lrBounds is the effect of all LimitRange items of one type on one resource.
type lrBounds struct {
	min, max, def bound
	ratio         int64 // maxLimitRequestRatio in thousandths; 0 = none
}

// mergeLimitRanges folds the items of type typ the way LimitRanger enforces
// them all at once: the highest min, the lowest max and ratio. Upstream lets
// the last default win, which depends on cache order; we take the lowest so
// the result does not. Only cpu and memory are read.
func mergeLimitRanges(lrs []corev1.LimitRange, typ corev1.LimitType) ([numKinds]lrBounds, bool) {
	var out [numKinds]lrBounds
	found := false
	for i := range lrs {
		for j := range lrs[i].Spec.Limits {
			it := &lrs[i].Spec.Limits[j]
			if it.Type != typ {
				continue
			}
			for ki := range kinds {
				k, b := &kinds[ki], &out[ki]
				if v := newBound(k, it.Min); v.ok && (!b.min.ok || v.n > b.min.n) {
					b.min, found = v, true
				}
				if v := newBound(k, it.Max); v.ok && (!b.max.ok || v.n < b.max.n) {
					b.max, found = v, true
				}
				if v := newBound(k, it.Default); v.ok && (!b.def.ok || v.n < b.def.n) {
					b.def, found = v, true
				}
				if q, ok := it.MaxLimitRequestRatio[k.name]; ok {
					// Ratios below 1 are invalid LimitRanges; ignore them.
					if !InRange(&q) || q.Cmp(k.max) > 0 {
						continue
					}
					if r := q.MilliValue(); r >= 1000 && (b.ratio == 0 || r < b.ratio) {
						b.ratio, found = r, true
					}
				}
			}
		}
	}
	return out, found
}

// podSums returns the pod totals of one resource over the items, split into
// the part the VPA sizes (variable) and the part it does not (fixed).
// Limits missing on a container count as the container LimitRange default.
func (d *decider) podSums(ki int) (fixReq, fixLim, varReq, varLim int64, err error) {
	def := d.lr[ki].def
	for i := range d.items {
		it := &d.items[i]
		s := &it.slots[ki]
		lim := int64(0)
		switch {
		case s.hasLim():
			lim = s.lim
		case def.ok:
			lim = def.n
		}
		if s.active {
			varReq = satAdd(varReq, s.newReq)
			if s.setLim {
				varLim = satAdd(varLim, s.newLim)
			} else if it.reqOnly {
				fixLim = satAdd(fixLim, lim)
			}
			continue
		}
		if s.origErr != nil {
			return 0, 0, 0, 0, fmt.Errorf("sizing: %w", s.origErr)
		}
		req := s.req
		if !s.hasReq() {
			req = s.lim // the API server defaults a missing request to the limit
		}
		fixReq = satAdd(fixReq, req)
		fixLim = satAdd(fixLim, lim)
	}
	return fixReq, fixLim, varReq, varLim, nil
}

// applyPodLimitRange scales the sized containers of one resource together so
// that the pod totals fit a Pod-type LimitRange, as upstream's
// applyPodLimitRange does; unsized containers keep their values. Limits scale
// with their requests. When the fixed part alone breaks a bound there is
// nothing to scale and the API server will reject the pod anyway.
func (d *decider) applyPodLimitRange(ki int, b *lrBounds) error {
	if !b.min.ok && !b.max.ok {
		return nil
	}
	fr, fl, vr, vl, err := d.podSums(ki)
	if err != nil {
		return err
	}
	if vr == 0 {
		return nil
	}
	if b.min.ok {
		// Grow by the larger of the factors that lift requests and limits to min.
		num, den := int64(0), int64(1)
		if fr < b.min.n && satAdd(fr, vr) < b.min.n {
			num, den = b.min.n-fr, vr
		}
		if vl > 0 && fl < b.min.n && satAdd(fl, vl) < b.min.n && cmpFrac(b.min.n-fl, vl, num, den) > 0 {
			num, den = b.min.n-fl, vl
		}
		if num > 0 {
			d.scale(ki, num, den, true, "scaled up to pod LimitRange min")
			if fr, fl, vr, vl, err = d.podSums(ki); err != nil {
				return err
			}
		}
	}
	if b.max.ok {
		// Shrink by the smaller of the factors that bring requests and limits under max.
		num, den := int64(1), int64(1)
		if satAdd(fr, vr) > b.max.n && fr < b.max.n {
			num, den = b.max.n-fr, vr
		}
		if vl > 0 && satAdd(fl, vl) > b.max.n && fl < b.max.n && cmpFrac(b.max.n-fl, vl, num, den) < 0 {
			num, den = b.max.n-fl, vl
		}
		if num < den {
			d.scale(ki, num, den, false, "scaled down to pod LimitRange max")
		}
	}
	return nil
}

// scale multiplies every sized request of one resource by num/den and
// re-derives it, so policy and container LimitRange still apply.
func (d *decider) scale(ki int, num, den int64, up bool, why string) {
	for i := range d.items {
		it := &d.items[i]
		s := &it.slots[ki]
		if !s.active {
			continue
		}
		t, ok := mulDiv(s.newReq, num, den, up)
		if !ok {
			t = kinds[ki].maxN
		}
		d.decideSlot(it, ki, t)
		s.podWhy = string(kinds[ki].name) + " " + why
	}
}

// cmpFrac compares a/b with c/d for non-negative numerators and positive denominators.
func cmpFrac(a, b, c, d int64) int {
	h1, l1 := bits.Mul64(uint64(a), uint64(d))
	h2, l2 := bits.Mul64(uint64(c), uint64(b))
	switch {
	case h1 != h2:
		if h1 < h2 {
			return -1
		}
		return 1
	case l1 < l2:
		return -1
	case l1 > l2:
		return 1
	}
	return 0
}
