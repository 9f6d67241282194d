package webhook

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	jsonpatch "gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/tailor-dev/tailor/recommender/sizing"
	"github.com/tailor-dev/tailor/scaler/coordination"
)

// PodSizer is the mutating handler for pod CREATE: it gives each container
// the requests of the VPA recommendation that covers it. It reads the
// informer cache only and never blocks a pod: on any internal error the pod
// is admitted unchanged and the error counted.
type PodSizer struct {
	Lookup Lookup
	// Horizontal, when set, lists ReplicaAutoscalers: the resources they
	// scale the pod's workload on are not sized.
	Horizontal HorizontalLookup
	Recorder   recorder.EventRecorder
	// Synced reports whether the caches have synced; until then pods pass
	// unchanged rather than wait on an informer inside the API server's
	// request.
	Synced *atomic.Bool
	// Excluded namespaces are never mutated, whatever their labels.
	Excluded map[string]bool
}

const podWebhook = "pods"

// Handle implements admission.Handler.
func (h *PodSizer) Handle(ctx context.Context, req admission.Request) (resp admission.Response) {
	start := time.Now()
	outcome, reason := "unchanged", ""
	defer func() {
		if r := recover(); r != nil {
			// A bug must not fail pod creation: admit unchanged.
			logf.FromContext(ctx).Error(fmt.Errorf("%v", r), "panic in pod sizing; admitting unchanged")
			outcome, reason = "error", "panic"
			resp = admission.Allowed("tailor: internal error; pod admitted unchanged")
		}
		admissionTotal.WithLabelValues(podWebhook, outcome, reason).Inc()
		admissionDuration.WithLabelValues(podWebhook).Observe(time.Since(start).Seconds())
	}()
	skip := func(why string) admission.Response {
		outcome, reason = "skipped", why
		return admission.Allowed("tailor: " + why)
	}

	if req.Operation != admissionv1.Create || req.Kind.Group != "" || req.Kind.Kind != "Pod" || req.SubResource != "" {
		return skip("not a pod create")
	}
	if h.Excluded[req.Namespace] {
		return skip("excluded namespace")
	}
	if h.Synced != nil && !h.Synced.Load() {
		return skip("caches not synced")
	}
	pod, err := decodePod(req.Object.Raw)
	if err != nil {
		outcome, reason = "error", "decode"
		return admission.Allowed("tailor: cannot decode pod, admitted unchanged: " + err.Error())
	}
	if pod.Namespace == "" {
		pod.Namespace = req.Namespace
	}

	var chainBuf [maxChain]sizing.Owner
	chain := ownerChain(ctx, h.Lookup, req.Namespace, pod, chainBuf[:0])
	if len(chain) == 0 {
		return skip("no controller")
	}
	vpas, err := h.Lookup.VPAs(ctx, req.Namespace)
	if err != nil {
		outcome, reason = "error", "list vpas"
		return admission.Allowed("tailor: " + err.Error())
	}
	vpa := sizing.ControllingVPA(chain, vpas)
	if vpa == nil {
		return skip("no vpa")
	}
	limitRanges, err := h.Lookup.LimitRanges(ctx, req.Namespace)
	if err != nil {
		outcome, reason = "error", "list limitranges"
		return admission.Allowed("tailor: " + err.Error())
	}

	var hold []corev1.ResourceName
	if h.Horizontal != nil {
		ras, err := h.Horizontal.ReplicaAutoscalers(ctx, req.Namespace)
		if err != nil {
			outcome, reason = "error", "list replicaautoscalers"
			return admission.Allowed("tailor: " + err.Error())
		}
		hold = coordination.Horizontal(vpa, ras).Resources
	}

	d, err := sizing.Decide(sizing.Input{Pod: pod, VPA: vpa, LimitRanges: limitRanges, Hold: hold, PatchOnly: true})
	if err != nil {
		outcome, reason = "error", "decide"
		logf.FromContext(ctx).Info("pod left unchanged", "namespace", req.Namespace, "vpa", vpa.Name, "error", err.Error())
		return admission.Allowed("tailor: " + err.Error())
	}
	if len(d.Patch) == 0 {
		return skip(strings.ReplaceAll(d.Skipped, " ", "_"))
	}
	patch := append(d.Patch, annotationPatch(pod, sizing.AnnotationKey, d.Annotation))
	outcome = "mutated"
	if h.Recorder != nil {
		h.Recorder.Eventf(vpa, nil, corev1.EventTypeNormal, "PodSized", "Admit", "pod %s: %s", podName(pod), d.Annotation)
	}
	if log := logf.FromContext(ctx).V(1); log.Enabled() {
		log.Info("pod sized", "namespace", req.Namespace, "pod", podName(pod), "vpa", vpa.Name, "change", d.Annotation)
	}
	return admission.Patched("tailor: "+d.Annotation, patch...)
}

// annotationPatch adds or replaces one annotation; a pod without any needs
// the whole map added, since JSON patch cannot add under a missing parent.
func annotationPatch(pod *corev1.Pod, key, value string) jsonpatch.JsonPatchOperation {
	if len(pod.Annotations) == 0 {
		return jsonpatch.NewOperation("add", "/metadata/annotations", map[string]string{key: value})
	}
	path := annotationPath
	if key != sizing.AnnotationKey {
		path = "/metadata/annotations/" + escapeKey(key)
	}
	return jsonpatch.NewOperation("add", path, value)
}

// annotationPath is the patch path of sizing.AnnotationKey.
var annotationPath = "/metadata/annotations/" + escapeKey(sizing.AnnotationKey)

// escapeKey escapes a JSON pointer segment per RFC 6901.
func escapeKey(key string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(key)
}

// podName is the name or, for a pod created from generateName (every
// controller-made pod), the prefix the API server will complete.
func podName(pod *corev1.Pod) string {
	if pod.Name != "" {
		return pod.Name
	}
	return pod.GenerateName + "*"
}

var _ admission.Handler = &PodSizer{}
