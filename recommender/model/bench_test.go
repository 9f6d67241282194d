package model_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/tailor-dev/tailor/recommender/model"
)

var t0 = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

// fill feeds one container realistic usage: a per-container base CPU
// (10m..4 cores) with log-normal noise and occasional spikes, and memory
// (20Mi..4Gi) drifting slowly, every step for span.
func fill(c *model.Container, r *rand.Rand, span, step time.Duration) {
	baseCPU := 10 * math.Pow(400, r.Float64())
	baseMem := 20 * (1 << 20) * math.Pow(200, r.Float64())
	for e := time.Duration(0); e < span; e += step {
		ts := t0.Add(e)
		cpu := baseCPU * math.Exp(0.4*r.NormFloat64())
		if r.Float64() < 0.02 {
			cpu *= 4
		}
		c.AddCPU(ts, int64(cpu), int64(baseCPU))
		c.AddMemory(ts, int64(baseMem*(1+0.1*r.Float64()+0.2*float64(e)/float64(span))))
	}
}

// BenchmarkHeapPerContainer measures the live heap of 100k tracked
// containers (keyed aggregate + pod container state) after 8 days of
// samples every 30 minutes.
func BenchmarkHeapPerContainer(b *testing.B) {
	const n = 100_000
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := model.NewSet(model.DefaultParams())
		conts := make([]*model.Container, n)
		r := rand.New(rand.NewPCG(3, 4))
		buckets := 0
		for i := range n {
			k := model.Key{Namespace: fmt.Sprintf("ns-%d", i/50), VPA: fmt.Sprintf("vpa-%d", i), Container: "app"}
			a := s.GetOrCreate(k, t0)
			conts[i] = model.NewContainer(a)
			fill(conts[i], r, 8*24*time.Hour, 30*time.Minute)
			buckets += a.CPU.NumBuckets() + a.Memory.NumBuckets()
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/container")
		b.ReportMetric(float64(buckets)/n, "buckets/container")
		runtime.KeepAlive(s)
		runtime.KeepAlive(conts)
	}
}

// BenchmarkIngest measures samples taken in per second, round-robin over
// 10k containers (one CPU and one memory sample per op counts as 2).
func BenchmarkIngest(b *testing.B) {
	const n = 10_000
	p := model.DefaultParams()
	conts := make([]*model.Container, n)
	r := rand.New(rand.NewPCG(5, 6))
	for i := range conts {
		conts[i] = model.NewContainer(model.NewAggregate(p, t0))
		fill(conts[i], r, 24*time.Hour, time.Hour)
	}
	vals := make([]int64, 1024)
	for i := range vals {
		vals[i] = int64(200 * math.Exp(0.4*r.NormFloat64()))
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	ts := t0.Add(24 * time.Hour)
	for i := range b.N {
		if i%n == 0 {
			ts = ts.Add(time.Minute)
		}
		c := conts[i%n]
		v := vals[i%len(vals)]
		c.AddCPU(ts, v, 200)
		c.AddMemory(ts, v<<20)
	}
	b.ReportMetric(float64(2*b.N)/time.Since(start).Seconds(), "samples/s")
}
