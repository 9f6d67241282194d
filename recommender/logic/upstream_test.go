package logic_test

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	ulogic "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/recommender/logic"
	umodel "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/recommender/model"

	"github.com/tailor-dev/tailor/recommender/logic"
	"github.com/tailor-dev/tailor/recommender/model"
)

// event is one input to both implementations.
type event struct {
	kind byte // 'c' cpu millicores, 'm' memory bytes, 'o' OOM (v = memory request)
	t    time.Time
	v    int64
	req  int64 // cpu request millicores ('c')
	cont int   // container index
}

const mi = 1 << 20

var t0 = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

// series emits cpu and memory samples every step for d, from functions of
// (elapsed, rng).
func series(d, step time.Duration, cpu, mem func(time.Duration, *rand.Rand) float64, reqCPU int64) []event {
	r := rand.New(rand.NewPCG(1, 2))
	var ev []event
	for e := time.Duration(0); e < d; e += step {
		ev = append(ev, event{kind: 'c', t: t0.Add(e), v: int64(cpu(e, r)), req: reqCPU})
		ev = append(ev, event{kind: 'm', t: t0.Add(e), v: int64(mem(e, r))})
	}
	return ev
}

func noisy(base, rel float64) func(time.Duration, *rand.Rand) float64 {
	return func(_ time.Duration, r *rand.Rand) float64 { return math.Max(0, base*(1+rel*r.NormFloat64())) }
}

type scenario struct {
	name       string
	containers int
	events     []event
}

func scenarios() []scenario {
	day := 24 * time.Hour
	var oom []event
	oom = append(oom, series(3*day, time.Minute, noisy(300, 0.1), noisy(200*mi, 0.05), 100)...)
	oom = append(oom, event{kind: 'o', t: t0.Add(3*day + time.Hour), v: 256 * mi})
	for _, e := range series(day, time.Minute, noisy(300, 0.1), noisy(230*mi, 0.05), 100) {
		e.t = e.t.Add(3*day + 2*time.Hour)
		oom = append(oom, e)
	}
	var two []event
	for c := range 2 {
		for _, e := range series(2*day, time.Minute, noisy(5, 0.2), noisy(10*mi, 0.1), 50) {
			e.cont = c
			two = append(two, e)
		}
	}
	return []scenario{
		{"steady", 1, series(8*day, time.Minute, noisy(500, 0.1), noisy(300*mi, 0.05), 500)},
		{"spiky", 1, series(8*day, time.Minute,
			func(_ time.Duration, r *rand.Rand) float64 {
				if r.Float64() < 0.05 {
					return 2000 + 500*r.Float64()
				}
				return 100 * (1 + 0.2*r.Float64())
			},
			func(_ time.Duration, r *rand.Rand) float64 {
				if r.Float64() < 0.002 {
					return 1024 * mi
				}
				return 100 * mi * (1 + 0.1*r.Float64())
			}, 200)},
		{"growing", 1, series(8*day, time.Minute,
			func(e time.Duration, r *rand.Rand) float64 {
				return (100 + 900*float64(e)/float64(8*day)) * (1 + 0.05*r.NormFloat64())
			},
			func(e time.Duration, r *rand.Rand) float64 { return (100 + 700*float64(e)/float64(8*day)) * mi }, 300)},
		{"oom", 1, oom},
		{"few-samples", 1, series(5*time.Minute, time.Minute, noisy(400, 0.1), noisy(120*mi, 0.05), 100)},
		{"hamster", 1, series(2*time.Hour, time.Minute, noisy(500, 0.05), noisy(200*mi, 0.02), 100)},
		{"hamster-day", 1, series(day, time.Minute, noisy(500, 0.05), noisy(200*mi, 0.02), 100)},
		{"two-tiny-containers", 2, two},
		{"sparse-hourly", 1, series(10*day, time.Hour, noisy(1500, 0.3), noisy(2048*mi, 0.2), 1000)},
	}
}

// runTailor feeds events into Tailor's model and returns estimates per container.
func runTailor(tb testing.TB, sc scenario) []logic.Estimate {
	aggs := feedAll(tb, sc)
	r, err := logic.New(logic.Default())
	if err != nil {
		tb.Fatal(err)
	}
	mins := r.PodMinimums(sc.containers)
	out := make([]logic.Estimate, sc.containers)
	for i, a := range aggs {
		out[i] = r.Estimate(a, mins)
	}
	return out
}

func upstreamConfig() ulogic.RecommendationConfig {
	return ulogic.RecommendationConfig{
		SafetyMarginFraction:       0.15,
		PodMinCPUMillicores:        25,
		PodMinMemoryMb:             250,
		TargetCPUPercentile:        0.9,
		LowerBoundCPUPercentile:    0.5,
		UpperBoundCPUPercentile:    0.95,
		ConfidenceIntervalCPU:      24 * time.Hour,
		TargetMemoryPercentile:     0.9,
		LowerBoundMemoryPercentile: 0.5,
		UpperBoundMemoryPercentile: 0.95,
		ConfidenceIntervalMemory:   24 * time.Hour,
	}
}

