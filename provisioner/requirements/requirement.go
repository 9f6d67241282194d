// Package requirements is Tailor's one implementation of node label
// requirements and taint toleration: the sets of values a label may take
// (from NodePools, pod node selectors and node affinity, instance types and
// nodes), their intersection, and whether a pod is compatible with a pool,
// a node or a planned node. Admission-time placement and the scheduling
// solver both use it, so that they cannot disagree.
//
// A Requirement is two things: whether the label may be absent, and the set
// of values it may take when present. That models all six operators
// exactly (NotIn and DoesNotExist are satisfied by a missing label, In,
// Exists, Gt and Lt are not), and intersection is intersection of both.
package requirements

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Requirement is what one label key may be.
type Requirement struct {
	Key string
	// absentOK: a node without the label satisfies the requirement.
	absentOK bool
	// complement: the allowed values are all but values; else only values.
	complement bool
	values     []string // sorted, unique
	// Integer bounds (Gt, Lt): a present value must parse and lie strictly inside.
	hasGT, hasLT bool
	gt, lt       int64
	// MinValues is the least number of distinct values the instance types
	// left after scheduling must span (NodePool requirements only).
	MinValues int
}

// New returns the requirement of one node selector expression.
func New(key string, op corev1.NodeSelectorOperator, values []string) (Requirement, error) {
	r := Requirement{Key: key}
	switch op {
	case corev1.NodeSelectorOpIn:
		if len(values) == 0 {
			return r, fmt.Errorf("%s: operator In needs values", key)
		}
		r.values = sortedUnique(values)
	case corev1.NodeSelectorOpNotIn:
		r.absentOK, r.complement, r.values = true, true, sortedUnique(values)
	case corev1.NodeSelectorOpExists:
		r.complement = true
	case corev1.NodeSelectorOpDoesNotExist:
		r.absentOK = true
	case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
		if len(values) != 1 {
			return r, fmt.Errorf("%s: operator %s needs exactly one value", key, op)
		}
		n, err := strconv.ParseInt(values[0], 10, 64)
		if err != nil {
			return r, fmt.Errorf("%s: operator %s needs an integer, not %q", key, op, values[0])
		}
		r.complement = true
		if op == corev1.NodeSelectorOpGt {
			r.hasGT, r.gt = true, n
		} else {
			r.hasLT, r.lt = true, n
		}
	default:
		return r, fmt.Errorf("%s: unknown operator %q", key, op)
	}
	return r, nil
}

// Single is the requirement key In [value]: what a node's label says.
func Single(key, value string) Requirement {
	return Requirement{Key: key, values: []string{value}}
}

// Values returns the allowed values of an In-like requirement (nil for a
// complement: every value but some is allowed).
func (r *Requirement) Values() []string {
	if r.complement {
		return nil
	}
	return r.values
}

// Len is the number of allowed values, or -1 for "unbounded" (a complement).
func (r *Requirement) Len() int {
	if r.complement {
		return -1
	}
	return len(r.values)
}

// AbsentOK reports whether a node without the label satisfies r.
func (r *Requirement) AbsentOK() bool { return r.absentOK }

// Has reports whether a node whose label is value satisfies r.
func (r *Requirement) Has(value string) bool {
	if !r.complement {
		return contains(r.values, value)
	}
	if contains(r.values, value) {
		return false
	}
	return r.inBounds(value)
}

func (r *Requirement) inBounds(value string) bool {
	if !r.hasGT && !r.hasLT {
		return true
	}
	n, err := strconv.ParseInt(value, 10, 64)
	if err != nil {
		return false
	}
	return (!r.hasGT || n > r.gt) && (!r.hasLT || n < r.lt)
}

// Satisfiable reports whether some node can meet r.
func (r *Requirement) Satisfiable() bool {
	return r.absentOK || r.anyValue()
}

// anyValue reports whether some present value meets r.
func (r *Requirement) anyValue() bool {
	if !r.complement {
		return len(r.values) > 0
	}
	if !r.hasGT || !r.hasLT {
		return true
	}
	// Integers strictly between gt and lt, less the excluded ones in range.
	room := r.lt - r.gt - 1
	for _, v := range r.values {
		if r.inBounds(v) {
			room--
		}
	}
	return room > 0
}

// Intersects reports whether some node meets both r and o (same key).
// It allocates nothing: it is the inner loop of scheduling.
func (r *Requirement) Intersects(o *Requirement) bool {
	if r.absentOK && o.absentOK {
		return true
	}
	switch {
	case !r.complement && !o.complement:
		for _, v := range r.values {
			if contains(o.values, v) {
				return true
			}
		}
		return false
	case !r.complement:
		for _, v := range r.values {
			if o.Has(v) {
				return true
			}
		}
		return false
	case !o.complement:
		for _, v := range o.values {
			if r.Has(v) {
				return true
			}
		}
		return false
	default:
		x := r.Intersect(o)
		return x.anyValue()
	}
}

