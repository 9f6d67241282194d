package controller

import (
	"context"

	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	scalerv1 "github.com/tailor-dev/tailor/scaler/api/v1alpha1"
	"github.com/tailor-dev/tailor/scaler/coordination"
)

// horizontal returns what ReplicaAutoscalers hold of vpa's target, read from
// the cache. When they cannot be read the status says nothing held: the
// admission path and the updater refuse to act without them, so a wrong
// recommendation is not applied meanwhile.
func (r *Recommender) horizontal(ctx context.Context, vpa *vpav1.VerticalPodAutoscaler) coordination.Held {
	var list scalerv1.ReplicaAutoscalerList
	if err := r.client.List(ctx, &list, client.InNamespace(vpa.Namespace), client.UnsafeDisableDeepCopy); err != nil { // read only
		sourceErrorsTotal.WithLabelValues(SourceKubeAPI).Inc()
		r.log.Error(err, "list ReplicaAutoscalers", "vpa", vpa.Namespace+"/"+vpa.Name)
		return coordination.Held{}
	}
	ras := make([]*scalerv1.ReplicaAutoscaler, len(list.Items))
	for i := range list.Items {
		ras[i] = &list.Items[i]
	}
	return coordination.Horizontal(vpa, ras)
}
