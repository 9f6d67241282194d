// Package plots draws the simulator's scores over time as PNG and SVG with
// gonum/plot. It is apart from package simulate so that the replay stays
// free of the plotting dependency.
package plots

import (
	"fmt"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/tailor-dev/tailor/cmd/tailor/simulate"
)

// line is one named series; x in days from the trace start.
type line struct {
	name string
	ys   []float64
	step float64 // days per point
}

// draw writes dir/base.png and dir/base.svg and returns their paths.
func draw(dir, base, title, ylabel string, lines []line) ([]string, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "days from trace start"
	p.Y.Label.Text = ylabel
	p.Y.Min = 0
	p.Legend.Top = true
	for i, l := range lines {
		xys := make(plotter.XYs, len(l.ys))
		for k, y := range l.ys {
			xys[k] = plotter.XY{X: float64(k) * l.step, Y: y}
		}
		ln, err := plotter.NewLine(xys)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", l.name, err)
		}
		ln.Color = plotutil.Color(i)
		ln.Width = vg.Points(0.7)
		p.Add(ln)
		p.Legend.Add(l.name, ln)
	}
	var out []string
	for _, ext := range []string{".png", ".svg"} {
		f := filepath.Join(dir, base+ext)
		if err := p.Save(28*vg.Centimeter, 12*vg.Centimeter, f); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// Vertical draws reserved (each policy's targets) against used, per hour,
// for CPU and memory.
func Vertical(dir string, scores []*simulate.VerticalScore) ([]string, error) {
	if len(scores) == 0 {
		return nil, nil
	}
	var files []string
	for r, what := range []struct {
		name, unit string
		scale      float64
	}{{"cpu", "cores", 1}, {"memory", "GiB", 1 << 30}} {
		lines := []line{{name: "used", ys: scaled(scores[0].Used[r], what.scale), step: 1.0 / 24}}
		for _, s := range scores {
			lines = append(lines, line{name: s.Policy + " reserved", ys: scaled(s.Reserved[r], what.scale), step: 1.0 / 24})
		}
		f, err := draw(dir, "usage-"+what.name, "reserved vs used, "+what.name+" (sum over containers, hourly)", what.unit, lines)
		if err != nil {
			return nil, err
		}
		files = append(files, f...)
	}
	return files, nil
}

// Horizontal draws replicas against the oracle, 10-minute means.
func Horizontal(dir string, scores []*simulate.HorizontalScore) ([]string, error) {
	if len(scores) == 0 {
		return nil, nil
	}
	const per = 10 // minutes per point
	lines := []line{{name: "oracle", ys: means(scores[0].Oracle, per), step: per / 1440.0}}
	for _, s := range scores {
		lines = append(lines, line{name: s.Policy, ys: means(s.Pods, per), step: per / 1440.0})
	}
	return draw(dir, "load-replicas", "replicas vs oracle (10-minute means)", "pods", lines)
}

// Capacity draws node $/h against the LP bound, hourly.
func Capacity(dir string, scores []*simulate.CapacityScore) ([]string, error) {
	if len(scores) == 0 {
		return nil, nil
	}
	lines := []line{{name: "LP lower bound", ys: scores[0].BoundRate, step: 1.0 / 24}}
	for _, s := range scores {
		lines = append(lines, line{name: s.Policy, ys: s.CostRate, step: 1.0 / 24})
	}
	return draw(dir, "arrivals-cost", "node cost vs LP lower bound (hourly)", "$/h", lines)
}

func scaled(v []float64, d float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = x / d
	}
	return out
}

func means(v []float64, n int) []float64 {
	out := make([]float64, 0, len(v)/n+1)
	for i := 0; i < len(v); i += n {
		j := min(i+n, len(v))
		s := 0.0
		for _, x := range v[i:j] {
			s += x
		}
		out = append(out, s/float64(j-i))
	}
	return out
}
