package webhook

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tailor-dev/tailor/recommender/sizing"
	scalerv1 "github.com/tailor-dev/tailor/scaler/api/v1alpha1"
)

// Lookup is everything the pod mutator reads. In production it is the
// informer cache (cacheLookup); nothing in it may call the API server.
type Lookup interface {
	// ControllerOf returns the controller reference of owner when owner is
	// a well-known controller (see wellKnown), or nil: the chain ends there.
	// cached is false when owner is a well-known kind the cache does not
	// hold (yet).
	ControllerOf(ctx context.Context, namespace string, owner sizing.Owner) (ref *metav1.OwnerReference, cached bool)
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

// indexLookup reads the informers' indexers directly: a cached object is
// handed out as the pointer the informer holds, without the copy into a
// fresh object (Get) or list (List) that the cache reader makes on every
// call, the largest cost of the reads on the admission path. The objects
// are shared with the informer: read only.
type indexLookup struct {
	owners                         map[schema.GroupKind]toolscache.Indexer
	vpas, limitRanges, quotas, ras toolscache.Indexer
	// namespaces: the metadata-only Namespace informer's (nil: not
	// started, when neither placement nor a namespace selector needs it).
	namespaces toolscache.Indexer
}

// indexerOf is the indexer of obj's informer in c, started with the
// manager.
func indexerOf(ctx context.Context, c cache.Cache, obj client.Object) (toolscache.Indexer, error) {
	inf, err := c.GetInformer(ctx, obj)
	if err != nil {
		return nil, err
	}
	i, ok := inf.(interface{ GetIndexer() toolscache.Indexer })
	if !ok {
		return nil, fmt.Errorf("the %T informer has no indexer", obj)
	}
	return i.GetIndexer(), nil
}

// newIndexLookup starts the informers of cachedTypes and returns the
// lookup over them.
func newIndexLookup(ctx context.Context, c cache.Cache) (*indexLookup, error) {
	l := &indexLookup{owners: map[schema.GroupKind]toolscache.Indexer{}}
	var err error
	get := func(obj client.Object) toolscache.Indexer {
		if err != nil {
			return nil
		}
		var idx toolscache.Indexer
		idx, err = indexerOf(ctx, c, obj)
		if meta.IsNoMatchError(err) {
			err = fmt.Errorf("the %T API is not installed in the cluster (kubectl apply -f deploy/crds/): %w", obj, err)
		}
		return idx
	}
	l.vpas, l.limitRanges = get(&vpav1.VerticalPodAutoscaler{}), get(&corev1.LimitRange{})
	l.quotas, l.ras = get(&corev1.ResourceQuota{}), get(&scalerv1.ReplicaAutoscaler{})
	for gk, newObj := range wellKnown {
		l.owners[gk] = get(newObj())
	}
	return l, err
}

func (l *indexLookup) ControllerOf(_ context.Context, namespace string, o sizing.Owner) (*metav1.OwnerReference, bool) {
	idx := l.owners[schema.GroupKind{Group: group(o.APIVersion), Kind: o.Kind}]
	if idx == nil {
		return nil, true // not a well-known kind: the top of the chain
	}
	item, ok, err := idx.GetByKey(namespace + "/" + o.Name)
	if err != nil || !ok {
		return nil, false
	}
	obj, ok := item.(metav1.Object)
	if !ok {
		return nil, true
	}
	return metav1.GetControllerOfNoCopy(obj), true
}

// inNamespace lists the objects of idx in namespace as *T.
func inNamespace[T any](idx toolscache.Indexer, namespace string) ([]*T, error) {
	items, err := idx.ByIndex(toolscache.NamespaceIndex, namespace)
	if err != nil || len(items) == 0 {
		return nil, err
	}
	out := make([]*T, 0, len(items))
	for _, item := range items {
		if o, ok := item.(*T); ok {
			out = append(out, o)
		}
	}
	return out, nil
}

func (l *indexLookup) VPAs(_ context.Context, namespace string) ([]*vpav1.VerticalPodAutoscaler, error) {
	return inNamespace[vpav1.VerticalPodAutoscaler](l.vpas, namespace)
}

func (l *indexLookup) ReplicaAutoscalers(_ context.Context, namespace string) ([]*scalerv1.ReplicaAutoscaler, error) {
	return inNamespace[scalerv1.ReplicaAutoscaler](l.ras, namespace)
}

// values copies the objects of idx in namespace (sizing takes values; most
// namespaces have none).
func values[T any](idx toolscache.Indexer, namespace string) ([]T, error) {
	ps, err := inNamespace[T](idx, namespace)
	if err != nil || len(ps) == 0 {
		return nil, err
	}
	out := make([]T, len(ps))
	for i, p := range ps {
		out[i] = *p
	}
	return out, nil
}

// NamespaceLabels reads the namespace's labels as the informer holds them
// (read only), not through the cache reader, which copies the object.
func (l *indexLookup) NamespaceLabels(_ context.Context, name string) (map[string]string, error) {
	item, ok, err := l.namespaces.GetByKey(name)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("namespace %q not in the cache", name)
	}
	m, ok := item.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("namespace %q: cached as %T", name, item)
	}
	return m.GetLabels(), nil
}

func (l *indexLookup) LimitRanges(_ context.Context, namespace string) ([]corev1.LimitRange, error) {
	return values[corev1.LimitRange](l.limitRanges, namespace)
}

func (l *indexLookup) ResourceQuotas(_ context.Context, namespace string) ([]corev1.ResourceQuota, error) {
	return values[corev1.ResourceQuota](l.quotas, namespace)
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
		var cached bool
		if ref, cached = l.ControllerOf(ctx, namespace, o); !cached && len(chain) == 1 {
			ref = newReplicaSetsDeployment(o, pod)
		}
	}
	return chain
}

// newReplicaSetsDeployment names the Deployment of the pod's ReplicaSet
// when the informer has not seen that ReplicaSet yet. A rollout creates the
// ReplicaSet and, milliseconds later, its pods: the first pods of every
// rollout would otherwise reach admission with a chain that ends at the
// ReplicaSet and miss the Deployment's VPA. The Deployment controller names
// a ReplicaSet <deployment>-<pod-template-hash> and labels its pods with
// that hash, so the pair identifies the Deployment without a call to the API
// server (the admission path makes none).
func newReplicaSetsDeployment(rs sizing.Owner, pod *corev1.Pod) *metav1.OwnerReference {
	if rs.Kind != "ReplicaSet" || group(rs.APIVersion) != "apps" {
		return nil
	}
	hash := pod.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
	name, found := strings.CutSuffix(rs.Name, "-"+hash)
	if hash == "" || !found || name == "" {
		return nil
	}
	return &metav1.OwnerReference{APIVersion: "apps/v1", Kind: "Deployment", Name: name}
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
