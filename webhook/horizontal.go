package webhook

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"

	scalerv1 "github.com/tailor-dev/tailor/scaler/api/v1alpha1"
)

// HorizontalLookup lists the ReplicaAutoscalers of a namespace, so that the
// resources they scale a workload on are left as in the pod template
// (scaler/coordination). In production it is the informer cache.
type HorizontalLookup interface {
	ReplicaAutoscalers(ctx context.Context, namespace string) ([]*scalerv1.ReplicaAutoscaler, error)
}

func (c cacheLookup) ReplicaAutoscalers(ctx context.Context, namespace string) ([]*scalerv1.ReplicaAutoscaler, error) {
	list := &scalerv1.ReplicaAutoscalerList{}
	if err := c.r.List(ctx, list, client.InNamespace(namespace), client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	out := make([]*scalerv1.ReplicaAutoscaler, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, nil
}
