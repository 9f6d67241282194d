package webhook

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	jsonpatch "gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"

	"github.com/tailor-dev/tailor/recommender/sizing"
	"github.com/tailor-dev/tailor/scaler/coordination"
)

// PodSizer is the mutating handler for pod CREATE. It runs the pod steps
// (podSteps: sizing, startup boost, placement) and emits what they add, patches
// and annotations, as one patch. It reads the informer cache only and never
// blocks a pod: on any internal error the pod is admitted unchanged and the
// error counted.
type PodSizer struct {
	Lookup Lookup
	// Horizontal, when set, lists ReplicaAutoscalers: the resources they
	// scale the pod's workload on are not sized.
	Horizontal HorizontalLookup
	// Events, when set, emits the Events explaining decisions, batched.
	Events *Events
	// Synced reports whether the caches have synced; until then pods pass
	// unchanged rather than wait on an informer inside the API server's
	// request.
	Synced *atomic.Bool
	// Scope: pods in Tailor's own namespace and kube-system are never
	// mutated, whatever their labels; with a selector, only pods of
	// namespaces it matches are (the webhook configuration's
	// namespaceSelector should say the same; this holds if it does not).
	Scope coordination.Scope
	// Placer, when set, pins pods to a NodePool after sizing; Namespaces
	// tells which namespaces switched that off.
	Placer     Placer
	Namespaces NamespaceLabels
}

const podWebhook = "pods"

// ReasonPodSized is the Event on a VPA whose pods were sized at admission.
const ReasonPodSized = "PodSized"

// podLog is the pod path's logger, named once: a per-request logger
// (WithValues) costs allocations on every pod.
var podLog = logf.Log.WithName("admission").WithName(podWebhook)

// podStep is one stage of the pod pipeline, modelled on upstream VPA's
// patch.Calculator list: each step looks at the pod being created and adds
// patches, annotations and a summary to the review, or says why it
// changed nothing. Steps never write the annotation map themselves, so one
// step cannot overwrite another's: the handler emits them once.
type podStep interface {
	apply(ctx context.Context, r *podReview)
}

// podSteps are the steps in order. Each call builds them afresh: they hold
// only the handler.
func (h *PodSizer) podSteps() [3]podStep {
	return [...]podStep{sizingStep{h}, boostStep{h}, placementStep{h}}
}

// podReview is one pod admission as the steps see and change it.
type podReview struct {
	namespace string
	pod       *corev1.Pod
	// sized is the pod with the requests sizing (and the boost) gave it
	// (nil: unchanged), for the steps after sizing; set only when one
	// needs it. Sizing changes pod itself (the review's own decoded copy);
	// the boost makes a copy.
	sized *corev1.Pod
	// vpa is the pod's VPA (nil: none), with what sizing read along with
	// it, for the boost.
	vpa         *vpav1.VerticalPodAutoscaler
	limitRanges []corev1.LimitRange
	hold        []corev1.ResourceName

	patch       []jsonpatch.JsonPatchOperation
	annotations []annotation
	summaries   []string
	skipped     []string // why a step changed nothing
	// errReason, when set, admits the pod unchanged whatever other steps
	// added; err says why.
	errReason string
	err       error
	// events are recorded, and admitted run (logs), once the patch is
	// returned.
	events   []podEvent
	admitted []func()

	annBuf     [3]annotation
	summaryBuf [3]string
	eventBuf   [2]podEvent
}

// event asks for an Event about the pod's VPA.
func (r *podReview) vpaEvent(vpa *vpav1.VerticalPodAutoscaler, reason, sep, detail string) {
	r.events = append(r.events, podEvent{obj: vpa, kind: "VerticalPodAutoscaler", namespace: vpa.Namespace, name: vpa.Name,
		eventType: corev1.EventTypeNormal, reason: reason, action: "Admit", sep: sep, detail: detail})
}

type annotation struct{ key, value string }

func (r *podReview) fail(reason string, err error) { r.errReason, r.err = reason, err }

