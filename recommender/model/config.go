// Package model holds the recommender's per-container usage state: sparse
// decaying histograms of CPU usage and memory peaks, the per-pod-container
// memory peak windows, OOM bumps, and checkpoint export/import in the
// upstream VerticalPodAutoscalerCheckpoint format. It does no I/O.
package model

import (
	"fmt"
	"time"
)

// CheckpointVersion is the VerticalPodAutoscalerCheckpoint status version
// this package reads and writes (the one upstream VPA v1.8.1 uses).
const CheckpointVersion = "v3"

// Defaults equal upstream VPA v1.8.1's recommender defaults.
const (
	DefaultMemoryAggregationInterval      = 24 * time.Hour
	DefaultMemoryAggregationIntervalCount = 8
	DefaultCPUHalfLife                    = 24 * time.Hour
	DefaultMemoryHalfLife                 = 24 * time.Hour
	DefaultOOMBumpUpRatio                 = 1.2
	DefaultOOMMinBumpUpBytes              = 100 * 1024 * 1024
	DefaultBucketGrowth                   = 0.05
	DefaultCPUFirstBucketCores            = 0.01
	DefaultCPUMaxCores                    = 1000.0
	DefaultMemoryFirstBucketBytes         = 1e7
	DefaultMemoryMaxBytes                 = 1e12

	// MinSampleWeight is the weight of one CPU sample before decay (upstream
	// minSampleWeight). With CPUWeightByRequest it is the floor of the weight.
	MinSampleWeight = 0.1
	// Epsilon is the smallest bucket weight kept (upstream 0.001*minSampleWeight).
	Epsilon = 0.001 * MinSampleWeight
)

// Config is the aggregation configuration. Its fields are meant to become
// flags; Default returns upstream's values.
type Config struct {
	// MemoryAggregationInterval is the length of one memory peak interval:
	// one memory sample (the peak) per container per interval.
	MemoryAggregationInterval time.Duration
	// MemoryAggregationIntervalCount: intervals that make up the window after
	// which a container state with no samples expires.
	MemoryAggregationIntervalCount int64
	// CPUHalfLife and MemoryHalfLife: age at which a sample weighs half as much
	// as a fresh one.
	CPUHalfLife    time.Duration
	MemoryHalfLife time.Duration
	// OOMBumpUpRatio and OOMMinBumpUpBytes: after an OOM kill the memory
	// sample recorded is max(used*ratio, used+minBump).
	OOMBumpUpRatio    float64
	OOMMinBumpUpBytes float64
	// BucketGrowth: each histogram bucket is this much larger than the
	// previous one (0.05 = 5%).
	BucketGrowth float64
	// Histogram ranges: CPU in cores, memory in bytes.
	CPUFirstBucket, CPUMax       float64
	MemoryFirstBucket, MemoryMax float64
	// CPUWeightByRequest weights each CPU sample by max(request cores,
	// MinSampleWeight), as upstream VPA did before v1.0. Upstream v1.8.1
	// weights every CPU sample equally (MinSampleWeight); false matches it.
	CPUWeightByRequest bool
}

// Default returns upstream VPA v1.8.1's aggregation defaults.
func Default() Config {
	return Config{
		MemoryAggregationInterval:      DefaultMemoryAggregationInterval,
		MemoryAggregationIntervalCount: DefaultMemoryAggregationIntervalCount,
		CPUHalfLife:                    DefaultCPUHalfLife,
		MemoryHalfLife:                 DefaultMemoryHalfLife,
		OOMBumpUpRatio:                 DefaultOOMBumpUpRatio,
		OOMMinBumpUpBytes:              DefaultOOMMinBumpUpBytes,
		BucketGrowth:                   DefaultBucketGrowth,
		CPUFirstBucket:                 DefaultCPUFirstBucketCores,
		CPUMax:                         DefaultCPUMaxCores,
		MemoryFirstBucket:              DefaultMemoryFirstBucketBytes,
		MemoryMax:                      DefaultMemoryMaxBytes,
	}
}

// Params is a validated Config with its derived histogram layouts. One
// Params is shared (by pointer) by every container state.
type Params struct {
	Config
	CPUBuckets, MemoryBuckets Buckets
}

// NewParams validates c and derives the bucket layouts.
func NewParams(c Config) (*Params, error) {
	if c.MemoryAggregationInterval <= 0 || c.MemoryAggregationIntervalCount <= 0 {
		return nil, fmt.Errorf("memory aggregation interval and count must be positive")
	}
	if c.CPUHalfLife <= 0 || c.MemoryHalfLife <= 0 {
		return nil, fmt.Errorf("histogram half-lives must be positive")
	}
	if !(c.OOMBumpUpRatio >= 1) || !(c.OOMMinBumpUpBytes >= 0) {
		return nil, fmt.Errorf("oom bump-up ratio must be >= 1 and min bump-up >= 0")
	}
	cpu, err := NewBuckets(c.CPUMax, c.CPUFirstBucket, 1+c.BucketGrowth)
	if err != nil {
		return nil, fmt.Errorf("cpu histogram: %w", err)
	}
	mem, err := NewBuckets(c.MemoryMax, c.MemoryFirstBucket, 1+c.BucketGrowth)
	if err != nil {
		return nil, fmt.Errorf("memory histogram: %w", err)
	}
	return &Params{Config: c, CPUBuckets: cpu, MemoryBuckets: mem}, nil
}

// DefaultParams returns NewParams(Default()).
func DefaultParams() *Params {
	p, err := NewParams(Default())
	if err != nil {
		panic(err)
	}
	return p
}
