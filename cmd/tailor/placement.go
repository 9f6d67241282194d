package main

import (
	"context"
	"fmt"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/placement"
	"github.com/tailor-dev/tailor/webhook"
)

// nodePoolPlacer is the webhook's Placer: the provisioner's pure placement
// over the NodePools of the informer cache, compiled again on every
// NodePool change (rare) so that admission only runs Place.
type nodePoolPlacer struct {
	snap atomic.Pointer[placerSnapshot]
}

type placerSnapshot struct {
	placer  *placement.Placer
	weights map[string]int32
}

// newNodePoolPlacer starts the NodePool informer with the manager and
// keeps the compiled pools in step with it.
func newNodePoolPlacer(ctx context.Context, mgr manager.Manager) (*nodePoolPlacer, error) {
	inf, err := mgr.GetCache().GetInformer(ctx, &provisionerv1.NodePool{})
	if err != nil {
		return nil, fmt.Errorf("NodePool informer (kubectl apply -f deploy/crds/): %w", err)
	}
	n := &nodePoolPlacer{}
	rebuild := func() {
		var list provisionerv1.NodePoolList
		if err := mgr.GetCache().List(ctx, &list); err != nil {
			ctrl.Log.WithName("placement").Error(err, "list NodePools")
			return
		}
		s := &placerSnapshot{weights: map[string]int32{}}
		pools := make([]placement.Pool, 0, len(list.Items))
		for i := range list.Items {
			np := &list.Items[i]
			if np.DeletionTimestamp != nil {
				continue
			}
			pools = append(pools, placement.Pool{NodePool: np, Usage: np.Status.Resources})
			if np.Spec.Weight != nil {
				s.weights[np.Name] = *np.Spec.Weight
			}
		}
		s.placer = placement.New(pools)
		n.snap.Store(s)
	}
	_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { rebuild() },
		UpdateFunc: func(any, any) { rebuild() },
		DeleteFunc: func(any) { rebuild() },
	})
	return n, err
}

// Place implements webhook.Placer.
func (n *nodePoolPlacer) Place(pod *corev1.Pod) webhook.Placement {
	s := n.snap.Load()
	if s == nil {
		return webhook.Placement{}
	}
	res := s.placer.Place(pod)
	out := webhook.Placement{Pool: res.Pool}
	if len(res.Rejected) > 0 {
		out.Rejected = make([]string, len(res.Rejected))
		for i, r := range res.Rejected {
			out.Rejected[i] = r.String()
		}
	}
	if res.Pool != "" {
		weight := "no weight"
		if w, ok := s.weights[res.Pool]; ok {
			weight = fmt.Sprintf("weight %d", w)
		}
		out.Why = "the highest-weight pool (" + weight + ") whose requirements, taints and limits the pod fits"
	}
	return out
}
