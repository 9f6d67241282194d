package webhook

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tailor-dev/tailor/webhook/sizing"
)

// Lookup is everything the pod mutator reads. In production it is the
// informer cache (cacheLookup); nothing in it may call the API server.
type Lookup interface {
	// ControllerOf returns the controller reference of the intermediate
	// controller kind/name (ReplicaSet or Job), or nil.
	ControllerOf(ctx context.Context, namespace string, owner sizing.Owner) *metav1.OwnerReference
	VPAs(ctx context.Context, namespace string) ([]*vpav1.VerticalPodAutoscaler, error)
	LimitRanges(ctx context.Context, namespace string) ([]corev1.LimitRange, error)
}

// cacheLookup reads the manager's informer cache without deep copies: the
// admission path only reads what it gets.
type cacheLookup struct{ r client.Reader }

func (c cacheLookup) ControllerOf(ctx context.Context, namespace string, o sizing.Owner) *metav1.OwnerReference {
	var obj client.Object
	switch {
	case o.Kind == "ReplicaSet" && sizing.Group(o.APIVersion) == "apps":
		obj = &appsv1.ReplicaSet{}
	case o.Kind == "Job" && sizing.Group(o.APIVersion) == "batch":
		obj = &batchv1.Job{}
	default:
		return nil
	}
	if err := c.r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: o.Name}, obj); err != nil {
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

// maxChain bounds the walk up ownerReferences: real chains are two or three
// links; a cycle in hand-written references must not loop.
const maxChain = 5

// ownerChain walks the pod's controller references upwards through the
// intermediate controllers (ReplicaSet → Deployment or another owner such as
// an Argo Rollout, Job → CronJob), from the pod's direct controller up. It
// appends to chain, which a caller may back with an array of maxChain.
func ownerChain(ctx context.Context, l Lookup, namespace string, pod *corev1.Pod, chain []sizing.Owner) []sizing.Owner {
	ref := metav1.GetControllerOfNoCopy(pod)
	for ref != nil && len(chain) < maxChain {
		o := sizing.Owner{APIVersion: ref.APIVersion, Kind: ref.Kind, Name: ref.Name}
		chain = append(chain, o)
		ref = l.ControllerOf(ctx, namespace, o)
	}
	return chain
}
