package logic

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"

	"github.com/tailor-dev/tailor/scaler/coordination"
)

func TestHold(t *testing.T) {
	q := resource.MustParse
	rec := &vpav1.RecommendedPodResources{ContainerRecommendations: []vpav1.RecommendedContainerResources{
		{ContainerName: "app", Target: corev1.ResourceList{"cpu": q("587m"), "memory": q("250Mi")}, LowerBound: corev1.ResourceList{"cpu": q("500m"), "memory": q("200Mi")},
			UpperBound: corev1.ResourceList{"cpu": q("1"), "memory": q("300Mi")}, UncappedTarget: corev1.ResourceList{"cpu": q("587m"), "memory": q("250Mi")}},
		{ContainerName: "cpuonly", Target: corev1.ResourceList{"cpu": q("10m")}},
	}}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	status := vpav1.VerticalPodAutoscalerStatus{Recommendation: rec, Conditions: []vpav1.VerticalPodAutoscalerCondition{
		{Type: vpav1.RecommendationProvided, Status: corev1.ConditionTrue}, {Type: "Zeta", Status: corev1.ConditionTrue}}}
	held := coordination.Held{Resources: []corev1.ResourceName{corev1.ResourceCPU}, By: []string{"web"}}
	Hold(&status, held, t0)

	if len(rec.ContainerRecommendations[0].Target) != 2 {
		t.Fatal("the input recommendation was changed")
	}
	got := status.Recommendation.ContainerRecommendations
	if len(got) != 1 || got[0].ContainerName != "app" {
		t.Fatalf("containers %+v, want app only (cpuonly has nothing left)", got)
	}
	for _, l := range []corev1.ResourceList{got[0].Target, got[0].LowerBound, got[0].UpperBound, got[0].UncappedTarget} {
		if _, ok := l[corev1.ResourceCPU]; ok || len(l) != 1 {
			t.Errorf("list %v, want memory only", l)
		}
	}
	var types []string
	for _, c := range status.Conditions {
		types = append(types, string(c.Type))
	}
	if s := strings.Join(types, ","); s != "HorizontallyScaled,RecommendationProvided,Zeta" {
		t.Errorf("conditions %s, want sorted with HorizontallyScaled", s)
	}
	c := status.Conditions[0]
	if c.Reason != ReasonResourceMetric || !strings.Contains(c.Message, "cpu scaled horizontally by ReplicaAutoscaler web") {
		t.Errorf("condition %+v", c)
	}

	// Still held later: the transition time stays.
	Hold(&status, held, t0.Add(time.Hour))
	if !status.Conditions[0].LastTransitionTime.Time.Equal(t0) {
		t.Errorf("lastTransitionTime moved to %v", status.Conditions[0].LastTransitionTime)
	}
	// Nothing held any more: the condition goes, the recommendation stays.
	Hold(&status, coordination.Held{}, t0.Add(2*time.Hour))
	if len(status.Conditions) != 2 || status.Recommendation == nil {
		t.Errorf("after release: %+v", status)
	}
}
