// Package v1alpha1 holds the tailor.dev/v1alpha1 API of Tailor's
// provisioner: NodePool (what nodes may be made, and when they may be taken
// away), AWSNodeClass (how an EC2 instance is launched) and NodeClaim (one
// requested node). Field names follow Karpenter v1's NodePool, EC2NodeClass
// and NodeClaim wherever the concept is the same, so that a Karpenter user
// reads them without a dictionary.
//
// +kubebuilder:object:generate=true
// +groupName=tailor.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the API group and version of this package.
	GroupVersion = schema.GroupVersion{Group: "tailor.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the types of this package with a scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func init() {
	SchemeBuilder.Register(
		&NodePool{}, &NodePoolList{},
		&AWSNodeClass{}, &AWSNodeClassList{},
		&NodeClaim{}, &NodeClaimList{},
	)
}
