package webhook

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
)

func TestCapacityValidator(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := provisionerv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	v := &CapacityValidator{Decoder: admission.NewDecoder(scheme)}
	weight := int32(101)
	np := &provisionerv1.NodePool{
		TypeMeta:   metav1.TypeMeta{APIVersion: "tailor.dev/v1alpha1", Kind: "NodePool"},
		ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec: provisionerv1.NodePoolSpec{Weight: &weight, Template: provisionerv1.NodeClaimTemplate{Spec: provisionerv1.NodeClaimTemplateSpec{
			NodeClassRef: &provisionerv1.NodeClassReference{Group: "tailor.dev", Kind: "AWSNodeClass", Name: "default"},
		}}},
	}
	raw, _ := json.Marshal(np)
	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		Operation: admissionv1.Create, Kind: metav1.GroupVersionKind{Group: "tailor.dev", Version: "v1alpha1", Kind: "NodePool"},
		Object: runtime.RawExtension{Raw: raw},
	}}
	resp := v.Handle(context.Background(), req)
	if resp.Allowed || !strings.Contains(resp.Result.Message, "spec.weight") {
		t.Errorf("weight 101: allowed %v, %q; want refused naming spec.weight", resp.Allowed, resp.Result.Message)
	}
	// A metadata-only update of an invalid pool passes (as the
	// configuration's matchCondition would not even send it).
	req.Operation, req.OldObject = admissionv1.Update, runtime.RawExtension{Raw: raw}
	if resp := v.Handle(context.Background(), req); !resp.Allowed {
		t.Errorf("spec unchanged: refused %q", resp.Result.Message)
	}
	weight = 50
	raw, _ = json.Marshal(np)
	req.Operation, req.Object, req.OldObject = admissionv1.Create, runtime.RawExtension{Raw: raw}, runtime.RawExtension{}
	if resp := v.Handle(context.Background(), req); !resp.Allowed {
		t.Errorf("valid pool refused: %q", resp.Result.Message)
	}
}
