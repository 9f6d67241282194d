package logic_test

import (
	"testing"
	"time"

	umodel "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/recommender/model"

	"github.com/tailor-dev/tailor/recommender/logic"
	"github.com/tailor-dev/tailor/recommender/model"
)

// feed replays a scenario into a fresh Tailor aggregate.
func feed(t *testing.T, sc scenario) *model.Aggregate {
	return feedAll(t, sc)[0]
}

// A checkpoint written by Tailor restores into Tailor and into upstream with
// the same recommendation (within 5%: bucket weights are quantised to 1/10000
// of the largest), and upstream's checkpoint restores into Tailor.
func TestCheckpointRoundTrip(t *testing.T) {
	r, _ := logic.New(logic.Default())
	for _, sc := range scenarios() {
		if sc.containers != 1 {
			continue
		}
		t.Run(sc.name, func(t *testing.T) {
			a := feed(t, sc)
			mins := r.PodMinimums(1)
			want := r.Estimate(a, mins)
			cp := a.Checkpoint(time.Now())

			b := model.NewAggregate(model.DefaultParams(), time.Now())
			if err := b.Restore(&cp); err != nil {
				t.Fatal(err)
			}
			if b.TotalSamples() != a.TotalSamples() || !b.FirstSample().Equal(a.FirstSample()) || !b.LastSample().Equal(a.LastSample()) {
				t.Fatalf("counters lost: %d %v %v vs %d %v %v", b.TotalSamples(), b.FirstSample(), b.LastSample(), a.TotalSamples(), a.FirstSample(), a.LastSample())
			}
			compare(t, "tailor->tailor", r.Estimate(b, mins), want, 0.05)
			// and again: a second round trip is stable
			cp2 := b.Checkpoint(time.Now())
			c := model.NewAggregate(model.DefaultParams(), time.Now())
			if err := c.Restore(&cp2); err != nil {
				t.Fatal(err)
			}
			compare(t, "tailor->tailor->tailor", r.Estimate(c, mins), r.Estimate(b, mins), 0.0)

			// Tailor's checkpoint into upstream.
			u := umodel.NewAggregateContainerState()
			if err := u.LoadFromCheckpoint(&cp); err != nil {
				t.Fatal(err)
			}
			// upstream's own checkpoint of the same samples into Tailor.
			_, uaggs := runUpstream(t, sc)
			ucp, err := uaggs[0].SaveToCheckpoint()
			if err != nil {
				t.Fatal(err)
			}
			d := model.NewAggregate(model.DefaultParams(), time.Now())
			if err := d.Restore(ucp); err != nil {
				t.Fatal(err)
			}
			compare(t, "upstream->tailor", r.Estimate(d, mins), want, 0.05)
			// upstream reading Tailor's checkpoint agrees with Tailor.
			for _, p := range []float64{0.5, 0.9, 0.95} {
				if g, w := u.AggregateCPUUsage.Percentile(p), a.CPUPercentile(p); !within(int64(g*1e6), int64(w*1e6), 0.05) {
					t.Errorf("upstream from tailor checkpoint: cpu p%v %v, tailor %v", p, g, w)
				}
				if g, w := u.AggregateMemoryPeaks.Percentile(p), a.MemoryPercentile(p); !within(int64(g), int64(w), 0.05) {
					t.Errorf("upstream from tailor checkpoint: memory p%v %v, tailor %v", p, g, w)
				}
			}
		})
	}
}

func TestRestoreRejectsBadCheckpoints(t *testing.T) {
	a := feed(t, scenarios()[0])
	good := a.Checkpoint(time.Now())
	for name, f := range map[string]func(c *model.Aggregate) error{
		"bucket out of range": func(b *model.Aggregate) error {
			cp := good.DeepCopy()
			cp.CPUHistogram.BucketWeights[100000] = 1
			return b.Restore(cp)
		},
		"negative bucket": func(b *model.Aggregate) error {
			cp := good.DeepCopy()
			cp.MemoryHistogram.BucketWeights[-1] = 1
			return b.Restore(cp)
		},
		"negative total": func(b *model.Aggregate) error {
			cp := good.DeepCopy()
			cp.CPUHistogram.TotalWeight = -1
			return b.Restore(cp)
		},
		"nil": func(b *model.Aggregate) error { return b.Restore(nil) },
		"version": func(b *model.Aggregate) error {
			cp := good.DeepCopy()
			cp.Version = "v2"
			return b.Restore(cp)
		},
	} {
		b := model.NewAggregate(model.DefaultParams(), time.Now())
		if err := f(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if !b.Empty() || !b.CPU.Empty() {
			t.Errorf("%s: state changed on error", name)
		}
	}
}
