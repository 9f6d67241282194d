package model

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Container is the live state of one container of one pod feeding an
// Aggregate: ordering of samples and the current memory peak window. The
// aggregate holds one memory sample per container per interval (the
// window's peak, timestamped at the window end); a higher usage within the
// window replaces it.
type Container struct {
	agg       *Aggregate
	lastCPU   int64 // unix ns; 0 = none
	lastMem   int64
	windowEnd int64
	memPeak   int64 // bytes, highest usage sample in the current window
	oomPeak   int64 // bytes, OOM-derived sample in the current window
}

// NewContainer returns the state of a pod's container feeding a.
func NewContainer(a *Aggregate) *Container { return &Container{agg: a} }

// Aggregate returns the aggregate this container feeds.
func (c *Container) Aggregate() *Aggregate { return c.agg }

// AddCPU takes a CPU usage sample (millicores) measured from ts, with the
// container's CPU request (used only with CPUWeightByRequest). Negative
// usage, out-of-range times, and samples not after the previous one are
// dropped (false).
func (c *Container) AddCPU(ts time.Time, millicores, requestMillicores int64) bool {
	t, ok := unixNano(ts)
	if !ok || millicores < 0 || t <= c.lastCPU {
		return false
	}
	c.agg.addCPU(t, float64(millicores)/1000, float64(requestMillicores)/1000)
	c.lastCPU = t
	return true
}

// AddMemory takes a memory usage sample (bytes, e.g. working set) measured
// from ts. Negative usage, out-of-range times and samples older than the
// previous one are dropped (false).
func (c *Container) AddMemory(ts time.Time, bytes int64) bool {
	t, ok := unixNano(ts)
	if !ok {
		return false
	}
	return c.addMemory(t, bytes, false)
}

func (c *Container) addMemory(t, bytes int64, oom bool) bool {
	if bytes < 0 || (!oom && t < c.lastMem) {
		return false
	}
	c.lastMem = t
	if c.windowEnd == 0 {
		c.windowEnd = t
	}
	if t < c.windowEnd {
		old := max(c.memPeak, c.oomPeak)
		if old == 0 || bytes <= old {
			return true // not a new peak for this window
		}
		c.agg.subtractPeak(c.windowEnd, float64(old))
	} else {
		iv := c.agg.p.MemoryAggregationInterval
		c.windowEnd += int64(time.Duration(t-c.windowEnd).Truncate(iv) + iv)
		c.memPeak, c.oomPeak = 0, 0
	}
	c.agg.addPeak(c.windowEnd, float64(bytes))
	if oom {
		c.oomPeak = bytes
	} else {
		c.memPeak = bytes
	}
	return true
}

// ErrOOMTooOld is returned for an OOM older than one aggregation interval
// before the last memory sample.
var ErrOOMTooOld = errors.New("OOM event too old")

// RecordOOM records an OOM kill at ts of a container whose memory request
// was requestBytes: a memory sample of max(used*OOMBumpUpRatio,
// used+OOMMinBumpUpBytes), where used is the larger of the request and the
// window's peak.
func (c *Container) RecordOOM(ts time.Time, requestBytes int64) error {
	t, ok := unixNano(ts)
	if !ok {
		return fmt.Errorf("OOM timestamp %v out of range", ts)
	}
	p := c.agg.p
	if c.lastMem != 0 && t < c.lastMem-int64(p.MemoryAggregationInterval) {
		return fmt.Errorf("%w (%v)", ErrOOMTooOld, ts)
	}
	used := max(requestBytes, c.memPeak, 0)
	need := max(satAdd(used, clampInt(p.OOMMinBumpUpBytes)), clampInt(float64(used)*p.OOMBumpUpRatio))
	if !c.addMemory(t, need, true) {
		return errors.New("adding OOM sample failed")
	}
	return nil
}

// maxAmount bounds amounts like upstream's MaxResourceAmount (1e14).
const maxAmount = int64(1e14)

func clampInt(f float64) int64 {
	if !(f > 0) {
		return 0
	}
	if f > float64(maxAmount) {
		return maxAmount
	}
	return int64(f)
}

func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
