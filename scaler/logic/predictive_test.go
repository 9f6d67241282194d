package logic

import (
	"testing"
	"time"

	scalerv1 "github.com/tailor-dev/tailor/scaler/api/v1alpha1"
)

func TestForecast(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 10, 0, 0, time.UTC)
	at := func(sec int, r int32) Recommendation {
		return Recommendation{Replicas: r, Time: now.Add(time.Duration(sec) * time.Second)}
	}
	cases := []struct {
		name string
		recs []Recommendation
		want float64
		ok   bool
	}{
		{"too few", []Recommendation{at(-15, 4), at(0, 5)}, 0, false},
		{"flat", []Recommendation{at(-30, 4), at(-15, 4), at(0, 4)}, 4, true},
		{"rising one a sync: 2 more in 30 s", []Recommendation{at(-30, 2), at(-15, 3), at(0, 4)}, 6, true},
		{"older than the fit are ignored", []Recommendation{at(-900, 100), at(-30, 4), at(-15, 4), at(0, 4)}, 4, true},
		{"one instant: the mean", []Recommendation{at(0, 2), at(0, 4), at(0, 6)}, 4, true},
	}
	for _, c := range cases {
		got, ok := forecast(c.recs, now, 10*time.Minute, 30*time.Second)
		if ok != c.ok || (ok && (got < c.want-1e-9 || got > c.want+1e-9)) {
			t.Errorf("%s: forecast = %v, %v; want %v, %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

// TestPredictive runs the policy through Decide: a rising load gets pods
// ahead of the proposal, a drop is followed after 90 s rather than 5 min.
func TestPredictive(t *testing.T) {
	type step struct {
		sec          int
		current      int32
		util         int64 // per-pod CPU millicores of a 1000m request
		wantReplicas int32
	}
	cases := []struct {
		name   string
		policy scalerv1.ScalingPolicy
		steps  []step
	}{{
		name: "rising load: the forecast leads the proposal", policy: scalerv1.PolicyPredictive,
		// 10 pods at 50 %, then 60 %, 70 %, 80 %: proposals 10, 12, 14, 16;
		// the trend (+2 a sync) 30 s ahead, capped at proposal × 1.1.
		steps: []step{{0, 10, 500, 10}, {15, 10, 600, 12}, {30, 10, 700, 16}, {45, 10, 800, 18}},
	}, {
		name: "rising load, upstream: the proposal", policy: scalerv1.PolicyUpstream,
		steps: []step{{0, 10, 500, 10}, {15, 10, 600, 12}, {30, 10, 700, 14}, {45, 10, 800, 16}},
	}, {
		name: "a drop is followed after 90 s", policy: scalerv1.PolicyPredictive,
		steps: []step{{0, 10, 500, 10}, {15, 10, 250, 10}, {30, 10, 250, 10}, {60, 10, 250, 10}, {90, 10, 250, 10}, {120, 10, 250, 5}},
	}, {
		name: "a drop, upstream: held 5 minutes", policy: scalerv1.PolicyUpstream,
		steps: []step{{0, 10, 500, 10}, {15, 10, 250, 10}, {120, 10, 250, 10}, {299, 10, 250, 10}, {301, 10, 250, 5}},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := spec(1, 100, cpuUtil(50))
			s.Policy = c.policy
			var h History
			for _, st := range c.steps {
				ps := pods(int(st.current), 1000)
				vals := map[string]Sample{}
				for _, p := range ps {
					vals[p.Name] = Sample{Value: st.util, Timestamp: t0.Add(time.Duration(st.sec) * time.Second), Window: time.Minute}
				}
				in := Input{Now: t0.Add(time.Duration(st.sec) * time.Second), Config: DefaultConfig(), Spec: s,
					SpecReplicas: st.current, StatusReplicas: st.current, Pods: ps, Metrics: []MetricValues{{Pods: vals}}, History: h}
				d := Decide(in)
				h = d.History
				if d.DesiredReplicas != st.wantReplicas {
					t.Fatalf("at %ds: desired %d, want %d (conditions %+v)", st.sec, d.DesiredReplicas, st.wantReplicas, d.Conditions)
				}
			}
		})
	}
}
