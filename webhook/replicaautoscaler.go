package webhook

import (
	"context"
	"fmt"
	"net/http"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	scalerv1 "github.com/tailor-dev/tailor/scaler/api/v1alpha1"
	"github.com/tailor-dev/tailor/scaler/logic"
	"github.com/tailor-dev/tailor/scaler/validation"
)

// ReplicaAutoscalerPath is where deploy/base/webhooks.yaml sends
// ReplicaAutoscalers.
const ReplicaAutoscalerPath = "/validate-tailor-dev-v1alpha1-replicaautoscaler"

const raWebhook = "replicaautoscaler"

// ReplicaAutoscalerValidator refuses invalid ReplicaAutoscalers (the checks
// of scaler/validation, with field paths) and those whose target already
// has a HorizontalPodAutoscaler.
type ReplicaAutoscalerValidator struct {
	Decoder admission.Decoder
	// HPAs reads HorizontalPodAutoscalers from the informer cache: no API
	// call on the admission path.
	HPAs client.Reader
}

// setupReplicaAutoscaler registers the validator and starts the HPA informer
// with the manager, so readiness waits for it too.
func setupReplicaAutoscaler(ctx context.Context, mgr manager.Manager, decoder admission.Decoder) error {
	if _, err := mgr.GetCache().GetInformer(ctx, &autoscalingv2.HorizontalPodAutoscaler{}); err != nil {
		return err
	}
	mgr.GetWebhookServer().Register(ReplicaAutoscalerPath, &admission.Webhook{Handler: &ReplicaAutoscalerValidator{Decoder: decoder, HPAs: mgr.GetCache()}})
	return nil
}

// Handle implements admission.Handler.
func (v *ReplicaAutoscalerValidator) Handle(ctx context.Context, req admission.Request) admission.Response {
	start := time.Now()
	outcome, reason := "allowed", ""
	defer func() {
		admissionTotal.WithLabelValues(raWebhook, outcome, reason).Inc()
		admissionDuration.WithLabelValues(raWebhook).Observe(time.Since(start).Seconds())
	}()
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return admission.Allowed("")
	}
	if req.Kind.Group != scalerv1.GroupVersion.Group || req.Kind.Kind != "ReplicaAutoscaler" {
		outcome, reason = "denied", "wrong kind"
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("tailor: this webhook validates tailor.dev ReplicaAutoscalers, got %s", req.Kind.String()))
	}
	ra := &scalerv1.ReplicaAutoscaler{}
	if err := v.Decoder.Decode(req, ra); err != nil {
		outcome, reason = "denied", "decode"
		return admission.Errored(http.StatusBadRequest, err)
	}
	if req.Operation == admissionv1.Update {
		old := &scalerv1.ReplicaAutoscaler{}
		if err := v.Decoder.DecodeRaw(req.OldObject, old); err == nil && equality.Semantic.DeepEqual(old.Spec, ra.Spec) {
			reason = "spec unchanged" // metadata-only edit, as for VPAs
			return admission.Allowed("")
		}
	}
	if errs := validation.ReplicaAutoscaler(ra); len(errs) > 0 {
		outcome, reason = "denied", "invalid"
		return admission.Denied(errs.ToAggregate().Error())
	}
	var hpas autoscalingv2.HorizontalPodAutoscalerList
	if err := v.HPAs.List(ctx, &hpas, client.InNamespace(req.Namespace)); err != nil {
		// Fail closed like the configuration: letting it in could start a fight.
		outcome, reason = "error", "list HPAs"
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf("tailor: cannot check for a HorizontalPodAutoscaler on the same target: %w", err))
	}
	ref := ra.Spec.ScaleTargetRef
	if hpa := validation.ConflictingHPA(ref, hpas.Items); hpa != "" {
		outcome, reason = "denied", "conflicting HPA"
		err := field.Forbidden(field.NewPath("spec", "scaleTargetRef"), fmt.Sprintf(
			"%s already has the HorizontalPodAutoscaler %s; two autoscalers must not fight over its replica count: delete the HPA (tailor convert hpa %s/%s prints the equivalent ReplicaAutoscaler) or target another workload",
			logic.Reference(ref), hpa, req.Namespace, hpa))
		return admission.Denied(err.Error())
	}
	return admission.Allowed("")
}
