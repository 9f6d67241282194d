package model

import (
	"math"
	"testing"
	"time"
)

func TestBucketsFindAndStart(t *testing.T) {
	b, err := NewBuckets(1000, 0.01, 1.05)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []float64{0, 0.005, 0.01, 0.5, 1, 7.3, 999} {
		i := b.Find(v)
		if lo := b.Start(i); lo > v {
			t.Errorf("Find(%v) = %d starting at %v, above the value", v, i, lo)
		}
		if i < b.Len()-1 {
			if hi := b.Start(i + 1); hi <= v {
				t.Errorf("Find(%v) = %d ending at %v, not past the value", v, i, hi)
			}
		}
	}
	if got := b.Find(math.NaN()); got != 0 {
		t.Errorf("Find(NaN) = %d, want 0", got)
	}
	if got := b.Find(1e9); got != b.Len()-1 {
		t.Errorf("Find(1e9) = %d, want the last bucket %d", got, b.Len()-1)
	}
	if _, err := NewBuckets(0, 0.01, 1.05); err == nil {
		t.Error("max 0 accepted")
	}
}

func TestHistogramPercentileAndDecay(t *testing.T) {
	b, _ := NewBuckets(1000, 0.01, 1.05)
	hl := 24 * time.Hour
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	var h Histogram
	// 90 samples at 0.1 cores and 10 at 1 core, all at t0.
	for i := 0; i < 90; i++ {
		h.add(&b, hl, 0.1, 1, t0)
	}
	for i := 0; i < 10; i++ {
		h.add(&b, hl, 1, 1, t0)
	}
	// A percentile is the end of the bucket holding the value.
	near := func(got, want float64) bool { return got == b.Start(b.Find(want)+1) }
	if p50 := h.Percentile(&b, 0.5); !near(p50, 0.1) {
		t.Errorf("p50 = %v, want just above 0.1", p50)
	}
	if p95 := h.Percentile(&b, 0.95); !near(p95, 1) {
		t.Errorf("p95 = %v, want just above 1", p95)
	}
	// A sample one half-life later weighs twice as much as one at t0.
	var d Histogram
	d.add(&b, hl, 0.1, 1, t0)
	d.add(&b, hl, 1, 1, t0+int64(hl))
	if p := d.Percentile(&b, 0.4); !near(p, 1) {
		t.Errorf("after a half-life the newer sample should hold 2/3 of the weight; p40 = %v", p)
	}
	if p := d.Percentile(&b, 0.3); !near(p, 0.1) {
		t.Errorf("p30 = %v, want the older sample's bucket", p)
	}
	// Subtracting what was added empties the histogram.
	var s Histogram
	s.add(&b, hl, 0.5, 1, t0)
	s.subtract(&b, hl, 0.5, 1, t0)
	if !s.Empty() || s.TotalWeight() != 0 {
		t.Errorf("after subtract: empty %v total %v", s.Empty(), s.TotalWeight())
	}
	// Non-positive, NaN and infinite weights are ignored.
	var z Histogram
	for _, w := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		z.add(&b, hl, 0.5, w, t0)
	}
	if !z.Empty() {
		t.Error("bad weights were recorded")
	}
}
