package controller

import (
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/cloud"
	"github.com/tailor-dev/tailor/provisioner/requirements"
	"github.com/tailor-dev/tailor/provisioner/scheduling"
	"github.com/tailor-dev/tailor/provisioner/scope"
)

// The pure half of the provisioner: what to do, from plain data. The
// controller feeds these from the caches and writes what they return.

// Finalizer on NodeClaims (drain and terminate before they go) and on their
// Nodes (a deleted Node takes its claim, hence its instance, with it).
const Finalizer = "tailor.dev/termination"

// unschedulable: the scheduler tried the pod and found no node.
func unschedulable(pod *corev1.Pod) bool {
	if pod.Spec.NodeName != "" || pod.DeletionTimestamp != nil || pod.Status.Phase != corev1.PodPending {
		return false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled {
			return c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable
		}
	}
	return false
}

// daemonSetPod: owned by a DaemonSet (they follow nodes, not the reverse).
func daemonSetPod(pod *corev1.Pod) bool {
	for _, o := range pod.OwnerReferences {
		if o.Controller != nil && *o.Controller && o.Kind == "DaemonSet" {
			return true
		}
	}
	return false
}

func terminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

// newNodeClaim turns a solver claim into the NodeClaim to create: the
// pool's template, the claim's requirements with at most maxTypes instance
// types (cheapest first), and the requests it was made for.
func newNodeClaim(np *provisionerv1.NodePool, c *scheduling.Claim, name string, maxTypes int) *provisionerv1.NodeClaim {
	types := make([]string, 0, min(len(c.InstanceTypes), maxTypes))
	for _, it := range c.InstanceTypes {
		if len(types) == maxTypes {
			break
		}
		types = append(types, it.Name)
	}
	reqs := c.Requirements
	if len(types) > 0 {
		it, _ := requirements.New(provisionerv1.LabelInstanceType, corev1.NodeSelectorOpIn, types)
		reqs = reqs.With(it)
	}
	labels := map[string]string{}
	for k, v := range np.Spec.Template.Metadata.Labels {
		labels[k] = v
	}
	labels[provisionerv1.LabelNodePool] = np.Name
	tmpl := np.Spec.Template.Spec
	nc := &provisionerv1.NodeClaim{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Labels:      labels,
			Annotations: map[string]string{},
			Finalizers:  []string{Finalizer},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: provisionerv1.GroupVersion.String(), Kind: "NodePool", Name: np.Name, UID: np.UID,
			}},
		},
		Spec: provisionerv1.NodeClaimSpec{
			Requirements:           reqs.NodeSelectorRequirements(),
			Resources:              provisionerv1.ResourceRequirements{Requests: c.Requests},
			NodeClassRef:           tmpl.NodeClassRef,
			Taints:                 tmpl.Taints,
			StartupTaints:          tmpl.StartupTaints,
			ExpireAfter:            tmpl.ExpireAfter,
			TerminationGracePeriod: tmpl.TerminationGracePeriod,
		},
	}
	for k, v := range np.Spec.Template.Metadata.Annotations {
		nc.Annotations[k] = v
	}
	scope.RecordLabels(nc, np)
	return nc
}

// poolUsage sums the capacity of each pool's claims (launched: their
// capacity; not yet: what they asked for) and counts them as "nodes".
func poolUsages(claims []provisionerv1.NodeClaim) map[string]corev1.ResourceList {
	out := map[string]corev1.ResourceList{}
	for i := range claims {
		nc := &claims[i]
		pool := nc.Labels[provisionerv1.LabelNodePool]
		if pool == "" {
			continue
		}
		u := out[pool]
		if u == nil {
			u = corev1.ResourceList{}
			out[pool] = u
		}
		capacity := nc.Status.Capacity
		if len(capacity) == 0 {
			capacity = nc.Spec.Resources.Requests
		}
		for name, q := range capacity {
			if name == corev1.ResourcePods {
				continue
			}
			sum := u[name]
			sum.Add(q)
			u[name] = sum
		}
		n := u[provisionerv1.ResourceNodes]
		n.Add(*resource.NewQuantity(1, resource.DecimalSI))
		u[provisionerv1.ResourceNodes] = n
	}
	return out
}

