package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NodePool says which nodes Tailor may make for pending pods (requirements
// over instance-type and offering labels, taints, limits), which pool wins
// when several fit (weight), and when its nodes may be taken away again
// (disruption, expireAfter). Its nodes come either from EC2 fleet launches
// configured by an AWSNodeClass (template.spec.nodeClassRef) or from
// existing Auto Scaling groups (autoScalingGroups).
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=np,categories=tailor
// +kubebuilder:printcolumn:name="NodeClass",type=string,JSONPath=`.spec.template.spec.nodeClassRef.name`
// +kubebuilder:printcolumn:name="Nodes",type=string,JSONPath=`.status.resources.nodes`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Weight",type=integer,JSONPath=`.spec.weight`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="CPU",type=string,JSONPath=`.status.resources.cpu`,priority=1
// +kubebuilder:printcolumn:name="Memory",type=string,JSONPath=`.status.resources.memory`,priority=1
type NodePool struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec NodePoolSpec `json:"spec"`
	// +optional
	Status NodePoolStatus `json:"status,omitempty"`
}

// NodePoolList is a list of NodePools.
//
// +kubebuilder:object:root=true
type NodePoolList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NodePool `json:"items"`
}

// NodePoolSpec is the desired shape of a pool's nodes.
//
// +kubebuilder:validation:XValidation:rule="has(self.template.spec.nodeClassRef) != has(self.autoScalingGroups)",message="set exactly one of template.spec.nodeClassRef (EC2 fleet) and autoScalingGroups (existing ASGs)"
type NodePoolSpec struct {
	// template is what every NodeClaim of the pool starts from.
	Template NodeClaimTemplate `json:"template"`

	// autoScalingGroups makes the pool grow existing EC2 Auto Scaling groups
	// (SetDesiredCapacity) instead of launching instances itself: the way
	// to keep ASGs a team already has, as the Cluster Autoscaler does.
	// Mutually exclusive with template.spec.nodeClassRef.
	// +optional
	AutoScalingGroups *AutoScalingGroups `json:"autoScalingGroups,omitempty"`

	// disruption says when the pool's nodes may be taken away voluntarily.
	// +optional
	// +kubebuilder:default={consolidationPolicy: WhenEmptyOrUnderutilized, consolidateAfter: "0s", budgets: {{nodes: "10%"}}}
	Disruption Disruption `json:"disruption"`

	// limits cap the total capacity of the pool's nodes (cpu, memory,
	// nvidia.com/gpu, …, and "nodes" for the node count). A launch that
	// would exceed a limit is not made.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule="self.all(k, !string(self[k]).startsWith('-'))",message="limits must not be negative"
	Limits corev1.ResourceList `json:"limits,omitempty"`

	// weight orders pools: the pool with the highest weight whose
	// requirements a pod fits is chosen first. Unset counts as 0, below
	// every set weight.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	Weight *int32 `json:"weight,omitempty"`

	// packing is how the provisioner groups pending pods onto the new
	// nodes it plans (and consolidation its replacements). FirstFit (the
	// default): a pod joins the first planned node that can still take it,
	// which grows to a larger instance type if it must. MarginalCost: a
	// pod joins the planned node whose price rises least by taking it, or
	// gets a node of its own when that costs no more than the rise
	// (several small nodes where one large node of the type ladder costs
	// more); consolidation may then replace nodes by several cheaper ones.
	// +optional
	Packing Packing `json:"packing,omitempty"`
}

// Packing is a NodePool's packing policy.
// +kubebuilder:validation:Enum=FirstFit;MarginalCost
type Packing string

// Packing policies.
const (
	PackingFirstFit     Packing = "FirstFit"
	PackingMarginalCost Packing = "MarginalCost"
)

