// Package scheduling is Tailor's pure scheduling solver: given pending
// pods, the nodes that exist (or are being launched) with the pods bound to
// them, the NodePools with their instance types and offerings, and the
// DaemonSets, it decides for every pod whether it fits on an existing node,
// on a node in flight, on a new node (a NodeClaim to create, with the
// compatible instance types cheapest first) or nowhere (with a reason per
// pool). It makes no client calls: the provisioning controller, the
// disruption simulation and the simulator feed it plain data.
//
// The method is first-fit decreasing: pods sorted by CPU then memory,
// largest first, each put on the first existing node, in-flight node or
// planned claim it fits, else on a new claim of the highest-weight pool that
// admits it. A planned claim keeps the intersection of its pods'
// requirements and the instance types that still fit all of them, so a pod
// is accepted only if some instance type can carry the claim with it; once
// all pods are placed each claim takes its cheapest remaining type.
// Preferences (preferred node affinity, preferred pod (anti-)affinity,
// ScheduleAnyway spread) are first treated as required, then dropped one at
// a time until the pod fits.
package scheduling

import (
	corev1 "k8s.io/api/core/v1"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/requirements"
)

// InstanceType is a kind of node the cloud can make.
type InstanceType struct {
	// Name is the instance type (m5.large).
	Name string
	// Labels are the well-known labels a node of this type has, except the
	// zone and capacity type, which depend on the offering.
	Labels map[string]string
	// Capacity is what the node has (cpu, memory, pods, …); limits count it.
	Capacity corev1.ResourceList
	// Allocatable is Capacity less kube-reserved, system-reserved and the
	// eviction threshold: what pods can request.
	Allocatable corev1.ResourceList
	// Offerings are the zones and capacity types it can be bought in.
	Offerings []Offering
}

// Offering is an instance type in one zone and capacity type.
type Offering struct {
	Zone         string
	CapacityType string // provisionerv1.CapacityTypeSpot or CapacityTypeOnDemand
	// Price in USD per hour.
	Price float64
	// Available is false while the cloud reports no capacity for it.
	Available bool
}

// Pool is a NodePool with what the solver needs beside it.
type Pool struct {
	NodePool *provisionerv1.NodePool
	// InstanceTypes the pool's node class can launch (the pool's own
	// requirements are applied by the solver).
	InstanceTypes []*InstanceType
	// Usage is the capacity of the pool's nodes and claims now, plus
	// "nodes", their count: what Limits are checked against.
	Usage corev1.ResourceList
}

// Node is a node that exists or is being launched.
type Node struct {
	Name string
	// Requirements of the node: for a node, its labels (ForNode); for a
	// claim still launching, its spec requirements, some maybe unsettled.
	Requirements requirements.Requirements
	// Taints that keep pods away (startup taints of a launching node left out).
	Taints      []corev1.Taint
	Allocatable corev1.ResourceList
	// Pods bound to (or nominated for) the node, DaemonSet pods included.
	Pods []*corev1.Pod
	// InFlight marks a NodeClaim whose node is not ready yet.
	InFlight bool
	// Unschedulable nodes (cordoned) take no pods.
	Unschedulable bool
}

// NodeFromCore describes a Node and the pods bound to it.
func NodeFromCore(node *corev1.Node, pods []*corev1.Pod) Node {
	return Node{
		Name:          node.Name,
		Requirements:  requirements.ForNode(node),
		Taints:        node.Spec.Taints,
		Allocatable:   node.Status.Allocatable,
		Pods:          pods,
		Unschedulable: node.Spec.Unschedulable,
	}
}

// NodeFromClaim describes a NodeClaim whose node is not ready yet: its
// allocatable is the launched type's if known, else the requests it was
// made for (which include DaemonSet overhead: conservative).
func NodeFromClaim(nc *provisionerv1.NodeClaim, pods []*corev1.Pod) (Node, error) {
	var exprs []corev1.NodeSelectorRequirement
	for _, r := range nc.Spec.Requirements {
		exprs = append(exprs, r.NodeSelectorRequirement())
	}
	rs, err := requirements.FromNodeSelector(exprs)
	if err != nil {
		return Node{}, err
	}
	rs = rs.Intersect(requirements.FromLabels(nc.Labels))
	for k, v := range map[string]string{
		provisionerv1.LabelInstanceType: nc.Status.InstanceType,
		provisionerv1.LabelZone:         nc.Status.Zone,
		provisionerv1.LabelCapacityType: nc.Status.CapacityType,
	} {
		if v != "" {
			rs = rs.With(requirements.Single(k, v))
		}
	}
	alloc := nc.Status.Allocatable
	if len(alloc) == 0 {
		alloc = nc.Spec.Resources.Requests
	}
	name := nc.Status.NodeName
	if name == "" {
		name = nc.Name
	}
	return Node{Name: name, Requirements: rs, Taints: nc.Spec.Taints, Allocatable: alloc, Pods: pods, InFlight: true}, nil
}

