package demo

import (
	"slices"
	"sync"
	"time"
)

// Point is a sample of a series: X seconds since the run started, Y.
type Point struct{ X, Y float64 }

// Recorder keeps named series over the run's time, for the plot
// (package demoplot draws them: the plotting library stays out of this
// package and its fuzzing build).
type Recorder struct {
	mu     sync.Mutex
	series map[string][]Point
}

func newRecorder() *Recorder { return &Recorder{series: map[string][]Point{}} }

// Add appends (at, v) to the series name.
func (r *Recorder) Add(name string, at time.Duration, v float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.series[name] = append(r.series[name], Point{X: at.Seconds(), Y: v})
}

// Series is a copy of every series, by name.
func (r *Recorder) Series() map[string][]Point {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]Point, len(r.series))
	for n, ps := range r.series {
		out[n] = slices.Clone(ps)
	}
	return out
}
