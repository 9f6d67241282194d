package model

import (
	"fmt"
	"math"
)

// maxBuckets bounds the bucket count so an index fits a uint16.
const maxBuckets = math.MaxUint16

// Buckets is an exponential bucket layout: bucket 0 covers [0, first),
// bucket i starts at first*(ratio^i-1)/(ratio-1), and each bucket is ratio
// times wider than the previous one. The last bucket is open-ended.
type Buckets struct {
	n        int
	first    float64
	ratio    float64
	logRatio float64
}

// NewBuckets builds a layout covering [0, max].
func NewBuckets(max, first, ratio float64) (Buckets, error) {
	if !(max > 0) || !(first > 0) || !(ratio > 1) || math.IsInf(max, 0) || math.IsInf(ratio, 0) {
		return Buckets{}, fmt.Errorf("need max > 0, first bucket > 0, ratio > 1 (got %v, %v, %v)", max, first, ratio)
	}
	lr := math.Log(ratio)
	n := int(math.Ceil(math.Log(max*(ratio-1)/first+1)/lr)) + 1
	if n > maxBuckets {
		return Buckets{}, fmt.Errorf("%d buckets, at most %d supported", n, maxBuckets)
	}
	return Buckets{n: n, first: first, ratio: ratio, logRatio: lr}, nil
}

// Len is the number of buckets.
func (b *Buckets) Len() int { return b.n }

// Find returns the bucket holding v (values out of range are clamped).
func (b *Buckets) Find(v float64) int {
	if !(v >= b.first) { // also NaN
		return 0
	}
	i := int(math.Log(v*(b.ratio-1)/b.first+1) / b.logRatio)
	if i >= b.n || i < 0 {
		return b.n - 1
	}
	return i
}

// Start returns the lower edge of bucket i.
func (b *Buckets) Start(i int) float64 {
	if i <= 0 {
		return 0
	}
	if i >= b.n {
		i = b.n - 1
	}
	return b.first * (math.Pow(b.ratio, float64(i)) - 1) / (b.ratio - 1)
}
