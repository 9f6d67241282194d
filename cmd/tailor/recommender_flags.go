package main

import (
	"github.com/spf13/pflag"

	recommender "github.com/tailor-dev/tailor/recommender/controller"
	"github.com/tailor-dev/tailor/recommender/logic"
	"github.com/tailor-dev/tailor/recommender/model"
	"github.com/tailor-dev/tailor/recommender/promsource"
)

// recommenderFlags binds the recommender's settings. The model and logic
// defaults are upstream VPA's (model.Default, logic.Default); the names are
// upstream's vpa-recommender flags with a recommender- prefix.
func recommenderFlags(f *pflag.FlagSet, o *recommender.Options) {
	m, l := model.Default(), logic.Default()
	o.Model, o.Logic = &m, &l
	f.DurationVar(&o.Interval, "recommender-interval", o.Interval, "How often the recommender reads usage and writes VPA recommendations (upstream's default 1m).")
	f.BoolVar(&o.HandleUnnamed, "recommender-handle-unnamed", o.HandleUnnamed, "Also recommend for VPAs whose spec.recommenders names no recommender (besides those naming \""+recommender.Name+"\").")
	f.StringVar(&o.UsageSource, "recommender-usage-source", recommender.SourceMetricsAPI, "Where live usage is read: "+recommender.SourceMetricsAPI+" (metrics-server) or "+recommender.SourcePrometheus+" (needs --prometheus-address).")
	f.DurationVar(&o.CheckpointInterval, "recommender-checkpoint-interval", o.CheckpointInterval, "How often each container's history is written to its VerticalPodAutoscalerCheckpoint (and stale checkpoints collected); all history is written at shutdown.")

	f.DurationVar(&m.CPUHalfLife, "recommender-cpu-histogram-decay-half-life", m.CPUHalfLife, "Age at which a CPU usage sample weighs half as much as a fresh one.")
	f.DurationVar(&m.MemoryHalfLife, "recommender-memory-histogram-decay-half-life", m.MemoryHalfLife, "Age at which a memory peak weighs half as much as a fresh one.")
	f.DurationVar(&m.MemoryAggregationInterval, "recommender-memory-aggregation-interval", m.MemoryAggregationInterval, "Length of one memory peak interval: one memory sample (the peak) per container per interval.")
	f.Int64Var(&m.MemoryAggregationIntervalCount, "recommender-memory-aggregation-interval-count", m.MemoryAggregationIntervalCount, "Memory intervals kept: a container's history without samples for this many intervals is dropped.")
	f.Float64Var(&m.OOMBumpUpRatio, "recommender-oom-bump-up-ratio", m.OOMBumpUpRatio, "After an OOM kill, memory is recorded as at least the memory request times this ratio.")
	f.Float64Var(&m.OOMMinBumpUpBytes, "recommender-oom-min-bump-up-bytes", m.OOMMinBumpUpBytes, "After an OOM kill, memory is recorded as at least the memory request plus this many bytes.")
	f.BoolVar(&m.CPUWeightByRequest, "recommender-cpu-weight-by-request", m.CPUWeightByRequest, "Weight each CPU sample by the container's CPU request, as upstream did before v1.0 (upstream v1.8 weighs samples equally).")

	f.Float64Var(&l.SafetyMarginFraction, "recommender-recommendation-margin-fraction", l.SafetyMarginFraction, "Fraction added on top of every estimate (0.15 = +15%).")
	f.Float64Var(&l.PodMinCPUMillicores, "recommender-pod-recommendation-min-cpu-millicores", l.PodMinCPUMillicores, "Smallest CPU recommendation for a whole pod, split across its containers.")
	f.Float64Var(&l.PodMinMemoryMb, "recommender-pod-recommendation-min-memory-mb", l.PodMinMemoryMb, "Smallest memory recommendation for a whole pod in MiB, split across its containers.")
	f.Float64Var(&l.TargetCPUPercentile, "recommender-target-cpu-percentile", l.TargetCPUPercentile, "CPU usage percentile (0..1) behind the target.")
	f.Float64Var(&l.LowerBoundCPUPercentile, "recommender-recommendation-lower-bound-cpu-percentile", l.LowerBoundCPUPercentile, "CPU usage percentile (0..1) behind the lower bound.")
	f.Float64Var(&l.UpperBoundCPUPercentile, "recommender-recommendation-upper-bound-cpu-percentile", l.UpperBoundCPUPercentile, "CPU usage percentile (0..1) behind the upper bound.")
	f.Float64Var(&l.TargetMemoryPercentile, "recommender-target-memory-percentile", l.TargetMemoryPercentile, "Memory peak percentile (0..1) behind the target.")
	f.Float64Var(&l.LowerBoundMemoryPercentile, "recommender-recommendation-lower-bound-memory-percentile", l.LowerBoundMemoryPercentile, "Memory peak percentile (0..1) behind the lower bound.")
	f.Float64Var(&l.UpperBoundMemoryPercentile, "recommender-recommendation-upper-bound-memory-percentile", l.UpperBoundMemoryPercentile, "Memory peak percentile (0..1) behind the upper bound.")
	f.DurationVar(&l.ConfidenceIntervalCPU, "recommender-confidence-interval-cpu", l.ConfidenceIntervalCPU, "CPU history length at which the bounds stop widening for lack of data (and LowConfidence clears).")
	f.DurationVar(&l.ConfidenceIntervalMemory, "recommender-confidence-interval-memory", l.ConfidenceIntervalMemory, "Memory history length at which the bounds stop widening for lack of data (and LowConfidence clears).")
	f.Int64Var(&l.RoundCPUMillicores, "recommender-round-cpu-millicores", l.RoundCPUMillicores, "Round CPU recommendations up to a multiple of this many millicores (1: no rounding).")
	f.Int64Var(&l.RoundMemoryBytes, "recommender-round-memory-bytes", l.RoundMemoryBytes, "Round memory recommendations up to a multiple of this many bytes (1: no rounding).")
}