// Input is everything a solve looks at.
type Input struct {
	// Pods to place (pending, or to be moved by a disruption simulation).
	Pods []*corev1.Pod
	// Nodes that exist or are launching, with their bound pods.
	Nodes []Node
	// Pools to make new nodes from.
	Pools []Pool
	// DaemonSetPods are one pod per DaemonSet (its template): their
	// requests are reserved on every new node they would run on, and on
	// existing nodes that lack them yet.
	DaemonSetPods []*corev1.Pod
	// Requests, when set, remembers the pods' effective requests across
	// solves over the same pods (the disruption simulation solves once
	// per candidate over one cluster); nil works them out every time.
	Requests *RequestCache
}

// RequestCache memoizes pods' effective requests by pod, and instance
// types' label requirements by type, for solves that share them (the
// simulations of a disruption pass). Not safe for concurrent use; the pods
// and types must not change while it is in use.
type RequestCache struct {
	m     map[*corev1.Pod]corev1.ResourceList
	types map[*InstanceType]requirements.Requirements
}

// NewRequestCache returns an empty cache.
func NewRequestCache() *RequestCache {
	return &RequestCache{m: map[*corev1.Pod]corev1.ResourceList{}, types: map[*InstanceType]requirements.Requirements{}}
}

// labels is requirements.FromLabels of the type's labels, memoized.
func (c *RequestCache) labels(it *InstanceType) requirements.Requirements {
	if c == nil {
		return requirements.FromLabels(it.Labels)
	}
	r, ok := c.types[it]
	if !ok {
		r = requirements.FromLabels(it.Labels)
		c.types[it] = r
	}
	return r
}

// Of is the pod's effective requests (see podRequests), memoized.
func (c *RequestCache) Of(pod *corev1.Pod) corev1.ResourceList { return c.of(pod) }

func (c *RequestCache) of(pod *corev1.Pod) corev1.ResourceList {
	if c == nil {
		return podRequests(pod)
	}
	rl, ok := c.m[pod]
	if !ok {
		rl = podRequests(pod)
		c.m[pod] = rl
	}
	return rl
}

// Kind is where a pod goes.
type Kind int

// Placement kinds.
const (
	Unschedulable Kind = iota
	ExistingNode
	InFlightNode
	NewClaim
)

func (k Kind) String() string {
	return [...]string{"Unschedulable", "ExistingNode", "InFlightNode", "NewClaim"}[k]
}

// Placement is the decision for one pod.
type Placement struct {
	Pod  *corev1.Pod
	Kind Kind
	// Node is the existing or in-flight node (Kind ExistingNode, InFlightNode).
	Node string
	// Claim indexes Result.Claims (Kind NewClaim).
	Claim int
	// Reason says why the pod fits nowhere (Kind Unschedulable), and
	// PoolReasons why each pool could not take it.
	Reason      string
	PoolReasons map[string]string
}

// Claim is a new node to launch.
type Claim struct {
	// Pool is the NodePool's name.
	Pool string
	// Requirements of the node: the pool's narrowed by its pods, plus the
	// instance types that remain.
	Requirements requirements.Requirements
	// InstanceTypes that can carry all the pods, cheapest first.
	InstanceTypes []*InstanceType
	// Pods placed on it.
	Pods []*corev1.Pod
	// Requests of the pods plus DaemonSet overhead on the cheapest type.
	Requests corev1.ResourceList
	// Price of the cheapest offering of InstanceTypes[0] the requirements
	// allow, USD per hour.
	Price float64
}

// Result is the outcome of a solve.
type Result struct {
	// Placements in the order of Input.Pods.
	Placements []Placement
	// Claims to create.
	Claims []*Claim
}

// Cost is the hourly price of the new claims.
func (r *Result) Cost() float64 {
	var sum float64
	for _, c := range r.Claims {
		sum += c.Price
	}
	return sum
}
