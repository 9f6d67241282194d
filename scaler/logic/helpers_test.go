package logic

import (
	"fmt"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	scalerv1 "github.com/tailor-dev/tailor/scaler/api/v1alpha1"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// readyPod is a running pod, started and ready long ago, requesting cpu
// (millicores) in one container.
func readyPod(name string, cpu int64) Pod {
	return Pod{
		Name:       name,
		Phase:      corev1.PodRunning,
		StartTime:  t0.Add(-time.Hour),
		Ready:      &ReadyCondition{Status: true, LastTransitionTime: t0.Add(-time.Hour + 10*time.Second)},
		Containers: []Container{{Name: "app", Requests: map[corev1.ResourceName]int64{corev1.ResourceCPU: cpu, corev1.ResourceMemory: 100 << 20 * 1000}}},
	}
}

// pods returns n ready pods p0…p(n-1) with the given cpu requests (one value: all alike).
func pods(n int, cpu ...int64) []Pod {
	out := make([]Pod, n)
	for i := range out {
		c := cpu[0]
		if i < len(cpu) {
			c = cpu[i]
		}
		out[i] = readyPod(fmt.Sprintf("p%d", i), c)
	}
	return out
}

// samples maps p0…p(n-1) to values; a negative value leaves the pod without a sample.
func samples(values ...int64) map[string]Sample {
	out := map[string]Sample{}
	for i, v := range values {
		if v >= 0 {
			out[fmt.Sprintf("p%d", i)] = Sample{Value: v, Timestamp: t0, Window: 30 * time.Second}
		}
	}
	return out
}

func cpuUtil(target int32) scalerv1.MetricSpec {
	return scalerv1.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
		Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr(target)}}}
}

func cpuAverage(target string) scalerv1.MetricSpec {
	q := resource.MustParse(target)
	return scalerv1.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
		Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: &q}}}
}

func podsMetric(target string) scalerv1.MetricSpec {
	q := resource.MustParse(target)
	return scalerv1.MetricSpec{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
		Metric: autoscalingv2.MetricIdentifier{Name: "qps"}, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: &q}}}
}

func objectMetric(typ autoscalingv2.MetricTargetType, target string) scalerv1.MetricSpec {
	q := resource.MustParse(target)
	t := autoscalingv2.MetricTarget{Type: typ}
	if typ == autoscalingv2.ValueMetricType {
		t.Value = &q
	} else {
		t.AverageValue = &q
	}
	return scalerv1.MetricSpec{Type: autoscalingv2.ObjectMetricSourceType, Object: &autoscalingv2.ObjectMetricSource{
		DescribedObject: autoscalingv2.CrossVersionObjectReference{Kind: "Ingress", Name: "web"},
		Metric:          autoscalingv2.MetricIdentifier{Name: "requests"}, Target: t}}
}

func externalMetric(typ autoscalingv2.MetricTargetType, target string) scalerv1.MetricSpec {
	o := objectMetric(typ, target)
	return scalerv1.MetricSpec{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{
		Metric: autoscalingv2.MetricIdentifier{Name: "queue"}, Target: o.Object.Target}}
}

func promMetric(typ autoscalingv2.MetricTargetType, target string) scalerv1.MetricSpec {
	o := objectMetric(typ, target)
	return scalerv1.MetricSpec{Type: scalerv1.PrometheusMetricSourceType, Prometheus: &scalerv1.PrometheusMetricSource{
		Query: "sum(rate(http_requests_total[1m]))", Target: o.Object.Target}}
}

func spec(minR, maxR int32, metrics ...scalerv1.MetricSpec) *scalerv1.ReplicaAutoscalerSpec {
	return &scalerv1.ReplicaAutoscalerSpec{
		ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "php-apache"},
		MinReplicas:    ptr(minR), MaxReplicas: maxR, Metrics: metrics,
	}
}

func input(s *scalerv1.ReplicaAutoscalerSpec, current int32, p []Pod, vals ...MetricValues) Input {
	return Input{Now: t0, Config: DefaultConfig(), Spec: s, SpecReplicas: current, StatusReplicas: current, Pods: p, Metrics: vals}
}

func conditionOf(d Decision, t autoscalingv2.HorizontalPodAutoscalerConditionType) (Condition, bool) {
	var last Condition
	found := false
	for _, c := range d.Conditions {
		if c.Type == t {
			last, found = c, true
		}
	}
	return last, found
}
