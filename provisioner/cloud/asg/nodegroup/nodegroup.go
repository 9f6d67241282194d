// Package nodegroup is an Auto Scaling group as Tailor reads it: the
// Cluster Autoscaler's tags, an EKS managed node group's labels and
// taints, and the node template of a group with no nodes yet. Pure; the
// SDK-backed cloud is the parent package.
package nodegroup

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/scheduling"
	"github.com/tailor-dev/tailor/recommender/sizing"
)

// The Cluster Autoscaler's tags, which Tailor reads as they are.
const (
	// TagEnabled and TagCluster+<cluster> are the discovery tags.
	TagEnabled = "k8s.io/cluster-autoscaler/enabled"
	TagCluster = "k8s.io/cluster-autoscaler/"
	// Node-template tags describe the nodes of a group that has none yet.
	TagLabel    = "k8s.io/cluster-autoscaler/node-template/label/"
	TagTaint    = "k8s.io/cluster-autoscaler/node-template/taint/"
	TagResource = "k8s.io/cluster-autoscaler/node-template/resources/"
	// TagNodeGroup and TagEKSCluster mark the group of an EKS managed node
	// group (EKS sets them), whose labels and taints DescribeNodegroup
	// tells.
	TagNodeGroup  = "eks:nodegroup-name"
	TagEKSCluster = "eks:cluster-name"
)

// ManagedNodeGroup is what EKS says of a managed node group's nodes.
type ManagedNodeGroup struct {
	Labels map[string]string
	Taints []corev1.Taint
}

// ManagedTaintEffect is the Kubernetes effect of an EKS taint effect
// (NO_SCHEDULE, NO_EXECUTE, PREFER_NO_SCHEDULE); false for another.
func ManagedTaintEffect(effect string) (corev1.TaintEffect, bool) {
	switch effect {
	case "NO_SCHEDULE":
		return corev1.TaintEffectNoSchedule, true
	case "NO_EXECUTE":
		return corev1.TaintEffectNoExecute, true
	case "PREFER_NO_SCHEDULE":
		return corev1.TaintEffectPreferNoSchedule, true
	}
	return "", false
}

// WithManaged is nt with a managed node group's labels and taints under
// it: the node-template tags win for a label key, and for a taint of the
// same key and effect; taints come out sorted by key and effect.
func (nt NodeTemplate) WithManaged(m *ManagedNodeGroup) NodeTemplate {
	if m == nil {
		return nt
	}
	out := NodeTemplate{Labels: map[string]string{}, Resources: nt.Resources}
	for k, v := range m.Labels {
		out.Labels[k] = v
	}
	for k, v := range nt.Labels {
		out.Labels[k] = v
	}
	type key struct {
		k string
		e corev1.TaintEffect
	}
	seen := map[key]bool{}
	for _, t := range nt.Taints {
		seen[key{t.Key, t.Effect}] = true
		out.Taints = append(out.Taints, t)
	}
	for _, t := range m.Taints {
		if !seen[key{t.Key, t.Effect}] {
			seen[key{t.Key, t.Effect}] = true
			out.Taints = append(out.Taints, t)
		}
	}
	sort.SliceStable(out.Taints, func(i, j int) bool {
		if out.Taints[i].Key != out.Taints[j].Key {
			return out.Taints[i].Key < out.Taints[j].Key
		}
		return out.Taints[i].Effect < out.Taints[j].Effect
	})
	return out
}

// NodeTemplate is what a group's node-template tags say of its nodes.
type NodeTemplate struct {
	Labels    map[string]string
	Taints    []corev1.Taint
	Resources corev1.ResourceList
}

// ParseTags reads the node-template tags of a group: labels
// (…/label/<key>: <value>), taints (…/taint/<key>: <value>:<Effect>, or
// <Effect> alone for an empty value) and resources
// (…/resources/<name>: <quantity>). A tag that does not parse is left
// out and said in the errors; the others still count. Taints come out
// sorted by key.
func ParseTags(tags map[string]string) (NodeTemplate, []error) {
	nt := NodeTemplate{Labels: map[string]string{}, Resources: corev1.ResourceList{}}
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		v := tags[k]
		switch {
		case strings.HasPrefix(k, TagLabel):
			key := strings.TrimPrefix(k, TagLabel)
			if e := validation.IsQualifiedName(key); len(e) > 0 {
				errs = append(errs, fmt.Errorf("tag %s: label key: %s", k, strings.Join(e, "; ")))
				continue
			}
			if e := validation.IsValidLabelValue(v); len(e) > 0 {
				errs = append(errs, fmt.Errorf("tag %s: label value %q: %s", k, v, strings.Join(e, "; ")))
				continue
			}
			nt.Labels[key] = v
		case strings.HasPrefix(k, TagTaint):
			key := strings.TrimPrefix(k, TagTaint)
			if e := validation.IsQualifiedName(key); len(e) > 0 {
				errs = append(errs, fmt.Errorf("tag %s: taint key: %s", k, strings.Join(e, "; ")))
				continue
			}
			value, effect, ok := strings.Cut(v, ":")
			if !ok {
				value, effect = "", v
			}
			switch corev1.TaintEffect(effect) {
			case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
			default:
				errs = append(errs, fmt.Errorf("tag %s: taint %q: the effect must be NoSchedule, PreferNoSchedule or NoExecute", k, v))
				continue
			}
			if e := validation.IsValidLabelValue(value); len(e) > 0 {
				errs = append(errs, fmt.Errorf("tag %s: taint value %q: %s", k, value, strings.Join(e, "; ")))
				continue
			}
			nt.Taints = append(nt.Taints, corev1.Taint{Key: key, Value: value, Effect: corev1.TaintEffect(effect)})
		case strings.HasPrefix(k, TagResource):
			name := strings.TrimPrefix(k, TagResource)
			if e := validation.IsQualifiedName(name); len(e) > 0 {
				errs = append(errs, fmt.Errorf("tag %s: resource name: %s", k, strings.Join(e, "; ")))
				continue
			}
			q, err := sizing.ParseQuantity(v)
			if err != nil || q.Sign() < 0 {
				errs = append(errs, fmt.Errorf("tag %s: quantity %q: not a non-negative quantity", k, v))
				continue
			}
			nt.Resources[corev1.ResourceName(name)] = q
		}
	}
	return nt, errs
}

