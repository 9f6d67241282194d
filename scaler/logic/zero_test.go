package logic

import (
	"errors"
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	scalerv1 "github.com/tailor-dev/tailor/scaler/api/v1alpha1"
)

func TestDecideScaleToZero(t *testing.T) {
	// queue: a Prometheus metric kept at 10 per pod, active above 5; plus
	// cpu, which says nothing at zero.
	queue := func() scalerv1.MetricSpec {
		m := promMetric(autoscalingv2.AverageValueMetricType, "10")
		m.ActivationThreshold = ptr(resource.MustParse("5"))
		return m
	}
	zeroSpec := func(cooldown *int32, ms ...scalerv1.MetricSpec) *scalerv1.ReplicaAutoscalerSpec {
		s := spec(0, 10, ms...)
		s.ScaleToZeroCooldownSeconds = cooldown
		return s
	}
	v := func(milli int64) MetricValues { return MetricValues{Value: milli} }
	broken := MetricValues{Err: errors.New("prometheus unreachable")}
	noPods := MetricValues{Err: errors.New("no pods")}
	idle := func(in Input, ago time.Duration) Input { in.IdleSince = t0.Add(-ago); return in }
	cases := []struct {
		name       string
		in         Input
		want       int32
		transition string
		zeroCond   corev1.ConditionStatus // "": not checked (none at all with minReplicas 1)
		zeroReason string
		active     string // ScalingActive reason
		idleSince  time.Time
		text       string // substring of RescaleReason or the ScaledToZero message
	}{
		{name: "at zero, metric at the threshold: stays, idle from now",
			in: input(zeroSpec(nil, queue()), 0, nil, v(5000)), want: 0, zeroCond: corev1.ConditionTrue, zeroReason: ReasonScaledToZero,
			active: ReasonScaledToZero, idleSince: t0, text: "prometheus query sum(rate(http_requests_total[1m])) 5, activation threshold 5"},
		{name: "at zero, idle since earlier: kept",
			in: idle(input(zeroSpec(nil, queue()), 0, nil, v(0)), time.Hour), want: 0, zeroCond: corev1.ConditionTrue, idleSince: t0.Add(-time.Hour)},
		{name: "at zero, above the threshold: one replica, whatever the ratio says",
			in: input(zeroSpec(nil, queue(), cpuUtil(50)), 0, nil, v(80_000), noPods), want: 1, transition: ReasonScaledFromZero,
			zeroCond: corev1.ConditionFalse, zeroReason: reasonActive, active: "ValidMetricFound", text: "80, activation threshold 5: scaled from zero"},
		{name: "at zero, no threshold: any positive value activates",
			in: input(zeroSpec(nil, promMetric(autoscalingv2.ValueMetricType, "100")), 0, nil, v(1)), want: 1, transition: ReasonScaledFromZero},
		{name: "at zero, metric unreadable: stays, no idle time",
			in: idle(input(zeroSpec(nil, queue()), 0, nil, broken), time.Hour), want: 0, zeroCond: corev1.ConditionTrue,
			active: "FailedGetPrometheusMetric", text: "cannot be read"},
		{name: "at zero, one of two activation metrics unreadable, the other active: activates",
			in: input(zeroSpec(nil, queue(), externalMetric(autoscalingv2.ValueMetricType, "3")), 0, nil, broken, v(2000)), want: 1, transition: ReasonScaledFromZero},
		{name: "one replica, busy: the HPA algorithm scales up",
			in: input(zeroSpec(nil, queue()), 1, pods(1, 1000), v(30_000)), want: 3, zeroCond: corev1.ConditionFalse, zeroReason: reasonActive},
		{name: "idle, cooldown not over: the floor is one replica",
			in: idle(input(zeroSpec(ptr[int32](60), queue()), 1, pods(1, 1000), v(1000)), 59*time.Second), want: 1,
			zeroCond: corev1.ConditionFalse, zeroReason: reasonIdle, idleSince: t0.Add(-59 * time.Second), text: "to zero replicas after a 1m0s cooldown"},
		{name: "idle for the cooldown: to zero",
			in: idle(input(zeroSpec(ptr[int32](60), queue()), 1, pods(1, 1000), v(1000)), 60*time.Second), want: 0, transition: ReasonScaledToZero,
			zeroCond: corev1.ConditionTrue, zeroReason: ReasonScaledToZero, idleSince: t0.Add(-60 * time.Second), text: "for 1m0s"},
		{name: "idle for the default 5 min from three replicas: to zero",
			in: idle(input(zeroSpec(nil, queue()), 3, pods(3, 1000), v(0)), 5*time.Minute), want: 0, transition: ReasonScaledToZero, idleSince: t0.Add(-5 * time.Minute)},
		{name: "idle, default cooldown not over",
			in: idle(input(zeroSpec(nil, queue()), 1, pods(1, 1000), v(0)), 299*time.Second), want: 1, zeroReason: reasonIdle, idleSince: t0.Add(-299 * time.Second)},
		{name: "became idle this pass",
			in: input(zeroSpec(nil, queue()), 2, pods(2, 1000), v(0)), want: 1, zeroReason: reasonIdle, idleSince: t0},
		{name: "active again: idle time cleared",
			in: idle(input(zeroSpec(nil, queue()), 1, pods(1, 1000), v(6000)), time.Hour), want: 1, zeroReason: reasonActive},
		{name: "unreadable with replicas: never taken for idle",
			in: idle(input(zeroSpec(ptr[int32](0), queue(), cpuUtil(50)), 2, pods(2, 1000), broken, MetricValues{Pods: samples(500, 500)}), time.Hour), want: 2, zeroReason: reasonActive},
		{name: "minReplicas 1: no ScaledToZero condition, no idle time",
			in: input(spec(1, 10, queue()), 1, pods(1, 1000), v(0)), want: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.in)
			if d.DesiredReplicas != tc.want || d.Rescale != (tc.want != tc.in.SpecReplicas) {
				t.Fatalf("desired %d rescale %v (%s, err %v), want %d", d.DesiredReplicas, d.Rescale, d.RescaleReason, d.Err, tc.want)
			}
			if d.ZeroTransition != tc.transition {
				t.Errorf("transition %q, want %q", d.ZeroTransition, tc.transition)
			}
			c, ok := conditionOf(d, scalerv1.ScaledToZero)
			switch {
			case *tc.in.Spec.MinReplicas > 0 && ok:
				t.Errorf("ScaledToZero condition %+v, want none", c)
			case tc.zeroCond != "" && (!ok || c.Status != tc.zeroCond):
				t.Errorf("ScaledToZero %+v, want %s", c, tc.zeroCond)
			case tc.zeroReason != "" && c.Reason != tc.zeroReason:
				t.Errorf("ScaledToZero reason %q, want %q", c.Reason, tc.zeroReason)
			}
			if tc.active != "" {
				if a, _ := conditionOf(d, autoscalingv2.ScalingActive); a.Reason != tc.active {
					t.Errorf("ScalingActive %+v, want reason %s", a, tc.active)
				}
			}
			if !d.IdleSince.Equal(tc.idleSince) {
				t.Errorf("idleSince %s, want %s", d.IdleSince, tc.idleSince)
			}
			if tc.text != "" && !strings.Contains(d.RescaleReason+"|"+c.Message, tc.text) {
				t.Errorf("reason %q / condition %q lack %q", d.RescaleReason, c.Message, tc.text)
			}
		})
	}
}
