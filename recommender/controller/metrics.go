package controller

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metrics, registered on controller-runtime's registry.
var (
	recommendationsTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tailor_recommender_recommendations_total",
		Help: "Recommendations computed (one per VPA per sync pass that has samples).",
	})
	samplesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tailor_recommender_samples_total",
		Help: "Usage samples taken into the histograms, by resource (cpu, memory, oom).",
	}, []string{"resource"})
	checkpointOpsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tailor_recommender_checkpoint_operations_total",
		Help: "VerticalPodAutoscalerCheckpoint operations by op (write, restore, restore_adaptive, delete) and result (ok, error, invalid).",
	}, []string{"op", "result"})
	sourceErrorsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tailor_recommender_source_errors_total",
		Help: "Failed reads of an input source (metrics.k8s.io, kube-apiserver) and dropped invalid samples (invalid_sample).",
	}, []string{"source"})
	samplesExcludedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tailor_recommender_samples_excluded_total",
		Help: "Usage values left out of the histograms on purpose, by reason (startup_boost: CPU of a pod during its startup boost).",
	}, []string{"reason"})
	adaptiveWindowHours = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "tailor_recommender_adaptive_window_hours",
		Help:    "Look-back (hours) of the forecast the adaptive policy chose, per container recommendation and resource.",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 168},
	}, []string{"resource"})
	syncDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "tailor_recommender_sync_duration_seconds",
		Help:    "Duration of one recommender pass over every VPA.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
	})
)

func init() {
	ctrlmetrics.Registry.MustRegister(recommendationsTotal, samplesTotal, samplesExcludedTotal, checkpointOpsTotal, sourceErrorsTotal, syncDuration, adaptiveWindowHours)
}
