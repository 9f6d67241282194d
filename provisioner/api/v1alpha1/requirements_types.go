package v1alpha1

import (
	"fmt"
	"regexp"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// NodeSelectorRequirementWithMinValues is a node selector requirement
// (key, operator, values, as in a pod's node affinity) plus minValues: the
// least number of distinct values of key that the instance types left after
// scheduling must still span (e.g. minValues: 3 on
// tailor.dev/instance-family keeps at least three families in the launch
// request, so that a spot launch has somewhere to go).
//
// +kubebuilder:validation:XValidation:rule="self.operator in ['In', 'NotIn'] ? self.values.size() > 0 : true",message="operators In and NotIn need at least one value"
// +kubebuilder:validation:XValidation:rule="self.operator in ['Exists', 'DoesNotExist'] ? self.values.size() == 0 : true",message="operators Exists and DoesNotExist take no values"
// +kubebuilder:validation:XValidation:rule="self.operator in ['Gt', 'Lt'] ? (self.values.size() == 1 && self.values[0].matches('^-?[0-9]+$')) : true",message="operators Gt and Lt take exactly one integer value"
// +kubebuilder:validation:XValidation:rule="has(self.minValues) ? (self.operator == 'In' && self.minValues <= self.values.size()) : true",message="minValues needs operator In and at most as many values"
type NodeSelectorRequirementWithMinValues struct {
	// key is the node label the requirement is about.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=316
	Key string `json:"key"`

	// operator is one of In, NotIn, Exists, DoesNotExist, Gt, Lt.
	// +kubebuilder:validation:Enum=In;NotIn;Exists;DoesNotExist;Gt;Lt
	Operator corev1.NodeSelectorOperator `json:"operator"`

	// values are the label values for In and NotIn, or the one integer for Gt and Lt.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=1000
	// +kubebuilder:validation:items:MaxLength=63
	Values []string `json:"values,omitempty"`

	// minValues is the least number of distinct values of key the
	// remaining instance types must cover (operator In only).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=50
	MinValues *int `json:"minValues,omitempty"`
}

// NodeSelectorRequirement returns the requirement without minValues.
func (r NodeSelectorRequirementWithMinValues) NodeSelectorRequirement() corev1.NodeSelectorRequirement {
	return corev1.NodeSelectorRequirement{Key: r.Key, Operator: r.Operator, Values: r.Values}
}

// NodeClassReference points to the node class (the cloud-specific launch
// settings) of a NodePool or NodeClaim.
type NodeClassReference struct {
	// group of the node class: tailor.dev.
	// +kubebuilder:validation:XValidation:rule="self == 'tailor.dev'",message="group must be tailor.dev"
	// +kubebuilder:validation:MaxLength=253
	Group string `json:"group"`
	// kind of the node class: AWSNodeClass.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Kind string `json:"kind"`
	// name of the node class.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// NillableDuration is a Go duration of hours, minutes and seconds ("30s",
// "720h", "1h30m") or "Never". It is a string rather than metav1.Duration
// because "Never" must be expressible (Karpenter's expireAfter and
// consolidateAfter take it too).
//
// +kubebuilder:validation:Pattern=`^(([0-9]+(s|m|h))+|Never)$`
// +kubebuilder:validation:MaxLength=32
type NillableDuration string

// Never is the NillableDuration that never elapses.
const Never NillableDuration = "Never"

var nillableDurationRE = regexp.MustCompile(`^([0-9]+(h|m|s))+$`)

// Parse returns the duration, or never = true for "Never".
func (d NillableDuration) Parse() (dur time.Duration, never bool, err error) {
	if d == Never {
		return 0, true, nil
	}
	if !nillableDurationRE.MatchString(string(d)) {
		return 0, false, fmt.Errorf("%q is not a duration of h, m and s (like 720h or 1h30m), nor Never", string(d))
	}
	dur, err = time.ParseDuration(string(d))
	return dur, false, err
}
