package main

import (
	"github.com/spf13/pflag"

	recommender "github.com/tailor-dev/tailor/recommender/controller"
	"github.com/tailor-dev/tailor/recommender/logic"
	"github.com/tailor-dev/tailor/recommender/model"
)

// recommenderFlags binds the recommender's settings. The model and logic
// defaults are upstream VPA's (model.Default, logic.Default); the names are
// upstream's vpa-recommender flags with a recommender- prefix.
func recommenderFlags(f *pflag.FlagSet, o *recommender.Options) {
	m, l := model.Default(), logic.Default()
	o.Model, o.Logic = &m, &l
	f.DurationVar(&o.Interval, "recommender-interval", o.Interval, "How often the recommender reads usage and writes VPA recommendations (upstream's default 1m).")
	f.BoolVar(&o.HandleUnnamed, "recommender-handle-unnamed", o.HandleUnnamed, "Also recommend for VPAs whose spec.recommenders names no recommender (besides those naming \""+recommender.Name+"\").")
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
