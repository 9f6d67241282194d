package logic

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func rules(window *int32, sel autoscalingv2.ScalingPolicySelect, policies ...autoscalingv2.HPAScalingPolicy) *autoscalingv2.HPAScalingRules {
	r := &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: window, Policies: policies}
	if sel != "" {
		r.SelectPolicy = &sel
	}
	return r
}

func pol(typ autoscalingv2.HPAScalingPolicyType, v, period int32) autoscalingv2.HPAScalingPolicy {
	return autoscalingv2.HPAScalingPolicy{Type: typ, Value: v, PeriodSeconds: period}
}

// TestDecide covers normalisation: legacy limits, behavior policies and
// windows, clamps, invalid metrics.
func TestDecide(t *testing.T) {
	// util returns cpu samples giving the current n pods a utilisation of pct (request 1000m).
	util := func(n int, pct int64) MetricValues {
		v := make([]int64, n)
		for i := range v {
			v[i] = pct * 10
		}
		return MetricValues{Pods: samples(v...)}
	}
	withBehavior := func(in Input, b *autoscalingv2.HorizontalPodAutoscalerBehavior) Input {
		in.Spec.Behavior = b
		return in
	}
	withHistory := func(in Input, h History) Input { in.History = h; return in }
	rec := func(r int32, ago time.Duration) Recommendation {
		return Recommendation{Replicas: r, Time: t0.Add(-ago)}
	}
	cpu50 := func(minR, maxR, current int32, pct int64) Input {
		return input(spec(minR, maxR, cpuUtil(50)), current, pods(int(current), 1000), util(int(current), pct))
	}
	cases := []struct {
		name       string
		in         Input
		want       int32
		able       string // AbleToScale reason
		limited    string // ScalingLimited reason
		active     string // ScalingActive reason
		reasonText string
	}{
		{name: "legacy: seed 1 → 2", in: cpu50(1, 10, 1, 100), want: 2, able: "ReadyForNewScale", limited: "DesiredWithinRange", active: "ValidMetricFound", reasonText: "cpu resource utilization (percentage of request) above target"},
		{name: "legacy: scale-up limited to max(2×, 4)", in: cpu50(1, 10, 1, 242), want: 4, limited: "ScaleUpLimit"},
		{name: "legacy: scale-up limited to 2× current", in: cpu50(1, 30, 5, 250), want: 10, limited: "ScaleUpLimit"},
		{name: "legacy: max replicas", in: cpu50(1, 10, 8, 100), want: 10, limited: "TooManyReplicas"},
		{name: "legacy: min replicas", in: cpu50(3, 10, 4, 10), want: 3, limited: "TooFewReplicas", reasonText: "All metrics below target"},
		{name: "legacy: scale-down stabilised by the 5 min window", in: withHistory(cpu50(1, 10, 8, 10), History{Recommendations: []Recommendation{rec(8, 4*time.Minute)}}), want: 8, able: "ScaleDownStabilized"},
		{name: "legacy: window passed", in: withHistory(cpu50(1, 10, 8, 10), History{Recommendations: []Recommendation{rec(8, 6*time.Minute)}}), want: 2, able: "ReadyForNewScale"},
		{name: "current above max", in: cpu50(1, 5, 7, 100), want: 5, reasonText: "Current number of replicas above Spec.MaxReplicas"},
		{name: "current below min", in: cpu50(3, 5, 2, 100), want: 3, reasonText: "Current number of replicas below Spec.MinReplicas"},
		{name: "target at zero: scaling disabled", in: input(spec(1, 10, cpuUtil(50)), 0, nil), want: 0, active: "ScalingDisabled"},
		{name: "behavior defaults: +4 pods beats +100% from 1", in: withBehavior(cpu50(1, 20, 1, 1000), &autoscalingv2.HorizontalPodAutoscalerBehavior{}), want: 5, limited: "ScaleUpLimit"},
		{name: "behavior defaults: +100% beats +4 from 6", in: withBehavior(cpu50(1, 30, 6, 1000), &autoscalingv2.HorizontalPodAutoscalerBehavior{}), want: 12, limited: "ScaleUpLimit"},
		{name: "behavior: recent scale-up counts against the period", in: withHistory(withBehavior(cpu50(1, 30, 5, 1000), &autoscalingv2.HorizontalPodAutoscalerBehavior{}), History{ScaleUps: []ScaleEvent{{Change: 4, Time: t0.Add(-10 * time.Second)}}}), want: 5, limited: "ScaleUpLimit"},
		{name: "behavior: select Min", in: withBehavior(cpu50(1, 30, 10, 100), &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: rules(nil, autoscalingv2.MinChangePolicySelect, pol(autoscalingv2.PodsScalingPolicy, 1, 60), pol(autoscalingv2.PercentScalingPolicy, 50, 60))}), want: 11, limited: "ScaleUpLimit"},
		{name: "behavior: scale-up disabled", in: withBehavior(cpu50(1, 30, 10, 100), &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: rules(nil, autoscalingv2.DisabledPolicySelect)}), want: 10, limited: "ScaleUpLimit"},
		{name: "behavior: scale-down disabled", in: withBehavior(cpu50(1, 30, 10, 10), &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: rules(ptr(int32(0)), autoscalingv2.DisabledPolicySelect)}), want: 10, limited: "ScaleDownLimit"},
		{name: "behavior: percent scale-down truncates", in: withBehavior(cpu50(1, 30, 10, 5), &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: rules(ptr(int32(0)), "", pol(autoscalingv2.PercentScalingPolicy, 30, 60))}), want: 7, limited: "ScaleDownLimit"},
		{name: "behavior: pods scale-down, earlier removal counts", in: withHistory(withBehavior(cpu50(1, 30, 8, 5), &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: rules(ptr(int32(0)), "", pol(autoscalingv2.PodsScalingPolicy, 3, 60))}), History{ScaleDowns: []ScaleEvent{{Change: 2, Time: t0.Add(-30 * time.Second)}}}), want: 7, limited: "ScaleDownLimit"},
		{name: "behavior: default scale-down window holds", in: withHistory(withBehavior(cpu50(1, 30, 8, 10), &autoscalingv2.HorizontalPodAutoscalerBehavior{}), History{Recommendations: []Recommendation{rec(8, 299*time.Second)}}), want: 8, able: "ScaleDownStabilized"},
		{name: "behavior: window 0 scales down at once", in: withHistory(withBehavior(cpu50(1, 30, 8, 10), &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: rules(ptr(int32(0)), "")}), History{Recommendations: []Recommendation{rec(8, 10*time.Second)}}), want: 2},
		{name: "behavior: scale-up window takes the lowest recent", in: withHistory(withBehavior(cpu50(1, 30, 3, 100), &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: rules(ptr(int32(60)), "")}), History{Recommendations: []Recommendation{rec(4, 30*time.Second), rec(3, 90*time.Second)}}), want: 4, able: "ScaleUpStabilized"},
		{name: "behavior: scale-down to min", in: withBehavior(cpu50(2, 30, 8, 1), &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: rules(ptr(int32(0)), "")}), want: 2, limited: "TooFewReplicas"},
		{name: "behavior: per-direction tolerance, 5% up", in: withBehavior(cpu50(1, 30, 10, 54), &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: &autoscalingv2.HPAScalingRules{Tolerance: ptr(resource.MustParse("0.05"))}}), want: 11},
		{name: "behavior: per-direction tolerance, default down", in: withBehavior(cpu50(1, 30, 10, 46), &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: &autoscalingv2.HPAScalingRules{Tolerance: ptr(resource.MustParse("0.05"))}}), want: 10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := Decide(c.in)
			if d.DesiredReplicas != c.want {
				t.Fatalf("desired %d, want %d (conditions %+v, err %v)", d.DesiredReplicas, c.want, d.Conditions, d.Err)
			}
			if d.Rescale != (c.want != c.in.SpecReplicas) {
				t.Errorf("rescale %v", d.Rescale)
			}
			for _, chk := range []struct {
				typ  autoscalingv2.HorizontalPodAutoscalerConditionType
				want string
			}{{autoscalingv2.AbleToScale, c.able}, {autoscalingv2.ScalingLimited, c.limited}, {autoscalingv2.ScalingActive, c.active}} {
				if chk.want == "" {
					continue
				}
				if got, _ := conditionOf(d, chk.typ); got.Reason != chk.want {
					t.Errorf("%s reason %q, want %q", chk.typ, got.Reason, chk.want)
				}
			}
			if c.reasonText != "" && d.RescaleReason != c.reasonText {
				t.Errorf("rescale reason %q, want %q", d.RescaleReason, c.reasonText)
			}
		})
	}
}

