package coordination

// EnabledLabel opts a namespace in: its pods are sized and placed at
// admission, and only there do the loops act on VPAs. The shipped webhook
// configurations select on it too (deploy/base/webhooks.yaml).
const EnabledLabel = "tailor.dev/enabled"

// ReasonNotOptedIn is the Event reason on a VPA a loop leaves alone because
// its namespace has not opted in.
const ReasonNotOptedIn = "NamespaceNotOptedIn"

// NeverManaged reports the namespaces Tailor leaves alone whatever their
// labels: kube-system and Tailor's own.
func NeverManaged(namespace, tailorNamespace string) bool {
	return namespace == "kube-system" || namespace == tailorNamespace
}

// OptedIn is the one namespace rule of the admission path and of every
// loop: a loop acts on an object only where the pods it would create or
// replace are sized at admission. Evicting a pod whose replacement would
// not be sized would evict it again on every pass.
func OptedIn(namespace string, labels map[string]string, tailorNamespace string) bool {
	return labels[EnabledLabel] == "true" && !NeverManaged(namespace, tailorNamespace)
}
