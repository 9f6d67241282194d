// Package validation holds the checks Tailor's validating admission webhook
// runs on the objects it guards. It is pure logic: no clients, no caches, no
// I/O; a function takes the decoded object and returns a field.ErrorList whose
// messages name the offending field path, ready for an AdmissionResponse.
//
// VPA follows the upstream VPA admission controller (v1.8.1,
// pkg/admission-controller/resource/vpa/validation.go) and is stricter where
// upstream lets nonsense through to the recommender:
//   - targetRef needs kind and name (upstream only needs targetRef itself), and
//     kind, name and apiVersion must be well formed;
//   - recommender names, container names and controlledResources are checked
//     for form and duplicates;
//   - minAllowed/maxAllowed accept only cpu and memory, must be non-negative
//     and below absurd bounds (MaxCPU, MaxMemory), and minAllowed must not
//     exceed maxAllowed (reported on minAllowed);
//   - evictionRequirements entries are checked (non-empty cpu/memory
//     resources, a known changeRequirement);
//   - the annotation tailor.dev/policy, when present, names a vertical
//     policy Tailor has (upstream, adaptive);
//   - the per-VPA OOM and aggregation settings and startupBoost are checked
//     for their values but are not gated behind feature flags.
//
// It is also more lenient in one place: an updatePolicy without updateMode
// is accepted and means the default mode, as the API documentation says
// (upstream rejects it because its admission controller would add the
// default; Tailor's webhook does not mutate VPAs).
//
// Update mode InPlace, defined by the v1.8.1 types but alpha and behind a
// feature gate upstream, is refused: Tailor's in-place path is
// InPlaceOrRecreate.
package validation

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"

	"github.com/tailor-dev/tailor/recommender/logic"
	"github.com/tailor-dev/tailor/recommender/sizing"
)

// Upper bounds above which a quantity is taken for a typo rather than a wish.
var (
	// MaxCPU is the largest CPU quantity accepted anywhere in a VPA spec: 1e7 cores.
	MaxCPU = resource.MustParse("1e7")
	// MaxMemory is the largest memory quantity accepted anywhere in a VPA spec: 1 PiB.
	MaxMemory = resource.MustParse("1Pi")
	// MaxOOMBumpUpRatio bounds containerPolicies[].oomBumpUpRatio.
	MaxOOMBumpUpRatio = resource.MustParse("1000")

	one = resource.MustParse("1")
)

// UpdateModes are the spec.updatePolicy.updateMode values Tailor accepts, in
// the order they are listed in error messages.
var UpdateModes = []vpav1.UpdateMode{
	vpav1.UpdateModeOff,
	vpav1.UpdateModeInitial,
	vpav1.UpdateModeRecreate,
	vpav1.UpdateModeInPlaceOrRecreate,
	vpav1.UpdateModeAuto, //nolint:staticcheck // deprecated upstream, still valid API
}

var (
	scalingModes     = []vpav1.ContainerScalingMode{vpav1.ContainerScalingModeAuto, vpav1.ContainerScalingModeOff}
	controlledValues = []vpav1.ContainerControlledValues{vpav1.ContainerControlledValuesRequestsAndLimits, vpav1.ContainerControlledValuesRequestsOnly}
	changeReqs       = []vpav1.EvictionChangeRequirement{vpav1.TargetHigherThanRequests, vpav1.TargetLowerThanRequests}
	boostTypes       = []vpav1.StartupBoostType{vpav1.FactorStartupBoostType, vpav1.QuantityStartupBoostType}
	vpaResources     = []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory}
)

// VPA validates a VerticalPodAutoscaler the way Tailor's validating webhook
// does on CREATE and UPDATE. An empty list means the object is accepted.
func VPA(vpa *vpav1.VerticalPodAutoscaler) field.ErrorList {
	if vpa == nil {
		return field.ErrorList{field.Required(field.NewPath("object"), "a VerticalPodAutoscaler is required")}
	}
	errs := validatePolicy(vpa.Annotations)
	return append(errs, validateSpec(&vpa.Spec, field.NewPath("spec"))...)
}

// validatePolicy checks the tailor.dev/policy annotation: absent, or one of
// the vertical policies (recommender/logic.Policies). A typo would
// otherwise quietly mean upstream.
func validatePolicy(annotations map[string]string) field.ErrorList {
	v, ok := annotations[logic.PolicyAnnotation]
	if !ok || slices.Contains(logic.Policies, v) {
		return nil
	}
	return field.ErrorList{field.NotSupported(field.NewPath("metadata", "annotations").Key(logic.PolicyAnnotation), v, logic.Policies)}
}

