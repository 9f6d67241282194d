// Package scope is the share of the cluster's capacity that one Tailor
// installation acts on (--nodepool-selector), so that several installations
// — a canary beside the main one, one per team, the e2e tests side by side —
// share a cluster without touching each other's nodes:
//
//   - NodePools and AWSNodeClasses whose labels match the selector;
//   - NodeClaims of those pools: by the pool's labels while it exists, by the
//     labels recorded on the claim at its creation (the annotation
//     tailor.dev/nodepool-labels) once it is gone, so that the claims of a
//     deleted pool are drained by the installation that made them;
//   - Nodes of those claims (and, for Auto Scaling groups, of those pools);
//   - pending pods whose pool admission chose, or would choose, is one of
//     them: the highest-weight NodePool of the whole cluster whose
//     requirements and taints the pod fits (its tailor.dev/nodepool
//     nodeSelector or affinity, if it has one, is such a requirement), with
//     the limits' usage left out so every installation reaches the same
//     answer. A pod goes to one installation only; it may then be launched
//     into any of that installation's pools, never into another's.
//
// An empty selector selects everything: the single installation of a
// cluster, as before the flag. It is pure: plain objects in, answers out.
package scope

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/placement"
)

// Pools selects an installation's NodePools and AWSNodeClasses by label.
// The zero value selects everything.
type Pools struct {
	sel labels.Selector // nil: everything
}

// Parse reads a --nodepool-selector (kubectl's label selector syntax);
// empty selects everything.
func Parse(s string) (Pools, error) {
	sel, err := labels.Parse(s)
	if err != nil {
		return Pools{}, err
	}
	if sel.Empty() {
		return Pools{}, nil
	}
	return Pools{sel: sel}, nil
}

// All reports whether every pool is selected (no selector).
func (p Pools) All() bool { return p.sel == nil }

// String is the selector as given, "" for everything.
func (p Pools) String() string {
	if p.sel == nil {
		return ""
	}
	return p.sel.String()
}

// Labels reports whether an object with these labels is selected.
func (p Pools) Labels(l map[string]string) bool {
	return p.sel == nil || p.sel.Matches(labels.Set(l))
}

// Pool reports whether np is selected.
func (p Pools) Pool(np *provisionerv1.NodePool) bool { return p.Labels(np.Labels) }

// Class reports whether the AWSNodeClass is selected (its status is then
// this installation's to write, its writes this installation's to check).
func (p Pools) Class(c *provisionerv1.AWSNodeClass) bool { return p.Labels(c.Labels) }

// Claim reports whether nc is selected: as its pool (pool, the NodePool its
// tailor.dev/nodepool label names, nil when there is none), else as the
// labels it recorded at creation. A claim with neither (made before claims
// recorded them) belongs to an installation that selects everything.
func (p Pools) Claim(nc *provisionerv1.NodeClaim, pool *provisionerv1.NodePool) bool {
	if p.sel == nil {
		return true
	}
	if pool != nil {
		return p.Pool(pool)
	}
	l, ok := RecordedLabels(nc)
	return ok && p.sel.Matches(labels.Set(l))
}

// RecordLabels writes np's labels on a new claim (AnnotationNodePoolLabels).
func RecordLabels(nc *provisionerv1.NodeClaim, np *provisionerv1.NodePool) {
	l := np.Labels
	if l == nil {
		l = map[string]string{}
	}
	b, _ := json.Marshal(l) // a map of strings always marshals
	if nc.Annotations == nil {
		nc.Annotations = map[string]string{}
	}
	nc.Annotations[provisionerv1.AnnotationNodePoolLabels] = string(b)
}

// RecordedLabels reads the pool labels a claim recorded; false when it has
// none or they do not parse.
func RecordedLabels(nc *provisionerv1.NodeClaim) (map[string]string, bool) {
	s, ok := nc.Annotations[provisionerv1.AnnotationNodePoolLabels]
	if !ok {
		return nil, false
	}
	l := map[string]string{}
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, false
	}
	return l, true
}

// Owner tells which pending pods are the installation's; build it once
// per batch from every NodePool of the cluster (selected or not).
type Owner struct {
	all      bool
	placer   *placement.Placer
	selected map[string]bool
}

// Owner compiles the pools for Pod.
func (p Pools) Owner(all []*provisionerv1.NodePool) *Owner {
	if p.sel == nil {
		return &Owner{all: true}
	}
	o := &Owner{selected: make(map[string]bool, len(all))}
	in := make([]placement.Pool, 0, len(all))
	for _, np := range all {
		// No usage: the answer must not depend on how full a pool is at
		// the moment one installation or the other looks.
		in = append(in, placement.Pool{NodePool: np})
		if p.Pool(np) {
			o.selected[np.Name] = true
		}
	}
	o.placer = placement.New(in)
	return o
}

// Pod reports whether the pod is the installation's, and the pool that
// decides it ("" with no selector, or when no pool of the cluster fits).
func (o *Owner) Pod(pod *corev1.Pod) (bool, string) {
	if o.all {
		return true, ""
	}
	pool := o.placer.Place(pod, nil).Pool
	return pool != "" && o.selected[pool], pool
}

// Describe is the selector for logs and Events.
func (p Pools) Describe() string {
	if p.sel == nil {
		return "every NodePool"
	}
	return fmt.Sprintf("NodePools matching %q", p.sel.String())
}
