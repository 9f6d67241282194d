package controller

import (
	"context"
	"errors"
	"fmt"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/scale"
)

// Scales reads and writes the scale subresource of any kind that has one,
// found through the RESTMapper and discovery (as the HPA controller does).
type Scales struct {
	mapper   meta.RESTMapper
	resolver scale.ScaleKindResolver
	client   scale.ScalesGetter
}

// NewScales returns a scale client for cfg.
func NewScales(cfg *rest.Config, mapper meta.RESTMapper) (*Scales, error) {
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

// Get returns the target's scale and the resource it was read through.
func (s *Scales) Get(ctx context.Context, namespace string, ref autoscalingv2.CrossVersionObjectReference) (*autoscalingv1.Scale, schema.GroupResource, error) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return nil, schema.GroupResource{}, fmt.Errorf("invalid apiVersion %q: %w", ref.APIVersion, err)
	}
	gk := schema.GroupKind{Group: gv.Group, Kind: ref.Kind}
	mappings, err := s.mapper.RESTMappings(gk)
	if err != nil {
		return nil, schema.GroupResource{}, fmt.Errorf("kind %s is not served by the cluster: %w", gk, err)
	}
	var errs []error
	for _, m := range mappings {
		if _, err := s.resolver.ScaleForResource(m.Resource); err != nil {
			errs = append(errs, fmt.Errorf("%s has no scale subresource (%w)", ref.Kind, err))
			continue
		}
		gr := m.Resource.GroupResource()
		sc, err := s.client.Scales(namespace).Get(ctx, gr, ref.Name, metav1.GetOptions{})
		if err == nil {
			return sc, gr, nil
		}
		errs = append(errs, err)
	}
	return nil, schema.GroupResource{}, errors.Join(errs...)
}

// Update writes sc (with the resourceVersion it was read with, so a
// concurrent change makes it fail rather than be overwritten).
func (s *Scales) Update(ctx context.Context, gr schema.GroupResource, sc *autoscalingv1.Scale) (*autoscalingv1.Scale, error) {
	return s.client.Scales(sc.Namespace).Update(ctx, gr, sc, metav1.UpdateOptions{})
}
