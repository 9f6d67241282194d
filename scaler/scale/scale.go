// Package scale reads and writes the scale subresource of any kind that has
// one (Deployments, StatefulSets, ReplicaSets, custom resources such as
// Argo Rollouts), found through the RESTMapper and discovery as the HPA
// controller and upstream VPA find them, and resolves a VPA's target to its
// pods' selector (SelectorOf). The scaler scales through it; the recommender
// and the updater resolve VPA targets with it. cmd/tailor builds one client
// and hands it to every loop. The scale subresource cannot be watched, so
// every call goes to the API server: keep it off hot paths.
package scale

import (
	"context"
	"errors"
	"fmt"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/scale"
)

// Unsupported is a target whose scale cannot be used for a reason its
// owner can fix: the kind is unknown to the API server, has no scale
// subresource, or the object does not exist.
type Unsupported struct{ Msg string }

func (e *Unsupported) Error() string { return e.Msg }

// Scales reads and writes scale subresources.
type Scales struct {
	mapper   meta.RESTMapper
	resolver scale.ScaleKindResolver
	client   scale.ScalesGetter
}

// New returns a scale client for cfg; mapper is the manager's
// (discovery-backed: it re-discovers a group on a miss).
func New(cfg *rest.Config, mapper meta.RESTMapper) (*Scales, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	// Caches hits only: a kind without a scale subresource is looked up again
	// next time, so a CRD that gains one is picked up.
	resolver := scale.NewDiscoveryScaleKindResolver(dc)
	c, err := scale.NewForConfig(cfg, mapper, dynamic.LegacyAPIPathResolverFunc, resolver)
	if err != nil {
		return nil, err
	}
	return &Scales{mapper: mapper, resolver: resolver, client: c}, nil
}

// Get returns the scale of the object apiVersion/kind name in namespace and
// the resource it was read through. As upstream, every served version of
// the kind is tried (the targetRef's version only names the group).
func (s *Scales) Get(ctx context.Context, namespace, apiVersion, kind, name string) (*autoscalingv1.Scale, schema.GroupResource, error) {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return nil, schema.GroupResource{}, &Unsupported{fmt.Sprintf("invalid apiVersion %q: %v", apiVersion, err)}
	}
	gk := schema.GroupKind{Group: gv.Group, Kind: kind}
	mappings, err := s.mapper.RESTMappings(gk)
	if meta.IsNoMatchError(err) || (err == nil && len(mappings) == 0) {
		return nil, schema.GroupResource{}, &Unsupported{fmt.Sprintf("kind %s is unknown to the API server (no resource serves it; is its CRD installed?)", kindString(gk))}
	}
	if err != nil {
		return nil, schema.GroupResource{}, err
	}
	var errs []error
	for _, m := range mappings {
		gr := m.Resource.GroupResource()
		if _, err := s.resolver.ScaleForResource(m.Resource); err != nil {
			errs = append(errs, &Unsupported{fmt.Sprintf("kind %s has no scale subresource (%s/scale is not served)", kindString(gk), gr)})
			continue
		}
		sc, err := s.client.Scales(namespace).Get(ctx, gr, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, gr, &Unsupported{err.Error()}
		}
		if err == nil {
			return sc, gr, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 1 {
		return nil, schema.GroupResource{}, errs[0]
	}
	return nil, schema.GroupResource{}, errors.Join(errs...)
}

// Update writes sc (with the resourceVersion it was read with, so a
// concurrent change makes it fail rather than be overwritten).
func (s *Scales) Update(ctx context.Context, gr schema.GroupResource, sc *autoscalingv1.Scale) (*autoscalingv1.Scale, error) {
	return s.client.Scales(sc.Namespace).Update(ctx, gr, sc, metav1.UpdateOptions{})
}

// kindString is Kind or Kind.group.
func kindString(gk schema.GroupKind) string {
	if gk.Group == "" {
		return gk.Kind
	}
	return gk.Kind + "." + gk.Group
}
