package model

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
)

const (
	// maxDecayExponent: the reference timestamp moves forward once a sample
	// is more than this many half-lives after it, as upstream does, so that
	// weights (2^(age/halfLife)) never overflow.
	maxDecayExponent = 100
	// overflowGuard forces a reference shift if the total weight grows past
	// it (float32 bucket weights top out near 3.4e38).
	overflowGuard = 1e33
	// checkpointMaxWeight is the largest bucket weight written to a
	// checkpoint; the others are scaled to it (upstream MaxCheckpointWeight).
	checkpointMaxWeight = 10000
)

// bucket is one non-empty histogram bucket.
type bucket struct {
	idx uint16
	w   float32
}

// Histogram is a sparse decaying histogram: only non-empty buckets are
// stored, sorted by index, with float32 weights. Sample weights grow as
// 2^((t-ref)/halfLife), which is the same as decaying old samples relative
// to new ones; ref moves forward (rescaling every weight by a power of two)
// when the exponent would grow too large. Bucket layout and half-life are
// not stored: the owning state passes them in, so the zero Histogram is an
// empty one and costs 40 bytes plus 8 per non-empty bucket.
type Histogram struct {
	ref   int64 // reference timestamp, unix nanoseconds
	total float64
	b     []bucket
}

// Empty reports whether the histogram holds no weight.
func (h *Histogram) Empty() bool { return len(h.b) == 0 }

// TotalWeight is the sum of the (reference-relative) weights.
func (h *Histogram) TotalWeight() float64 { return h.total }

// Reference is the reference timestamp of the weights.
func (h *Histogram) Reference() time.Time { return time.Unix(0, h.ref).UTC() }

// NumBuckets is the number of non-empty buckets.
func (h *Histogram) NumBuckets() int { return len(h.b) }

func (h *Histogram) reset() { h.ref, h.total, h.b = 0, 0, h.b[:0] }

// decay returns 2^((ts-ref)/halfLife), first moving ref if ts is too far
// ahead of it (or the histogram is empty, or near overflow).
func (h *Histogram) decay(ts int64, hl time.Duration) float64 {
	if (len(h.b) == 0 && h.total == 0) || float64(ts-h.ref) > maxDecayExponent*float64(hl) || h.total > overflowGuard {
		h.shift(ts, hl)
	}
	return math.Exp2(float64(ts-h.ref) / float64(hl))
}

// shift moves the reference to ts rounded to the half-life and rescales the
// weights by the matching power of two.
func (h *Histogram) shift(ts int64, hl time.Duration) {
	nr := time.Unix(0, ts).UTC().Round(hl).UnixNano()
	if len(h.b) == 0 && h.total == 0 {
		h.ref = nr
		return
	}
	e := math.Floor(float64(h.ref-nr)/float64(hl) + 0.5)
	h.scale(math.Ldexp(1, int(e)))
	h.ref = nr
}

func (h *Histogram) scale(f float64) {
	out := h.b[:0]
	for _, e := range h.b {
		w := float64(e.w) * f
		if w >= Epsilon {
			out = append(out, bucket{e.idx, float32(w)})
		}
	}
	h.b = out
	h.total *= f
	if len(h.b) == 0 {
		h.total = 0
	}
}

func (h *Histogram) find(idx uint16) (int, bool) {
	return slices.BinarySearchFunc(h.b, idx, func(e bucket, t uint16) int { return cmp.Compare(e.idx, t) })
}

// add records value v with weight w at ts.
func (h *Histogram) add(bs *Buckets, hl time.Duration, v, w float64, ts int64) {
	if !(w > 0) || math.IsInf(w, 0) {
		return
	}
	w *= h.decay(ts, hl)
	idx := uint16(bs.Find(v))
	i, ok := h.find(idx)
	if ok {
		h.b[i].w = float32(float64(h.b[i].w) + w)
	} else {
		h.b = slices.Insert(h.b, i, bucket{idx, float32(w)})
	}
	h.total += w
}

