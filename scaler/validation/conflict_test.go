package validation

import (
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestConflictingHPA(t *testing.T) {
	ref := func(apiVersion, kind, name string) autoscalingv2.CrossVersionObjectReference {
		return autoscalingv2.CrossVersionObjectReference{APIVersion: apiVersion, Kind: kind, Name: name}
	}
	hpa := func(name string, r autoscalingv2.CrossVersionObjectReference, deleting bool) autoscalingv2.HorizontalPodAutoscaler {
		h := autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: autoscalingv2.HorizontalPodAutoscalerSpec{ScaleTargetRef: r}}
		if deleting {
			h.DeletionTimestamp = &metav1.Time{}
		}
		return h
	}
	target := ref("apps/v1", "Deployment", "php-apache")
	cases := []struct {
		name string
		hpas []autoscalingv2.HorizontalPodAutoscaler
		want string
	}{
		{"none", nil, ""},
		{"same target", []autoscalingv2.HorizontalPodAutoscaler{hpa("a", target, false)}, "a"},
		{"other version, same group", []autoscalingv2.HorizontalPodAutoscaler{hpa("a", ref("apps/v1beta2", "Deployment", "php-apache"), false)}, "a"},
		{"other name", []autoscalingv2.HorizontalPodAutoscaler{hpa("a", ref("apps/v1", "Deployment", "other"), false)}, ""},
		{"other kind", []autoscalingv2.HorizontalPodAutoscaler{hpa("a", ref("apps/v1", "StatefulSet", "php-apache"), false)}, ""},
		{"other group", []autoscalingv2.HorizontalPodAutoscaler{hpa("a", ref("example.com/v1", "Deployment", "php-apache"), false)}, ""},
		{"being deleted", []autoscalingv2.HorizontalPodAutoscaler{hpa("a", target, true)}, ""},
		{"second matches", []autoscalingv2.HorizontalPodAutoscaler{hpa("a", ref("apps/v1", "Deployment", "x"), false), hpa("b", target, false)}, "b"},
	}
	for _, tc := range cases {
		if got := ConflictingHPA(target, tc.hpas); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}
