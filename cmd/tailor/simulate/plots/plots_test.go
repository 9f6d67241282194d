package plots

import (
	"bytes"
	"os"
	"testing"

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
