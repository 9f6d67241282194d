package plots

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/tailor-dev/tailor/cmd/tailor/simulate"
)

// TestPlots writes each kind's plots and checks they are PNG and SVG, and
// that the same scores draw the same bytes.
func TestPlots(t *testing.T) {
	v := &simulate.VerticalScore{Policy: "vpa"}
	for r := range 2 {
		v.Reserved[r] = []float64{1, 2, 3}
		v.Used[r] = []float64{0.5, 1, 2}
	}
	h := &simulate.HorizontalScore{Policy: "hpa", Pods: []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, Oracle: []float64{1, 1, 2, 3, 5, 8, 8, 8, 9, 9, 9}}
	c := &simulate.CapacityScore{Policy: "provisioner", CostRate: []float64{1, 2}, BoundRate: []float64{0.5, 1}}
	draw := func() [][]byte {
		dir := t.TempDir()
		var files []string
		for _, f := range []func() ([]string, error){
			func() ([]string, error) { return Vertical(dir, []*simulate.VerticalScore{v}) },
			func() ([]string, error) { return Horizontal(dir, []*simulate.HorizontalScore{h}) },
			func() ([]string, error) { return Capacity(dir, []*simulate.CapacityScore{c}) },
		} {
			fs, err := f()
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, fs...)
		}
		if len(files) != 8 {
			t.Fatalf("%d files, want 8: %v", len(files), files)
		}
		var out [][]byte
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(b, []byte("\x89PNG")) && !bytes.Contains(b[:min(len(b), 200)], []byte("<svg")) {
				t.Errorf("%s is neither PNG nor SVG", f)
			}
			out = append(out, b)
		}
		return out
	}
	a, b := draw(), draw()
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Errorf("plot %d differs between two draws of the same scores", i)
		}
	}
}

// TestPanels: stacked panels on one time scale, PNG and SVG, the same
// bytes for the same series.
func TestPanels(t *testing.T) {
	panels := []Panel{
		{Title: "replicas", YLabel: "pods", XMax: 10, Series: []Series{{Name: "a", Points: plotter.XYs{{X: 0, Y: 1}, {X: 5, Y: 7}}}, {Name: "empty"}}},
		{Title: "cost", YLabel: "$/h", XLabel: "s", XMax: 10, Series: []Series{{Name: "b", Points: plotter.XYs{{X: 1, Y: 0.6}, {X: 9, Y: 0}}}}},
	}
	draw := func() [][]byte {
		dir := t.TempDir()
		files, err := Panels(dir, "demo", 10*vg.Centimeter, 12*vg.Centimeter, panels)
		if err != nil {
			t.Fatal(err)
		}
		if len(files) != 2 || !strings.HasSuffix(files[0], "demo.png") || !strings.HasSuffix(files[1], "demo.svg") {
			t.Fatalf("files %v", files)
		}
		var out [][]byte
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
		if !bytes.HasPrefix(out[0], []byte("\x89PNG")) || !bytes.Contains(out[1][:min(len(out[1]), 200)], []byte("<svg")) {
			t.Errorf("not a PNG and an SVG")
		}
		return out
	}
	a, b := draw(), draw()
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Errorf("file %d differs between two draws", i)
		}
	}
	if _, err := Panels(t.TempDir(), "none", vg.Centimeter, vg.Centimeter, nil); err == nil {
		t.Error("no panels: want an error")
	}
}
