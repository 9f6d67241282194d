package webhook

import (
	"context"
	"net/http"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/tailor-dev/tailor/recommender/logic"
	"github.com/tailor-dev/tailor/webhook/validation"
)

// VPAValidator refuses VerticalPodAutoscalers that Tailor could not act on
// sensibly, with messages that name the field.
type VPAValidator struct {
	Decoder admission.Decoder
}

const vpaWebhook = "vpa"

// Handle implements admission.Handler.
func (v *VPAValidator) Handle(_ context.Context, req admission.Request) admission.Response {
	start := time.Now()
	outcome, reason := "allowed", ""
	defer func() {
		admissionTotal.WithLabelValues(vpaWebhook, outcome, reason).Inc()
		admissionDuration.WithLabelValues(vpaWebhook).Observe(time.Since(start).Seconds())
	}()
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return admission.Allowed("")
	}
	if req.Kind.Group != vpav1.SchemeGroupVersion.Group || req.Kind.Kind != "VerticalPodAutoscaler" {
		outcome, reason = "denied", "wrong kind"
		return admission.Errored(http.StatusBadRequest, errWrongKind(req.Kind.String()))
	}
	vpa := &vpav1.VerticalPodAutoscaler{}
	if err := v.Decoder.Decode(req, vpa); err != nil {
		outcome, reason = "denied", "decode"
		return admission.Errored(http.StatusBadRequest, err)
	}
	if req.Operation == admissionv1.Update {
		old := &vpav1.VerticalPodAutoscaler{}
		if err := v.Decoder.DecodeRaw(req.OldObject, old); err == nil && equality.Semantic.DeepEqual(old.Spec, vpa.Spec) &&
			policyOf(old) == policyOf(vpa) {
			// Other metadata edits (labels, finalizers) are not Tailor's to
			// judge; the shipped matchConditions keep them from reaching us.
			reason = "spec unchanged"
			return admission.Allowed("")
		}
	}
	if errs := validation.VPA(vpa); len(errs) > 0 {
		outcome, reason = "denied", "invalid"
		return admission.Denied(errs.ToAggregate().Error())
	}
	return admission.Allowed("").WithWarnings(validation.VPAWarnings(vpa)...)
}

type errWrongKind string

func (e errWrongKind) Error() string {
	return "tailor: this webhook validates autoscaling.k8s.io VerticalPodAutoscalers, got " + string(e)
}

// policyOf is the tailor.dev/policy annotation as written, and whether it is there.
func policyOf(v *vpav1.VerticalPodAutoscaler) [2]string {
	p, ok := v.Annotations[logic.PolicyAnnotation]
	if !ok {
		return [2]string{}
	}
	return [2]string{"set", p}
}
