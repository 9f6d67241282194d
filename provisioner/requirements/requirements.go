package requirements

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
)

// FieldNodeName is the pseudo label key of a node selector's matchFields
// on metadata.name: existing nodes carry it, planned nodes cannot.
const FieldNodeName = "metadata.name"

// Requirements holds at most one Requirement per key, sorted by key. The
// zero value requires nothing. Values are never modified after they are
// built: Intersect and With return new ones.
type Requirements struct {
	items []Requirement
}

// Len is the number of keys constrained.
func (rs Requirements) Len() int { return len(rs.items) }

// Items returns the requirements, sorted by key (do not modify).
func (rs Requirements) Items() []Requirement { return rs.items }

// Get returns the requirement on key, or nil.
func (rs Requirements) Get(key string) *Requirement {
	for i := range rs.items {
		if rs.items[i].Key == key {
			return &rs.items[i]
		}
	}
	return nil
}

// With returns rs narrowed by r (intersected when the key is already there).
func (rs Requirements) With(r Requirement) Requirements {
	out := Requirements{items: make([]Requirement, 0, len(rs.items)+1)}
	done := false
	for i := range rs.items {
		it := rs.items[i]
		switch {
		case it.Key == r.Key:
			out.items = append(out.items, it.Intersect(&r))
			done = true
		case !done && r.Key < it.Key:
			out.items = append(out.items, r, it)
			done = true
		default:
			out.items = append(out.items, it)
		}
	}
	if !done {
		out.items = append(out.items, r)
	}
	return out
}

// Intersect returns the requirements of nodes meeting both rs and o.
func (rs Requirements) Intersect(o Requirements) Requirements {
	if len(o.items) == 0 {
		return rs
	}
	if len(rs.items) == 0 {
		return o
	}
	out := Requirements{items: make([]Requirement, 0, len(rs.items)+len(o.items))}
	i, j := 0, 0
	for i < len(rs.items) || j < len(o.items) {
		switch {
		case j == len(o.items) || (i < len(rs.items) && rs.items[i].Key < o.items[j].Key):
			out.items = append(out.items, rs.items[i])
			i++
		case i == len(rs.items) || o.items[j].Key < rs.items[i].Key:
			out.items = append(out.items, o.items[j])
			j++
		default:
			out.items = append(out.items, rs.items[i].Intersect(&o.items[j]))
			i++
			j++
		}
	}
	return out
}

// Subsumes reports whether every requirement of o is already implied
// syntactically by rs (same key, same allowed set): adding o to rs would
// change nothing. A cheap test that lets the solver skip re-filtering.
func (rs Requirements) Subsumes(o Requirements) bool {
	for i := range o.items {
		r := rs.Get(o.items[i].Key)
		if r == nil || !r.equal(&o.items[i]) {
			return false
		}
	}
	return true
}

func (r *Requirement) equal(o *Requirement) bool {
	if r.absentOK != o.absentOK || r.complement != o.complement || r.hasGT != o.hasGT || r.hasLT != o.hasLT ||
		r.gt != o.gt || r.lt != o.lt || len(r.values) != len(o.values) || r.MinValues < o.MinValues {
		return false
	}
	for i := range r.values {
		if r.values[i] != o.values[i] {
			return false
		}
	}
	return true
}

// Conflict returns the first key of incoming that no node meeting rs can
// satisfy. A key rs does not constrain is fine when incoming allows the
// label to be absent, or when undefinedOK(key) says its value is still to
// be decided (well-known labels of a planned node, settled by the instance
// type). It allocates nothing.
func (rs Requirements) Conflict(incoming Requirements, undefinedOK func(string) bool) (string, bool) {
	for i := range incoming.items {
		in := &incoming.items[i]
		if r := rs.Get(in.Key); r != nil {
			if !r.Intersects(in) {
				return in.Key, true
			}
			continue
		}
		if in.absentOK || (undefinedOK != nil && undefinedOK(in.Key)) {
			continue
		}
		return in.Key, true
	}
	return "", false
}

// Compatible is Conflict with an explanation for events and status.
func (rs Requirements) Compatible(incoming Requirements, undefinedOK func(string) bool) error {
	key, bad := rs.Conflict(incoming, undefinedOK)
	if !bad {
		return nil
	}
	in := incoming.Get(key)
	if have := rs.Get(key); have != nil {
		return fmt.Errorf("%s conflicts with %s", in, have)
	}
	return fmt.Errorf("%s, but the label is not set", in)
}

// Labels returns the keys that have exactly one allowed value: the labels
// a node meeting rs will certainly have.
func (rs Requirements) Labels() map[string]string {
	out := map[string]string{}
	for i := range rs.items {
		if r := &rs.items[i]; !r.complement && len(r.values) == 1 && !r.absentOK {
			out[r.Key] = r.values[0]
		}
	}
	return out
}