// NodeClaimTemplate is the template of a pool's NodeClaims.
type NodeClaimTemplate struct {
	// metadata holds the labels and annotations every node of the pool gets.
	// +optional
	Metadata NodeClaimTemplateMetadata `json:"metadata,omitempty"`

	// spec is the NodeClaim spec every node of the pool starts from.
	Spec NodeClaimTemplateSpec `json:"spec"`
}

// NodeClaimTemplateMetadata are the labels and annotations of a pool's nodes.
type NodeClaimTemplateMetadata struct {
	// labels are put on every node; pods select the pool's nodes by them.
	// +optional
	// +kubebuilder:validation:MaxProperties=100
	// +kubebuilder:validation:XValidation:rule="self.all(k, !(k in ['kubernetes.io/hostname', 'tailor.dev/nodepool', 'tailor.dev/nodeclaim']) && !k.startsWith('karpenter.sh/'))",message="labels must not set kubernetes.io/hostname, tailor.dev/nodepool, tailor.dev/nodeclaim or karpenter.sh/*: Tailor sets them"
	Labels map[string]string `json:"labels,omitempty"`

	// annotations are put on every node.
	// +optional
	// +kubebuilder:validation:MaxProperties=100
	Annotations map[string]string `json:"annotations,omitempty"`
}

// NodeClaimTemplateSpec is a NodeClaimSpec without resources (those come
// from the pods a claim is made for).
type NodeClaimTemplateSpec struct {
	// requirements constrain the instance types, zones, capacity types and
	// other labels of the pool's nodes. Keys Tailor sets per node
	// (kubernetes.io/hostname, tailor.dev/nodepool, tailor.dev/nodeclaim)
	// and karpenter.sh/* are refused.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:XValidation:rule="self.all(r, !(r.key in ['kubernetes.io/hostname', 'tailor.dev/nodepool', 'tailor.dev/nodeclaim']) && !r.key.startsWith('karpenter.sh/'))",message="requirements must not use kubernetes.io/hostname, tailor.dev/nodepool, tailor.dev/nodeclaim or karpenter.sh/*"
	// +kubebuilder:validation:XValidation:rule="self.all(r, r.key != 'tailor.dev/capacity-type' || r.operator != 'In' || r.values.all(v, v in ['spot', 'on-demand']))",message="tailor.dev/capacity-type values are spot and on-demand"
	Requirements []NodeSelectorRequirementWithMinValues `json:"requirements,omitempty"`

	// nodeClassRef names the AWSNodeClass that launches the pool's EC2
	// instances. Mutually exclusive with the pool's autoScalingGroups.
	// +optional
	NodeClassRef *NodeClassReference `json:"nodeClassRef,omitempty"`

	// taints are put on every node of the pool; only pods that tolerate
	// them are scheduled there.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=50
	Taints []corev1.Taint `json:"taints,omitempty"`

	// startupTaints are put on every node at launch and expected to be
	// removed by someone else (a CNI or agent daemon) once the node is
	// ready for work; scheduling ignores them.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=50
	StartupTaints []corev1.Taint `json:"startupTaints,omitempty"`

	// expireAfter is the age at which a node is replaced ("720h", or Never).
	// +optional
	// +kubebuilder:default="720h"
	ExpireAfter NillableDuration `json:"expireAfter,omitempty"`

	// terminationGracePeriod is the longest a node may drain once its
	// deletion started; pods still there after it are deleted, PDBs and
	// tailor.dev/do-not-disrupt notwithstanding. Unset waits for ever.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(s|m|h))+$`
	TerminationGracePeriod *metav1.Duration `json:"terminationGracePeriod,omitempty"`
}