func validateSpec(spec *vpav1.VerticalPodAutoscalerSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, validateTargetRef(spec, p.Child("targetRef"))...)
	errs = append(errs, validateRecommenders(spec.Recommenders, p.Child("recommenders"))...)
	if spec.UpdatePolicy != nil {
		errs = append(errs, validateUpdatePolicy(spec.UpdatePolicy, p.Child("updatePolicy"))...)
	}
	if spec.ResourcePolicy != nil {
		errs = append(errs, validateResourcePolicy(spec.ResourcePolicy, p.Child("resourcePolicy"))...)
	}
	if spec.StartupBoost != nil {
		errs = append(errs, validateStartupBoost(spec.StartupBoost, p.Child("startupBoost"))...)
	}
	return errs
}

func validateTargetRef(spec *vpav1.VerticalPodAutoscalerSpec, p *field.Path) field.ErrorList {
	ref := spec.TargetRef
	if ref == nil {
		return field.ErrorList{field.Required(p, "the workload to autoscale, e.g. {apiVersion: apps/v1, kind: Deployment, name: my-app}")}
	}
	var errs field.ErrorList
	if ref.Kind == "" {
		errs = append(errs, field.Required(p.Child("kind"), "e.g. Deployment"))
	} else if !isKind(ref.Kind) {
		// The rule the API server applies to CRD kinds.
		errs = append(errs, field.Invalid(p.Child("kind"), ref.Kind, "must be a resource kind such as Deployment"))
	}
	if ref.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), "name of the workload"))
	} else if !isDNS1123Subdomain(ref.Name) {
		errs = append(errs, field.Invalid(p.Child("name"), ref.Name, strings.Join(utilvalidation.IsDNS1123Subdomain(ref.Name), "; ")))
	}
	if ref.APIVersion != "" {
		gv, err := schema.ParseGroupVersion(ref.APIVersion)
		switch {
		case err != nil:
			errs = append(errs, field.Invalid(p.Child("apiVersion"), ref.APIVersion, "must be group/version or version, e.g. apps/v1"))
		case gv.Version == "":
			errs = append(errs, field.Invalid(p.Child("apiVersion"), ref.APIVersion, "version is missing"))
		case gv.Group != "" && !isDNS1123Subdomain(gv.Group):
			errs = append(errs, field.Invalid(p.Child("apiVersion"), ref.APIVersion, "group must be a DNS subdomain, e.g. apps"))
		case !isDNS1035Label(gv.Version):
			errs = append(errs, field.Invalid(p.Child("apiVersion"), ref.APIVersion, "version must be a DNS-1035 label, e.g. v1"))
		}
	}
	return errs
}

func validateRecommenders(recs []*vpav1.VerticalPodAutoscalerRecommenderSelector, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(recs) > 1 {
		errs = append(errs, field.TooMany(p, len(recs), 1))
	}
	for i, r := range recs {
		ip := p.Index(i)
		switch {
		case r == nil:
			errs = append(errs, field.Required(ip, "recommender selector must not be null"))
		case r.Name == "":
			errs = append(errs, field.Required(ip.Child("name"), "name of the recommender, e.g. tailor"))
		default:
			if !isDNS1123Subdomain(r.Name) {
				errs = append(errs, field.Invalid(ip.Child("name"), r.Name, strings.Join(utilvalidation.IsDNS1123Subdomain(r.Name), "; ")))
			}
		}
	}
	return errs
}

func validateUpdatePolicy(up *vpav1.PodUpdatePolicy, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if m := up.UpdateMode; m != nil {
		switch {
		case *m == vpav1.UpdateModeInPlace:
			errs = append(errs, field.Forbidden(p.Child("updateMode"),
				fmt.Sprintf("%q is not supported by Tailor; use %q (resize in place, recreate only when in-place is impossible)",
					vpav1.UpdateModeInPlace, vpav1.UpdateModeInPlaceOrRecreate)))
		case !slices.Contains(UpdateModes, *m):
			errs = append(errs, field.NotSupported(p.Child("updateMode"), string(*m), UpdateModes))
		}
	}
	if up.MinReplicas != nil && *up.MinReplicas < 1 {
		errs = append(errs, field.Invalid(p.Child("minReplicas"), *up.MinReplicas, "must be greater than or equal to 1"))
	}
	if up.EvictAfterOOMSeconds != nil && *up.EvictAfterOOMSeconds < 1 {
		errs = append(errs, field.Invalid(p.Child("evictAfterOOMSeconds"), *up.EvictAfterOOMSeconds, "must be greater than or equal to 1"))
	}
	for i, er := range up.EvictionRequirements {
		ip := p.Child("evictionRequirements").Index(i)
		if er == nil {
			errs = append(errs, field.Required(ip, "eviction requirement must not be null"))
			continue
		}
		if len(er.Resources) == 0 {
			errs = append(errs, field.Required(ip.Child("resources"), "at least one of cpu, memory"))
		}
		errs = append(errs, validateResourceNames(er.Resources, ip.Child("resources"))...)
		switch {
		case er.ChangeRequirement == "":
			errs = append(errs, field.Required(ip.Child("changeRequirement"), fmt.Sprintf("one of %q, %q", vpav1.TargetHigherThanRequests, vpav1.TargetLowerThanRequests)))
		case !slices.Contains(changeReqs, er.ChangeRequirement):
			errs = append(errs, field.NotSupported(ip.Child("changeRequirement"), string(er.ChangeRequirement), changeReqs))
		}
	}
	return errs
}

