package controller

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metrics, registered on controller-runtime's registry.
var (
	reconcilesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tailor_scaler_reconciles_total",
		Help: "ReplicaAutoscaler reconciles by result: ok, or the reason the replica count could not be decided or set.",
	}, []string{"result"})
	rescalesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tailor_scaler_rescales_total",
		Help: "Scale subresource updates by direction (up, down).",
	}, []string{"direction"})
	desiredReplicas = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tailor_scaler_desired_replicas",
		Help: "Replica count last decided for each ReplicaAutoscaler.",
	}, []string{"namespace", "name"})
	syncDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "tailor_scaler_sync_duration_seconds",
		Help:    "Duration of one scaler pass over every ReplicaAutoscaler.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
	})
)

func init() {
	ctrlmetrics.Registry.MustRegister(reconcilesTotal, rescalesTotal, desiredReplicas, syncDuration)
}
