package webhook

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	admissionDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "tailor_admission_duration_seconds",
		Help: "Time Tailor's admission handlers spend on one request, decoding to response.",
		// The handler works from caches: tens of microseconds is normal.
		Buckets: []float64{25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 50e-3},
	}, []string{"webhook"})
	admissionTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tailor_admission_total",
		Help: "Admission requests by webhook, outcome (mutated, unchanged, skipped, error, allowed, denied) and reason.",
	}, []string{"webhook", "outcome", "reason"})
	startupBoostPods = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tailor_startup_boost_pods_total",
		Help: "Pods of workloads with a startup boost at admission, by outcome: boosted, or born unboosted (quota, pod_limitrange, capped, nothing_to_boost).",
	}, []string{"outcome"})
)

func init() {
	ctrlmetrics.Registry.MustRegister(admissionDuration, admissionTotal, startupBoostPods)
}