// subtract removes weight w of value v at ts (weights falling under
// Epsilon drop to zero).
func (h *Histogram) subtract(bs *Buckets, hl time.Duration, v, w float64, ts int64) {
	if !(w > 0) || math.IsInf(w, 0) || h.Empty() {
		return
	}
	w *= h.decay(ts, hl)
	h.total -= w
	if h.total < Epsilon {
		h.total = 0
	}
	if i, ok := h.find(uint16(bs.Find(v))); ok {
		r := float64(h.b[i].w) - w
		if r < Epsilon {
			h.b = slices.Delete(h.b, i, i+1)
		} else {
			h.b[i].w = float32(r)
		}
	}
	if len(h.b) == 0 {
		h.total = 0
	}
}

// Percentile returns an approximation of the p-th percentile (0..1): the
// end of the first bucket at which the cumulative weight reaches p of the
// total (the start of the last bucket if that is the one). 0 when empty.
func (h *Histogram) Percentile(bs *Buckets, p float64) float64 {
	if len(h.b) == 0 {
		return 0
	}
	th := p * h.total
	idx := int(h.b[len(h.b)-1].idx)
	sum := 0.0
	for _, e := range h.b {
		sum += float64(e.w)
		if sum >= th {
			idx = int(e.idx)
			break
		}
	}
	if idx < bs.Len()-1 {
		return bs.Start(idx + 1)
	}
	return bs.Start(idx)
}

// checkpoint exports the histogram in upstream's format: bucket weights
// scaled so the largest is checkpointMaxWeight, plus the total weight.
func (h *Histogram) checkpoint() vpav1.HistogramCheckpoint {
	cp := vpav1.HistogramCheckpoint{BucketWeights: make(map[int]uint32, len(h.b))}
	if len(h.b) == 0 {
		return cp
	}
	cp.TotalWeight = h.total
	cp.ReferenceTimestamp = metav1.NewTime(h.Reference())
	var top float32
	for _, e := range h.b {
		if e.w > top {
			top = e.w
		}
	}
	r := checkpointMaxWeight / float64(top)
	for _, e := range h.b {
		if w := uint32(math.Floor(float64(e.w)*r + 0.5)); w > 0 {
			cp.BucketWeights[int(e.idx)] = w
		}
	}
	return cp
}

// restore replaces the histogram with a checkpoint's contents.
func (h *Histogram) restore(bs *Buckets, cp *vpav1.HistogramCheckpoint) error {
	if cp == nil {
		return fmt.Errorf("nil histogram checkpoint")
	}
	if !(cp.TotalWeight >= 0) || math.IsInf(cp.TotalWeight, 0) {
		return fmt.Errorf("invalid checkpoint total weight %v", cp.TotalWeight)
	}
	var sum uint64
	for i, w := range cp.BucketWeights {
		if i < 0 || i >= bs.Len() {
			return fmt.Errorf("checkpoint bucket %d outside [0, %d)", i, bs.Len())
		}
		sum += uint64(w)
	}
	ref, ok := unixNano(cp.ReferenceTimestamp.Time)
	if !ok && !cp.ReferenceTimestamp.IsZero() {
		return fmt.Errorf("checkpoint reference timestamp %v out of range", cp.ReferenceTimestamp.Time)
	}
	h.reset()
	if sum == 0 || cp.TotalWeight == 0 {
		return nil
	}
	h.ref = ref
	r := cp.TotalWeight / float64(sum)
	h.b = slices.Grow(h.b, len(cp.BucketWeights))
	for i, w := range cp.BucketWeights {
		if v := float64(w) * r; w > 0 && v >= Epsilon {
			h.b = append(h.b, bucket{uint16(i), float32(v)})
		}
	}
	slices.SortFunc(h.b, func(a, b bucket) int { return cmp.Compare(a.idx, b.idx) })
	h.total = cp.TotalWeight
	if len(h.b) == 0 {
		h.total = 0
	}
	h.b = slices.Clip(h.b)
	return nil
}

// Timestamps are kept as unix nanoseconds; anything outside
// [1970, 2200) is rejected so differences never overflow.
var maxTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)

func unixNano(t time.Time) (int64, bool) {
	if t.Before(time.Unix(0, 0)) || !t.Before(maxTime) {
		return 0, false
	}
	return t.UnixNano(), true
}
