package logic

import (
	"math"
	"strings"
	"testing"
	"time"

	scalerv1 "github.com/tailor-dev/tailor/scaler/api/v1alpha1"
)

var nan = math.NaN()

func rec(sec int, demand float64) Recommendation {
	return Recommendation{Time: t0.Add(time.Duration(sec) * time.Second), Demand: demand, Error: nan}
}

func TestForecast(t *testing.T) {
	cases := []struct {
		name string
		recs []Recommendation
		want float64
		ok   bool
	}{
		{"too few", []Recommendation{rec(-15, 4), rec(0, 5)}, 0, false},
		{"flat", []Recommendation{rec(-30, 4), rec(-15, 4), rec(0, 4)}, 4, true},
		{"rising 1 a sync: the line at now plus 45 s of its slope", []Recommendation{rec(-30, 2), rec(-15, 3), rec(0, 4)}, 7, true},
		{"falling: the line at now, not extrapolated", []Recommendation{rec(-30, 6), rec(-15, 5), rec(0, 4)}, 4, true},
		{"noisy: the median slope (0.022/s) through the median residual (5.5) at now", []Recommendation{rec(-45, 4), rec(-30, 6), rec(-15, 4), rec(0, 6)}, 6.5, true},
		// Least squares: 11.5 at now and +0.057/s, 14.1 with the lead.
		{"after a step: the new level, no tilt", []Recommendation{rec(-105, 4), rec(-90, 4), rec(-75, 10), rec(-60, 10), rec(-45, 10), rec(-30, 10), rec(-15, 10), rec(0, 10)}, 10, true},
		{"an outlier does not tilt the line", []Recommendation{rec(-60, 4), rec(-45, 4), rec(-30, 40), rec(-15, 4), rec(0, 4)}, 4, true},
		{"non-finite demands are skipped", []Recommendation{rec(-45, math.Inf(1)), rec(-30, 4), rec(-15, nan), rec(-10, 4), rec(0, 4)}, 4, true},
		{"older than the fit and future records are ignored", []Recommendation{rec(-900, 100), rec(-30, 4), rec(-15, 4), rec(0, 4), rec(15, 100)}, 4, true},
		{"one instant: the mean", []Recommendation{rec(0, 2), rec(0, 4), rec(0, 6)}, 4, true},
	}
	for _, c := range cases {
		got, ok := Forecast(c.recs, t0, 5*time.Minute, 45*time.Second)
		if ok != c.ok || (ok && math.Abs(got-c.want) > 1e-9) {
			t.Errorf("%s: Forecast = %v, %v; want %v, %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

func TestMargin(t *testing.T) {
	withErr := func(sec int, e float64) Recommendation { r := rec(sec, 1); r.Error = e; return r }
	errs := []Recommendation{withErr(-300, 0.9), withErr(-60, -0.2), withErr(-45, 0.1), withErr(-30, nan), withErr(-15, 0.3), withErr(0, 0.05)}
	cases := []struct {
		name string
		from int
		q    float64
		want float64
	}{
		{"median of the window (NaN skipped)", -60, 0.5, 0.05},
		{"80 %", -60, 0.8, 0.3},
		{"older errors count when the window holds them", -300, 1, 0.9},
		{"signed: below zero when forecasts ran high", -60, 0.1, -0.2},
		{"none in the window", 60, 0.5, 0},
		{"a quantile above 1 is the largest", -60, 7, 0.3},
		{"a NaN quantile is no margin", -60, nan, 0},
	}
	for _, c := range cases {
		if got := Margin(errs, t0.Add(time.Duration(c.from)*time.Second), c.q); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s: Margin = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestErrorOf(t *testing.T) {
	fc := func(sec int, f float64) Recommendation { r := rec(sec, 1); r.Forecast = f; return r }
	cases := []struct {
		name string
		recs []Recommendation
		want float64 // NaN: none
	}{
		{"the forecast made 45 s ago", []Recommendation{fc(-60, 8), fc(-45, 10), fc(-30, 20)}, 0.2},
		{"the newest at least 45 s old", []Recommendation{fc(-50, 8), fc(-44, 20)}, 0.5},
		{"none old enough", []Recommendation{fc(-30, 10)}, nan},
		{"too old (more than half a lead late)", []Recommendation{fc(-90, 10)}, nan},
		{"no forecast then", []Recommendation{rec(-45, 3)}, nan},
	}
	for _, c := range cases {
		got := errorOf(c.recs, t0, 45*time.Second, 12)
		if math.IsNaN(c.want) != math.IsNaN(got) || (!math.IsNaN(got) && math.Abs(got-c.want) > 1e-12) {
			t.Errorf("%s: errorOf = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestLastChange(t *testing.T) {
	at := func(sec int, cur int32) Recommendation { r := rec(sec, 1); r.Current = cur; return r }
	cases := []struct {
		name string
		recs []Recommendation
		want time.Time
	}{
		{"never changed", []Recommendation{at(-30, 5), at(-15, 5)}, time.Time{}},
		{"the decision at -30 rescaled", []Recommendation{at(-45, 6), at(-30, 6), at(-15, 5)}, t0.Add(-30 * time.Second)},
		{"the newest record rescaled", []Recommendation{at(-30, 5), at(-15, 6)}, t0.Add(-15 * time.Second)},
	}
	for _, c := range cases {
		if got := lastChange(c.recs, 5); !got.Equal(c.want) {
			t.Errorf("%s: lastChange = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestExactDemand(t *testing.T) {
	req := map[string]int64{"p0": 1000, "p1": 1000, "p2": 2000}
	cases := []struct {
		name    string
		samples map[string]Sample
		target  int32
		want    float64
	}{
		{"three pods at 50 % of a 50 % target", map[string]Sample{"p0": {Value: 500}, "p1": {Value: 500}, "p2": {Value: 1000}}, 50, 3},
		{"not truncated to whole percent", map[string]Sample{"p0": {Value: 333}, "p1": {Value: 333}}, 50, 1.332},
		{"a sample of a pod not selected is ignored", map[string]Sample{"p0": {Value: 1000}, "x": {Value: 1000}}, 50, 2},
		{"no requests", map[string]Sample{"x": {Value: 1}}, 50, 0},
		{"no target", map[string]Sample{"p0": {Value: 1}}, 0, 0},
	}
	for _, c := range cases {
		if got := exactDemand(c.samples, req, c.target); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("%s: exactDemand = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestPredictive runs the policy through Decide, every 15 s, samples over
// the minute before each decision.
func TestPredictive(t *testing.T) {
	type step struct {
		sec     int
		current int32
		util    int64 // per-pod CPU millicores of a 1000m request
		want    int32
		reason  string // AbleToScale reason, when set
	}
	flat := func(current int32, util int64, from, to int) []step {
		var out []step
		for sec := from; sec < to; sec += 15 {
			out = append(out, step{sec, current, util, current, ""})
		}
		return out
	}
	cases := []struct {
		name   string
		policy scalerv1.ScalingPolicy
		steps  []step
	}{{
		name: "rising load: the forecast leads the proposal", policy: scalerv1.PolicyPredictive,
		// 10 pods at 50 %, then 60 %, 70 %, 80 %: demands 10, 12, 14, 16;
		// the line (+2 a sync) at now plus 45 s of it: 16 + 6 = 22.
		steps: []step{{0, 10, 500, 10, ""}, {15, 10, 600, 12, "FollowingProposal"}, {30, 10, 700, 20, "ForecastScaleUp"}, {45, 10, 800, 20, ""}},
	}, {
		name: "rising load, upstream: the proposal", policy: scalerv1.PolicyUpstream,
		steps: []step{{0, 10, 500, 10, ""}, {15, 10, 600, 12, ""}, {30, 10, 700, 14, ""}, {45, 10, 800, 16, ""}},
	}, {
		name: "no dead band: 8 % above target adds a pod the HPA would not", policy: scalerv1.PolicyPredictive,
		// Demand 12 × 0.54 ÷ 0.5 = 12.96.
		steps: []step{{0, 12, 540, 12, ""}, {15, 12, 540, 12, ""}, {30, 12, 540, 13, "ForecastScaleUp"}},
	}, {
		name: "8 % above target, upstream: within tolerance", policy: scalerv1.PolicyUpstream,
		steps: []step{{0, 12, 540, 12, ""}, {15, 12, 540, 12, ""}, {30, 12, 540, 12, ""}},
	}, {
		name: "a step above the forecast is followed at once, within the scale-up limit", policy: scalerv1.PolicyPredictive,
		// 20 pods at demand 20 for 150 s, then 30 (the whole window at
		// once): above every earlier error (0), a step; its level as if
		// it entered half a sync ago, 30 + 10 × (60 − 7.5) ÷ 15 = 65, is
		// limited to double the replicas.
		steps: append(flat(20, 500, 0, 150), step{150, 20, 750, 40, "ForecastScaleUp: demand of a step"}),
	}, {
		name: "a step entering the metric window: its level from the window's rise", policy: scalerv1.PolicyPredictive,
		// Demand 20, then a step to 40 10 s before the 150 s decision: the
		// 1-minute window mean is 23.33 (583m a pod), above every earlier
		// error (0). Entered, on average, half a sync ago (7.5 s): the
		// level is 23.32 + 3.32 × (60 − 7.5) ÷ 15 = 34.94 → 35.
		steps: append(flat(20, 500, 0, 150), step{150, 20, 583, 35, "ForecastScaleUp: demand of a step"}),
	}, {
		name: "a drop: down once the metric window began after the last rescale", policy: scalerv1.PolicyPredictive,
		// demand 10, then 5: at 45 s the Theil–Sen line through 10, 10,
		// 10, 5 is 7.92 at now (a falling trend is not extrapolated) → 8;
		// at 60 and 90 s the window began before the rescale at 45 s: held;
		// at 105 s it measures the 8 pods alone: the line through 10, 10,
		// 10, 5, 5.008, 5.008, 5.008 is 4.18 at now, below the measured
		// 5.008 (the errors' 80 % quantile is 0, their median −37 %: the
		// forecast made at 45 s ran high): the measurement, with no
		// negative margin on it → 6.
		steps: []step{{0, 10, 500, 10, ""}, {15, 10, 500, 10, ""}, {30, 10, 500, 10, ""}, {45, 10, 250, 8, "ScaleDown"}, {60, 8, 313, 8, "ScaleDownStabilized"}, {90, 8, 313, 8, "ScaleDownStabilized"}, {105, 8, 313, 6, "ScaleDown"}},
	}, {
		name: "a noisy demand: the forecast alone does not scale down", policy: scalerv1.PolicyPredictive,
		// 12 pods, demand alternating 12 and 8 (± a third): the line sits
		// near 8, and the errors' 80 % quantile (+50 %) keeps a measured
		// 12 from being a surprise. Down to the measured demand only: the
		// 8 (7.99) a low window needs, never below the 12 a high one does.
		steps: []step{{0, 12, 500, 12, ""}, {15, 12, 333, 8, "ScaleDown"}, {30, 12, 500, 12, ""}, {45, 12, 333, 9, "ScaleDown"}, {60, 12, 500, 12, ""},
			{75, 12, 333, 8, "ScaleDown: scaling down to 8: the measured demand 7.99 replicas needs them (the forecast 7)"},
			{90, 12, 500, 12, "ScaleDownStabilized: holding 12: the measured demand 12.00 replicas needs them (the forecast 8)"}},
	}, {
		name: "an idle window is a measured demand of 0: one does not move the trend", policy: scalerv1.PolicyPredictive,
		// A gap in the traffic (no usage for one window) among demands of
		// 10: the Theil–Sen line stays at 10. (As "no demand" it followed
		// the proposal, 1 replica, and a workload scaled to one pod met the
		// traffic's return.)
		steps: append(flat(10, 500, 0, 150), step{150, 10, 0, 10, "ReadyForNewScale"}, step{165, 10, 500, 10, ""}),
	}, {
		name: "a drop, upstream: held 5 minutes", policy: scalerv1.PolicyUpstream,
		steps: []step{{0, 10, 500, 10, ""}, {15, 10, 250, 10, ""}, {120, 10, 250, 10, ""}, {299, 10, 250, 10, ""}, {301, 10, 250, 5, ""}},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := spec(1, 100, cpuUtil(50))
			s.Policy = c.policy
			var h History
			for _, st := range c.steps {
				now := t0.Add(time.Duration(st.sec) * time.Second)
				ps := pods(int(st.current), 1000)
				vals := map[string]Sample{}
				for _, p := range ps {
					vals[p.Name] = Sample{Value: st.util, Timestamp: now, Window: time.Minute}
				}
				in := Input{Now: now, Config: DefaultConfig(), Spec: s,
					SpecReplicas: st.current, StatusReplicas: st.current, Pods: ps, Metrics: []MetricValues{{Pods: vals}}, History: h}
				d := Decide(in)
				h = d.History
				got := ""
				for _, cd := range d.Conditions {
					if cd.Type == "AbleToScale" {
						got = cd.Reason + ": " + cd.Message
					}
				}
				if d.DesiredReplicas != st.want || (st.reason != "" && !strings.HasPrefix(got, st.reason)) {
					t.Fatalf("at %ds: desired %d (%s), want %d (%s)", st.sec, d.DesiredReplicas, got, st.want, st.reason)
				}
			}
		})
	}
}

// FuzzPredictive: the forecast, margin, error and step functions never
// panic, and give finite, non-negative forecasts, finite margins (never
// below the smallest error) and step levels at least the demand on any
// records.
func FuzzPredictive(f *testing.F) {
	f.Add(int64(15), 4.0, 5.0, 0.1, 0.5, int64(45))
	f.Add(int64(0), math.Inf(1), -1.0, math.NaN(), 2.0, int64(-5))
	f.Add(int64(-15), 1e308, 1e308, -3.0, 0.0, int64(0))
	f.Fuzz(func(t *testing.T, step int64, a, b, e, q float64, lead int64) {
		var recs []Recommendation
		for i := range 6 {
			r := Recommendation{Time: t0.Add(time.Duration(int64(i)*step) * time.Second), Demand: a + float64(i)*b, Forecast: b, Error: e * float64(i-2), Current: int32(i % 2)}
			recs = append(recs, r)
		}
		now := recs[len(recs)-1].Time
		if fc, ok := Forecast(recs, now, 5*time.Minute, time.Duration(lead)*time.Second); ok && (fc < 0 || math.IsNaN(fc) || math.IsInf(fc, 0)) {
			t.Fatalf("Forecast = %v", fc)
		}
		if m := Margin(recs, t0, q); math.IsNaN(m) || math.IsInf(m, 0) || m < -3*math.Abs(e) {
			t.Fatalf("Margin = %v", m)
		}
		_ = errorOf(recs, now, time.Duration(lead)*time.Second, a)
		_ = lastChange(recs, 1)
		recs[4].Step = q > 0.5
		in := &Input{Now: now, Metrics: []MetricValues{{Pods: map[string]Sample{"p0": {Window: time.Duration(lead) * time.Second}}}}}
		if lvl, ok := stepLevel(in, recs[:5], a); ok && (lvl < a || math.IsNaN(lvl) || math.IsInf(lvl, 0)) {
			t.Fatalf("stepLevel = %v below the demand %v", lvl, a)
		}
	})
}

func TestStepLevel(t *testing.T) {
	at := func(sec int, demand float64, step bool) Recommendation {
		r := rec(sec, demand)
		r.Step = step
		return r
	}
	win := func(w time.Duration) *Input {
		return &Input{Now: t0, Metrics: []MetricValues{{Pods: map[string]Sample{"p0": {Window: w}, "p1": {Window: w / 2}}}}}
	}
	cases := []struct {
		name   string
		in     *Input
		recs   []Recommendation
		demand float64
		want   float64 // 0: not ok
	}{
		// k = 15 − 7.5: 14 + 4 × (30 − 7.5) ÷ 15.
		{"first sight, a 30 s window", win(30 * time.Second), []Recommendation{at(-30, 10, false), at(-15, 10, false)}, 14, 20},
		// k = 30 − 7.5: 18 + 4 × (60 − 22.5) ÷ 15; the longest window counts.
		{"second sight, a 1-minute window", win(time.Minute), []Recommendation{at(-30, 10, false), at(-15, 14, true)}, 18, 28},
		{"second sight, a 30 s window: 7.5 s left", win(30 * time.Second), []Recommendation{at(-30, 10, false), at(-15, 14, true)}, 18, 20},
		{"third sight, a 30 s window: full of it", win(30 * time.Second), []Recommendation{at(-45, 10, false), at(-30, 14, true), at(-15, 16, true)}, 18, 0},
		{"no rise", win(time.Minute), []Recommendation{at(-15, 14, false)}, 14, 0},
		{"no earlier decision", win(time.Minute), nil, 14, 0},
		{"only steps before", win(time.Minute), []Recommendation{at(-15, 10, true)}, 14, 0},
		{"no per-pod window", &Input{Now: t0}, []Recommendation{at(-15, 10, false)}, 14, 0},
	}
	for _, c := range cases {
		got, ok := stepLevel(c.in, c.recs, c.demand)
		if ok != (c.want > 0) || (ok && math.Abs(got-c.want) > 1e-9) {
			t.Errorf("%s: stepLevel = %v, %v; want %v", c.name, got, ok, c.want)
		}
	}
}

func TestUnmeasured(t *testing.T) {
	ps := pods(3, 1000)
	starting := readyPod("s", 1000)
	starting.Ready.Status = false
	gone := readyPod("g", 1000)
	gone.Deleting = true
	all := map[string]Sample{"p0": {Value: 1}, "p1": {Value: 1}, "p2": {Value: 1}}
	some := map[string]Sample{"p0": {Value: 1}, "p2": {Value: 1}}
	cases := []struct {
		name    string
		pods    []Pod
		metrics []MetricValues
		want    string
	}{
		{"every ready pod has a sample", ps, []MetricValues{{Pods: all}}, ""},
		{"a ready pod without one", ps, []MetricValues{{Pods: some}}, "p1"},
		{"starting and deleted pods need none", append(append([]Pod{}, ps...), starting, gone), []MetricValues{{Pods: all}}, ""},
		{"a metric without per-pod samples (External) needs none", ps, []MetricValues{{Pods: all}, {Value: 5}}, ""},
		{"a failed metric is not consulted", ps, []MetricValues{{Pods: all}, {Err: errNoPods, Pods: some}}, ""},
		{"any per-pod metric", ps, []MetricValues{{Pods: all}, {Pods: some}}, "p1"},
	}
	for _, c := range cases {
		if got := unmeasured(&Input{Pods: c.pods, Metrics: c.metrics}); got != c.want {
			t.Errorf("%s: unmeasured = %q, want %q", c.name, got, c.want)
		}
	}
}