// AutoScalingGroups names the existing ASGs a pool grows, or how to find
// them by tags. Both lists may be used; the pool uses the union.
//
// +kubebuilder:validation:XValidation:rule="(has(self.names) && self.names.size() > 0) || (has(self.selectorTerms) && self.selectorTerms.size() > 0)",message="name at least one Auto Scaling group or one selector term"
type AutoScalingGroups struct {
	// names of Auto Scaling groups.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=255
	Names []string `json:"names,omitempty"`

	// selectorTerms discover groups by tags; a group matching any term is
	// used. The Cluster Autoscaler's convention is
	// {k8s.io/cluster-autoscaler/enabled: "true",
	// k8s.io/cluster-autoscaler/<cluster>: "owned"}.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=30
	SelectorTerms []AutoScalingGroupSelectorTerm `json:"selectorTerms,omitempty"`
}

// AutoScalingGroupSelectorTerm selects Auto Scaling groups by tags.
type AutoScalingGroupSelectorTerm struct {
	// tags a group must all carry; the value "*" matches any value.
	// +kubebuilder:validation:MinProperties=1
	// +kubebuilder:validation:MaxProperties=20
	Tags map[string]string `json:"tags"`
}

// ConsolidationPolicy says which nodes consolidation may remove or replace.
// +kubebuilder:validation:Enum=WhenEmpty;WhenEmptyOrUnderutilized;Balanced
type ConsolidationPolicy string

// Consolidation policies.
const (
	ConsolidationPolicyWhenEmpty                ConsolidationPolicy = "WhenEmpty"
	ConsolidationPolicyWhenEmptyOrUnderutilized ConsolidationPolicy = "WhenEmptyOrUnderutilized"
	// ConsolidationPolicyBalanced is Karpenter's Balanced: a move must save
	// a share of the pool's price at least 1/consolidationThreshold of the
	// share of the pool's disruption cost it evicts.
	ConsolidationPolicyBalanced ConsolidationPolicy = "Balanced"
)

// DefaultConsolidationThreshold is consolidationThreshold's default.
const DefaultConsolidationThreshold = 2

// DisruptionReason is why a node is disrupted, for budgets.
// +kubebuilder:validation:Enum=Underutilized;Empty;Drifted
type DisruptionReason string

// Disruption reasons.
const (
	DisruptionReasonUnderutilized DisruptionReason = "Underutilized"
	DisruptionReasonEmpty         DisruptionReason = "Empty"
	DisruptionReasonDrifted       DisruptionReason = "Drifted"
)

// Disruption is how and when a pool's nodes may be taken away voluntarily.
// +kubebuilder:validation:XValidation:rule="!has(self.consolidationThreshold) || (has(self.consolidationPolicy) && self.consolidationPolicy == 'Balanced')",message="consolidationThreshold needs consolidationPolicy: Balanced"
type Disruption struct {
	// consolidationPolicy: WhenEmpty removes nodes without pods (DaemonSet
	// pods aside); WhenEmptyOrUnderutilized also removes or replaces nodes
	// whose pods fit elsewhere or on a cheaper node, for any saving;
	// Balanced (Karpenter's) only when the saving is worth the pods it
	// evicts: the move's share of the pool's price, divided by its share
	// of the pool's disruption cost (a node 1, each pod it evicts 1 plus
	// its pod-deletion-cost ÷ 2^27 and priority ÷ 2^25, within 0–10), must
	// be at least 1/consolidationThreshold.
	// +optional
	// +kubebuilder:default=WhenEmptyOrUnderutilized
	ConsolidationPolicy ConsolidationPolicy `json:"consolidationPolicy,omitempty"`

	// consolidationThreshold is Balanced's k, 1 to 3 (default 2): a move
	// passes when its disruption share is at most k times its saving
	// share. 2 lets a node be replaced by one of half its price.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=3
	ConsolidationThreshold *int32 `json:"consolidationThreshold,omitempty"`

	// consolidateAfter is how long a node must have seen no pod arrive or
	// leave before consolidation considers it ("0s", "5m", or Never).
	// +kubebuilder:default="0s"
	ConsolidateAfter NillableDuration `json:"consolidateAfter"`

	// minimumSavings is Tailor's threshold for consolidating underused
	// nodes: they are removed or replaced only when the saving, in USD per
	// hour, is at least max(fraction × the price of the nodes removed,
	// perHour, perPod × the pods evicted). Unset means any saving counts,
	// as in Karpenter. It keeps the cluster from churning pods for cents.
	// Empty nodes, expiry and drift are not held to it.
	// +optional
	MinimumSavings *MinimumSavings `json:"minimumSavings,omitempty"`

	// budgets cap how many of the pool's nodes may be disrupting at once;
	// the most restrictive active budget wins. Default: 10% of the nodes.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=50
	// +kubebuilder:default={{nodes: "10%"}}
	Budgets []Budget `json:"budgets,omitempty"`
}