// Intersect returns the requirement of nodes meeting both r and o.
func (r *Requirement) Intersect(o *Requirement) Requirement {
	x := Requirement{Key: r.Key, absentOK: r.absentOK && o.absentOK, MinValues: max(r.MinValues, o.MinValues)}
	x.hasGT, x.gt = r.hasGT, r.gt
	if o.hasGT && (!x.hasGT || o.gt > x.gt) {
		x.hasGT, x.gt = true, o.gt
	}
	x.hasLT, x.lt = r.hasLT, r.lt
	if o.hasLT && (!x.hasLT || o.lt < x.lt) {
		x.hasLT, x.lt = true, o.lt
	}
	switch {
	case !r.complement && !o.complement:
		x.values = filter(r.values, func(v string) bool { return contains(o.values, v) })
	case !r.complement:
		x.values = filter(r.values, o.Has)
	case !o.complement:
		x.values = filter(o.values, r.Has)
	default:
		x.complement = true
		x.values = union(r.values, o.values)
		return x
	}
	// An explicit value list already honours the bounds; drop them.
	x.hasGT, x.hasLT = false, false
	return x
}

// String renders r as key Operator [values], for explanations.
func (r *Requirement) String() string {
	var b strings.Builder
	b.WriteString(r.Key)
	switch {
	case !r.complement && len(r.values) == 0:
		b.WriteString(" DoesNotExist")
	case !r.complement:
		fmt.Fprintf(&b, " In [%s]", strings.Join(r.values, " "))
	default:
		if len(r.values) > 0 {
			fmt.Fprintf(&b, " NotIn [%s]", strings.Join(r.values, " "))
		} else if !r.hasGT && !r.hasLT {
			b.WriteString(" Exists")
		}
		if r.hasGT {
			fmt.Fprintf(&b, " Gt %d", r.gt)
		}
		if r.hasLT {
			fmt.Fprintf(&b, " Lt %d", r.lt)
		}
		if r.absentOK && len(r.values) == 0 {
			b.WriteString(" or absent")
		}
	}
	return b.String()
}

// NodeSelectorRequirements renders r as node selector expressions (a
// bounded complement needs one per bound).
func (r *Requirement) NodeSelectorRequirements() []corev1.NodeSelectorRequirement {
	var out []corev1.NodeSelectorRequirement
	switch {
	case !r.complement && len(r.values) == 0:
		return []corev1.NodeSelectorRequirement{{Key: r.Key, Operator: corev1.NodeSelectorOpDoesNotExist}}
	case !r.complement:
		return []corev1.NodeSelectorRequirement{{Key: r.Key, Operator: corev1.NodeSelectorOpIn, Values: r.values}}
	}
	if len(r.values) > 0 {
		out = append(out, corev1.NodeSelectorRequirement{Key: r.Key, Operator: corev1.NodeSelectorOpNotIn, Values: r.values})
	}
	if r.hasGT {
		out = append(out, corev1.NodeSelectorRequirement{Key: r.Key, Operator: corev1.NodeSelectorOpGt, Values: []string{strconv.FormatInt(r.gt, 10)}})
	}
	if r.hasLT {
		out = append(out, corev1.NodeSelectorRequirement{Key: r.Key, Operator: corev1.NodeSelectorOpLt, Values: []string{strconv.FormatInt(r.lt, 10)}})
	}
	if len(out) == 0 {
		out = append(out, corev1.NodeSelectorRequirement{Key: r.Key, Operator: corev1.NodeSelectorOpExists})
	}
	return out
}

func sortedUnique(in []string) []string {
	out := append([]string(nil), in...)
	sort.Strings(out)
	j := 0
	for i, v := range out {
		if i == 0 || v != out[j-1] {
			out[j] = v
			j++
		}
	}
	return out[:j]
}

// contains is a linear scan below 8 values (faster than binary search there).
func contains(sorted []string, v string) bool {
	if len(sorted) < 8 {
		for _, s := range sorted {
			if s == v {
				return true
			}
		}
		return false
	}
	i := sort.SearchStrings(sorted, v)
	return i < len(sorted) && sorted[i] == v
}

func filter(in []string, keep func(string) bool) []string {
	out := make([]string, 0, len(in))
	for _, v := range in {
		if keep(v) {
			out = append(out, v)
		}
	}
	return out
}

func union(a, b []string) []string {
	if len(b) == 0 {
		return a
	}
	if len(a) == 0 {
		return b
	}
	return sortedUnique(append(append([]string(nil), a...), b...))
}
