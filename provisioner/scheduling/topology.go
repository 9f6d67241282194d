package scheduling

import (
	"math/bits"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// A group is a set of pods (label selector and namespaces) counted per
// domain of one topology key: what topology spread, pod affinity and pod
// anti-affinity terms are about. Terms with the same selector, namespaces
// and key share a group, and so its counts.
//
// Counting rules, chosen to be safe rather than clever:
//   - A pod is counted in a domain only once its node's domain is settled;
//     a planned node's zone is settled (pinned) when a pod with a term on
//     the zone key lands on it, and then its earlier pods are counted too.
//   - Hostname spread takes the global minimum as 0: a new node, an empty
//     domain, can always be made, so a node may hold maxSkew pods of the
//     group at most. kube-scheduler, which sees only existing nodes, never
//     disagrees with a placement made this way.
//   - Zone (and other key) spread takes the minimum over the domains the
//     pod's node requirements allow (nodeAffinityPolicy Honor) among all
//     the zones the instance types and nodes offer, empty ones included.
type group struct {
	key        string
	host       bool
	namespaces []string // nil: every namespace
	selector   labels.Selector
	counts     map[string]int32 // matching pods per settled domain
	owners     map[string]int32 // pods with a required anti-affinity term of this group, per domain
	total      int32            // matching pods placed or bound anywhere
	hasOwners  bool
}

func (g *group) matches(pod *corev1.Pod) bool {
	if g.namespaces != nil && !slices.Contains(g.namespaces, pod.Namespace) {
		return false
	}
	return g.selector.Matches(labels.Set(pod.Labels))
}

type termKind int8

const (
	spread termKind = iota
	affinity
	antiAffinity
)

// term is one topology constraint of a pod.
type term struct {
	group      int32
	kind       termKind
	hard       bool
	maxSkew    int32
	minDomains int32
}

// topology holds the groups and the domains of every non-hostname key.
type topology struct {
	groups   []*group
	byID     map[string]int32
	universe map[string][]string // key → sorted domain values
}

func newTopology() *topology {
	return &topology{byID: map[string]int32{}, universe: map[string][]string{}}
}

func (t *topology) group(key string, namespaces []string, sel labels.Selector) int32 {
	id := key + "\x00" + strings.Join(namespaces, ",") + "\x00" + sel.String()
	if namespaces == nil {
		id = key + "\x00*\x00" + sel.String()
	}
	if i, ok := t.byID[id]; ok {
		return i
	}
	g := &group{key: key, host: key == corev1.LabelHostname, namespaces: namespaces, selector: sel,
		counts: map[string]int32{}, owners: map[string]int32{}}
	t.groups = append(t.groups, g)
	t.byID[id] = int32(len(t.groups) - 1)
	if !g.host {
		if _, ok := t.universe[key]; !ok {
			t.universe[key] = nil
		}
	}
	return int32(len(t.groups) - 1)
}

// termsOf turns the pod's spread constraints and pod (anti-)affinity into
// terms. Terms that cannot be parsed make the pod unschedulable (error).
func (t *topology) termsOf(pod *corev1.Pod) ([]term, error) {
	var out []term
	for _, c := range pod.Spec.TopologySpreadConstraints {
		sel, err := spreadSelector(pod, c)
		if err != nil {
			return nil, err
		}
		tm := term{group: t.group(c.TopologyKey, []string{pod.Namespace}, sel), kind: spread,
			hard: c.WhenUnsatisfiable != corev1.ScheduleAnyway, maxSkew: max(c.MaxSkew, 1)}
		if c.MinDomains != nil {
			tm.minDomains = *c.MinDomains
		}
		out = append(out, tm)
	}
	aff := pod.Spec.Affinity
	if aff == nil {
		return out, nil
	}
	add := func(pt corev1.PodAffinityTerm, kind termKind, hard bool) error {
		sel, err := affinitySelector(pod, pt)
		if err != nil {
			return err
		}
		out = append(out, term{group: t.group(pt.TopologyKey, termNamespaces(pod, pt), sel), kind: kind, hard: hard})
		return nil
	}
	var req, pref [2][]corev1.PodAffinityTerm
	if pa := aff.PodAffinity; pa != nil {
		req[0], pref[0] = pa.RequiredDuringSchedulingIgnoredDuringExecution, byWeight(pa.PreferredDuringSchedulingIgnoredDuringExecution)
	}
	if pa := aff.PodAntiAffinity; pa != nil {
		req[1], pref[1] = pa.RequiredDuringSchedulingIgnoredDuringExecution, byWeight(pa.PreferredDuringSchedulingIgnoredDuringExecution)
	}
	for i, kind := range []termKind{affinity, antiAffinity} {
		for _, pt := range req[i] {
			if err := add(pt, kind, true); err != nil {
				return nil, err
			}
		}
		for _, pt := range pref[i] {
			if err := add(pt, kind, false); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// ownerTerms are the required anti-affinity terms of a bound pod: they
// keep matching pods away from it (the symmetric half of anti-affinity).
func (t *topology) ownerTerms(pod *corev1.Pod) []int32 {
	aff := pod.Spec.Affinity
	if aff == nil || aff.PodAntiAffinity == nil {
		return nil
	}
	var out []int32
	for _, pt := range aff.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
		sel, err := affinitySelector(pod, pt)
		if err != nil {
			continue
		}
		out = append(out, t.group(pt.TopologyKey, termNamespaces(pod, pt), sel))
	}
	return out
}

// byWeight returns the preferred terms, heaviest first.
func byWeight(in []corev1.WeightedPodAffinityTerm) []corev1.PodAffinityTerm {
	ws := append([]corev1.WeightedPodAffinityTerm(nil), in...)
	sort.SliceStable(ws, func(i, j int) bool { return ws[i].Weight > ws[j].Weight })
	out := make([]corev1.PodAffinityTerm, len(ws))
	for i, w := range ws {
		out[i] = w.PodAffinityTerm
	}
	return out
}

// termNamespaces: the term's namespaces, else the pod's own; an empty
// namespaceSelector ({}) means every namespace. A non-empty
// namespaceSelector would need namespace labels the solver does not have:
// it is read as the listed namespaces plus the pod's own.
func termNamespaces(pod *corev1.Pod, pt corev1.PodAffinityTerm) []string {
	if pt.NamespaceSelector != nil && len(pt.NamespaceSelector.MatchLabels) == 0 && len(pt.NamespaceSelector.MatchExpressions) == 0 {
		return nil
	}
	if len(pt.Namespaces) == 0 || pt.NamespaceSelector != nil {
		ns := append([]string{pod.Namespace}, pt.Namespaces...)
		sort.Strings(ns)
		return ns
	}
	ns := append([]string(nil), pt.Namespaces...)
	sort.Strings(ns)
	return ns
}

func affinitySelector(pod *corev1.Pod, pt corev1.PodAffinityTerm) (labels.Selector, error) {
	if pt.LabelSelector == nil { // a nil selector matches no pod
		return labels.Nothing(), nil
	}
	sel, err := metav1.LabelSelectorAsSelector(pt.LabelSelector)
	if err != nil {
		return nil, err
	}
	return withLabelKeys(sel, pod, pt.MatchLabelKeys, pt.MismatchLabelKeys)
}

func spreadSelector(pod *corev1.Pod, c corev1.TopologySpreadConstraint) (labels.Selector, error) {
	if c.LabelSelector == nil {
		return labels.Nothing(), nil
	}
	sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
	if err != nil {
		return nil, err
	}
	return withLabelKeys(sel, pod, c.MatchLabelKeys, nil)
}

// withLabelKeys adds key=value (matchLabelKeys) and key!=value
// (mismatchLabelKeys) of the pod's own labels, as kube-scheduler does.
func withLabelKeys(sel labels.Selector, pod *corev1.Pod, match, mismatch []string) (labels.Selector, error) {
	for _, k := range match {
		if v, ok := pod.Labels[k]; ok {
			r, err := labels.NewRequirement(k, selection.Equals, []string{v})
			if err != nil {
				return nil, err
			}
			sel = sel.Add(*r)
		}
	}
	for _, k := range mismatch {
		if v, ok := pod.Labels[k]; ok {
			r, err := labels.NewRequirement(k, selection.NotEquals, []string{v})
			if err != nil {
				return nil, err
			}
			sel = sel.Add(*r)
		}
	}
	return sel, nil
}

// domSet is a set of domains of one key, by index into the key's universe.
type domSet []uint64

func newDomSet(n int) domSet { return make(domSet, (n+63)/64) }

func (s domSet) set(i int)      { s[i/64] |= 1 << (i % 64) }
func (s domSet) has(i int) bool { return s[i/64]&(1<<(i%64)) != 0 }
func (s domSet) empty() bool {
	for _, w := range s {
		if w != 0 {
			return false
		}
	}
	return true
}
func (s domSet) and(o domSet) {
	for i := range s {
		s[i] &= o[i]
	}
}
func (s domSet) count() int {
	n := 0
	for _, w := range s {
		n += bits.OnesCount64(w)
	}
	return n
}
