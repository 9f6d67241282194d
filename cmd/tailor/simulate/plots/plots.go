// Package plots draws the simulator's scores over time as PNG and SVG with
// gonum/plot. It is apart from package simulate so that the replay stays
// free of the plotting dependency.
package plots

import (
	"fmt"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	draw2 "gonum.org/v1/plot/vg/draw"

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
	series := make([]Series, len(lines))
	for i, l := range lines {
		xys := make(plotter.XYs, len(l.ys))
		for k, y := range l.ys {
			xys[k] = plotter.XY{X: float64(k) * l.step, Y: y}
		}
		series[i] = Series{Name: l.name, Points: xys}
	}
	return Panels(dir, base, 28*vg.Centimeter, 12*vg.Centimeter, []Panel{{Title: title, XLabel: "days from trace start", YLabel: ylabel, Series: series}})
}

// Series is one named line of a panel.
type Series struct {
	Name   string
	Points plotter.XYs
}

// Panel is one chart: its lines share the axes.
type Panel struct {
	Title, XLabel, YLabel string
	Series                []Series
	// XMax, when set, ends the x axis there (stacked panels on one time
	// scale); x starts at 0.
	XMax float64
}

// newPlot draws one panel's lines, each in its own colour, y from 0.
func newPlot(pn Panel) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = pn.Title
	p.X.Label.Text = pn.XLabel
	p.Y.Label.Text = pn.YLabel
	p.Y.Min = 0
	p.Legend.Top = true
	if pn.XMax > 0 {
		p.X.Min, p.X.Max = 0, pn.XMax
	}
	for i, s := range pn.Series {
		if len(s.Points) == 0 {
			continue
		}
		ln, err := plotter.NewLine(s.Points)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Name, err)
		}
		ln.Color = plotutil.Color(i)
		ln.Width = vg.Points(0.7)
		p.Add(ln)
		p.Legend.Add(s.Name, ln)
	}
	return p, nil
}

// Panels writes dir/base.png and dir/base.svg, the panels stacked one
// above the other in a figure of width × height, and returns their paths.
func Panels(dir, base string, width, height vg.Length, panels []Panel) ([]string, error) {
	if len(panels) == 0 {
		return nil, fmt.Errorf("%s: no panels", base)
	}
	plots := make([][]*plot.Plot, len(panels))
	for i, pn := range panels {
		p, err := newPlot(pn)
		if err != nil {
			return nil, err
		}
		plots[i] = []*plot.Plot{p}
	}
	var out []string
	var err error
	for _, ext := range []string{".png", ".svg"} {
		f := filepath.Join(dir, base+ext)
		if len(plots) == 1 {
			err = plots[0][0].Save(width, height, f)
		} else {
			err = save(f, ext[1:], width, height, plots)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// save draws the grid of plots into one file of the format.
func save(path, format string, width, height vg.Length, plots [][]*plot.Plot) error {
	c, err := draw2.NewFormattedCanvas(width, height, format)
	if err != nil {
		return err
	}
	dc := draw2.New(c)
	tiles := draw2.Tiles{Rows: len(plots), Cols: 1, PadX: vg.Millimeter, PadY: 2 * vg.Millimeter, PadTop: vg.Millimeter, PadBottom: vg.Millimeter, PadLeft: vg.Millimeter, PadRight: vg.Millimeter}
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		plots[i][0].Draw(canvases[i][0])
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := c.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
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
	if len(scores[0].FitBoundRate) > 0 {
		lines = append(lines, line{name: "fit lower bound", ys: scores[0].FitBoundRate, step: 1.0 / 24})
	}
	for _, s := range scores {
		lines = append(lines, line{name: s.Policy, ys: s.CostRate, step: 1.0 / 24})
	}
	return draw(dir, "arrivals-cost", "node cost vs lower bounds (hourly)", "$/h", lines)
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
