package main

import (
	"context"
	"fmt"

	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/scope"
	"github.com/tailor-dev/tailor/webhook"
)

// newNodePoolPlacer starts the NodePool informer with the manager and keeps
// the webhook's placer in step with it: every NodePool change (rare)
// compiles the pools again, so admission only runs Place. Only the
// installation's pools (pools) are chosen.
func newNodePoolPlacer(ctx context.Context, mgr manager.Manager, pools scope.Pools) (*webhook.PoolPlacer, error) {
	inf, err := mgr.GetCache().GetInformer(ctx, &provisionerv1.NodePool{})
	if err != nil {
		return nil, fmt.Errorf("NodePool informer (kubectl apply -f deploy/crds/): %w", err)
	}
	p := &webhook.PoolPlacer{Pools: pools}
	rebuild := func() {
		var list provisionerv1.NodePoolList
		if err := mgr.GetCache().List(ctx, &list); err != nil {
			ctrl.Log.WithName("placement").Error(err, "list NodePools")
			return
		}
		pools := make([]*provisionerv1.NodePool, len(list.Items))
		for i := range list.Items {
			pools[i] = &list.Items[i]
		}
		p.Set(pools)
	}
	_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { rebuild() },
		UpdateFunc: func(any, any) { rebuild() },
		DeleteFunc: func(any) { rebuild() },
	})
	return p, err
}
