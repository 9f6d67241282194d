package demo

import (
	"slices"
	"strings"
	"sync"
	"time"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/tailor-dev/tailor/cmd/tailor/simulate/plots"
)

// Recorder keeps named series over the run's time, for the plot.
type Recorder struct {
	mu     sync.Mutex
	series map[string]plotter.XYs
}

func newRecorder() *Recorder { return &Recorder{series: map[string]plotter.XYs{}} }

// Add appends (at, v) to the series name.
func (r *Recorder) Add(name string, at time.Duration, v float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.series[name] = append(r.series[name], plotter.XY{X: at.Seconds(), Y: v})
}

// Series is a copy of the series name.
func (r *Recorder) Series(name string) plotter.XYs {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.series[name])
}

// panelsOf sorts the series into the plot's panels by what they measure.
func (r *Recorder) panelsOf() []plots.Panel {
	r.mu.Lock()
	defer r.mu.Unlock()
	panels := []plots.Panel{
		{Title: "replicas and Running pods", YLabel: "pods"},
		{Title: "CPU", YLabel: "millicores"},
		{Title: "nodes of the demo's NodePools", YLabel: "nodes"},
		{Title: "node cost", YLabel: "$/h", XLabel: "seconds since the demo started"},
	}
	names := make([]string, 0, len(r.series))
	for n := range r.series {
		names = append(names, n)
	}
	slices.Sort(names)
	end := 0.0
	for _, n := range names {
		if xys := r.series[n]; len(xys) > 0 {
			end = max(end, xys[len(xys)-1].X)
		}
	}
	for i := range panels {
		panels[i].XMax = end
	}
	for _, n := range names {
		i := 0
		switch {
		case strings.Contains(n, "CPU"):
			i = 1
		case strings.HasSuffix(n, " nodes"):
			i = 2
		case strings.HasSuffix(n, "$/h"):
			i = 3
		}
		panels[i].Series = append(panels[i].Series, plots.Series{Name: n, Points: slices.Clone(r.series[n])})
	}
	return panels
}

// Plot writes dir/demo.png and dir/demo.svg: replicas, CPU, nodes and $/h
// over the run, and returns their paths.
func (r *Recorder) Plot(dir string) ([]string, error) {
	return plots.Panels(dir, "demo", 24*vg.Centimeter, 30*vg.Centimeter, r.panelsOf())
}