// registrationDeadline: how long until a launched, unregistered claim is
// given up (<= 0: now).
func registrationDeadline(nc *provisionerv1.NodeClaim, timeout time.Duration, now time.Time) time.Duration {
	since := nc.CreationTimestamp.Time
	if c := meta.FindStatusCondition(nc.Status.Conditions, provisionerv1.ConditionLaunched); c != nil && c.Status == metav1.ConditionTrue {
		since = c.LastTransitionTime.Time
	}
	return since.Add(timeout).Sub(now)
}

// syncNode returns node with what the claim and its pool put on it: the
// template labels, tailor.dev/nodepool and tailor.dev/nodeclaim, the
// single-valued requirement labels, the claim's taints, the finalizer,
// and without the unregistered taint. changed is false when nothing is to do.
func syncNode(node *corev1.Node, nc *provisionerv1.NodeClaim) (*corev1.Node, bool) {
	out := node.DeepCopy()
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	want := map[string]string{}
	var exprs []corev1.NodeSelectorRequirement
	for _, r := range nc.Spec.Requirements {
		exprs = append(exprs, r.NodeSelectorRequirement())
	}
	if rs, err := requirements.FromNodeSelector(exprs); err == nil {
		for k, v := range rs.Labels() {
			want[k] = v
		}
	}
	for k, v := range nc.Labels {
		want[k] = v
	}
	want[provisionerv1.LabelNodeClaim] = nc.Name
	for k, v := range want {
		if _, set := out.Labels[k]; !set || k == provisionerv1.LabelNodePool || k == provisionerv1.LabelNodeClaim {
			out.Labels[k] = v
		}
	}
	var taints []corev1.Taint
	for _, t := range out.Spec.Taints {
		if t.Key != provisionerv1.TaintUnregistered {
			taints = append(taints, t)
		}
	}
	for _, t := range nc.Spec.Taints {
		if !hasTaint(taints, t) {
			taints = append(taints, t)
		}
	}
	out.Spec.Taints = taints
	if !hasString(out.Finalizers, Finalizer) {
		out.Finalizers = append(out.Finalizers, Finalizer)
	}
	changed := len(out.Labels) != len(node.Labels) || len(out.Spec.Taints) != len(node.Spec.Taints) || len(out.Finalizers) != len(node.Finalizers)
	for k, v := range out.Labels {
		if node.Labels[k] != v {
			changed = true
		}
	}
	return out, changed
}

func hasTaint(ts []corev1.Taint, t corev1.Taint) bool {
	for _, x := range ts {
		if x.Key == t.Key && x.Effect == t.Effect {
			return true
		}
	}
	return false
}

func hasString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// initialized: Ready, the not-ready and unregistered taints gone, and no
// startup taint of the claim left.
func initialized(node *corev1.Node, nc *provisionerv1.NodeClaim) bool {
	ready := false
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			ready = c.Status == corev1.ConditionTrue
		}
	}
	if !ready {
		return false
	}
	for _, t := range node.Spec.Taints {
		if t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable || t.Key == provisionerv1.TaintUnregistered {
			return false
		}
		if hasTaint(nc.Spec.StartupTaints, t) {
			return false
		}
	}
	return true
}

// limitsReached names the limits the pool's usage has reached.
func limitsReached(np *provisionerv1.NodePool, usage corev1.ResourceList) []string {
	var out []string
	for name, limit := range np.Spec.Limits {
		if u, ok := usage[name]; ok && u.Cmp(limit) >= 0 {
			out = append(out, string(name)+" "+u.String()+" of "+limit.String())
		}
	}
	sort.Strings(out)
	return out
}

// poolReasons renders the solver's per-pool reasons, sorted by pool.
func poolReasons(p *scheduling.Placement) string {
	if len(p.PoolReasons) == 0 {
		return p.Reason
	}
	pools := make([]string, 0, len(p.PoolReasons))
	for pool := range p.PoolReasons {
		pools = append(pools, pool)
	}
	sort.Strings(pools)
	parts := make([]string, len(pools))
	for i, pool := range pools {
		parts[i] = pool + ": " + p.PoolReasons[pool]
	}
	return strings.Join(parts, "; ")
}

