package resize

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/tailor-dev/tailor/recommender/sizing"
)

// resizeState is where the kubelet is with the pod's last resize, read from
// the conditions it sets since Kubernetes 1.33 (PodResizePending with reason
// Deferred or Infeasible, PodResizeInProgress). A pod without them has no
// resize under way, as far as anyone can tell: kwok, for one, never sets them.
type resizeState struct {
	ongoing  bool   // deferred or in progress, within its timeout
	fallback string // why in place failed: evict where the mode allows
}

func resizeStateOf(pod *corev1.Pod, now time.Time, cfg Config) resizeState {
	var st resizeState
	for i := range pod.Status.Conditions {
		c := &pod.Status.Conditions[i]
		if c.Status != corev1.ConditionTrue {
			continue
		}
		age := now.Sub(c.LastTransitionTime.Time)
		switch c.Type {
		case corev1.PodResizePending:
			switch c.Reason {
			case corev1.PodReasonInfeasible:
				return resizeState{fallback: "the kubelet found the resize infeasible: " + c.Message}
			case corev1.PodReasonDeferred:
				if age > cfg.DeferredTimeout {
					st.fallback = fmt.Sprintf("the kubelet has deferred the resize for over %s: %s", cfg.DeferredTimeout, c.Message)
				} else {
					st.ongoing = true
				}
			default:
				st.ongoing = true
			}
		case corev1.PodResizeInProgress:
			if age > cfg.InProgressTimeout {
				st.fallback = fmt.Sprintf("the resize has been in progress for over %s: %s", cfg.InProgressTimeout, c.Message)
			} else {
				st.ongoing = true
			}
		}
	}
	if st.fallback != "" {
		st.ongoing = false
	}
	return st
}

// qosClass is the pod's QoS class with changes applied to its containers.
// The API server refuses a resize that changes it. A pod with pod-level
// resources takes its class from those, which a container resize leaves.
func qosClass(pod *corev1.Pod, changes []sizing.ContainerChange) corev1.PodQOSClass {
	if pod.Spec.Resources != nil {
		return "pod-level"
	}
	resources := func(init bool, i int, c *corev1.Container) *corev1.ResourceRequirements {
		for j := range changes {
			if changes[j].Init == init && changes[j].Index == i {
				return &changes[j].After
			}
		}
		return &c.Resources
	}
	guaranteed, any := true, false
	visit := func(r *corev1.ResourceRequirements) {
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, hasReq := positive(r.Requests, name)
			lim, hasLim := positive(r.Limits, name)
			any = any || hasReq || hasLim
			// A missing request defaults to the limit.
			if !hasLim || hasReq && req.Cmp(lim) != 0 {
				guaranteed = false
			}
		}
	}
	for i := range pod.Spec.InitContainers {
		visit(resources(true, i, &pod.Spec.InitContainers[i]))
	}
	for i := range pod.Spec.Containers {
		visit(resources(false, i, &pod.Spec.Containers[i]))
	}
	switch {
	case !any:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	default:
		return corev1.PodQOSBurstable
	}
}

func positive(l corev1.ResourceList, name corev1.ResourceName) (resource.Quantity, bool) {
	q, ok := l[name]
	return q, ok && q.Sign() > 0
}

// RollingOut says why a workload is rolling out, or "" when it is settled
// (or of a kind whose rollout cannot be read): a Deployment whose updated or
// available replicas lag spec.replicas or that has pods to spare, a
// StatefulSet or DaemonSet mid-update, a ReplicaSet short of available
// pods, or any of them with a spec the controller has not seen yet.
func RollingOut(obj runtime.Object) string {
	lagging := func(gen, observed int64) string {
		if observed < gen {
			return fmt.Sprintf("generation %d not yet observed (at %d)", gen, observed)
		}
		return ""
	}
	replicas := func(p *int32) int32 {
		if p == nil {
			return 1
		}
		return *p
	}
	switch o := obj.(type) {
	case *appsv1.Deployment:
		want := replicas(o.Spec.Replicas)
		s := &o.Status
		switch {
		case lagging(o.Generation, s.ObservedGeneration) != "":
			return lagging(o.Generation, s.ObservedGeneration)
		case s.UpdatedReplicas < want:
			return fmt.Sprintf("%d of %d replicas updated", s.UpdatedReplicas, want)
		case s.AvailableReplicas < want:
			return fmt.Sprintf("%d of %d replicas available", s.AvailableReplicas, want)
		case s.Replicas > want:
			return fmt.Sprintf("%d replicas, %d wanted", s.Replicas, want)
		}
	case *appsv1.StatefulSet:
		want := replicas(o.Spec.Replicas)
		s := &o.Status
		switch {
		case lagging(o.Generation, s.ObservedGeneration) != "":
			return lagging(o.Generation, s.ObservedGeneration)
		case s.ReadyReplicas < want:
			return fmt.Sprintf("%d of %d replicas ready", s.ReadyReplicas, want)
		case o.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType && s.UpdateRevision != "" && s.CurrentRevision != s.UpdateRevision:
			return fmt.Sprintf("updating from revision %s to %s", s.CurrentRevision, s.UpdateRevision)
		}
	case *appsv1.DaemonSet:
		s := &o.Status
		switch {
		case lagging(o.Generation, s.ObservedGeneration) != "":
			return lagging(o.Generation, s.ObservedGeneration)
		case o.Spec.UpdateStrategy.Type != appsv1.OnDeleteDaemonSetStrategyType && s.UpdatedNumberScheduled < s.DesiredNumberScheduled:
			return fmt.Sprintf("%d of %d pods updated", s.UpdatedNumberScheduled, s.DesiredNumberScheduled)
		case s.NumberUnavailable > 0:
			return fmt.Sprintf("%d pods unavailable", s.NumberUnavailable)
		}
	case *appsv1.ReplicaSet:
		want := replicas(o.Spec.Replicas)
		s := &o.Status
		switch {
		case lagging(o.Generation, s.ObservedGeneration) != "":
			return lagging(o.Generation, s.ObservedGeneration)
		case s.AvailableReplicas < want:
			return fmt.Sprintf("%d of %d replicas available", s.AvailableReplicas, want)
		}
	}
	return ""
}
