package main

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	buildInfoGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tailor_build_info",
		Help: "Always 1; labels carry the running build.",
	}, []string{"version", "commit", "go_version"})
	leaderGauge = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "tailor_leader",
		Help: "1 on the replica that holds the leader lease and runs the background loops, else 0.",
	})
)

func init() {
	ctrlmetrics.Registry.MustRegister(buildInfoGauge, leaderGauge)
}

func recordBuildInfo(version, commit, goVersion string) {
	buildInfoGauge.WithLabelValues(version, commit, goVersion).Set(1)
}