// prometheusFlags binds the Prometheus connection and series layout (the
// recommender's history and optional live source), and the history
// bootstrap settings. The source is used when --prometheus-address is set.
func prometheusFlags(f *pflag.FlagSet, c *promsource.Config) {
	*c = promsource.DefaultConfig()
	f.StringVar(&c.Address, "prometheus-address", "", "Base URL of the Prometheus HTTP API (e.g. http://prometheus.monitoring.svc:9090); empty: no Prometheus.")
	f.DurationVar(&c.Timeout, "prometheus-timeout", c.Timeout, "Timeout of each Prometheus query (client and server side).")
	f.StringVar(&c.CPUMetric, "prometheus-cpu-metric", c.CPUMetric, "Cumulative CPU-seconds counter per container (cAdvisor).")
	f.StringVar(&c.MemoryMetric, "prometheus-memory-metric", c.MemoryMetric, "Memory working-set gauge per container in bytes (cAdvisor).")
	f.StringVar(&c.ThrottledPeriodsMetric, "prometheus-cpu-throttled-periods-metric", c.ThrottledPeriodsMetric, "CFS throttled-periods counter per container (cAdvisor); empty with --prometheus-cpu-periods-metric turns throttling off.")
	f.StringVar(&c.PeriodsMetric, "prometheus-cpu-periods-metric", c.PeriodsMetric, "CFS periods counter per container (cAdvisor).")
	f.StringVar(&c.NamespaceLabel, "prometheus-namespace-label", c.NamespaceLabel, "Label holding a series' namespace.")
	f.StringVar(&c.PodLabel, "prometheus-pod-label", c.PodLabel, "Label holding a series' pod name.")
	f.StringVar(&c.ContainerLabel, "prometheus-container-label", c.ContainerLabel, "Label holding a series' container name.")
	f.StringVar(&c.Selector, "prometheus-selector", c.Selector, "Extra PromQL label matchers for every query, e.g. job=\"kubelet\",metrics_path=\"/metrics/cadvisor\" when several jobs scrape the same containers.")
	f.DurationVar(&c.RateWindow, "prometheus-rate-window", c.RateWindow, "Range of rate() for live CPU usage: at least two scrape intervals (four is safer).")
	f.DurationVar(&c.HistoryLength, "recommender-history-length", c.HistoryLength, "How far back the usage of a VPA without history is read from Prometheus (upstream's history-length).")
	f.DurationVar(&c.HistoryResolution, "recommender-history-resolution", c.HistoryResolution, "Step of the history read: one CPU and one memory sample per container per step (upstream's history-resolution).")
}
