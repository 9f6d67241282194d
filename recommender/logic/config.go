// Package logic turns model aggregates into VPA recommendations: percentile
// estimators, safety margin, confidence-scaled bounds, pod minimums split
// across containers, and minAllowed/maxAllowed capping. It does no I/O.
package logic

import (
	"fmt"
	"time"
)

// Config holds the recommendation settings. Its fields are meant to become
// flags; Default returns upstream VPA v1.8.1's values.
type Config struct {
	// SafetyMarginFraction is added on top of every estimate (0.15 = +15%).
	SafetyMarginFraction float64
	// PodMinCPUMillicores and PodMinMemoryMb are the smallest recommendation
	// for a whole pod, split evenly across its recommended containers.
	PodMinCPUMillicores float64
	PodMinMemoryMb      float64
	// Usage percentiles (0..1) behind the target and the bounds.
	TargetCPUPercentile        float64
	LowerBoundCPUPercentile    float64
	UpperBoundCPUPercentile    float64
	TargetMemoryPercentile     float64
	LowerBoundMemoryPercentile float64
	UpperBoundMemoryPercentile float64
	// ConfidenceIntervalCPU and ConfidenceIntervalMemory: the history length
	// (and, in minutes, the sample count) that counts as confidence 1 for the
	// bounds. Upper bound is scaled by (1 + 1/confidence), lower bound by
	// (1 + 0.001/confidence)^-2.
	ConfidenceIntervalCPU    time.Duration
	ConfidenceIntervalMemory time.Duration
	// RoundCPUMillicores and RoundMemoryBytes round every value up to a
	// multiple of themselves (1 = no rounding).
	RoundCPUMillicores int64
	RoundMemoryBytes   int64
}

// Default returns upstream VPA v1.8.1's recommender defaults.
func Default() Config {
	return Config{
		SafetyMarginFraction:       0.15,
		PodMinCPUMillicores:        25,
		PodMinMemoryMb:             250,
		TargetCPUPercentile:        0.9,
		LowerBoundCPUPercentile:    0.5,
		UpperBoundCPUPercentile:    0.95,
		TargetMemoryPercentile:     0.9,
		LowerBoundMemoryPercentile: 0.5,
		UpperBoundMemoryPercentile: 0.95,
		ConfidenceIntervalCPU:      24 * time.Hour,
		ConfidenceIntervalMemory:   24 * time.Hour,
		RoundCPUMillicores:         1,
		RoundMemoryBytes:           1,
	}
}

// Validate reports settings the recommender cannot work with.
func (c *Config) Validate() error {
	for _, p := range []struct {
		n string
		v float64
	}{
		{"target-cpu-percentile", c.TargetCPUPercentile},
		{"lower-bound-cpu-percentile", c.LowerBoundCPUPercentile},
		{"upper-bound-cpu-percentile", c.UpperBoundCPUPercentile},
		{"target-memory-percentile", c.TargetMemoryPercentile},
		{"lower-bound-memory-percentile", c.LowerBoundMemoryPercentile},
		{"upper-bound-memory-percentile", c.UpperBoundMemoryPercentile},
	} {
		if !(p.v >= 0 && p.v <= 1) {
			return fmt.Errorf("%s must be within [0, 1], got %v", p.n, p.v)
		}
	}
	if c.LowerBoundCPUPercentile > c.TargetCPUPercentile || c.TargetCPUPercentile > c.UpperBoundCPUPercentile ||
		c.LowerBoundMemoryPercentile > c.TargetMemoryPercentile || c.TargetMemoryPercentile > c.UpperBoundMemoryPercentile {
		return fmt.Errorf("percentiles must be ordered lower bound <= target <= upper bound")
	}
	if !(c.SafetyMarginFraction >= 0) || !(c.PodMinCPUMillicores >= 0) || !(c.PodMinMemoryMb >= 0) {
		return fmt.Errorf("safety margin and pod minimums must be >= 0")
	}
	if c.ConfidenceIntervalCPU <= 0 || c.ConfidenceIntervalMemory <= 0 {
		return fmt.Errorf("confidence intervals must be positive")
	}
	if c.RoundCPUMillicores < 1 || c.RoundMemoryBytes < 1 {
		return fmt.Errorf("rounding factors must be >= 1")
	}
	return nil
}
