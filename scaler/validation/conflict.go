package validation

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"

	"github.com/tailor-dev/tailor/scaler/coordination"
)

// ConflictingHPA returns the name of the first HPA among hpas (of the
// ReplicaAutoscaler's namespace) that scales target, or "" when none does:
// two controllers must not fight over one replica count.
func ConflictingHPA(target autoscalingv2.CrossVersionObjectReference, hpas []autoscalingv2.HorizontalPodAutoscaler) string {
	for i := range hpas {
		if hpas[i].DeletionTimestamp == nil && coordination.SameTarget(coordination.Ref(target), coordination.Ref(hpas[i].Spec.ScaleTargetRef)) {
			return hpas[i].Name
		}
	}
	return ""
}