// TestInvalidMetrics: a missing metric never lets the others scale down.
func TestInvalidMetrics(t *testing.T) {
	broken := MetricValues{Err: errors.New("connection refused")}
	s := spec(1, 10, cpuUtil(50), promMetric(autoscalingv2.ValueMetricType, "100"))
	down := Decide(input(s, 4, pods(4, 1000), MetricValues{Pods: samples(100, 100, 100, 100)}, broken))
	if down.DesiredReplicas != 4 || down.Rescale || down.Err == nil {
		t.Fatalf("scale-down with an invalid metric: desired %d rescale %v err %v", down.DesiredReplicas, down.Rescale, down.Err)
	}
	c, _ := conditionOf(down, autoscalingv2.ScalingActive)
	if c.Status != corev1.ConditionFalse || c.Reason != "FailedGetPrometheusMetric" || !strings.Contains(c.Message, "the HPA was unable to compute the replica count: failed to get prometheus metric value: connection refused") {
		t.Errorf("ScalingActive %+v", c)
	}
	if !hasEvent(down, "FailedComputeMetricsReplicas", "invalid metrics (1 invalid out of 2)") || !hasEvent(down, "FailedGetPrometheusMetric", "connection refused") {
		t.Errorf("events %+v", down.Events)
	}

	up := Decide(input(s, 2, pods(2, 1000), MetricValues{Pods: samples(1000, 1000)}, broken))
	if up.DesiredReplicas != 4 || up.Err == nil {
		t.Fatalf("scale-up with an invalid metric: desired %d err %v", up.DesiredReplicas, up.Err)
	}
	if c, _ := conditionOf(up, autoscalingv2.ScalingActive); c.Status != corev1.ConditionTrue {
		t.Errorf("ScalingActive %+v", c)
	}

	all := Decide(input(spec(1, 10, cpuUtil(50)), 3, pods(3, 1000), broken))
	if all.DesiredReplicas != 3 || all.Rescale || all.Err == nil {
		t.Fatalf("all invalid: %+v", all)
	}
	if c, _ := conditionOf(all, autoscalingv2.ScalingActive); c.Reason != "FailedGetResourceMetric" {
		t.Errorf("ScalingActive %+v", c)
	}
}

