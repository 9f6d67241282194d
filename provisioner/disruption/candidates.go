package disruption

import (
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
)

// PDBs matches pods to the PodDisruptionBudgets that allow no eviction now.
type PDBs struct {
	blocking []pdb
}

type pdb struct {
	namespace, name string
	selector        labels.Selector
}

// NewPDBs indexes the budgets whose status allows no disruption.
func NewPDBs(list []*policyv1.PodDisruptionBudget) *PDBs {
	out := &PDBs{}
	for _, b := range list {
		if b.Status.DisruptionsAllowed > 0 {
			continue
		}
		// policy/v1: a nil selector matches no pod, an empty one every pod
		// of the namespace.
		sel := labels.Nothing()
		if b.Spec.Selector != nil {
			s, err := metav1.LabelSelectorAsSelector(b.Spec.Selector)
			if err != nil {
				continue
			}
			sel = s
		}
		out.blocking = append(out.blocking, pdb{namespace: b.Namespace, name: b.Name, selector: sel})
	}
	return out
}

// Blocking names the budget that keeps pod from being evicted now ("" if none).
func (p *PDBs) Blocking(pod *corev1.Pod) string {
	if p == nil {
		return ""
	}
	for _, b := range p.blocking {
		if b.namespace == pod.Namespace && b.selector.Matches(labels.Set(pod.Labels)) {
			return b.namespace + "/" + b.name
		}
	}
	return ""
}

// CANodeAnnotationScaleDownDisabled is Cluster Autoscaler's node
// annotation; "true" keeps the node like tailor.dev/do-not-disrupt.
const CANodeAnnotationScaleDownDisabled = "cluster-autoscaler.kubernetes.io/scale-down-disabled"

// DoNotDisrupt reports whether an object's annotations keep voluntary
// disruption away; see DoNotDisruptBy.
func DoNotDisrupt(annotations map[string]string) bool { return DoNotDisruptBy(annotations) != "" }

// DoNotDisruptBy names the annotation that keeps voluntary disruption
// away, or "": tailor.dev/do-not-disrupt (anything but "false"), and, so
// that a move from Cluster Autoscaler keeps its protections, CA's
// cluster-autoscaler.kubernetes.io/safe-to-evict=false (pods) and
// scale-down-disabled=true (nodes).
func DoNotDisruptBy(annotations map[string]string) string {
	if v, ok := annotations[provisionerv1.AnnotationDoNotDisrupt]; ok {
		if b, err := strconv.ParseBool(v); err != nil || b {
			return provisionerv1.AnnotationDoNotDisrupt
		}
	}
	if annotations[CAPodAnnotationSafeToEvict] == "false" {
		return CAPodAnnotationSafeToEvict + "=false"
	}
	if annotations[CANodeAnnotationScaleDownDisabled] == "true" {
		return CANodeAnnotationScaleDownDisabled + "=true"
	}
	return ""
}

// Blocked says why no method may choose n ("" when one may): the node or
// one of its pods is marked do-not-disrupt, a pod is not Running yet, a
// PodDisruptionBudget allows none of its pods to go, or pending pods wait
// for it. The controller asks again before it drains.
func Blocked(n *Node, pdbs *PDBs) (reason, msg string) {
	if n.DoNotDisrupt {
		return RefusedDoNotDisrupt, "the node is annotated " + provisionerv1.AnnotationDoNotDisrupt + " (or Cluster Autoscaler's scale-down-disabled)"
	}
	if n.Nominated {
		return RefusedNominated, "pending pods were nominated to it"
	}
	for _, pod := range n.Pods {
		if by := DoNotDisruptBy(pod.Annotations); by != "" {
			return RefusedDoNotDisrupt, fmt.Sprintf("pod %s/%s is annotated %s", pod.Namespace, pod.Name, by)
		}
	}
	for _, pod := range n.Pods {
		if pod.Status.Phase != corev1.PodRunning {
			return RefusedPodsNotRunning, fmt.Sprintf("pod %s/%s is %s, not Running yet", pod.Namespace, pod.Name, phase(pod))
		}
	}
	for _, pod := range n.Pods {
		if b := pdbs.Blocking(pod); b != "" {
			return RefusedPDB, fmt.Sprintf("PodDisruptionBudget %s allows no disruption of pod %s/%s now", b, pod.Namespace, pod.Name)
		}
	}
	return "", ""
}

func phase(pod *corev1.Pod) string {
	if pod.Status.Phase == "" {
		return "Pending"
	}
	return string(pod.Status.Phase)
}

// ConsolidatableAt is when consolidation may first look at a node whose
// last pod event was at last: then plus the pool's consolidateAfter. ok
// is false for Never (or a value that does not parse).
func ConsolidatableAt(np *provisionerv1.NodePool, last time.Time) (at time.Time, ok bool) {
	after := time.Duration(0)
	if ca := np.Spec.Disruption.ConsolidateAfter; ca != "" {
		d, never, err := ca.Parse()
		if never || err != nil {
			return time.Time{}, false
		}
		after = d
	}
	return last.Add(after), true
}

// quiet reports whether consolidation may look at n now.
func quiet(n *Node, np *provisionerv1.NodePool, now time.Time) bool {
	at, ok := ConsolidatableAt(np, n.LastPodEvent)
	return ok && !now.Before(at)
}

// Reschedulable reports whether pod must find a place elsewhere when its
// node goes: a Workload not already terminating (a pod being deleted is
// leaving anyway; counting it made a node whose Deployment had just scaled
// down look as full as before, and its consolidation priced as such).
func Reschedulable(pod *corev1.Pod) bool {
	return pod.DeletionTimestamp == nil && Workload(pod)
}

// Workload reports whether a drain evicts pod: not a DaemonSet or mirror
// pod, not finished.
func Workload(pod *corev1.Pod) bool {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return false
	}
	return !daemonSetPod(pod)
}

func daemonSetPod(pod *corev1.Pod) bool {
	for _, o := range pod.OwnerReferences {
		if o.Controller != nil && *o.Controller && o.Kind == "DaemonSet" {
			return true
		}
	}
	return false
}
