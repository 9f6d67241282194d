// Package coordination settles the one question where the horizontal and
// vertical sides of Tailor meet: which resources of a VPA's target are
// scaled horizontally by a ReplicaAutoscaler, and so must not be controlled
// vertically. Raising the cpu requests of pods that an autoscaler scales on
// cpu utilisation lowers the utilisation it sees and so the replica count: the
// two fight. One pure function decides; the admission path, the recommender
// and the updater all call it, so they hold the same resources.
package coordination

import (
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"

	scalerv1 "github.com/tailor-dev/tailor/scaler/api/v1alpha1"
)

// ConditionHorizontallyScaled is the VPA condition that says some resources
// are left to a ReplicaAutoscaler. VPA condition types are free strings in
// the CRD; clients that do not know this one ignore it. It is present (True)
// only while something is held, and removed otherwise.
const ConditionHorizontallyScaled vpav1.VerticalPodAutoscalerConditionType = "HorizontallyScaled"

// ReasonResourceMetric is the condition's reason.
const ReasonResourceMetric = "ReplicaAutoscalerResourceMetric"

// Held is what a VPA must leave alone.
type Held struct {
	// Resources are the held resources, cpu before memory.
	Resources []corev1.ResourceName
	// By names the ReplicaAutoscalers responsible, sorted.
	By []string
}

// Empty reports whether nothing is held.
func (h Held) Empty() bool { return len(h.Resources) == 0 }

// Message explains the hold, for the condition and logs.
func (h Held) Message() string {
	if h.Empty() {
		return ""
	}
	rs := make([]string, len(h.Resources))
	for i, r := range h.Resources {
		rs[i] = string(r)
	}
	what := strings.Join(rs, " and ")
	return fmt.Sprintf("%s scaled horizontally by ReplicaAutoscaler %s: left out of the recommendation; pods keep the %s requests of their template",
		what, strings.Join(h.By, ", "), what)
}

// Horizontal returns the resources of vpa's target that the ReplicaAutoscalers
// (those of the VPA's namespace) scale on: every Resource or ContainerResource
// metric on cpu or memory of an autoscaler whose scaleTargetRef names the
// VPA's targetRef, whatever its target type, and cpu for an autoscaler
// without metrics (whose default is 80% average cpu utilisation). A
// ContainerResource metric holds the resource for the whole pod: it keeps the
// rule simple to state and to read in the pod. Autoscalers being deleted do
// not count. Other resources stay vertical.
func Horizontal(vpa *vpav1.VerticalPodAutoscaler, ras []*scalerv1.ReplicaAutoscaler) Held {
	var h Held
	if vpa == nil || vpa.Spec.TargetRef == nil {
		return h
	}
	var cpu, mem bool
	for _, ra := range ras {
		if ra == nil || ra.DeletionTimestamp != nil || ra.Namespace != vpa.Namespace || !SameTarget(Ref(*vpa.Spec.TargetRef), Ref(ra.Spec.ScaleTargetRef)) {
			continue
		}
		c, m := resourcesOf(ra)
		if c || m {
			h.By = append(h.By, ra.Name)
		}
		cpu, mem = cpu || c, mem || m
	}
	if cpu {
		h.Resources = append(h.Resources, corev1.ResourceCPU)
	}
	if mem {
		h.Resources = append(h.Resources, corev1.ResourceMemory)
	}
	slices.Sort(h.By)
	h.By = slices.Compact(h.By)
	return h
}

func resourcesOf(ra *scalerv1.ReplicaAutoscaler) (cpu, mem bool) {
	if len(ra.Spec.Metrics) == 0 {
		return true, false
	}
	for _, m := range ra.Spec.Metrics {
		var name corev1.ResourceName
		switch {
		case m.Resource != nil:
			name = m.Resource.Name
		case m.ContainerResource != nil:
			name = m.ContainerResource.Name
		default:
			continue
		}
		cpu = cpu || name == corev1.ResourceCPU
		mem = mem || name == corev1.ResourceMemory
	}
	return cpu, mem
}

// Apply makes a VPA status say what h holds: the held resources are dropped
// from the recommendation (target, bounds and uncapped target; a container
// left with no target is dropped) and the HorizontallyScaled condition is set,
// or removed when nothing is held. The recommendation is copied, never
// changed in place: it may be shared with an informer cache. The condition
// keeps its lastTransitionTime while it stays True; conditions stay sorted
// by type.
func Apply(status *vpav1.VerticalPodAutoscalerStatus, h Held, now time.Time) {
	status.Conditions = slices.DeleteFunc(slices.Clone(status.Conditions), func(c vpav1.VerticalPodAutoscalerCondition) bool {
		return c.Type == ConditionHorizontallyScaled && h.Empty()
	})
	if h.Empty() {
		return
	}
	status.Recommendation = Drop(status.Recommendation, h.Resources)
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

// Drop returns a copy of r without the resources; r itself is not changed.
// It returns r when there is nothing to drop.
func Drop(r *vpav1.RecommendedPodResources, resources []corev1.ResourceName) *vpav1.RecommendedPodResources {
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
