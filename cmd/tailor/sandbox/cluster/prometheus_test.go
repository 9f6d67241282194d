package cluster

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// A Prometheus that cannot start is an error, not a panic, and leaves no
// folder behind (the cleanup once ran on the nil result).
func TestStartPrometheusFailsCleanly(t *testing.T) {
	c := &Cluster{Dir: t.TempDir(), BinDir: t.TempDir(), KubeletPort: 10250}
	p, err := c.StartPrometheus(context.Background(), PrometheusOptions{})
	if err == nil || p != nil {
		t.Fatalf("got %v, %v; want an error (no prometheus binary)", p, err)
	}
	left, _ := filepath.Glob(filepath.Join(c.Dir, "prometheus-*"))
	if len(left) != 0 {
		t.Errorf("left behind: %q", left)
	}
	if !strings.Contains(err.Error(), "prometheus") {
		t.Errorf("error %q does not name prometheus", err)
	}
}
