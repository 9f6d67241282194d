package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NodeClaim is one node Tailor decided to make: the record that makes a
// launch idempotent (one claim, one instance) and that counts capacity in
// flight, so that the next scheduling round does not launch again for the
// same pods. Its spec is fixed at creation.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=nc,categories=tailor
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.status.instanceType`
// +kubebuilder:printcolumn:name="Capacity",type=string,JSONPath=`.status.capacityType`
// +kubebuilder:printcolumn:name="Zone",type=string,JSONPath=`.status.zone`
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.status.nodeName`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="ID",type=string,JSONPath=`.status.providerID`,priority=1
// +kubebuilder:printcolumn:name="NodePool",type=string,JSONPath=`.metadata.labels.tailor\.dev/nodepool`,priority=1
// +kubebuilder:printcolumn:name="Price",type=string,JSONPath=`.status.pricePerHour`,priority=1
type NodeClaim struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec NodeClaimSpec `json:"spec"`
	// +optional
	Status NodeClaimStatus `json:"status,omitempty"`
}

// NodeClaimList is a list of NodeClaims.
//
// +kubebuilder:object:root=true
type NodeClaimList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NodeClaim `json:"items"`
}

// NodeClaimSpec is what the node must be.
//
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable"
type NodeClaimSpec struct {
	// requirements the instance must meet: the pool's, narrowed by the
	// pods the claim was made for (instance types, zones, capacity types…).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	Requirements []NodeSelectorRequirementWithMinValues `json:"requirements,omitempty"`

	// resources are the requests of the pods the claim was made for, plus
	// DaemonSet overhead: the least the instance must offer.
	// +optional
	Resources ResourceRequirements `json:"resources,omitempty"`

	// nodeClassRef names the AWSNodeClass that launches the instance;
	// absent for claims of pools backed by Auto Scaling groups.
	// +optional
	NodeClassRef *NodeClassReference `json:"nodeClassRef,omitempty"`

	// taints of the node (the pool's).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=50
	Taints []corev1.Taint `json:"taints,omitempty"`

	// startupTaints of the node, removed by others once it is ready.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=50
	StartupTaints []corev1.Taint `json:"startupTaints,omitempty"`

	// expireAfter is the age at which the node is replaced.
	// +optional
	ExpireAfter NillableDuration `json:"expireAfter,omitempty"`

	// terminationGracePeriod bounds how long the node may drain.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(s|m|h))+$`
	TerminationGracePeriod *metav1.Duration `json:"terminationGracePeriod,omitempty"`
}

// ResourceRequirements are the resources a NodeClaim asks for.
type ResourceRequirements struct {
	// requests are the least capacity the node must have.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	Requests corev1.ResourceList `json:"requests,omitempty"`
}

// NodeClaimStatus is what was launched and how far it got.
type NodeClaimStatus struct {
	// providerID of the instance (aws:///us-east-1a/i-0123…).
	// +optional
	ProviderID string `json:"providerID,omitempty"`
	// nodeName of the Node that registered for the instance.
	// +optional
	NodeName string `json:"nodeName,omitempty"`
	// imageID is the AMI the instance runs.
	// +optional
	ImageID string `json:"imageID,omitempty"`
	// instanceType launched.
	// +optional
	InstanceType string `json:"instanceType,omitempty"`
	// zone the instance is in.
	// +optional
	Zone string `json:"zone,omitempty"`
	// capacityType of the instance: spot or on-demand.
	// +optional
	CapacityType string `json:"capacityType,omitempty"`
	// pricePerHour is the instance's price in USD per hour when it was
	// launched, a decimal string ("0.0960"): the basis of cost metrics
	// and consolidation savings.
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]+)?$`
	PricePerHour string `json:"pricePerHour,omitempty"`
	// capacity of the node as launched.
	// +optional
	Capacity corev1.ResourceList `json:"capacity,omitempty"`
	// allocatable of the node: capacity less kube-reserved, system-reserved
	// and the eviction threshold.
	// +optional
	Allocatable corev1.ResourceList `json:"allocatable,omitempty"`
	// lastPodEventTime is when a pod last arrived on or left the node, for
	// consolidateAfter.
	// +optional
	LastPodEventTime metav1.Time `json:"lastPodEventTime,omitempty"`
	// conditions: Launched, Registered, Initialized, Ready, and the
	// disruption conditions Drifted, Expired, Consolidatable, Disrupting.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// NodeClaim condition types (besides ConditionReady).
const (
	// ConditionLaunched: the cloud created the instance.
	ConditionLaunched = "Launched"
	// ConditionRegistered: a Node joined for the instance.
	ConditionRegistered = "Registered"
	// ConditionInitialized: the Node is ready, startup taints are gone and
	// its extended resources are registered.
	ConditionInitialized = "Initialized"
	// ConditionDrifted: the claim no longer matches its pool or node class.
	ConditionDrifted = "Drifted"
	// ConditionExpired: the claim is older than expireAfter.
	ConditionExpired = "Expired"
	// ConditionInterrupted: the cloud announced the instance goes (spot
	// interruption, scheduled maintenance); the disruption loop replaces
	// it first, whatever the budgets.
	ConditionInterrupted = "Interrupted"
	// ConditionConsolidatable: the node has had no pod event for consolidateAfter.
	ConditionConsolidatable = "Consolidatable"
	// ConditionDisrupting: the claim is a candidate of a disruption command
	// (waiting for its replacement, tainted, or draining); its reason is
	// the phase, its message the method, reason and prices. False with
	// reason RolledBack after a command gave up on the claim, or Blocked
	// while a disruption of it is refused (the message says why: a PDB,
	// do-not-disrupt, a budget, too small a saving).
	ConditionDisrupting = "Disrupting"
)

// ReasonBlocked is the Disrupting condition's reason (status False) on a
// claim whose disruption something refuses; the message says what.
const ReasonBlocked = "Blocked"
