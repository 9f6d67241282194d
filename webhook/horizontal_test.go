package webhook

import (
	"context"
	"errors"
	"strings"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	scalerv1 "github.com/tailor-dev/tailor/scaler/api/v1alpha1"
)

type raLookup struct {
	ras []*scalerv1.ReplicaAutoscaler
	err error
}

func (l raLookup) ReplicaAutoscalers(context.Context, string) ([]*scalerv1.ReplicaAutoscaler, error) {
	return l.ras, l.err
}

// A ReplicaAutoscaler on the pod's Deployment scaling on cpu: the pod keeps
// its cpu requests and limits, memory is sized.
func TestPodSizerLeavesHorizontalResources(t *testing.T) {
	h, req := benchFixture(t)
	ra := &scalerv1.ReplicaAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "hamster", Namespace: req.Namespace},
		Spec: scalerv1.ReplicaAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "hamster"},
			MaxReplicas:    10,
			Metrics: []scalerv1.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: new(int32(50))}}}},
		},
	}
	h.Horizontal = raLookup{ras: []*scalerv1.ReplicaAutoscaler{ra}}
	resp := handle(t, h, req)
	var paths []string
	for _, p := range resp.Patches {
		paths = append(paths, p.Path)
		if strings.Contains(p.Path, "cpu") {
			t.Errorf("cpu patched although scaled horizontally: %+v", p)
		}
	}
	if !strings.Contains(strings.Join(paths, " "), "memory") {
		t.Errorf("memory not sized: %v", paths)
	}

	h.Horizontal = raLookup{err: errors.New("cache gone")}
	if resp := handle(t, h, req); !resp.Allowed || len(resp.Patches) != 0 {
		t.Errorf("ReplicaAutoscalers unreadable: %+v, want admitted unchanged", resp)
	}
}
