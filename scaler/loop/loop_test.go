package loop

import (
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestGuardRecoversCountsAndGoesOn(t *testing.T) {
	before := testutil.ToFloat64(panicsTotal.WithLabelValues("test"))
	var done []int
	var errs []error
	for i := range 3 {
		errs = append(errs, Guard("test", logr.Discard(), func() {
			if i == 1 {
				var m map[string]int
				m["boom"]++ // a nil-map write, as bad data can cause
			}
			done = append(done, i)
		}))
	}
	if len(done) != 2 || done[0] != 0 || done[1] != 2 {
		t.Errorf("objects done %v, want 0 and 2: the one after the panic must run", done)
	}
	if errs[0] != nil || errs[2] != nil || errs[1] == nil || !strings.Contains(errs[1].Error(), "nil map") {
		t.Errorf("errors %v, want only the second, naming the panic", errs)
	}
	if got := testutil.ToFloat64(panicsTotal.WithLabelValues("test")) - before; got != 1 {
		t.Errorf("tailor_panics_total{component=test} rose by %v, want 1", got)
	}
}
