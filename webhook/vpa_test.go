package webhook

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// TestVPAValidatorPolicy: an unknown tailor.dev/policy is refused on
// create and on an update that changes only the annotation; other
// metadata-only updates pass.
func TestVPAValidatorPolicy(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := vpav1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	v := &VPAValidator{Decoder: admission.NewDecoder(scheme)}
	vpa := func(annotations map[string]string) runtime.RawExtension {
		o := &vpav1.VerticalPodAutoscaler{
			TypeMeta:   metav1.TypeMeta{APIVersion: "autoscaling.k8s.io/v1", Kind: "VerticalPodAutoscaler"},
			ObjectMeta: metav1.ObjectMeta{Name: "v", Annotations: annotations},
			Spec:       vpav1.VerticalPodAutoscalerSpec{TargetRef: &autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "d"}},
		}
		raw, _ := json.Marshal(o)
		return runtime.RawExtension{Raw: raw}
	}
	kind := metav1.GroupVersionKind{Group: "autoscaling.k8s.io", Version: "v1", Kind: "VerticalPodAutoscaler"}
	bad := map[string]string{"tailor.dev/policy": "fast"}
	tests := []struct {
		name     string
		op       admissionv1.Operation
		obj, old runtime.RawExtension
		allowed  bool
	}{
		{"create adaptive", admissionv1.Create, vpa(map[string]string{"tailor.dev/policy": "adaptive"}), runtime.RawExtension{}, true},
		{"create unknown", admissionv1.Create, vpa(bad), runtime.RawExtension{}, false},
		{"update to unknown", admissionv1.Update, vpa(bad), vpa(nil), false},
		{"update adaptive to unknown", admissionv1.Update, vpa(bad), vpa(map[string]string{"tailor.dev/policy": "adaptive"}), false},
		{"update other metadata", admissionv1.Update, vpa(map[string]string{"a": "b"}), vpa(nil), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := v.Handle(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
				Operation: tc.op, Kind: kind, Object: tc.obj, OldObject: tc.old,
			}})
			if resp.Allowed != tc.allowed {
				t.Fatalf("allowed %v (%v), want %v", resp.Allowed, resp.Result, tc.allowed)
			}
			if !tc.allowed && !strings.Contains(resp.Result.Message, `metadata.annotations[tailor.dev/policy]: Unsupported value: "fast": supported values: "adaptive", "upstream"`) {
				t.Errorf("message %q does not name the annotation and its values", resp.Result.Message)
			}
		})
	}
}
