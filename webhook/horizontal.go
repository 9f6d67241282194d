package webhook

import (
	"context"

	scalerv1 "github.com/tailor-dev/tailor/scaler/api/v1alpha1"
)

// HorizontalLookup lists the ReplicaAutoscalers of a namespace, so that the
// resources they scale a workload on are left as in the pod template
// (scaler/coordination). In production it is the informer cache.
type HorizontalLookup interface {
	ReplicaAutoscalers(ctx context.Context, namespace string) ([]*scalerv1.ReplicaAutoscaler, error)
}
