package logic

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// SameTarget reports whether two scale target references name the same
// object: same API group, kind and name. The version does not matter (an
// HPA on apps/v1 and one on apps/v1beta2 scale the same Deployment).
func SameTarget(a, b autoscalingv2.CrossVersionObjectReference) bool {
	return a.Kind == b.Kind && a.Name == b.Name && groupOf(a.APIVersion) == groupOf(b.APIVersion)
}

func groupOf(apiVersion string) string {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return apiVersion
	}
	return gv.Group
}

// ConflictingHPA returns the name of the first HPA among hpas (of the
// ReplicaAutoscaler's namespace) that scales target, or "" when none does:
// two controllers must not fight over one replica count.
func ConflictingHPA(target autoscalingv2.CrossVersionObjectReference, hpas []autoscalingv2.HorizontalPodAutoscaler) string {
	for i := range hpas {
		if hpas[i].DeletionTimestamp == nil && SameTarget(target, hpas[i].Spec.ScaleTargetRef) {
			return hpas[i].Name
		}
	}
	return ""
}