// ServeHTTP serves PodPath: an AdmissionReview in (admission.k8s.io/v1,
// or v1beta1 answered in kind), the review with the patch out, written
// from pooled buffers (review.go). A body that is not a review Tailor can
// read gets an HTTP error, which the API server handles per the webhook's
// failurePolicy (Ignore: the pod is created unchanged); a review of a pod
// Tailor cannot read or size is answered "allowed, unchanged" with the
// reason. The pod is never refused.
func (h *PodSizer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	st := reviewStates.Get().(*reviewState)
	defer st.release()
	body, status, err := st.read(r)
	var req reviewRequest
	if err == nil {
		if req, err = parseReview(body); err != nil {
			status = http.StatusBadRequest
		}
	}
	if err != nil {
		admissionTotal.WithLabelValues(podWebhook, "error", "bad_review").Inc()
		podLog.Error(err, "not an AdmissionReview Tailor can answer; HTTP error (failurePolicy Ignore: the pod is created unchanged)", "status", status)
		http.Error(w, "tailor: "+err.Error(), status)
		return
	}
	a := h.admit(r.Context(), &req, st)
	if a.patch != nil {
		st.patch = a.patch[:0]
	}
	st.out = appendResponse(st.out[:0], &req, a.message, a.patch)
	admissionTotal.WithLabelValues(podWebhook, a.outcome, a.reason).Inc()
	admissionDuration.WithLabelValues(podWebhook).Observe(time.Since(start).Seconds())
	w.Header()["Content-Type"] = jsonContentType
	_, _ = w.Write(st.out)
}

var jsonContentType = []string{"application/json"}

// podAnswer is the handler's answer: the pod is always allowed, with the
// patch (JSON, none when empty) and the message; outcome and reason label
// tailor_admission_total.
type podAnswer struct {
	outcome, reason, message string
	patch                    []byte
}

// admit runs the pod steps on req, in st's pod and review, and encodes
// their patch into st.patch's memory.
func (h *PodSizer) admit(ctx context.Context, req *reviewRequest, st *reviewState) (a podAnswer) {
	defer func() {
		if r := recover(); r != nil {
			// A bug must not fail pod creation: admit unchanged.
			podLog.Error(fmt.Errorf("%v", r), "panic in pod admission; admitting unchanged")
			a = podAnswer{outcome: "error", reason: "panic", message: "tailor: internal error; pod admitted unchanged"}
		}
	}()
	skip := func(why string) podAnswer {
		return podAnswer{outcome: "skipped", reason: why, message: "tailor: " + why}
	}
	if string(req.operation) != string(admissionv1.Create) || len(req.group) != 0 || string(req.kind) != "Pod" || len(req.subResource) != 0 {
		return skip("not_a_pod_create")
	}
	if h.Scope.Excluded(req.namespace) {
		return skip("excluded_namespace")
	}
	if h.Scope.Selective() {
		if labels, err := h.Namespaces.NamespaceLabels(ctx, req.namespace); err != nil || !h.Scope.Selects(labels) {
			return skip("namespace_not_selected")
		}
	}
	if h.Synced != nil && !h.Synced.Load() {
		return skip("caches_not_synced")
	}
	pod, err := decodePod(req.object, &st.pod)
	if err != nil {
		return podAnswer{outcome: "error", reason: "decode", message: "tailor: cannot decode pod, admitted unchanged: " + err.Error()}
	}
	if pod.Namespace == "" {
		pod.Namespace = req.namespace
	}

	steps := h.podSteps()
	r := &st.review
	runSteps(ctx, r, req.namespace, pod, steps[:])
	if r.errReason != "" {
		return podAnswer{outcome: "error", reason: r.errReason, message: "tailor: " + r.err.Error()}
	}
	if !req.dryRun {
		for i := range r.events {
			h.Events.record(&r.events[i], pod)
		}
	}
	for _, f := range r.admitted {
		f()
	}
	if len(r.patch) == 0 && len(r.annotations) == 0 {
		return skip(strings.Join(r.skipped, ","))
	}
	patch, err := appendPatchJSON(st.patch[:0], appendAnnotations(r.patch, pod, r.annotations))
	if err != nil {
		return podAnswer{outcome: "error", reason: "encode", message: "tailor: cannot encode the patch, admitted unchanged: " + err.Error()}
	}
	return podAnswer{outcome: "mutated", message: "tailor: " + strings.Join(r.summaries, "; "), patch: patch}
}

// runSteps runs steps in order on pod, into r (its earlier content
// dropped); the first error stops them.
func runSteps(ctx context.Context, r *podReview, namespace string, pod *corev1.Pod, steps []podStep) {
	*r = podReview{namespace: namespace, pod: pod}
	r.annotations, r.summaries, r.events = r.annBuf[:0], r.summaryBuf[:0], r.eventBuf[:0]
	for _, s := range steps {
		if s.apply(ctx, r); r.errReason != "" {
			break
		}
	}
}

