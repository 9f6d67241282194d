package updater

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metrics, registered on controller-runtime's registry.
var (
	updatesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tailor_updater_updates_total",
		Help: "Pod updates attempted, by action (resize, evict) and result (ok; conflict and gone, retried next pass; rejected, a resize the API server refused; blocked, an eviction a PDB refused; error).",
	}, []string{"action", "result"})
	waitingPods = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tailor_updater_waiting_pods",
		Help: "Pods outside their recommendation's bounds left as they are in the last pass, by reason (cooldown, budget, resizing, min_replicas, no_recreate, rolling_out).",
	}, []string{"reason"})
	syncDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "tailor_updater_sync_duration_seconds",
		Help:    "Duration of one updater pass over every VPA.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
	})
	startupBoostResizes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tailor_startup_boost_resizes_total",
		Help: "Resizes of boosted pods back from their startup boost, by result (ok; conflict, retried; rejected by the API server; error).",
	}, []string{"result"})
	startupBoostCPUSeconds = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tailor_startup_boost_cpu_seconds_total",
		Help: "CPU-seconds of request granted by startup boosts: the extra CPU request of each boosted pod times the time from its creation to its resize back.",
	})
)

func init() {
	ctrlmetrics.Registry.MustRegister(updatesTotal, waitingPods, syncDuration, startupBoostResizes, startupBoostCPUSeconds)
}
