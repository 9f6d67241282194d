// Package demoplot draws a demo run's series (demo.Recorder) as one
// stacked plot, apart from package demo so that gonum/plot and its fonts
// stay out of demo's fuzzing build.
package demoplot

import (
	"slices"
	"strings"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/tailor-dev/tailor/cmd/tailor/sandbox/demo"
	"github.com/tailor-dev/tailor/cmd/tailor/simulate/plots"
)

// Write writes dir/demo.png and dir/demo.svg: replicas, CPU, nodes and
// $/h over the run, and returns their paths.
func Write(dir string, r *demo.Recorder) ([]string, error) {
	return plots.Panels(dir, "demo", 24*vg.Centimeter, 30*vg.Centimeter, panelsOf(r.Series()))
}

// panelsOf sorts the series into the plot's panels by what they measure.
func panelsOf(series map[string][]demo.Point) []plots.Panel {
	panels := []plots.Panel{
		{Title: "replicas and Running pods", YLabel: "pods"},
		{Title: "CPU", YLabel: "millicores"},
		{Title: "nodes of the demo's NodePools", YLabel: "nodes"},
		{Title: "node cost", YLabel: "$/h", XLabel: "seconds since the demo started"},
	}
	names := make([]string, 0, len(series))
	for n := range series {
		names = append(names, n)
	}
	slices.Sort(names)
	end := 0.0
	for _, n := range names {
		if ps := series[n]; len(ps) > 0 {
			end = max(end, ps[len(ps)-1].X)
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
		xys := make(plotter.XYs, len(series[n]))
		for j, p := range series[n] {
			xys[j] = plotter.XY{X: p.X, Y: p.Y}
		}
		panels[i].Series = append(panels[i].Series, plots.Series{Name: n, Points: xys})
	}
	return panels
}
