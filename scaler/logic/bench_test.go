package logic

import (
	"fmt"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
)

// BenchmarkDecide10k decides for 10,000 ReplicaAutoscalers in turn, each
// with 10 pods, a cpu utilisation metric and a Prometheus metric, behavior
// set and a history of recent recommendations; decisions/s is the number
// that matters (target: over 2,000/s).
func BenchmarkDecide10k(b *testing.B) {
	const n = 10000
	ins := make([]Input, n)
	for i := range ins {
		s := spec(1, 50, cpuUtil(50), promMetric(autoscalingv2.AverageValueMetricType, "100"))
		s.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{}
		ps := make([]Pod, 10)
		vals := MetricValues{Pods: map[string]Sample{}}
		for j := range ps {
			ps[j] = readyPod(fmt.Sprintf("ra%d-%d", i, j), 200)
			vals.Pods[ps[j].Name] = Sample{Value: int64(50 + (i*7+j*13)%300), Timestamp: t0, Window: 30 * time.Second}
		}
		var h History
		for k := 0; k < 20; k++ {
			h.Recommendations = append(h.Recommendations, Recommendation{Replicas: int32(8 + k%5), Time: t0.Add(-time.Duration(k*15) * time.Second)})
		}
		ins[i] = Input{Now: t0, Config: DefaultConfig(), Spec: s, SpecReplicas: 10, StatusReplicas: 10, Pods: ps,
			Metrics: []MetricValues{vals, {Value: int64(500000 + i)}}, History: h}
	}
	benchDecide(b, ins)
}

// BenchmarkPodFromCore measures the per-pod extraction the controller does.
func BenchmarkPodFromCore(b *testing.B) {
	p := &corev1.Pod{}
	p.Name = "php-apache-1"
	p.Spec.Containers = []corev1.Container{{Name: "php-apache"}}
	p.Status.Phase = corev1.PodRunning
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = PodFromCore(p)
	}
}

// BenchmarkDecidePredictive decides for 1,000 ReplicaAutoscalers with
// spec.policy Predictive in turn, each with 10 pods, a cpu utilisation
// metric and an hour of 15-second records (the error window): the
// forecast's pairwise slopes over 5 minutes and the margins' sort over the
// hour are its cost.
func BenchmarkDecidePredictive(b *testing.B) {
	const n = 1000
	ins := make([]Input, n)
	for i := range ins {
		s := spec(1, 50, cpuUtil(50))
		s.Policy = "Predictive"
		ps := make([]Pod, 10)
		vals := MetricValues{Pods: map[string]Sample{}}
		for j := range ps {
			ps[j] = readyPod(fmt.Sprintf("ra%d-%d", i, j), 1000)
			vals.Pods[ps[j].Name] = Sample{Value: int64(400 + (i*7+j*13)%200), Timestamp: t0.Add(-30 * time.Second), Window: 30 * time.Second}
		}
		var h History
		for k := 240; k > 0; k-- {
			d := 10 + float64((i+k)%7)/3
			h.Recommendations = append(h.Recommendations, Recommendation{Replicas: 11, Time: t0.Add(-time.Duration(k*15) * time.Second),
				Demand: d, Forecast: d * 1.02, Error: float64((i*k)%11-5) / 50, Current: 11})
		}
		ins[i] = Input{Now: t0, Config: DefaultConfig(), Spec: s, SpecReplicas: 11, StatusReplicas: 11, Pods: ps,
			Metrics: []MetricValues{vals}, History: h}
	}
	benchDecide(b, ins)
}

// benchDecide decides ins in turn, b.N decisions.
func benchDecide(b *testing.B, ins []Input) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d := Decide(ins[i%len(ins)])
		if d.Err != nil {
			b.Fatal(d.Err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
}
