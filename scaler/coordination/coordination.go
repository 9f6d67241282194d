// Package coordination settles the one question where the horizontal and
// vertical sides of Tailor meet: which resources of a VPA's target are
// scaled horizontally by a ReplicaAutoscaler, and so must not be controlled
// vertically. Raising the cpu requests of pods that an autoscaler scales on
// cpu utilisation lowers the utilisation it sees and so the replica count: the
// two fight. One pure function decides; the admission path, the recommender
// and the updater all call it, so they hold the same resources. The
// recommender writes the outcome to VPA status (recommender/logic.Hold).
package coordination

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"

	scalerv1 "github.com/tailor-dev/tailor/scaler/api/v1alpha1"
)

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
