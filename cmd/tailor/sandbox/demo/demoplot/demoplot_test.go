package demoplot

import (
	"os"
	"testing"

	"github.com/tailor-dev/tailor/cmd/tailor/sandbox/demo"
)

// Each series goes to the panel of what it measures; every panel's x axis
// ends at the last sample of any series.
func TestPanelsOf(t *testing.T) {
	panels := panelsOf(map[string][]demo.Point{
		"php-apache replicas": {{X: 0, Y: 1}, {X: 30, Y: 4}},
		"hamster CPU request": {{X: 5, Y: 100}},
		"karpenter nodes":     {{X: 90, Y: 2}},
		"karpenter nodes $/h": {{X: 60, Y: 0.2}},
		"php-apache Running":  {{X: 10, Y: 1}},
		"php-apache CPU used": {{X: 10, Y: 300}},
	})
	want := [][]string{
		{"php-apache Running", "php-apache replicas"},
		{"hamster CPU request", "php-apache CPU used"},
		{"karpenter nodes"},
		{"karpenter nodes $/h"},
	}
	if len(panels) != len(want) {
		t.Fatalf("%d panels, want %d", len(panels), len(want))
	}
	for i, p := range panels {
		var got []string
		for _, s := range p.Series {
			got = append(got, s.Name)
		}
		if len(got) != len(want[i]) {
			t.Errorf("panel %q: %q, want %q", p.Title, got, want[i])
			continue
		}
		for j := range got {
			if got[j] != want[i][j] {
				t.Errorf("panel %q: %q, want %q", p.Title, got, want[i])
			}
		}
		if p.XMax != 90 {
			t.Errorf("panel %q ends at %v, want 90", p.Title, p.XMax)
		}
	}
	if got := panels[0].Series[1].Points; len(got) != 2 || got[1].X != 30 || got[1].Y != 4 {
		t.Errorf("replicas points %v", got)
	}
}

func TestWrite(t *testing.T) {
	files, err := Write(t.TempDir(), &demo.Recorder{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	if len(files) != 2 {
		t.Errorf("files %q, want a PNG and an SVG", files)
	}
}
