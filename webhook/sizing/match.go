package sizing

import (
	"sort"

	"k8s.io/apimachinery/pkg/runtime/schema"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
)

// Owner is one link of a pod's controller chain (pod → ReplicaSet →
// Deployment, pod → Job → CronJob, pod → StatefulSet, …).
type Owner struct {
	APIVersion string
	Kind       string
	Name       string
}

// Group returns the API group of an apiVersion ("apps/v1" → "apps",
// "v1" → ""); a malformed one yields a group no real object has.
func Group(apiVersion string) string {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return "\x00invalid"
	}
	return gv.Group
}

// ControllingVPA picks the VPA whose targetRef names a link of chain
// (ordered from the pod's direct controller upwards). Like upstream, the
// top-most controller wins (a VPA on the Deployment beats one on its
// ReplicaSet); ties go to the oldest VPA, then the name, so the choice does
// not depend on cache order. It returns nil when none matches.
func ControllingVPA(chain []Owner, vpas []*vpav1.VerticalPodAutoscaler) *vpav1.VerticalPodAutoscaler {
	for i := len(chain) - 1; i >= 0; i-- {
		var matches []*vpav1.VerticalPodAutoscaler
		for _, v := range vpas {
			ref := v.Spec.TargetRef
			if ref == nil || ref.Kind != chain[i].Kind || ref.Name != chain[i].Name {
				continue
			}
			// An empty targetRef apiVersion matches any group, as the scale
			// subresource lookup upstream would resolve it.
			if ref.APIVersion != "" && Group(ref.APIVersion) != Group(chain[i].APIVersion) {
				continue
			}
			matches = append(matches, v)
		}
		if len(matches) == 0 {
			continue
		}
		sort.Slice(matches, func(a, b int) bool {
			ta, tb := matches[a].CreationTimestamp, matches[b].CreationTimestamp
			if !ta.Equal(&tb) {
				return ta.Before(&tb)
			}
			return matches[a].Name < matches[b].Name
		})
		return matches[0]
	}
	return nil
}
