package controller

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/cloud"
)

// Setup adds the provisioner (batching and solving), the disruption loop,
// the NodeClaim lifecycle and NodePool status controllers to the manager;
// all run on the leader only. cp is the cloud backend cmd/tailor built.
func Setup(ctx context.Context, mgr manager.Manager, o Options, cp cloud.Provider) error {
	if err := o.Validate(); err != nil {
		return err
	}
	idx := mgr.GetFieldIndexer()
	if err := idx.IndexField(ctx, &corev1.Node{}, nodeProviderIDField, func(obj client.Object) []string {
		if id := obj.(*corev1.Node).Spec.ProviderID; id != "" {
			return []string{id}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &corev1.Pod{}, podNodeNameField, func(obj client.Object) []string {
		if n := obj.(*corev1.Pod).Spec.NodeName; n != "" {
			return []string{n}
		}
		return nil
	}); err != nil {
		return err
	}
	log := mgr.GetLogger().WithName("provisioner")
	rec := mgr.GetEventRecorder("tailor.dev/provisioner")
	p := newProvisioner(mgr.GetClient(), cp, rec, log, o)
	if err := mgr.Add(p); err != nil {
		return err
	}
	pods, err := mgr.GetCache().GetInformer(ctx, &corev1.Pod{})
	if err != nil {
		return err
	}
	if _, err := pods.AddEventHandler(p.podHandler()); err != nil {
		return err
	}
	claims, err := mgr.GetCache().GetInformer(ctx, &provisionerv1.NodeClaim{})
	if err != nil {
		return err
	}
	// A claim that goes (deleted by hand, timed out, out of capacity)
	// leaves its pods to solve again.
	if _, err := claims.AddEventHandler(toolscache.ResourceEventHandlerFuncs{DeleteFunc: func(any) { p.Trigger() }}); err != nil {
		return err
	}
	c := mgr.GetClient()
	if err := mgr.Add(&disrupter{opts: o, client: c, recorder: rec, log: log.WithName("disruption"), now: p.now, provisioner: p, told: map[string]string{}}); err != nil {
		return err
	}
	l := &lifecycle{opts: o, client: c, cloud: cp, recorder: rec, log: log.WithName("nodeclaim"), provisioner: p, now: p.now,
		pods: map[string]string{}, told: map[string]bool{}}
	err = ctrl.NewControllerManagedBy(mgr).Named("nodeclaim").
		For(&provisionerv1.NodeClaim{}).
		Watches(&corev1.Node{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
			return claimOfNode(ctx, c, obj.(*corev1.Node))
		})).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
			pod := obj.(*corev1.Pod)
			if pod.Spec.NodeName == "" {
				return nil
			}
			node := &corev1.Node{}
			if err := c.Get(ctx, types.NamespacedName{Name: pod.Spec.NodeName}, node); err != nil {
				return nil
			}
			if name := node.Labels[provisionerv1.LabelNodeClaim]; name != "" {
				return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: name}}}
			}
			return nil
		})).
		WithOptions(controller.Options{MaxConcurrentReconciles: 8}).
		Complete(l)
	if err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).Named("nodepool").
		For(&provisionerv1.NodePool{}).
		Watches(&provisionerv1.NodeClaim{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, obj client.Object) []reconcile.Request {
			if pool := obj.GetLabels()[provisionerv1.LabelNodePool]; pool != "" {
				return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: pool}}}
			}
			return nil
		})).
		Complete(&poolStatus{client: c, pools: o.Pools, log: log.WithName("nodepool"), provisioner: p})
}

// claimOfNode maps a Node to its claim: by label once registered, by
// providerID before.
func claimOfNode(ctx context.Context, c client.Client, node *corev1.Node) []reconcile.Request {
	if name := node.Labels[provisionerv1.LabelNodeClaim]; name != "" {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: name}}}
	}
	if node.Spec.ProviderID == "" {
		return nil
	}
	var claims provisionerv1.NodeClaimList
	if err := c.List(ctx, &claims); err != nil {
		return nil
	}
	for _, nc := range claims.Items {
		if nc.Status.ProviderID == node.Spec.ProviderID {
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: nc.Name}}}
		}
	}
	return nil
}
