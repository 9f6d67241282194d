package webhook

import (
	"context"
	"fmt"
	"net/http"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/scope"
	"github.com/tailor-dev/tailor/provisioner/validation"
)

// Paths deploy/base/webhooks.yaml sends NodePools and AWSNodeClasses to.
const (
	NodePoolPath     = "/validate-tailor-dev-v1alpha1-nodepool"
	AWSNodeClassPath = "/validate-tailor-dev-v1alpha1-awsnodeclass"
)

// CapacityValidator refuses invalid NodePools and AWSNodeClasses with the
// field paths of provisioner/validation (what CEL cannot check, and the
// same answers where it can).
type CapacityValidator struct {
	Decoder admission.Decoder
	// Pools: only the installation's NodePools and AWSNodeClasses are
	// judged (--nodepool-selector); others are another installation's.
	Pools scope.Pools
}

// Handle implements admission.Handler.
func (v *CapacityValidator) Handle(_ context.Context, req admission.Request) admission.Response {
	start := time.Now()
	name := "nodepool"
	if req.Kind.Kind == "AWSNodeClass" {
		name = "awsnodeclass"
	}
	outcome, reason := "allowed", ""
	defer func() {
		admissionTotal.WithLabelValues(name, outcome, reason).Inc()
		admissionDuration.WithLabelValues(name).Observe(time.Since(start).Seconds())
	}()
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return admission.Allowed("")
	}
	var errs field.ErrorList
	switch {
	case req.Kind.Group == provisionerv1.GroupVersion.Group && req.Kind.Kind == "NodePool":
		np, old := &provisionerv1.NodePool{}, &provisionerv1.NodePool{}
		if err := v.Decoder.Decode(req, np); err != nil {
			outcome, reason = "denied", "decode"
			return admission.Errored(http.StatusBadRequest, err)
		}
		if !v.Pools.Pool(np) {
			outcome, reason = "skipped", "not_selected"
			return admission.Allowed("")
		}
		if req.Operation == admissionv1.Update && v.Decoder.DecodeRaw(req.OldObject, old) == nil && equality.Semantic.DeepEqual(old.Spec, np.Spec) {
			reason = "spec unchanged"
			return admission.Allowed("")
		}
		errs = validation.NodePool(np)
	case req.Kind.Group == provisionerv1.GroupVersion.Group && req.Kind.Kind == "AWSNodeClass":
		nc, old := &provisionerv1.AWSNodeClass{}, &provisionerv1.AWSNodeClass{}
		if err := v.Decoder.Decode(req, nc); err != nil {
			outcome, reason = "denied", "decode"
			return admission.Errored(http.StatusBadRequest, err)
		}
		if !v.Pools.Class(nc) {
			outcome, reason = "skipped", "not_selected"
			return admission.Allowed("")
		}
		if req.Operation == admissionv1.Update && v.Decoder.DecodeRaw(req.OldObject, old) == nil && equality.Semantic.DeepEqual(old.Spec, nc.Spec) {
			reason = "spec unchanged"
			return admission.Allowed("")
		}
		errs = validation.AWSNodeClass(nc)
	default:
		outcome, reason = "denied", "wrong kind"
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("tailor: this webhook validates tailor.dev NodePools and AWSNodeClasses, got %s", req.Kind.String()))
	}
	if len(errs) > 0 {
		outcome, reason = "denied", "invalid"
		return admission.Denied(errs.ToAggregate().Error())
	}
	return admission.Allowed("")
}
