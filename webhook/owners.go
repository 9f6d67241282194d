package webhook

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tailor-dev/tailor/recommender/sizing"
)

// Lookup is everything the pod mutator reads. In production it is the
// informer cache (cacheLookup); nothing in it may call the API server.
type Lookup interface {
	// ControllerOf returns the controller reference of owner when owner is
	// a well-known controller (see wellKnown), or nil: the chain ends there.
	ControllerOf(ctx context.Context, namespace string, owner sizing.Owner) *metav1.OwnerReference
	VPAs(ctx context.Context, namespace string) ([]*vpav1.VerticalPodAutoscaler, error)
	LimitRanges(ctx context.Context, namespace string) ([]corev1.LimitRange, error)
	// ResourceQuotas bound a startup boost.
	ResourceQuotas(ctx context.Context, namespace string) ([]corev1.ResourceQuota, error)
}

// wellKnown are the controllers whose own controller the chain follows,
// read from the informer cache — upstream VPA's "well-known controllers",
// whose owners its controller fetcher reads from informers too. Any other
// kind (a custom resource such as an Argo Rollout) ends the chain: upstream
// takes such an owner's owner from its scale subresource, and the API server
// builds a custom resource's Scale without ownerReferences, so a custom
// resource is always the top of the chain there as well. That is why no
// informer is needed for kinds Tailor does not know.
var wellKnown = map[schema.GroupKind]func() client.Object{
	{Group: "apps", Kind: "ReplicaSet"}:        func() client.Object { return &appsv1.ReplicaSet{} },
	{Group: "apps", Kind: "Deployment"}:        func() client.Object { return &appsv1.Deployment{} },
	{Group: "apps", Kind: "StatefulSet"}:       func() client.Object { return &appsv1.StatefulSet{} },
	{Group: "apps", Kind: "DaemonSet"}:         func() client.Object { return &appsv1.DaemonSet{} },
	{Group: "batch", Kind: "Job"}:              func() client.Object { return &batchv1.Job{} },
	{Group: "batch", Kind: "CronJob"}:          func() client.Object { return &batchv1.CronJob{} },
	{Group: "", Kind: "ReplicationController"}: func() client.Object { return &corev1.ReplicationController{} },
}

// cacheLookup reads the manager's informer cache without deep copies: the
// admission path only reads what it gets.
type cacheLookup struct{ r client.Reader }

func (c cacheLookup) ControllerOf(ctx context.Context, namespace string, o sizing.Owner) *metav1.OwnerReference {
	newObj, ok := wellKnown[schema.GroupKind{Group: group(o.APIVersion), Kind: o.Kind}]
	if !ok {
		return nil
	}
	obj := newObj()
	// Only the ownerReferences are read: a shallow copy of the cached
	// object, not a deep one.
	if err := c.r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: o.Name}, obj, client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	return metav1.GetControllerOfNoCopy(obj)
}

func (c cacheLookup) VPAs(ctx context.Context, namespace string) ([]*vpav1.VerticalPodAutoscaler, error) {
	list := &vpav1.VerticalPodAutoscalerList{}
	if err := c.r.List(ctx, list, client.InNamespace(namespace), client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	out := make([]*vpav1.VerticalPodAutoscaler, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, nil
}

func (c cacheLookup) LimitRanges(ctx context.Context, namespace string) ([]corev1.LimitRange, error) {
	list := &corev1.LimitRangeList{}
	if err := c.r.List(ctx, list, client.InNamespace(namespace), client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	return list.Items, nil
}

func (c cacheLookup) ResourceQuotas(ctx context.Context, namespace string) ([]corev1.ResourceQuota, error) {
	list := &corev1.ResourceQuotaList{}
	if err := c.r.List(ctx, list, client.InNamespace(namespace), client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// maxChain bounds the walk up ownerReferences: real chains are two or three
// links; a cycle in hand-written references must not loop.
const maxChain = 5

// ownerChain walks the pod's controller references upwards through the
// well-known controllers (ReplicaSet → Deployment or another owner such as
// an Argo Rollout, Job → CronJob, a Deployment or StatefulSet → the custom
// resource of an operator), from the pod's direct controller up to the first
// link that is not a well-known controller. It appends to chain, which a
// caller may back with an array of maxChain.
func ownerChain(ctx context.Context, l Lookup, namespace string, pod *corev1.Pod, chain []sizing.Owner) []sizing.Owner {
	ref := metav1.GetControllerOfNoCopy(pod)
	for ref != nil && len(chain) < maxChain {
		o := sizing.Owner{APIVersion: ref.APIVersion, Kind: ref.Kind, Name: ref.Name}
		chain = append(chain, o)
		ref = l.ControllerOf(ctx, namespace, o)
	}
	return chain
}

// group returns the API group of an apiVersion ("apps/v1" → "apps",
// "v1" → ""); a malformed one yields a group no real object has.
func group(apiVersion string) string {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return "\x00invalid"
	}
	return gv.Group
}
