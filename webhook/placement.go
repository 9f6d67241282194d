package webhook

import (
	"context"

	jsonpatch "gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/recommender/sizing"
)

// Placement keys.
const (
	// PlacementAnnotation on a pod says which pool the webhook pinned it
	// to and why, or why none.
	PlacementAnnotation = "tailor.dev/placement"
	// PlacementLabel on a namespace, set to PlacementDisabled, keeps its
	// pods unpinned (sizing goes on).
	PlacementLabel    = "tailor.dev/placement"
	PlacementDisabled = "disabled"
	// ReasonNoPoolFits is the Event of a pod no NodePool admits.
	ReasonNoPoolFits = "NoPoolFits"
)

// Placer chooses the NodePool of a pod whose requests are final, from
// caches only. cmd/tailor wires the provisioner's pure placement to a
// NodePool cache; the webhook needs nothing else of the provisioner.
type Placer interface {
	Place(pod *corev1.Pod) Placement
}

// Placement is a Placer's answer, rendered: the webhook copies it into
// the patch, the annotation and the admission message as is.
type Placement struct {
	// Pool chosen; "" when none fits or there are no pools.
	Pool string
	// NodeSelector pins a pod without one to Pool: {tailor.dev/nodepool:
	// Pool}, shared by every answer for that pool (read-only).
	NodeSelector map[string]string
	// Note, for the annotation: "nodepool P: why[; passed over q: reason…]",
	// or "no pool fits: q: reason; …"; "" when there are no pools.
	Note string
	// Summary, for the admission message: "nodepool P" or "no pool fits".
	Summary string
}

// NamespaceLabels reads a namespace's labels from the cache.
type NamespaceLabels interface {
	NamespaceLabels(ctx context.Context, name string) (map[string]string, error)
}

// placementStep pins the pod to the highest-weight NodePool it fits, on
// the requests sizing gave it.
type placementStep struct{ h *PodSizer }

func (s placementStep) apply(ctx context.Context, r *podReview) {
	h := s.h
	if h.Placer == nil {
		return
	}
	pod := r.pod
	switch {
	case pod.Spec.NodeName != "":
		r.skipped = append(r.skipped, "bound")
		return
	case mirror(pod) || ownedByDaemonSet(pod):
		r.skipped = append(r.skipped, "daemon_pod")
		return
	case pinsPool(pod):
		r.skipped = append(r.skipped, "pool_pinned")
		return
	}
	if h.Namespaces != nil {
		labels, err := h.Namespaces.NamespaceLabels(ctx, r.namespace)
		if err != nil {
			r.skipped = append(r.skipped, "namespace_unknown")
			return
		}
		if labels[PlacementLabel] == PlacementDisabled {
			r.skipped = append(r.skipped, "placement_disabled")
			return
		}
	}
	sized := pod
	if r.sized != nil {
		sized = r.sized
	}
	p := h.Placer.Place(sized)
	if p.Note == "" {
		r.skipped = append(r.skipped, "no_nodepools")
		return
	}
	r.annotations = append(r.annotations, annotation{PlacementAnnotation, truncateNote(p.Note)})
	r.summaries = append(r.summaries, p.Summary)
	if p.Pool == "" {
		if h.Events != nil {
			t := eventTarget(pod, r.namespace)
			r.events = append(r.events, podEvent{obj: t, kind: t.Kind, namespace: t.Namespace, name: t.Name,
				eventType: corev1.EventTypeWarning, reason: ReasonNoPoolFits, action: "Place", sep: ": ", detail: p.Note})
		}
		return
	}
	if pod.Spec.NodeSelector == nil {
		r.patch = append(r.patch, jsonpatch.Operation{Operation: "add", Path: "/spec/nodeSelector", Value: p.NodeSelector})
	} else {
		r.patch = append(r.patch, jsonpatch.Operation{Operation: "add", Path: nodePoolSelectorPath, Value: p.Pool})
	}
	if log := podLog.V(1); log.Enabled() {
		r.admitted = append(r.admitted, func() { log.Info("pod placed", "namespace", r.namespace, "pod", podName(pod), "nodepool", p.Pool) })
	}
}

var nodePoolSelectorPath = "/spec/nodeSelector/" + sizing.EscapePointer(provisionerv1.LabelNodePool)

// pinsPool: the pod already names a pool, by nodeSelector or by a
// required node affinity term on tailor.dev/nodepool.
func pinsPool(pod *corev1.Pod) bool {
	if _, ok := pod.Spec.NodeSelector[provisionerv1.LabelNodePool]; ok {
		return true
	}
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return false
	}
	for _, t := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, e := range t.MatchExpressions {
			if e.Key == provisionerv1.LabelNodePool {
				return true
			}
		}
	}
	return false
}

func mirror(pod *corev1.Pod) bool {
	_, ok := pod.Annotations[corev1.MirrorPodAnnotationKey]
	return ok
}

func ownedByDaemonSet(pod *corev1.Pod) bool {
	for _, o := range pod.OwnerReferences {
		if o.Kind == "DaemonSet" && o.Controller != nil && *o.Controller {
			return true
		}
	}
	return false
}

// eventTarget: the pod when it has a name; a pod made from generateName
// has none yet, so the Event goes to its controller (the ReplicaSet…).
func eventTarget(pod *corev1.Pod, namespace string) *corev1.ObjectReference {
	if pod.Name == "" {
		if c := metav1.GetControllerOf(pod); c != nil {
			return &corev1.ObjectReference{APIVersion: c.APIVersion, Kind: c.Kind, Name: c.Name, UID: c.UID, Namespace: namespace}
		}
	}
	return &corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, Namespace: namespace, UID: pod.UID}
}

// truncateNote keeps annotation values and Event notes readable (Events
// cap notes at 1 kB).
func truncateNote(s string) string {
	if len(s) <= 1000 {
		return s
	}
	return s[:1000] + "…"
}
