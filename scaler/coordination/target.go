package coordination

import "k8s.io/apimachinery/pkg/runtime/schema"

// Ref names the object a VPA's targetRef, an autoscaler's scaleTargetRef
// or a pod's controller reference points at.
// Its fields are in the order of autoscaling's CrossVersionObjectReference,
// so those convert to it.
type Ref struct {
	Kind       string
	Name       string
	APIVersion string
}

// SameTarget is Tailor's one rule for "these references name the same
// workload", used wherever a VPA, a ReplicaAutoscaler, an HPA or a pod's
// owner chain meet: kind and name equal, and the API group too but never
// the version (apps/v1 and apps/v1beta2 name one Deployment). An empty
// apiVersion on either side matches any group, as VPA targetRef matching
// does upstream; one that does not parse is compared as written, so it
// never matches a real group.
func SameTarget(a, b Ref) bool {
	if a.Kind != b.Kind || a.Name != b.Name {
		return false
	}
	return a.APIVersion == "" || b.APIVersion == "" || a.APIVersion == b.APIVersion || group(a.APIVersion) == group(b.APIVersion)
}

func group(apiVersion string) string {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return apiVersion
	}
	return gv.Group
}
