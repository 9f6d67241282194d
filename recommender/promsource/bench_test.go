package promsource

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// benchMatrix is a range-query result of n containers (10 per pod, cAdvisor's
// extra labels included) with points samples each, one per hour.
func benchMatrix(n, points int, value float64) model.Matrix {
	m := make(model.Matrix, n)
	for i := range m {
		s := &model.SampleStream{Metric: metric("ns", fmt.Sprintf("pod-%d", i/10), fmt.Sprintf("c%d", i%10),
			"instance", "10.0.0.1:10250", "id", fmt.Sprintf("/kubepods/burstable/pod%d/c%d", i/10, i%10), "image", "registry/app:v1")}
		s.Values = make([]model.SamplePair, points)
		for j := range s.Values {
			s.Values[j] = model.SamplePair{Timestamp: model.TimeFromUnix(t0.Unix() + 3600*int64(j)), Value: model.SampleValue(value + float64(j%7))}
		}
		m[i] = s
	}
	return m
}

// BenchmarkHistoryOf converts the CPU and memory matrices of 10k containers:
// one point (a single step), a day at 1h, and upstream's 8 days at 1h.
func BenchmarkHistoryOf(b *testing.B) {
	for _, points := range []int{1, 24, 192} {
		cpu, mem := benchMatrix(10_000, points, 0.25), benchMatrix(10_000, points, 200<<20)
		b.Run(fmt.Sprintf("10k_series_x_%d_points", points), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if s, d := HistoryOf(cpu, mem, labels); len(s) != 10_000 || d.Total() != 0 {
					b.Fatalf("%d series, dropped %+v", len(s), d)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(2*10_000*points), "ns/sample")
		})
	}
}

// BenchmarkLiveOf converts the live vectors of 10k containers to PodMetrics.
func BenchmarkLiveOf(b *testing.B) {
	vec := func(v float64) model.Vector {
		out := make(model.Vector, 0, 10_000)
		for _, s := range benchMatrix(10_000, 1, v) {
			out = append(out, &model.Sample{Metric: s.Metric, Value: s.Values[0].Value, Timestamp: s.Values[0].Timestamp})
		}
		return out
	}
	in := LiveVectors{CPU: vec(0.25), Memory: vec(200 << 20), SampleTime: vec(float64(t0.Unix()))}
	b.ReportAllocs()
	for b.Loop() {
		us, _ := LiveOf(in, labels, t0)
		if pms := PodMetricsOf(us, time.Minute); len(pms) != 1000 {
			b.Fatalf("%d pods", len(pms))
		}
	}
}
