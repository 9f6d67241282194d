package disruption

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"time"

	corev1 "k8s.io/api/core/v1"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/requirements"
)

// PoolHash is the hash of what a pool's template puts on its nodes —
// labels, annotations, taints, startup taints and the node class
// reference — recorded on each NodeClaim at creation
// (tailor.dev/nodepool-hash). Requirements are not in it: a node drifts
// on them only when its labels no longer meet them. expireAfter and
// terminationGracePeriod are not either: they are read from the claim.
func PoolHash(np *provisionerv1.NodePool) string {
	t := np.Spec.Template
	return hash(struct {
		Labels, Annotations map[string]string
		Taints, Startup     []corev1.Taint
		Class               *provisionerv1.NodeClassReference
	}{t.Metadata.Labels, t.Metadata.Annotations, t.Spec.Taints, t.Spec.StartupTaints, t.Spec.NodeClassRef})
}

// NodeClassHash is the hash of an AWSNodeClass spec, recorded on each
// NodeClaim at creation (tailor.dev/nodeclass-hash).
func NodeClassHash(spec *provisionerv1.AWSNodeClassSpec) string { return hash(spec) }

func hash(v any) string {
	b, _ := json.Marshal(v) // maps marshal with sorted keys: stable
	h := fnv.New64a()
	_, _ = h.Write(b)
	return fmt.Sprintf("%016x", h.Sum64())
}

// DriftReason says how a claim no longer matches its pool or node class:
// the pool's template hash or the node class hash differ from the ones
// recorded at creation, or the node's labels no longer meet the pool's
// requirements. A claim without a recorded hash is not compared on it.
// classHash is the node class's hash now ("" when unknown). Empty: no drift.
func DriftReason(np *provisionerv1.NodePool, nc *provisionerv1.NodeClaim, node *corev1.Node, classHash string) string {
	if h, ok := nc.Annotations[provisionerv1.AnnotationNodePoolHash]; ok && h != PoolHash(np) {
		return fmt.Sprintf("NodePool %s's template (labels, annotations, taints or node class) changed since the claim was made", np.Name)
	}
	if h, ok := nc.Annotations[provisionerv1.AnnotationNodeClassHash]; ok && classHash != "" && h != classHash {
		return "the AWSNodeClass changed since the claim was made"
	}
	if node == nil {
		return ""
	}
	want, err := requirements.FromNodePool(np)
	if err != nil {
		return ""
	}
	if err := requirements.ForNode(node).Compatible(want, nil); err != nil {
		return fmt.Sprintf("the node no longer meets NodePool %s's requirements: %v", np.Name, err)
	}
	return ""
}

// ExpiresAt is when a claim expires (its creation plus its expireAfter);
// ok is false when it never does.
func ExpiresAt(nc *provisionerv1.NodeClaim) (at time.Time, ok bool) {
	d, ok := ExpireAfter(nc)
	if !ok {
		return time.Time{}, false
	}
	return nc.CreationTimestamp.Add(d), true
}

// ExpireAfter is a claim's expireAfter; ok is false for Never, unset or
// unparseable.
func ExpireAfter(nc *provisionerv1.NodeClaim) (time.Duration, bool) {
	if nc.Spec.ExpireAfter == "" {
		return 0, false
	}
	d, never, err := nc.Spec.ExpireAfter.Parse()
	if never || err != nil || d <= 0 {
		return 0, false
	}
	return d, true
}