// validateResourceNames checks a list that may name only cpu and memory, each once.
func validateResourceNames(names []corev1.ResourceName, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for j, r := range names {
		switch {
		case !slices.Contains(vpaResources, r):
			errs = append(errs, field.NotSupported(p.Index(j), string(r), vpaResources))
		case slices.Contains(names[:j], r):
			errs = append(errs, field.Duplicate(p.Index(j), string(r)))
		}
	}
	return errs
}

func validateResourcePolicy(rp *vpav1.PodResourcePolicy, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := make(map[string]struct{}, len(rp.ContainerPolicies))
	for i := range rp.ContainerPolicies {
		cp := &rp.ContainerPolicies[i]
		ip := p.Child("containerPolicies").Index(i)

		switch name := cp.ContainerName; {
		case name == "":
			errs = append(errs, field.Required(ip.Child("containerName"), `a container name or "*" for all other containers`))
		case name != vpav1.DefaultContainerResourcePolicy && !isDNS1123Label(name):
			errs = append(errs, field.Invalid(ip.Child("containerName"), name,
				`must be "*" or a container name (a DNS-1123 label: lower case alphanumerics and '-', at most 63 characters)`))
		default:
			if _, dup := seen[name]; dup {
				errs = append(errs, field.Duplicate(ip.Child("containerName"), name))
			}
			seen[name] = struct{}{}
		}

		if cp.Mode != nil && !slices.Contains(scalingModes, *cp.Mode) {
			errs = append(errs, field.NotSupported(ip.Child("mode"), string(*cp.Mode), scalingModes))
		}
		if cp.ControlledResources != nil {
			errs = append(errs, validateResourceNames(*cp.ControlledResources, ip.Child("controlledResources"))...)
		}
		if cv := cp.ControlledValues; cv != nil {
			switch {
			case !slices.Contains(controlledValues, *cv):
				errs = append(errs, field.NotSupported(ip.Child("controlledValues"), string(*cv), controlledValues))
			case *cv == vpav1.ContainerControlledValuesRequestsAndLimits && cp.Mode != nil && *cp.Mode == vpav1.ContainerScalingModeOff:
				errs = append(errs, field.Forbidden(ip.Child("controlledValues"), "must not be set when mode is Off"))
			}
		}

		errs = append(errs, validateResourceList(cp.MinAllowed, ip, "minAllowed")...)
		errs = append(errs, validateResourceList(cp.MaxAllowed, ip, "maxAllowed")...)
		for _, r := range vpaResources {
			lo, okLo := cp.MinAllowed[r]
			hi, okHi := cp.MaxAllowed[r]
			if okLo && okHi && sizing.InRange(&lo) && sizing.InRange(&hi) && lo.Cmp(hi) > 0 {
				errs = append(errs, field.Invalid(ip.Child("minAllowed").Key(string(r)), lo.String(),
					fmt.Sprintf("must be less than or equal to maxAllowed (%s)", hi.String())))
			}
		}

		if q := cp.OOMBumpUpRatio; q != nil {
			switch {
			case !sizing.InRange(q):
				errs = append(errs, field.Invalid(ip.Child("oomBumpUpRatio"), q.String(), outOfRange))
			case q.Cmp(one) < 0:
				errs = append(errs, field.Invalid(ip.Child("oomBumpUpRatio"), q.String(), "must be greater than or equal to 1"))
			case q.Cmp(MaxOOMBumpUpRatio) > 0:
				errs = append(errs, field.Invalid(ip.Child("oomBumpUpRatio"), q.String(), fmt.Sprintf("must be less than or equal to %d", MaxOOMBumpUpRatio.Value())))
			}
		}
		if q := cp.OOMMinBumpUp; q != nil {
			if d := quantityProblem(corev1.ResourceMemory, *q); d != "" {
				errs = append(errs, field.Invalid(ip.Child("oomMinBumpUp"), q.String(), d))
			}
		}
		if s := cp.MemoryAggregationIntervalSeconds; s != nil && *s < 1 {
			errs = append(errs, field.Invalid(ip.Child("memoryAggregationIntervalSeconds"), *s, "must be greater than or equal to 1"))
		}
		if c := cp.MemoryAggregationIntervalCount; c != nil && *c < 1 {
			errs = append(errs, field.Invalid(ip.Child("memoryAggregationIntervalCount"), *c, "must be greater than or equal to 1"))
		}
		if cp.StartupBoost != nil {
			errs = append(errs, validateStartupBoost(cp.StartupBoost, ip.Child("startupBoost"))...)
		}
	}
	return errs
}