func hasEvent(d Decision, reason, text string) bool {
	for _, e := range d.Events {
		if e.Reason == reason && strings.Contains(e.Message, text) {
			return true
		}
	}
	return false
}

// TestSeveralMetricsLargestWins: the largest proposal decides.
func TestSeveralMetricsLargestWins(t *testing.T) {
	s := spec(1, 20, cpuUtil(50), podsMetric("10"), externalMetric(autoscalingv2.AverageValueMetricType, "1"))
	d := Decide(input(s, 2, pods(2, 1000), MetricValues{Pods: samples(500, 500)}, MetricValues{Pods: samples(30000, 30000)}, MetricValues{Value: 3000}))
	if d.DesiredReplicas != 4 { // 2, 6 (limited to 4 by the legacy 2× rule), 3
		t.Fatalf("desired %d", d.DesiredReplicas)
	}
	if d.RescaleReason != "pods metric qps above target" {
		t.Errorf("reason %q", d.RescaleReason)
	}
	if got := d.RescaleMessage(); got != "New size: 4; reason: pods metric qps above target; metrics: cpu 50%/50%, qps 30/10, queue 1500m/1 (avg)" {
		t.Errorf("event %q", got)
	}
	if got := Targets(s.Metrics, d.MetricStatuses); got != "cpu: 50%/50%, 30/10 (avg) + 1 more..." {
		t.Errorf("targets %q", got)
	}
}