// runUpstream feeds the same events into upstream VPA's model and runs its
// PodResourceRecommender.
func runUpstream(tb testing.TB, sc scenario) ([]logic.Estimate, []*umodel.AggregateContainerState) {
	aggs := make([]*umodel.AggregateContainerState, sc.containers)
	conts := make([]*umodel.ContainerState, sc.containers)
	m := umodel.ContainerNameToAggregateStateMap{}
	for i := range aggs {
		aggs[i] = umodel.NewAggregateContainerState()
		conts[i] = umodel.NewContainerState(nil, aggs[i])
		m[string(rune('a'+i))] = aggs[i]
	}
	for _, e := range sc.events {
		c := conts[e.cont]
		switch e.kind {
		case 'c':
			c.AddSample(&umodel.ContainerUsageSample{MeasureStart: e.t, Usage: umodel.ResourceAmount(e.v), Resource: umodel.ResourceCPU})
		case 'm':
			c.AddSample(&umodel.ContainerUsageSample{MeasureStart: e.t, Usage: umodel.ResourceAmount(e.v), Resource: umodel.ResourceMemory})
		case 'o':
			if err := c.RecordOOM(e.t, umodel.ResourceAmount(e.v)); err != nil {
				tb.Fatal(err)
			}
		}
	}
	rec := ulogic.CreatePodResourceRecommender(upstreamConfig()).GetRecommendedPodResources(m)
	out := make([]logic.Estimate, sc.containers)
	for i := range aggs {
		r := rec[string(rune('a'+i))]
		conv := func(x umodel.Resources) logic.Amounts {
			return logic.Amounts{int64(x[umodel.ResourceCPU]), int64(x[umodel.ResourceMemory])}
		}
		out[i] = logic.Estimate{Target: conv(r.Target), LowerBound: conv(r.LowerBound), UpperBound: conv(r.UpperBound)}
	}
	return out, aggs
}

func within(a, b int64, tol float64) bool {
	if a == b {
		return true
	}
	return math.Abs(float64(a-b)) <= tol*math.Max(math.Abs(float64(a)), math.Abs(float64(b)))
}

func compare(t *testing.T, what string, got, want logic.Estimate, tol float64) {
	t.Helper()
	names := [2]string{"cpu(m)", "memory(B)"}
	for i := range 2 {
		for _, x := range []struct {
			n    string
			g, w int64
		}{
			{"target", got.Target[i], want.Target[i]},
			{"lowerBound", got.LowerBound[i], want.LowerBound[i]},
			{"upperBound", got.UpperBound[i], want.UpperBound[i]},
		} {
			if !within(x.g, x.w, tol) {
				t.Errorf("%s %s %s: tailor %d, upstream %d (%.2f%% off)", what, names[i], x.n, x.g, x.w,
					100*math.Abs(float64(x.g-x.w))/float64(max(x.w, 1)))
			}
		}
	}
}

func TestMatchesUpstream(t *testing.T) {
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			got := runTailor(t, sc)
			want, _ := runUpstream(t, sc)
			for i := range got {
				compare(t, sc.name, got[i], want[i], 0.05)
				t.Logf("max deviation from upstream: %.3f%%", 100*maxDev(got[i], want[i]))
				t.Logf("container %d target cpu %dm mem %dMi | lower %dm %dMi | upper %dm %dMi (upstream target %dm %dMi)",
					i, got[i].Target[0], got[i].Target[1]/mi, got[i].LowerBound[0], got[i].LowerBound[1]/mi,
					got[i].UpperBound[0], got[i].UpperBound[1]/mi, want[i].Target[0], want[i].Target[1]/mi)
			}
		})
	}
}

func maxDev(a, b logic.Estimate) float64 {
	d := 0.0
	for _, p := range [][2]logic.Amounts{{a.Target, b.Target}, {a.LowerBound, b.LowerBound}, {a.UpperBound, b.UpperBound}} {
		for i := range 2 {
			if x, y := float64(p[0][i]), float64(p[1][i]); x != y {
				d = math.Max(d, math.Abs(x-y)/math.Max(x, y))
			}
		}
	}
	return d
}

// feedAll feeds a scenario's events into one Tailor aggregate per container.
func feedAll(tb testing.TB, sc scenario) []*model.Aggregate {
	p := model.DefaultParams()
	aggs := make([]*model.Aggregate, sc.containers)
	conts := make([]*model.Container, sc.containers)
	for i := range aggs {
		aggs[i] = model.NewAggregate(p, t0)
		conts[i] = model.NewContainer(aggs[i])
	}
	for _, e := range sc.events {
		c := conts[e.cont]
		switch e.kind {
		case 'c':
			c.AddCPU(e.t, e.v, e.req)
		case 'm':
			c.AddMemory(e.t, e.v)
		case 'o':
			if err := c.RecordOOM(e.t, e.v); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return aggs
}