// Group is an Auto Scaling group as Tailor reads it.
type Group struct {
	Name              string
	Min, Max, Desired int32
	Zones             []string
	// Types the group launches: its launch template's, or the overrides
	// of its mixed instances policy in their order.
	Types []string
	// Mixed: a mixed instances policy, with its distribution.
	Mixed bool
	// OnDemandStrategy: prioritized (the overrides' order) or lowest-price.
	OnDemandStrategy string
	// SpotStrategy: price-capacity-optimized, lowest-price, capacity-optimized…
	SpotStrategy    string
	OnDemandBase    int32
	OnDemandPercent int32
	Tags            map[string]string
	Instances       []GroupInstance
	// Managed: the EKS managed node group's labels and taints (nil for a
	// self-managed group).
	Managed *ManagedNodeGroup
}

// GroupInstance is an instance of a group.
type GroupInstance struct {
	ID, Type, Zone string
	// State is the instance's lifecycle state (Pending, InService, Terminating…).
	State string
}

// CapacityType of the group's next instance: on-demand while the
// on-demand base is not reached or above-base instances are all on-demand
// (the default, and a group without a mixed instances policy), spot when
// they are all spot; between, the larger share.
func (g *Group) CapacityType() string {
	if !g.Mixed || int32(len(g.Instances)) < g.OnDemandBase || g.OnDemandPercent >= 50 {
		return provisionerv1.CapacityTypeOnDemand
	}
	return provisionerv1.CapacityTypeSpot
}

// LaunchOrder is the order in which the group tries its instance types for
// the next instance: the overrides' order for on-demand prioritized (and a
// single type), else cheapest first — lowest-price, and the spot
// strategies, which weigh price first (price-capacity-optimized) or
// capacity Tailor cannot see. price(type) is the type's price for the
// group's capacity type (the lowest over its zones for spot).
func (g *Group) LaunchOrder(price func(typ string) float64) []string {
	out := append([]string(nil), g.Types...)
	if len(out) < 2 || (g.CapacityType() == provisionerv1.CapacityTypeOnDemand && g.OnDemandStrategy != "lowest-price") {
		return out
	}
	sort.SliceStable(out, func(i, j int) bool { return price(out[i]) < price(out[j]) })
	return out
}

// Template is the node the group makes of instance type it: the type's
// labels, capacity and allocatable with the node-template tags over them
// (labels added or replaced; a resource replaces the capacity, and the
// allocatable less what the type reserves of it), and one offering per zone of the group at the group's
// capacity type, available if available says so.
func Template(it *scheduling.InstanceType, g *Group, nt NodeTemplate, price func(zone string) float64, available bool) *scheduling.InstanceType {
	out := &scheduling.InstanceType{Name: it.Name, Labels: map[string]string{}, Capacity: it.Capacity.DeepCopy(), Allocatable: it.Allocatable.DeepCopy()}
	for k, v := range it.Labels {
		out.Labels[k] = v
	}
	for k, v := range nt.Labels {
		if k == provisionerv1.LabelNodePool || k == provisionerv1.LabelNodeClaim {
			continue
		}
		out.Labels[k] = v
	}
	if out.Capacity == nil {
		out.Capacity = corev1.ResourceList{}
	}
	if out.Allocatable == nil {
		out.Allocatable = corev1.ResourceList{}
	}
	for n, q := range nt.Resources {
		// What the kubelet reserves of the type's capacity stays reserved.
		alloc := q.DeepCopy()
		if c, ok := it.Capacity[n]; ok {
			if a, ok := it.Allocatable[n]; ok {
				reserved := c.DeepCopy()
				reserved.Sub(a)
				alloc.Sub(reserved)
				if alloc.Sign() < 0 {
					alloc = resource.Quantity{}
				}
			}
		}
		out.Capacity[n] = q
		out.Allocatable[n] = alloc
	}
	ct := g.CapacityType()
	for _, z := range g.Zones {
		out.Offerings = append(out.Offerings, scheduling.Offering{Zone: z, CapacityType: ct, Price: price(z), Available: available})
	}
	return out
}
