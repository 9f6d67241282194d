package logic

import (
	"fmt"
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"

	scalerv1 "github.com/tailor-dev/tailor/scaler/api/v1alpha1"
)

// Reference is status.reference: the target as Kind/name, as kubectl get
// hpa prints it.
func Reference(ref autoscalingv2.CrossVersionObjectReference) string {
	return ref.Kind + "/" + ref.Name
}

// maxTargets is how many metrics kubectl get hpa lists before "+ N more...".
const maxTargets = 2

// Targets is status.targets: current/target of each metric, as kubectl get
// hpa prints them ("cpu: 242%/50%", "<unknown>/10 (avg)"); statuses are
// status.currentMetrics, in spec order.
func Targets(metrics []scalerv1.MetricSpec, statuses []scalerv1.MetricStatus) string {
	if len(metrics) == 0 {
		return "<none>"
	}
	var list []string
	for i, m := range metrics {
		if i == maxTargets {
			return fmt.Sprintf("%s + %d more...", strings.Join(list, ", "), len(metrics)-maxTargets)
		}
		var st scalerv1.MetricStatus
		if i < len(statuses) {
			st = statuses[i]
		}
		list = append(list, target(m, st))
	}
	return strings.Join(list, ", ")
}

func target(m scalerv1.MetricSpec, st scalerv1.MetricStatus) string {
	switch m.Type {
	case autoscalingv2.ResourceMetricSourceType:
		if m.Resource == nil {
			break
		}
		var cur *autoscalingv2.MetricValueStatus
		if st.Resource != nil {
			cur = &st.Resource.Current
		}
		return string(m.Resource.Name) + ": " + resourceTarget(m.Resource.Target, cur)
	case autoscalingv2.ContainerResourceMetricSourceType:
		if m.ContainerResource == nil {
			break
		}
		var cur *autoscalingv2.MetricValueStatus
		if st.ContainerResource != nil {
			cur = &st.ContainerResource.Current
		}
		return string(m.ContainerResource.Name) + ": " + resourceTarget(m.ContainerResource.Target, cur)
	case autoscalingv2.PodsMetricSourceType:
		if m.Pods == nil {
			break
		}
		var cur *autoscalingv2.MetricValueStatus
		if st.Pods != nil {
			cur = &st.Pods.Current
		}
		return valueTarget(m.Pods.Target, cur)
	case autoscalingv2.ObjectMetricSourceType:
		if m.Object == nil {
			break
		}
		var cur *autoscalingv2.MetricValueStatus
		if st.Object != nil {
			cur = &st.Object.Current
		}
		return valueTarget(m.Object.Target, cur)
	case autoscalingv2.ExternalMetricSourceType:
		if m.External == nil {
			break
		}
		var cur *autoscalingv2.MetricValueStatus
		if st.External != nil {
			cur = &st.External.Current
		}
		return valueTarget(m.External.Target, cur)
	case scalerv1.PrometheusMetricSourceType:
		if m.Prometheus == nil {
			break
		}
		var cur *autoscalingv2.MetricValueStatus
		if st.Prometheus != nil {
			cur = &st.Prometheus.Current
		}
		return valueTarget(m.Prometheus.Target, cur)
	}
	return "<unknown type>"
}

const unknown = "<unknown>"

func resourceTarget(t autoscalingv2.MetricTarget, cur *autoscalingv2.MetricValueStatus) string {
	if t.AverageUtilization != nil && t.AverageValue == nil {
		c := unknown
		if cur != nil && cur.AverageUtilization != nil {
			c = fmt.Sprintf("%d%%", *cur.AverageUtilization)
		}
		return fmt.Sprintf("%s/%d%%", c, *t.AverageUtilization)
	}
	return valueTarget(t, cur)
}

func valueTarget(t autoscalingv2.MetricTarget, cur *autoscalingv2.MetricValueStatus) string {
	c := unknown
	if t.AverageValue != nil {
		if cur != nil && cur.AverageValue != nil {
			c = cur.AverageValue.String()
		}
		return fmt.Sprintf("%s/%s (avg)", c, t.AverageValue)
	}
	if t.Value != nil {
		if cur != nil && cur.Value != nil {
			c = cur.Value.String()
		}
		return fmt.Sprintf("%s/%s", c, t.Value)
	}
	return unknown
}