// String renders rs for explanations.
func (rs Requirements) String() string {
	parts := make([]string, len(rs.items))
	for i := range rs.items {
		parts[i] = rs.items[i].String()
	}
	return strings.Join(parts, ", ")
}

// NodeSelectorRequirements renders rs as the requirements of a NodeClaim.
func (rs Requirements) NodeSelectorRequirements() []provisionerv1.NodeSelectorRequirementWithMinValues {
	var out []provisionerv1.NodeSelectorRequirementWithMinValues
	for i := range rs.items {
		r := &rs.items[i]
		for _, nsr := range r.NodeSelectorRequirements() {
			x := provisionerv1.NodeSelectorRequirementWithMinValues{Key: nsr.Key, Operator: nsr.Operator, Values: nsr.Values}
			if r.MinValues > 0 && nsr.Operator == corev1.NodeSelectorOpIn {
				mv := r.MinValues
				x.MinValues = &mv
			}
			out = append(out, x)
		}
	}
	return out
}

// FromNodeSelector builds requirements from node selector expressions;
// several on one key are intersected (they are ANDed).
func FromNodeSelector(exprs []corev1.NodeSelectorRequirement) (Requirements, error) {
	var rs Requirements
	for _, e := range exprs {
		r, err := New(e.Key, e.Operator, e.Values)
		if err != nil {
			return Requirements{}, err
		}
		rs = rs.With(r)
	}
	return rs, nil
}

// FromLabels builds the requirements a node with these labels meets
// exactly: key In [value] for each.
func FromLabels(labels map[string]string) Requirements {
	// Sort the keys, not the requirements: a solve builds this for every
	// instance type, and moving whole requirements cost more than the rest.
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	rs := Requirements{items: make([]Requirement, len(keys))}
	for i, k := range keys {
		rs.items[i] = Single(k, labels[k])
	}
	return rs
}

// ForNode is FromLabels of a node plus its name (for matchFields).
func ForNode(node *corev1.Node) Requirements {
	return FromLabels(node.Labels).With(Single(FieldNodeName, node.Name))
}

// FromNodePool builds what a pool's nodes are: the template requirements
// (with minValues), the template labels and the pool's own label.
func FromNodePool(np *provisionerv1.NodePool) (Requirements, error) {
	var rs Requirements
	for _, e := range np.Spec.Template.Spec.Requirements {
		r, err := New(e.Key, e.Operator, e.Values)
		if err != nil {
			return Requirements{}, err
		}
		if e.MinValues != nil {
			r.MinValues = *e.MinValues
		}
		rs = rs.With(r)
	}
	for k, v := range np.Spec.Template.Metadata.Labels {
		rs = rs.With(Single(k, v))
	}
	return rs.With(Single(provisionerv1.LabelNodePool, np.Name)), nil
}

// ForPod returns the alternatives a pod's node must meet: its nodeSelector
// ANDed with each term of its required node affinity (terms are ORed), in
// the pod's order. A pod without required affinity has one alternative.
func ForPod(pod *corev1.Pod) ([]Requirements, error) {
	base := FromLabels(pod.Spec.NodeSelector)
	aff := pod.Spec.Affinity
	if aff == nil || aff.NodeAffinity == nil || aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return []Requirements{base}, nil
	}
	terms := aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	out := make([]Requirements, 0, len(terms))
	for _, t := range terms {
		rs, err := fromTerm(t)
		if err != nil {
			return nil, err
		}
		out = append(out, base.Intersect(rs))
	}
	if len(out) == 0 { // an empty term list matches no node
		return nil, fmt.Errorf("required node affinity has no terms")
	}
	return out, nil
}

// Preferred is one preferred node affinity term.
type Preferred struct {
	Weight       int32
	Requirements Requirements
}

// PreferredForPod returns the pod's preferred node affinity terms, the
// heaviest first; terms that do not parse are left out (preferences
// cannot make a pod unschedulable).
func PreferredForPod(pod *corev1.Pod) []Preferred {
	aff := pod.Spec.Affinity
	if aff == nil || aff.NodeAffinity == nil {
		return nil
	}
	var out []Preferred
	for _, p := range aff.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
		rs, err := fromTerm(p.Preference)
		if err != nil || rs.Len() == 0 {
			continue
		}
		out = append(out, Preferred{Weight: p.Weight, Requirements: rs})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Weight > out[j].Weight })
	return out
}

func fromTerm(t corev1.NodeSelectorTerm) (Requirements, error) {
	rs, err := FromNodeSelector(t.MatchExpressions)
	if err != nil {
		return Requirements{}, err
	}
	for _, f := range t.MatchFields {
		if f.Key != FieldNodeName {
			return Requirements{}, fmt.Errorf("matchFields supports only %s, not %q", FieldNodeName, f.Key)
		}
		r, err := New(FieldNodeName, f.Operator, f.Values)
		if err != nil {
			return Requirements{}, err
		}
		rs = rs.With(r)
	}
	return rs, nil
}
