package v1alpha1

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Well-known labels. Tailor puts them on every node it makes (from the
// instance type and the chosen offering), and NodePool requirements and pod
// selectors may use them.
const (
	// LabelNodePool names the NodePool a node belongs to; the webhook pins
	// pods to a pool with it.
	LabelNodePool = "tailor.dev/nodepool"
	// LabelNodeClaim names the NodeClaim a node was made for.
	LabelNodeClaim = "tailor.dev/nodeclaim"
	// LabelCapacityType is spot or on-demand.
	LabelCapacityType = "tailor.dev/capacity-type"
	// LabelInstanceFamily is the part of the instance type before the dot (m5).
	LabelInstanceFamily = "tailor.dev/instance-family"
	// LabelInstanceCategory is the family's letter prefix (m, c, r, t, inf…).
	LabelInstanceCategory = "tailor.dev/instance-category"
	// LabelInstanceGeneration is the family's generation number (5 of m5).
	LabelInstanceGeneration = "tailor.dev/instance-generation"
	// LabelInstanceSize is the part after the dot (large, 2xlarge, metal).
	LabelInstanceSize = "tailor.dev/instance-size"
	// LabelInstanceCPU is the vCPU count, a decimal integer (Gt/Lt work on it).
	LabelInstanceCPU = "tailor.dev/instance-cpu"
	// LabelInstanceMemory is the memory in MiB, a decimal integer.
	LabelInstanceMemory = "tailor.dev/instance-memory"
	// LabelInstanceGPUCount is the number of GPUs, a decimal integer.
	LabelInstanceGPUCount = "tailor.dev/instance-gpu-count"

	// Kubernetes' own well-known labels that Tailor sets and reads.
	LabelInstanceType = corev1.LabelInstanceTypeStable // node.kubernetes.io/instance-type
	LabelZone         = corev1.LabelTopologyZone       // topology.kubernetes.io/zone
	LabelRegion       = corev1.LabelTopologyRegion     // topology.kubernetes.io/region
	LabelArch         = corev1.LabelArchStable         // kubernetes.io/arch
	LabelOS           = corev1.LabelOSStable           // kubernetes.io/os
	LabelHostname     = corev1.LabelHostname           // kubernetes.io/hostname
)

// Capacity types, the values of LabelCapacityType.
const (
	CapacityTypeSpot     = "spot"
	CapacityTypeOnDemand = "on-demand"
)

// Annotations and taints.
const (
	// AnnotationDoNotDisrupt on a pod or node keeps voluntary disruption
	// (consolidation, drift, expiry before terminationGracePeriod) away from it.
	AnnotationDoNotDisrupt = "tailor.dev/do-not-disrupt"
	// TaintDisrupted is put on a node being drained by Tailor.
	TaintDisrupted = "tailor.dev/disrupted"
	// TaintUnregistered is put on a node at launch and removed when Tailor
	// has synced the NodeClaim's labels and taints onto it.
	TaintUnregistered = "tailor.dev/unregistered"

	// AnnotationNodePoolHash on a NodeClaim is the hash of its pool's
	// template (labels, annotations, taints, startup taints, node class
	// reference) at creation; a different hash now means drift.
	AnnotationNodePoolHash = "tailor.dev/nodepool-hash"
	// AnnotationNodeClassHash on a NodeClaim is the hash of its
	// AWSNodeClass spec at creation; a different hash now means drift.
	AnnotationNodeClassHash = "tailor.dev/nodeclass-hash"
	// AnnotationDisruption on a NodeClaim says it is a candidate of a
	// disruption command: JSON with the command's id, method, reason,
	// replacements and prices. It is the command's record in the API
	// server, from which a restarted Tailor resumes or rolls it back.
	AnnotationDisruption = "tailor.dev/disruption"
	// AnnotationReplaces on a NodeClaim launched by a disruption command
	// names the command; it is removed when the command is done.
	AnnotationReplaces = "tailor.dev/replaces"
	// AnnotationNodePoolLabels on a NodeClaim is its pool's metadata
	// labels at creation (JSON): which installation's the claim is once
	// the pool is gone (--nodepool-selector, provisioner/scope).
	AnnotationNodePoolLabels = "tailor.dev/nodepool-labels"
)

// WellKnownLabels are the keys whose values the instance types and offerings
// decide: a NodePool need not list them for a pod to select on them.
var WellKnownLabels = map[string]bool{
	LabelNodePool:           true,
	LabelCapacityType:       true,
	LabelInstanceFamily:     true,
	LabelInstanceCategory:   true,
	LabelInstanceGeneration: true,
	LabelInstanceSize:       true,
	LabelInstanceCPU:        true,
	LabelInstanceMemory:     true,
	LabelInstanceGPUCount:   true,
	LabelInstanceType:       true,
	LabelZone:               true,
	LabelRegion:             true,
	LabelArch:               true,
	LabelOS:                 true,
}

// RestrictedLabelKeys may not appear in NodePool requirements or template
// labels: Tailor sets them itself, per node.
var RestrictedLabelKeys = map[string]bool{
	LabelNodePool:  true,
	LabelNodeClaim: true,
	LabelHostname:  true,
}

// IsRestrictedLabel reports whether key may not be set by a NodePool:
// Tailor's own per-node keys, kubernetes.io/hostname, and karpenter.sh/*
// (a NodePool copied from Karpenter must be converted, not half-applied).
func IsRestrictedLabel(key string) bool {
	if RestrictedLabelKeys[key] {
		return true
	}
	return strings.HasPrefix(key, "karpenter.sh/")
}