// validateResourceList checks a minAllowed or maxAllowed map: cpu, then
// memory, then any other key (refused) in sorted order, so that error lists
// are deterministic. Paths are built only for errors.
func validateResourceList(rl corev1.ResourceList, parent *field.Path, name string) field.ErrorList {
	if len(rl) == 0 {
		return nil
	}
	var errs field.ErrorList
	known := 0
	for _, r := range vpaResources {
		q, ok := rl[r]
		if !ok {
			continue
		}
		known++
		if d := quantityProblem(r, q); d != "" {
			errs = append(errs, field.Invalid(parent.Child(name).Key(string(r)), q.String(), d))
		}
	}
	if known == len(rl) {
		return errs
	}
	others := make([]corev1.ResourceName, 0, len(rl)-known)
	for r := range rl {
		if !slices.Contains(vpaResources, r) {
			others = append(others, r)
		}
	}
	slices.Sort(others)
	for _, r := range others {
		errs = append(errs, field.NotSupported(parent.Child(name).Key(string(r)), string(r), vpaResources))
	}
	return errs
}

// outOfRange refuses a quantity whose decimal exponent puts it beyond any
// resource amount (sizing.InRange): comparing it would take hours.
const outOfRange = "must be between 1n and 2^63 (an exponent this large or small is no resource amount)"

// quantityProblem checks one cpu or memory quantity: non-negative, not
// absurd, and at the resolution the resource is counted in (milli-CPU,
// bytes). It returns the error detail, or "" when the quantity is fine.
func quantityProblem(r corev1.ResourceName, q resource.Quantity) string {
	if q.Sign() < 0 {
		return "must be greater than or equal to 0"
	}
	if !sizing.InRange(&q) {
		return outOfRange
	}
	switch r {
	case corev1.ResourceCPU:
		if q.Cmp(MaxCPU) > 0 {
			return fmt.Sprintf("must be less than or equal to %d CPUs", MaxCPU.Value())
		}
		// Bounded above, so the milli value fits an int64; ScaledValue
		// rounds up, hence the round trip detects a finer resolution.
		if m := q.ScaledValue(resource.Milli); resource.NewScaledQuantity(m, resource.Milli).Cmp(q) != 0 {
			return "must be a whole number of milli-CPUs"
		}
	case corev1.ResourceMemory:
		if q.Cmp(MaxMemory) > 0 {
			return fmt.Sprintf("must be less than or equal to %s", MaxMemory.String())
		}
		if b := q.Value(); resource.NewQuantity(b, resource.BinarySI).Cmp(q) != 0 {
			return "must be a whole number of bytes"
		}
	}
	return ""
}

func validateStartupBoost(sb *vpav1.StartupBoost, p *field.Path) field.ErrorList {
	b := sb.CPU
	if b == nil {
		return nil
	}
	p = p.Child("cpu")
	var errs field.ErrorList
	switch b.Type {
	case "":
		errs = append(errs, field.Required(p.Child("type"), fmt.Sprintf("one of %q, %q", vpav1.FactorStartupBoostType, vpav1.QuantityStartupBoostType)))
	case vpav1.FactorStartupBoostType:
		if b.Factor == nil {
			errs = append(errs, field.Required(p.Child("factor"), "required when type is Factor"))
		} else if *b.Factor < 1 {
			errs = append(errs, field.Invalid(p.Child("factor"), *b.Factor, "must be greater than or equal to 1"))
		}
		if b.Quantity != nil {
			errs = append(errs, field.Forbidden(p.Child("quantity"), "must not be set when type is Factor"))
		}
	case vpav1.QuantityStartupBoostType:
		if b.Quantity == nil {
			errs = append(errs, field.Required(p.Child("quantity"), "required when type is Quantity"))
		} else {
			if d := quantityProblem(corev1.ResourceCPU, *b.Quantity); d != "" {
				errs = append(errs, field.Invalid(p.Child("quantity"), b.Quantity.String(), d))
			}
		}
		if b.Factor != nil {
			errs = append(errs, field.Forbidden(p.Child("factor"), "must not be set when type is Quantity"))
		}
	default:
		errs = append(errs, field.NotSupported(p.Child("type"), string(b.Type), boostTypes))
	}
	if b.DurationSeconds != nil && *b.DurationSeconds < 0 {
		errs = append(errs, field.Invalid(p.Child("durationSeconds"), *b.DurationSeconds, "must be greater than or equal to 0"))
	}
	return errs
}