// MinimumSavings is the least saving a consolidation must bring.
type MinimumSavings struct {
	// fraction of the current price of the nodes consolidated, a decimal
	// between 0 and 1 ("0.1" = 10%).
	// +optional
	// +kubebuilder:validation:Pattern=`^(0(\.[0-9]{1,6})?|1(\.0{1,6})?)$`
	Fraction string `json:"fraction,omitempty"`

	// perHour is an absolute saving in USD per hour ("0.05").
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9]{1,6}(\.[0-9]{1,6})?$`
	PerHour string `json:"perHour,omitempty"`

	// perPod is a saving in USD per hour for each pod the move evicts
	// ("0.01"): a score that weighs the saving against the pods disrupted,
	// so a node with many pods must save more to be moved.
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9]{1,6}(\.[0-9]{1,6})?$`
	PerPod string `json:"perPod,omitempty"`
}

// Budget caps voluntary disruption of a pool's nodes, optionally only for
// some reasons and only during a schedule.
//
// +kubebuilder:validation:XValidation:rule="has(self.schedule) == has(self.duration)",message="schedule and duration go together"
type Budget struct {
	// reasons the budget applies to; empty means all.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=3
	Reasons []DisruptionReason `json:"reasons,omitempty"`

	// nodes is the most nodes that may be disrupting at once: a count
	// ("5") or a percentage of the pool's nodes ("10%", rounded up, as
	// Karpenter does).
	// +kubebuilder:default="10%"
	// +kubebuilder:validation:Pattern=`^((100|[0-9]{1,2})%|[0-9]+)$`
	// +kubebuilder:validation:MaxLength=10
	Nodes string `json:"nodes"`

	// schedule is a cron expression (UTC, five fields or @daily, @hourly…)
	// for when the budget starts being active; with duration.
	// +optional
	// +kubebuilder:validation:Pattern=`^(@(annually|yearly|monthly|weekly|daily|midnight|hourly))|((.+)\s(.+)\s(.+)\s(.+)\s(.+))$`
	// +kubebuilder:validation:MaxLength=128
	Schedule *string `json:"schedule,omitempty"`

	// duration is how long the budget is active from each scheduled start,
	// in hours and minutes ("8h", "90m"; Go's "2m0s" too).
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(m|h))+(0s)?$`
	Duration *metav1.Duration `json:"duration,omitempty"`
}

// NodePoolStatus is what the controller last observed of the pool.
type NodePoolStatus struct {
	// resources is the total capacity of the pool's nodes, plus "nodes",
	// their count: what limits are checked against.
	// +optional
	Resources corev1.ResourceList `json:"resources,omitempty"`

	// nodeClassObservedGeneration is the node class generation last seen.
	// +optional
	NodeClassObservedGeneration int64 `json:"nodeClassObservedGeneration,omitempty"`

	// conditions: Ready, NodeClassReady, ValidationSucceeded.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// NodePool condition types.
const (
	ConditionReady               = "Ready"
	ConditionNodeClassReady      = "NodeClassReady"
	ConditionValidationSucceeded = "ValidationSucceeded"
)

// ResourceNodes is the pseudo-resource that counts nodes in limits and status.
const ResourceNodes corev1.ResourceName = "nodes"
