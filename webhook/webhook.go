package webhook

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/tailor-dev/tailor/provisioner/scope"
	"github.com/tailor-dev/tailor/scaler/coordination"
)

// Paths the webhook configurations in deploy/ point at.
const (
	PodPath = "/mutate-v1-pod"
	VPAPath = "/validate-autoscaling-k8s-io-v1-verticalpodautoscaler"
)

// Options configure the admission path.
type Options struct {
	// Scope is the namespaces this installation mutates pods in (never
	// Tailor's own or kube-system; with a selector, only those it matches).
	Scope coordination.Scope
	// Placer pins new pods to a NodePool (nil: placement off).
	Placer Placer
	// Pools are the NodePools and AWSNodeClasses whose writes this
	// installation validates (--nodepool-selector; the zero value: all).
	Pools scope.Pools
}

// Setup registers the handlers on the manager's webhook server. Readiness
// waits for the server and the caches.
func Setup(ctx context.Context, mgr manager.Manager, o Options) error {
	// Everything the pod handler reads (the well-known controllers of the
	// owner chain, VPAs, LimitRanges, ResourceQuotas, ReplicaAutoscalers)
	// has its informer started with the manager, so the first admission
	// finds it synced.
	lookup, err := newIndexLookup(ctx, mgr.GetCache())
	if err != nil {
		return err
	}
	var namespaces NamespaceLabels
	if o.Placer != nil || o.Scope.Selective() {
		// Namespace labels (tailor.dev/placement=disabled, the scope's
		// selector), metadata only.
		ns := &metav1.PartialObjectMetadata{}
		ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
		if lookup.namespaces, err = indexerOf(ctx, mgr.GetCache(), ns); err != nil {
			return err
		}
		namespaces = lookup
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
		Lookup:     lookup,
		Horizontal: lookup,
		Events:     events,
		Synced:     synced,
		Scope:      o.Scope,
		Placer:     o.Placer,
		Namespaces: namespaces,
	})
	capacity := &admission.Webhook{Handler: &CapacityValidator{Decoder: decoder, Pools: o.Pools}}
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