// appendAnnotations adds or replaces the annotations; a pod without any
// needs the whole map added, since JSON patch cannot add under a missing
// parent.
func appendAnnotations(patch []jsonpatch.JsonPatchOperation, pod *corev1.Pod, as []annotation) []jsonpatch.JsonPatchOperation {
	if len(as) == 0 {
		return patch
	}
	if len(pod.Annotations) == 0 {
		m := make(map[string]string, len(as))
		for _, a := range as {
			m[a.key] = a.value
		}
		return append(patch, jsonpatch.NewOperation("add", "/metadata/annotations", m))
	}
	for _, a := range as {
		patch = append(patch, jsonpatch.NewOperation("add", annotationPath(a.key), a.value))
	}
	return patch
}

// sizingAnnotationPath is the patch path of sizing.AnnotationKey, built once.
var sizingAnnotationPath = "/metadata/annotations/" + sizing.EscapePointer(sizing.AnnotationKey)

func annotationPath(key string) string {
	if key == sizing.AnnotationKey {
		return sizingAnnotationPath
	}
	return "/metadata/annotations/" + sizing.EscapePointer(key)
}

// sizingStep gives each container the requests of the VPA recommendation
// that covers the pod, leaving out the resources a ReplicaAutoscaler
// scales the workload on.
type sizingStep struct{ h *PodSizer }

func (s sizingStep) apply(ctx context.Context, r *podReview) {
	h := s.h
	var chainBuf [maxChain]sizing.Owner
	chain := ownerChain(ctx, h.Lookup, r.namespace, r.pod, chainBuf[:0])
	if len(chain) == 0 {
		r.skipped = append(r.skipped, "no_controller")
		return
	}
	vpas, err := h.Lookup.VPAs(ctx, r.namespace)
	if err != nil {
		r.fail("list vpas", err)
		return
	}
	vpa := sizing.ControllingVPA(chain, vpas)
	if vpa == nil {
		r.skipped = append(r.skipped, "no_vpa")
		return
	}
	limitRanges, err := h.Lookup.LimitRanges(ctx, r.namespace)
	if err != nil {
		r.fail("list limitranges", err)
		return
	}
	var hold []corev1.ResourceName
	if h.Horizontal != nil {
		ras, err := h.Horizontal.ReplicaAutoscalers(ctx, r.namespace)
		if err != nil {
			r.fail("list replicaautoscalers", err)
			return
		}
		hold = coordination.Horizontal(vpa, ras).Resources
	}
	r.vpa, r.limitRanges, r.hold = vpa, limitRanges, hold

	// In place: the pod is this review's own decoded copy, read by nothing
	// but the steps; they see it with the requests sizing gave it.
	d, err := sizing.Decide(sizing.Input{Pod: r.pod, VPA: vpa, LimitRanges: limitRanges, Hold: hold, InPlace: true})
	if err != nil {
		podLog.Info("pod left unchanged", "namespace", r.namespace, "vpa", vpa.Name, "error", err.Error())
		r.fail("decide", err)
		return
	}
	if len(d.Patch) == 0 {
		r.skipped = append(r.skipped, strings.ReplaceAll(d.Skipped, " ", "_"))
		return
	}
	if r.patch == nil {
		r.patch = d.Patch // has room for the annotation op
	} else {
		r.patch = append(r.patch, d.Patch...)
	}
	r.annotations = append(r.annotations, annotation{sizing.AnnotationKey, d.Annotation})
	r.summaries = append(r.summaries, d.Annotation)
	r.sized = r.pod
	r.vpaEvent(vpa, ReasonPodSized, ": ", d.Annotation)
	if log := podLog.V(1); log.Enabled() {
		pod := r.pod
		r.admitted = append(r.admitted, func() {
			log.Info("pod sized", "namespace", r.namespace, "pod", podName(pod), "vpa", vpa.Name, "change", d.Annotation)
		})
	}
}

// podName is the name or, for a pod created from generateName (every
// controller-made pod), the prefix the API server will complete.
func podName(pod *corev1.Pod) string {
	if pod.Name != "" {
		return pod.Name
	}
	return pod.GenerateName + "*"
}

var _ http.Handler = &PodSizer{}
