package logic

import (
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"

	"github.com/tailor-dev/tailor/scaler/coordination"
)

// ConditionHorizontallyScaled is the VPA condition that says some resources
// are left to a ReplicaAutoscaler. VPA condition types are free strings in
// the CRD; clients that do not know this one ignore it. It is present (True)
// only while something is held, and removed otherwise.
const ConditionHorizontallyScaled vpav1.VerticalPodAutoscalerConditionType = "HorizontallyScaled"

// ReasonResourceMetric is the condition's reason.
const ReasonResourceMetric = "ReplicaAutoscalerResourceMetric"

// Hold makes a VPA status say what h holds: the held resources are dropped
// from the recommendation (target, bounds and uncapped target; a container
// left with no target is dropped) and the HorizontallyScaled condition is set,
// or removed when nothing is held. The recommendation is copied, never
// changed in place: it may be shared with an informer cache. The condition
// keeps its lastTransitionTime while it stays True; conditions stay sorted
// by type.
func Hold(status *vpav1.VerticalPodAutoscalerStatus, h coordination.Held, now time.Time) {
	status.Conditions = slices.DeleteFunc(slices.Clone(status.Conditions), func(c vpav1.VerticalPodAutoscalerCondition) bool {
		return c.Type == ConditionHorizontallyScaled && h.Empty()
	})
	if h.Empty() {
		return
	}
	status.Recommendation = DropResources(status.Recommendation, h.Resources)
	c := vpav1.VerticalPodAutoscalerCondition{
		Type: ConditionHorizontallyScaled, Status: corev1.ConditionTrue, Reason: ReasonResourceMetric,
		Message: h.Message(), LastTransitionTime: metav1.NewTime(now.Truncate(time.Second)),
	}
	if i := slices.IndexFunc(status.Conditions, func(x vpav1.VerticalPodAutoscalerCondition) bool { return x.Type == c.Type }); i >= 0 {
		if status.Conditions[i].Status == corev1.ConditionTrue {
			c.LastTransitionTime = status.Conditions[i].LastTransitionTime
		}
		status.Conditions[i] = c
		return
	}
	status.Conditions = append(status.Conditions, c)
	slices.SortStableFunc(status.Conditions, func(a, b vpav1.VerticalPodAutoscalerCondition) int {
		return strings.Compare(string(a.Type), string(b.Type))
	})
}

// DropResources returns a copy of r without the resources; r itself is not changed.
// It returns r when there is nothing to drop.
func DropResources(r *vpav1.RecommendedPodResources, resources []corev1.ResourceName) *vpav1.RecommendedPodResources {
	if r == nil || len(resources) == 0 {
		return r
	}
	out := &vpav1.RecommendedPodResources{ContainerRecommendations: make([]vpav1.RecommendedContainerResources, 0, len(r.ContainerRecommendations))}
	for _, c := range r.ContainerRecommendations {
		n := vpav1.RecommendedContainerResources{
			ContainerName:  c.ContainerName,
			Target:         without(c.Target, resources),
			LowerBound:     without(c.LowerBound, resources),
			UpperBound:     without(c.UpperBound, resources),
			UncappedTarget: without(c.UncappedTarget, resources),
		}
		if len(n.Target) > 0 {
			out.ContainerRecommendations = append(out.ContainerRecommendations, n)
		}
	}
	return out
}

func without(l corev1.ResourceList, drop []corev1.ResourceName) corev1.ResourceList {
	if l == nil {
		return nil
	}
	out := make(corev1.ResourceList, len(l))
	for k, v := range l {
		if !slices.Contains(drop, k) {
			out[k] = v.DeepCopy()
		}
	}
	return out
}
