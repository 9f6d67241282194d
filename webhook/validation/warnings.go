package validation

import (
	"fmt"
	"slices"

	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
)

// VPAWarnings returns admission warnings for a VerticalPodAutoscaler that VPA
// accepts but that probably does not do what its author meant. They go into
// AdmissionResponse.Warnings; they never refuse the object.
func VPAWarnings(vpa *vpav1.VerticalPodAutoscaler) []string {
	if vpa == nil {
		return nil
	}
	var warns []string
	if up := vpa.Spec.UpdatePolicy; up != nil {
		mode := vpav1.UpdateModeRecreate // the API default
		if up.UpdateMode != nil {
			mode = *up.UpdateMode
		}
		if mode == vpav1.UpdateModeAuto { //nolint:staticcheck
			warns = append(warns, fmt.Sprintf("spec.updatePolicy.updateMode: %q is deprecated in the VPA API; use %q or %q (Tailor treats all three alike)",
				vpav1.UpdateModeAuto, vpav1.UpdateModeInPlaceOrRecreate, vpav1.UpdateModeRecreate)) //nolint:staticcheck
		}
		if len(up.EvictionRequirements) > 0 && (mode == vpav1.UpdateModeOff || mode == vpav1.UpdateModeInitial) {
			warns = append(warns, fmt.Sprintf("spec.updatePolicy.evictionRequirements: has no effect with updateMode %q, which never evicts", mode))
		}
		warns = append(warns, contradictoryEvictionRequirements(up.EvictionRequirements)...)
	}
	if rp := vpa.Spec.ResourcePolicy; rp != nil {
		for i, cp := range rp.ContainerPolicies {
			if cp.Mode != nil && *cp.Mode == vpav1.ContainerScalingModeOff && cp.ControlledValues != nil && *cp.ControlledValues == vpav1.ContainerControlledValuesRequestsOnly {
				warns = append(warns, fmt.Sprintf("spec.resourcePolicy.containerPolicies[%d].controlledValues: has no effect when mode is Off", i))
			}
			if cp.ControlledResources != nil && len(*cp.ControlledResources) == 0 && (cp.Mode == nil || *cp.Mode == vpav1.ContainerScalingModeAuto) {
				warns = append(warns, fmt.Sprintf("spec.resourcePolicy.containerPolicies[%d].controlledResources: empty, so no resource of this container is controlled; use mode: Off to say so", i))
			}
		}
	}
	return warns
}

// contradictoryEvictionRequirements finds pairs of single-resource
// requirements on the same resource asking for opposite changes: all
// requirements must hold for an eviction, so such a pair forbids every one.
func contradictoryEvictionRequirements(reqs []*vpav1.EvictionRequirement) []string {
	var warns []string
	for i, a := range reqs {
		if a == nil || len(a.Resources) != 1 {
			continue
		}
		for j := i + 1; j < len(reqs); j++ {
			b := reqs[j]
			if b == nil || len(b.Resources) != 1 || b.Resources[0] != a.Resources[0] || b.ChangeRequirement == a.ChangeRequirement ||
				!slices.Contains(changeReqs, a.ChangeRequirement) || !slices.Contains(changeReqs, b.ChangeRequirement) {
				continue
			}
			warns = append(warns, fmt.Sprintf("spec.updatePolicy.evictionRequirements[%d] and [%d]: %s must be both %s and %s, so pods are never evicted",
				i, j, a.Resources[0], a.ChangeRequirement, b.ChangeRequirement))
		}
	}
	return warns
}
