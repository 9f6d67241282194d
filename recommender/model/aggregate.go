package model

import (
	"fmt"
	"math"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
)

// Key identifies an aggregate: one container name of one VPA.
type Key struct {
	Namespace, VPA, Container string
}

func (k Key) String() string { return k.Namespace + "/" + k.VPA + "/" + k.Container }

// Aggregate is the usage history of one container name across every pod of
// one VPA: a decaying histogram of CPU usage (cores) and one of memory
// peaks (bytes, one sample per container per aggregation interval), the
// time span and count of CPU samples (for confidence). Not safe for
// concurrent use.
type Aggregate struct {
	p           *Params
	CPU, Memory Histogram
	first, last int64 // unix ns of the first and last CPU sample; 0 = none
	created     int64
	samples     int64
}

// NewAggregate returns an empty aggregate created at now.
func NewAggregate(p *Params, now time.Time) *Aggregate {
	n, _ := unixNano(now)
	return &Aggregate{p: p, created: n}
}

// Params returns the configuration the aggregate was made with.
func (a *Aggregate) Params() *Params { return a.p }

// FirstSample and LastSample are the start times of the first and last CPU
// samples (zero if none).
func (a *Aggregate) FirstSample() time.Time { return toTime(a.first) }
func (a *Aggregate) LastSample() time.Time  { return toTime(a.last) }

// TotalSamples is the number of CPU samples taken in.
func (a *Aggregate) TotalSamples() int64 { return a.samples }

// Lifespan is LastSample - FirstSample.
func (a *Aggregate) Lifespan() time.Duration { return time.Duration(a.last - a.first) }

// Empty reports whether no CPU sample was ever added.
func (a *Aggregate) Empty() bool { return a.samples == 0 }

// Expired reports whether the aggregate has seen no sample (or, if empty,
// was created) more than one memory aggregation window
// (interval*count) before now; expired aggregates can be dropped.
func (a *Aggregate) Expired(now time.Time) bool {
	n, _ := unixNano(now)
	since := a.last
	if a.Empty() {
		since = a.created
	}
	return time.Duration(n-since) >= a.p.MemoryAggregationInterval*time.Duration(a.p.MemoryAggregationIntervalCount)
}

// CPUPercentile and MemoryPercentile return the p-th percentile of the
// decayed CPU usage (cores) and memory peak (bytes) distributions.
func (a *Aggregate) CPUPercentile(p float64) float64 { return a.CPU.Percentile(&a.p.CPUBuckets, p) }
func (a *Aggregate) MemoryPercentile(p float64) float64 {
	return a.Memory.Percentile(&a.p.MemoryBuckets, p)
}

// addCPU takes one CPU usage sample. ts must be in range (callers check).
func (a *Aggregate) addCPU(ts int64, cores, requestCores float64) {
	w := MinSampleWeight
	if a.p.CPUWeightByRequest && requestCores > w {
		w = math.Min(requestCores, a.p.CPUMax)
	}
	a.CPU.add(&a.p.CPUBuckets, a.p.CPUHalfLife, cores, w, ts)
	if ts > a.last {
		a.last = ts
	}
	if a.first == 0 || ts < a.first {
		a.first = ts
	}
	a.samples++
}

func (a *Aggregate) addPeak(ts int64, bytes float64) {
	a.Memory.add(&a.p.MemoryBuckets, a.p.MemoryHalfLife, bytes, 1, ts)
}

func (a *Aggregate) subtractPeak(ts int64, bytes float64) {
	a.Memory.subtract(&a.p.MemoryBuckets, a.p.MemoryHalfLife, bytes, 1, ts)
}

// Checkpoint exports the aggregate as a VerticalPodAutoscalerCheckpoint
// status (upstream format v3), stamped with now.
func (a *Aggregate) Checkpoint(now time.Time) vpav1.VerticalPodAutoscalerCheckpointStatus {
	return vpav1.VerticalPodAutoscalerCheckpointStatus{
		LastUpdateTime:    metav1.NewTime(now),
		Version:           CheckpointVersion,
		CPUHistogram:      a.CPU.checkpoint(),
		MemoryHistogram:   a.Memory.checkpoint(),
		FirstSampleStart:  metav1.NewTime(a.FirstSample()),
		LastSampleStart:   metav1.NewTime(a.LastSample()),
		TotalSamplesCount: int(a.samples),
	}
}

// Restore replaces the aggregate's history with a checkpoint's. On error
// the aggregate is left unchanged.
func (a *Aggregate) Restore(cp *vpav1.VerticalPodAutoscalerCheckpointStatus) error {
	if cp == nil {
		return fmt.Errorf("nil checkpoint")
	}
	if cp.Version != CheckpointVersion {
		return fmt.Errorf("unsupported checkpoint version %q (want %q)", cp.Version, CheckpointVersion)
	}
	if cp.TotalSamplesCount < 0 {
		return fmt.Errorf("negative sample count %d", cp.TotalSamplesCount)
	}
	first, err := checkpointTime(cp.FirstSampleStart)
	if err != nil {
		return err
	}
	last, err := checkpointTime(cp.LastSampleStart)
	if err != nil {
		return err
	}
	var c, m Histogram
	if err := c.restore(&a.p.CPUBuckets, &cp.CPUHistogram); err != nil {
		return fmt.Errorf("cpu histogram: %w", err)
	}
	if err := m.restore(&a.p.MemoryBuckets, &cp.MemoryHistogram); err != nil {
		return fmt.Errorf("memory histogram: %w", err)
	}
	a.CPU, a.Memory = c, m
	a.first, a.last, a.samples = first, last, int64(cp.TotalSamplesCount)
	return nil
}

func checkpointTime(t metav1.Time) (int64, error) {
	if t.IsZero() {
		return 0, nil
	}
	n, ok := unixNano(t.Time)
	if !ok {
		return 0, fmt.Errorf("checkpoint timestamp %v out of range", t.Time)
	}
	return n, nil
}

func toTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
