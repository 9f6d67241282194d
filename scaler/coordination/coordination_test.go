package coordination

import (
	"fmt"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"

	scalerv1 "github.com/tailor-dev/tailor/scaler/api/v1alpha1"
)

func vpa(apiVersion, kind, name string) *vpav1.VerticalPodAutoscaler {
	return &vpav1.VerticalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "v", Namespace: "ns"},
		Spec:       vpav1.VerticalPodAutoscalerSpec{TargetRef: &autoscalingv1.CrossVersionObjectReference{APIVersion: apiVersion, Kind: kind, Name: name}},
	}
}

func resourceMetric(name corev1.ResourceName) scalerv1.MetricSpec {
	return scalerv1.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: name}}
}

func ra(name, apiVersion, kind, target string, metrics ...scalerv1.MetricSpec) *scalerv1.ReplicaAutoscaler {
	return &scalerv1.ReplicaAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		Spec: scalerv1.ReplicaAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: apiVersion, Kind: kind, Name: target},
			MaxReplicas:    10, Metrics: metrics,
		},
	}
}

func TestHorizontal(t *testing.T) {
	deleting := ra("gone", "apps/v1", "Deployment", "web", resourceMetric(corev1.ResourceMemory))
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	other := ra("elsewhere", "apps/v1", "Deployment", "web", resourceMetric(corev1.ResourceMemory))
	other.Namespace = "other"
	cases := []struct {
		name string
		vpa  *vpav1.VerticalPodAutoscaler
		ras  []*scalerv1.ReplicaAutoscaler
		want string
	}{
		{"none", vpa("apps/v1", "Deployment", "web"), nil, "[] []"},
		{"cpu utilisation", vpa("apps/v1", "Deployment", "web"), []*scalerv1.ReplicaAutoscaler{ra("a", "apps/v1", "Deployment", "web", resourceMetric(corev1.ResourceCPU))}, "[cpu] [a]"},
		{"no metrics means cpu", vpa("apps/v1", "Deployment", "web"), []*scalerv1.ReplicaAutoscaler{ra("a", "apps/v1", "Deployment", "web")}, "[cpu] [a]"},
		{"container resource memory", vpa("apps/v1", "Deployment", "web"), []*scalerv1.ReplicaAutoscaler{ra("a", "apps/v1", "Deployment", "web",
			scalerv1.MetricSpec{Type: autoscalingv2.ContainerResourceMetricSourceType, ContainerResource: &autoscalingv2.ContainerResourceMetricSource{Name: corev1.ResourceMemory, Container: "app"}})}, "[memory] [a]"},
		{"both, by two", vpa("apps/v1", "Deployment", "web"), []*scalerv1.ReplicaAutoscaler{
			ra("b", "apps/v1", "Deployment", "web", resourceMetric(corev1.ResourceMemory)), ra("a", "apps/v1", "Deployment", "web", resourceMetric(corev1.ResourceCPU))}, "[cpu memory] [a b]"},
		{"pods and prometheus metrics hold nothing", vpa("apps/v1", "Deployment", "web"), []*scalerv1.ReplicaAutoscaler{ra("a", "apps/v1", "Deployment", "web",
			scalerv1.MetricSpec{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{}},
			scalerv1.MetricSpec{Type: scalerv1.PrometheusMetricSourceType, Prometheus: &scalerv1.PrometheusMetricSource{Query: "up"}})}, "[] []"},
		{"other resources hold nothing", vpa("apps/v1", "Deployment", "web"), []*scalerv1.ReplicaAutoscaler{ra("a", "apps/v1", "Deployment", "web", resourceMetric("ephemeral-storage"))}, "[] []"},
		{"another workload", vpa("apps/v1", "Deployment", "web"), []*scalerv1.ReplicaAutoscaler{ra("a", "apps/v1", "Deployment", "api", resourceMetric(corev1.ResourceCPU)),
			ra("b", "apps/v1", "StatefulSet", "web", resourceMetric(corev1.ResourceCPU)), ra("c", "argoproj.io/v1alpha1", "Deployment", "web", resourceMetric(corev1.ResourceCPU))}, "[] []"},
		{"empty apiVersion matches", vpa("", "Deployment", "web"), []*scalerv1.ReplicaAutoscaler{ra("a", "apps/v1", "Deployment", "web", resourceMetric(corev1.ResourceCPU))}, "[cpu] [a]"},
		{"being deleted or in another namespace", vpa("apps/v1", "Deployment", "web"), []*scalerv1.ReplicaAutoscaler{deleting, other}, "[] []"},
		{"no targetRef", &vpav1.VerticalPodAutoscaler{}, []*scalerv1.ReplicaAutoscaler{ra("a", "apps/v1", "Deployment", "web")}, "[] []"},
	}
	for _, tc := range cases {
		if got := fmt.Sprint(Horizontal(tc.vpa, tc.ras).Resources, Horizontal(tc.vpa, tc.ras).By); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}
