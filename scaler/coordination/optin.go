package coordination

import "k8s.io/apimachinery/pkg/labels"

// EnabledLabel opts a namespace in: its pods are sized and placed at
// admission, and only there do the loops act on VPAs. The shipped webhook
// configurations select on it too (deploy/base/webhooks.yaml).
const EnabledLabel = "tailor.dev/enabled"

// ReasonNotOptedIn is the Event reason on a VPA a loop leaves alone because
// its namespace has not opted in.
const ReasonNotOptedIn = "NamespaceNotOptedIn"

// Scope is the namespaces one Tailor installation acts in: never
// kube-system or its own namespace and, with a Selector (--namespace-selector),
// only those whose labels match it — so several installations can share a
// cluster, each with its own namespaces (a canary release on a few teams, or
// tests running side by side).
type Scope struct {
	TailorNamespace string
	// Selector, when set and not empty, is matched against namespace labels.
	Selector labels.Selector
}

// Excluded reports the namespaces Tailor leaves alone whatever their
// labels: kube-system and Tailor's own.
func (s Scope) Excluded(namespace string) bool {
	return namespace == "kube-system" || namespace == s.TailorNamespace
}

// Selective reports whether namespace labels matter beyond opt-in, i.e.
// whether a namespace must be read to know it is in scope.
func (s Scope) Selective() bool { return s.Selector != nil && !s.Selector.Empty() }

// Selects reports whether a namespace with labels nsLabels is this
// installation's, opted in or not: the whole rule of the loops that need no
// admission (replica counts, which may well be kube-system's).
func (s Scope) Selects(nsLabels map[string]string) bool {
	return !s.Selective() || s.Selector.Matches(labels.Set(nsLabels))
}

// OptedIn is the one namespace rule of the admission path and of every
// loop that acts on pods: a loop acts on an object only where the pods it
// would create or replace are sized at admission. Evicting a pod whose
// replacement would not be sized would evict it again on every pass.
func (s Scope) OptedIn(namespace string, nsLabels map[string]string) bool {
	return nsLabels[EnabledLabel] == "true" && !s.Excluded(namespace) && s.Selects(nsLabels)
}
