package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	scalerv1 "github.com/tailor-dev/tailor/scaler/api/v1alpha1"
)

// Paths the webhook configurations in deploy/ point at.
const (
	PodPath = "/mutate-v1-pod"
	VPAPath = "/validate-autoscaling-k8s-io-v1-verticalpodautoscaler"
)

// Options configure the admission path.
type Options struct {
	// Namespace is Tailor's own; it and kube-system are never mutated.
	Namespace string
	// Placer pins new pods to a NodePool (nil: placement off).
	Placer Placer
}

// cachedTypes are everything the pod mutator reads: the well-known
// controllers of the owner chain, VPAs, LimitRanges, ResourceQuotas (a
// startup boost must fit them) and ReplicaAutoscalers (resources they scale
// on are not sized). Their informers
// start with the manager so the first admission finds them synced (a cache
// read of a type without an informer would start one and wait for it).
func cachedTypes() []client.Object {
	objs := []client.Object{&vpav1.VerticalPodAutoscaler{}, &corev1.LimitRange{}, &corev1.ResourceQuota{}, &scalerv1.ReplicaAutoscaler{}}
	for _, newObj := range wellKnown {
		objs = append(objs, newObj())
	}
	return objs
}

// Setup registers the handlers on the manager's webhook server. Readiness
// waits for the server and the caches.
func Setup(ctx context.Context, mgr manager.Manager, o Options) error {
	for _, obj := range cachedTypes() {
		if _, err := mgr.GetCache().GetInformer(ctx, obj); err != nil {
			if meta.IsNoMatchError(err) {
				return fmt.Errorf("the %T API is not installed in the cluster (kubectl apply -f deploy/crds/): %w", obj, err)
			}
			return err
		}
	}
	var namespaces NamespaceLabels
	if o.Placer != nil {
		// Namespace labels (tailor.dev/placement=disabled), metadata only.
		ns := &metav1.PartialObjectMetadata{}
		ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
		if _, err := mgr.GetCache().GetInformer(ctx, ns); err != nil {
			return err
		}
		namespaces = cacheNamespaces{r: mgr.GetCache()}
	}
	synced := &atomic.Bool{}
	if err := mgr.Add(&cacheSyncMarker{cache: mgr.GetCache(), synced: synced}); err != nil {
		return err
	}
	events := NewEvents(mgr.GetEventRecorder("tailor.dev/webhook"), EventInterval)
	if err := mgr.Add(events); err != nil {
		return err
	}
	decoder := admission.NewDecoder(mgr.GetScheme())
	server := mgr.GetWebhookServer()
	// The pod path is served by PodSizer itself (review.go), not through
	// admission.Webhook: it is on every pod's creation path.
	server.Register(PodPath, &PodSizer{
		Lookup:          cacheLookup{r: mgr.GetCache()},
		Horizontal:      cacheLookup{r: mgr.GetCache()},
		Events:          events,
		Synced:          synced,
		TailorNamespace: o.Namespace,
		Placer:          o.Placer,
		Namespaces:      namespaces,
	})
	capacity := &admission.Webhook{Handler: &CapacityValidator{Decoder: decoder}}
	server.Register(NodePoolPath, capacity)
	server.Register(AWSNodeClassPath, capacity)
	server.Register(VPAPath, &admission.Webhook{Handler: &VPAValidator{Decoder: decoder}})
	if err := setupReplicaAutoscaler(ctx, mgr, decoder); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("webhook", server.StartedChecker()); err != nil {
		return err
	}
	return mgr.AddReadyzCheck("informers", func(*http.Request) error {
		if !synced.Load() {
			return errors.New("informer caches not synced")
		}
		return nil
	})
}

// cacheSyncMarker flips synced once the informers have synced. Every replica
// serves admission, so it is not leader-elected.
type cacheSyncMarker struct {
	cache  interface{ WaitForCacheSync(context.Context) bool }
	synced *atomic.Bool
}

func (m *cacheSyncMarker) Start(ctx context.Context) error {
	if m.cache.WaitForCacheSync(ctx) {
		m.synced.Store(true)
	}
	return nil
}

func (m *cacheSyncMarker) NeedLeaderElection() bool { return false }
