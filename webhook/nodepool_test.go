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
	"github.com/tailor-dev/tailor/provisioner/scope"
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

// With --nodepool-selector, another installation's NodePools and
// AWSNodeClasses are let through unjudged (its own webhook judges them):
// a canary's newer validation never refuses the main installation's pools.
func TestCapacityValidatorKeepsToSelected(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := provisionerv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	sel, err := scope.Parse("team=a")
	if err != nil {
		t.Fatal(err)
	}
	v := &CapacityValidator{Decoder: admission.NewDecoder(scheme), Pools: sel}
	weight := int32(101) // invalid
	review := func(obj any, kind, team string) admission.Response {
		switch o := obj.(type) {
		case *provisionerv1.NodePool:
			o.Labels = map[string]string{"team": team}
		case *provisionerv1.AWSNodeClass:
			o.Labels = map[string]string{"team": team}
		}
		raw, _ := json.Marshal(obj)
		return v.Handle(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
			Operation: admissionv1.Create, Kind: metav1.GroupVersionKind{Group: "tailor.dev", Version: "v1alpha1", Kind: kind},
			Object: runtime.RawExtension{Raw: raw},
		}})
	}
	np := func() *provisionerv1.NodePool {
		return &provisionerv1.NodePool{
			TypeMeta: metav1.TypeMeta{APIVersion: "tailor.dev/v1alpha1", Kind: "NodePool"}, ObjectMeta: metav1.ObjectMeta{Name: "p"},
			Spec: provisionerv1.NodePoolSpec{Weight: &weight, Template: provisionerv1.NodeClaimTemplate{Spec: provisionerv1.NodeClaimTemplateSpec{
				NodeClassRef: &provisionerv1.NodeClassReference{Group: "tailor.dev", Kind: "AWSNodeClass", Name: "default"}}}},
		}
	}
	class := func() *provisionerv1.AWSNodeClass { // no role, no selectors: invalid
		return &provisionerv1.AWSNodeClass{TypeMeta: metav1.TypeMeta{APIVersion: "tailor.dev/v1alpha1", Kind: "AWSNodeClass"}, ObjectMeta: metav1.ObjectMeta{Name: "c"}}
	}
	if resp := review(np(), "NodePool", "a"); resp.Allowed {
		t.Error("an invalid NodePool of the installation's share was admitted")
	}
	if resp := review(np(), "NodePool", "b"); !resp.Allowed {
		t.Errorf("another installation's NodePool refused: %q", resp.Result.Message)
	}
	if resp := review(class(), "AWSNodeClass", "a"); resp.Allowed {
		t.Error("an invalid AWSNodeClass of the installation's share was admitted")
	}
	if resp := review(class(), "AWSNodeClass", "b"); !resp.Allowed {
		t.Errorf("another installation's AWSNodeClass refused: %q", resp.Result.Message)
	}
}