// TestPHPApacheWalkthrough replays the seed's walkthrough: php-apache
// (request 200m, limit 500m), cpu 50%, min 1 max 10; ~620m of demand spread
// over the ready pods (the single pod shows 242% first), then no demand.
func TestPHPApacheWalkthrough(t *testing.T) {
	s := spec(1, 10, cpuUtil(50))
	now := t0
	var ps []Pod
	add := func(n int) {
		for i := 0; i < n; i++ {
			ps = append(ps, Pod{Name: fmt.Sprintf("php-apache-%d", len(ps)), Phase: corev1.PodRunning, StartTime: now,
				Ready:      &ReadyCondition{Status: true, LastTransitionTime: now.Add(5 * time.Second)},
				Containers: []Container{{Name: "php-apache", Requests: map[corev1.ResourceName]int64{corev1.ResourceCPU: 200}}}})
		}
	}
	add(1)
	ps[0].StartTime, ps[0].Ready.LastTransitionTime = now.Add(-time.Hour), now.Add(-time.Hour) // running before the load
	var h History
	step := func(demand int64) Decision {
		vals := MetricValues{Pods: map[string]Sample{}}
		per := demand / int64(len(ps))
		for _, p := range ps {
			vals.Pods[p.Name] = Sample{Value: min(per, 500), Timestamp: now, Window: 15 * time.Second}
		}
		in := Input{Now: now, Config: DefaultConfig(), Spec: s, SpecReplicas: int32(len(ps)), StatusReplicas: int32(len(ps)), Pods: ps, Metrics: []MetricValues{vals}, History: h}
		d := Decide(in)
		h = d.History
		if d.Rescale {
			h = RecordScale(h, s, in.Config, in.SpecReplicas, d.DesiredReplicas, now)
			if n := int(d.DesiredReplicas); n > len(ps) {
				add(n - len(ps))
			} else {
				ps = ps[:n]
			}
		}
		now = now.Add(15 * time.Second)
		return d
	}
	first := step(484)
	if first.Proposals[0].Value != "cpu 242%/50%" || first.DesiredReplicas != 4 {
		t.Fatalf("first step: %s → %d", first.Proposals[0].Value, first.DesiredReplicas)
	}
	var last Decision
	for i := 0; i < 20; i++ {
		last = step(620)
	}
	util := *last.MetricStatuses[0].Resource.Current.AverageUtilization
	if len(ps) != 7 || util >= 50 {
		t.Fatalf("settled at %d replicas, %d%%; want 7 under 50%%", len(ps), util)
	}
	t.Logf("settled: %s, %d replicas", last.Proposals[0].Value, len(ps))
	// Demand removed: held for the 5 min window, then back to 1.
	for i := 0; i < 19; i++ { // 4m45s
		if step(5); len(ps) != 7 {
			t.Fatalf("scaled down to %d after %d syncs, inside the stabilisation window", len(ps), i+1)
		}
	}
	for i := 0; i < 3 && len(ps) != 1; i++ {
		step(5)
	}
	if len(ps) != 1 {
		t.Fatalf("%d replicas after the window, want 1", len(ps))
	}
}