// limitBlocked: pools whose only objection to the pod is a limit.
func limitBlocked(p *scheduling.Placement) []string {
	var out []string
	for pool, why := range p.PoolReasons {
		if strings.Contains(why, "limit") {
			out = append(out, pool)
		}
	}
	sort.Strings(out)
	return out
}

func formatPrice(p float64) string { return strconv.FormatFloat(p, 'f', 4, 64) }

// orphans are the instances older than grace that no NodeClaim names.
func orphans(instances []*cloud.Instance, claims []provisionerv1.NodeClaim, now time.Time, grace time.Duration) []string {
	known := map[string]bool{}
	for _, nc := range claims {
		known[nc.Name] = true
		if nc.Status.ProviderID != "" {
			known[nc.Status.ProviderID] = true
		}
	}
	var out []string
	for _, i := range instances {
		if !known[i.ProviderID] && !known[i.NodeClaim] && now.Sub(i.Launched) > grace {
			out = append(out, i.ProviderID)
		}
	}
	return out
}

// goneSuspects are the claims whose instance List did not return: launched
// (a providerID) more than grace ago, not being deleted. Each is then
// looked up on its own (Get), since List may lag or filter by tags an
// instance lost; the map is providerID → claim name.
func goneSuspects(instances []*cloud.Instance, claims []provisionerv1.NodeClaim, now time.Time, grace time.Duration) map[string]string {
	listed := map[string]bool{}
	for _, i := range instances {
		listed[i.ProviderID] = true
	}
	out := map[string]string{}
	for i := range claims {
		nc := &claims[i]
		if nc.Status.ProviderID == "" || nc.DeletionTimestamp != nil || listed[nc.Status.ProviderID] {
			continue
		}
		launched := meta.FindStatusCondition(nc.Status.Conditions, provisionerv1.ConditionLaunched)
		if launched == nil || launched.Status != metav1.ConditionTrue || now.Sub(launched.LastTransitionTime.Time) <= grace {
			continue
		}
		out[nc.Status.ProviderID] = nc.Name
	}
	return out
}

// goneCounter counts, per claim, the consecutive checks that found its
// instance gone: one answer of "not found" can be EC2's eventual
// consistency right after a launch, N in a row is not.
type goneCounter map[string]int

// observe records one round of checks (claim → its instance was found
// gone) and returns the claims gone for n checks in a row, sorted. A claim
// found, or not checked this round, starts again from zero.
func (g goneCounter) observe(checked map[string]bool, n int) []string {
	var out []string
	for name := range g {
		if !checked[name] {
			delete(g, name)
		}
	}
	for name, gone := range checked {
		if !gone {
			delete(g, name)
			continue
		}
		g[name]++
		if g[name] >= n {
			out = append(out, name)
			delete(g, name)
		}
	}
	sort.Strings(out)
	return out
}

// ownClaims are the claims of the installation's share (sel), judged by
// their pool among pools, or by the labels they recorded once it is gone.
func ownClaims(sel scope.Pools, claims []provisionerv1.NodeClaim, pools []provisionerv1.NodePool) []provisionerv1.NodeClaim {
	if sel.All() {
		return claims
	}
	byName := make(map[string]*provisionerv1.NodePool, len(pools))
	for i := range pools {
		byName[pools[i].Name] = &pools[i]
	}
	out := make([]provisionerv1.NodeClaim, 0, len(claims))
	for i := range claims {
		if sel.Claim(&claims[i], byName[claims[i].Labels[provisionerv1.LabelNodePool]]) {
			out = append(out, claims[i])
		}
	}
	return out
}

// poolPointers are pointers to the items of list.
func poolPointers(list []provisionerv1.NodePool) []*provisionerv1.NodePool {
	out := make([]*provisionerv1.NodePool, len(list))
	for i := range list {
		out[i] = &list[i]
	}
	return out
}
