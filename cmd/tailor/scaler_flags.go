package main

import (
	"github.com/spf13/pflag"

	scaler "github.com/tailor-dev/tailor/scaler/controller"
)

// scalerFlags binds the scaler's settings; the defaults and meanings are
// kube-controller-manager's --horizontal-pod-autoscaler-* flags.
func scalerFlags(f *pflag.FlagSet, o *scaler.Options) {
	*o = scaler.DefaultOptions()
	f.DurationVar(&o.Interval, "scaler-interval", o.Interval, "How often every ReplicaAutoscaler is reconciled (the HPA's sync period).")
	f.Float64Var(&o.Logic.Tolerance, "scaler-tolerance", o.Logic.Tolerance, "Usage ratio band around 1 within which replicas are left alone (a behavior's tolerance overrides it).")
	f.DurationVar(&o.Logic.CPUInitializationPeriod, "scaler-cpu-initialization-period", o.Logic.CPUInitializationPeriod, "How long after a pod starts its CPU samples are distrusted unless it is ready and a full sample window has passed since.")
	f.DurationVar(&o.Logic.InitialReadinessDelay, "scaler-initial-readiness-delay", o.Logic.InitialReadinessDelay, "How long after start an unready pod still counts as never having been ready.")
	f.BoolVar(&o.PrometheusClusterQueries, "scaler-prometheus-cluster-queries", o.PrometheusClusterQueries, "Let ReplicaAutoscalers' Prometheus queries read every namespace's series; by default each series selector is confined to the object's namespace (the --prometheus-namespace-label matcher is added, a selector naming another namespace is refused).")
	f.IntVar(&o.PrometheusConcurrency, "scaler-prometheus-concurrency", o.PrometheusConcurrency, "Prometheus queries in flight at once in one scaler pass; all of a pass's queries share the pass's time (--scaler-interval).")
	f.DurationVar(&o.Logic.DownscaleStabilizationWindow, "scaler-downscale-stabilization", o.Logic.DownscaleStabilizationWindow, "Scale-down stabilisation window of ReplicaAutoscalers whose behavior does not set one.")
}
