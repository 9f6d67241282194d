package sizing

import (
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"

	"github.com/tailor-dev/tailor/scaler/coordination"
)

// Owner is one link of a pod's controller chain (pod → ReplicaSet →
// Deployment, pod → Job → CronJob, pod → StatefulSet, …).
type Owner struct {
	APIVersion string
	Kind       string
	Name       string
}

// ControllingVPA picks the VPA whose targetRef names a link of chain
// (ordered from the pod's direct controller upwards). Like upstream, the
// top-most controller wins (a VPA on the Deployment beats one on its
// ReplicaSet); ties go to the oldest VPA, then the name, so the choice does
// not depend on cache order. It returns nil when none matches.
func ControllingVPA(chain []Owner, vpas []*vpav1.VerticalPodAutoscaler) *vpav1.VerticalPodAutoscaler {
	for i := len(chain) - 1; i >= 0; i-- {
		// Oldest, then name, is a total order within a namespace: the
		// minimum is the one answer whatever the cache order.
		var best *vpav1.VerticalPodAutoscaler
		for _, v := range vpas {
			if targets(v, &chain[i]) && (best == nil || before(v, best)) {
				best = v
			}
		}
		if best != nil {
			return best
		}
	}
	return nil
}

// targets reports whether v's targetRef names o.
func targets(v *vpav1.VerticalPodAutoscaler, o *Owner) bool {
	ref := v.Spec.TargetRef
	return ref != nil && coordination.SameTarget(coordination.Ref(*ref), coordination.Ref{Kind: o.Kind, Name: o.Name, APIVersion: o.APIVersion})
}

// before orders VPAs oldest first, then by name.
func before(a, b *vpav1.VerticalPodAutoscaler) bool {
	ta, tb := a.CreationTimestamp, b.CreationTimestamp
	if !ta.Equal(&tb) {
		return ta.Before(&tb)
	}
	return a.Name < b.Name
}
