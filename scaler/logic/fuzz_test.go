package logic

import (
	"fmt"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"

	scalerv1 "github.com/tailor-dev/tailor/scaler/api/v1alpha1"
)

// FuzzDecide: any input decides without panicking, and a decision made on
// metrics stays within [min, max].
func FuzzDecide(f *testing.F) {
	f.Add(int32(1), int32(10), int32(1), uint8(1), int64(200), int64(484), int32(50), uint8(0), int32(0), uint8(0))
	f.Add(int32(2), int32(5), int32(9), uint8(3), int64(0), int64(-1), int32(0), uint8(1), int32(-3), uint8(7))
	f.Add(int32(0), int32(5), int32(0), uint8(0), int64(0), int64(3000), int32(1), uint8(2), int32(400), uint8(8))
	f.Add(int32(0), int32(5), int32(2), uint8(2), int64(1000), int64(0), int32(1), uint8(3), int32(400), uint8(8))
	f.Fuzz(func(t *testing.T, minR, maxR, current int32, n uint8, request, usage int64, target int32, kind uint8, policy int32, flags uint8) {
		if minR < 0 || maxR < max(minR, 1) || current < 0 || (minR == 0 && kind%4 < 2) {
			return // refused by validation: minReplicas 0 needs an External (here) metric
		}
		var m = cpuUtil(target)
		switch kind % 4 {
		case 1:
			m = podsMetric(fmt.Sprint(max(target, 1)))
		case 2:
			m = externalMetric(autoscalingv2.ValueMetricType, fmt.Sprint(max(target, 1)))
		case 3:
			m = externalMetric(autoscalingv2.AverageValueMetricType, fmt.Sprint(max(target, 1)))
		}
		s := spec(minR, maxR, m)
		if flags&1 != 0 {
			sel := []autoscalingv2.ScalingPolicySelect{autoscalingv2.MaxChangePolicySelect, autoscalingv2.MinChangePolicySelect, autoscalingv2.DisabledPolicySelect}[int(flags>>1)%3]
			s.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleUp:   rules(ptr(int32(flags>>3)), sel, pol(autoscalingv2.PodsScalingPolicy, policy, 15), pol(autoscalingv2.PercentScalingPolicy, policy, 60)),
				ScaleDown: rules(ptr(int32(0)), sel, pol(autoscalingv2.PercentScalingPolicy, policy, 15)),
			}
		} else if flags&8 != 0 {
			s.Policy = scalerv1.PolicyPredictive
		}
		ps := pods(int(n%50), request)
		vals := MetricValues{Pods: map[string]Sample{}, Value: usage}
		for i := range ps {
			if flags&2 != 0 && i%3 == 0 {
				continue // missing
			}
			if flags&4 != 0 && i%4 == 1 {
				ps[i].Ready.Status = false
			}
			vals.Pods[ps[i].Name] = Sample{Value: usage, Timestamp: t0, Window: time.Minute}
		}
		if n == 0 {
			ps = nil
		}
		in := input(s, current, ps, vals)
		in.History = History{Recommendations: []Recommendation{{Replicas: current + int32(flags), Time: t0.Add(-time.Minute)}},
			ScaleUps: []ScaleEvent{{Change: policy, Time: t0.Add(-5 * time.Second)}}}
		if flags&8 != 0 {
			in.IdleSince = t0.Add(-time.Duration(policy) * time.Second)
		}
		d := Decide(in)
		if d.Rescale != (d.DesiredReplicas != current) {
			t.Fatalf("rescale %v with %d → %d", d.Rescale, current, d.DesiredReplicas)
		}
		if minR == 0 {
			switch {
			case current == 0 && d.DesiredReplicas > 1:
				t.Fatalf("from zero to %d, want at most one replica", d.DesiredReplicas)
			case d.DesiredReplicas == 0 && (current == 0) == (d.ZeroTransition != ""):
				t.Fatalf("%d → 0 with transition %q", current, d.ZeroTransition)
			case d.DesiredReplicas > maxR:
				t.Fatalf("desired %d above max %d", d.DesiredReplicas, maxR)
			}
			return
		}
		if !d.IdleSince.IsZero() || d.ZeroTransition != "" {
			t.Fatalf("minReplicas %d: idleSince %s, transition %q", minR, d.IdleSince, d.ZeroTransition)
		}
		if current == 0 || (d.Err != nil && !d.Rescale) {
			return
		}
		if d.DesiredReplicas < minR || d.DesiredReplicas > maxR {
			t.Fatalf("desired %d outside [%d, %d] (current %d, conditions %+v)", d.DesiredReplicas, minR, maxR, current, d.Conditions)
		}
		_ = RecordScale(d.History, s, in.Config, current, d.DesiredReplicas, t0)
		_ = Targets(EffectiveMetrics(s), d.MetricStatuses)
		_ = d.RescaleMessage()
	})
}
