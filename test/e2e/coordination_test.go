package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	vpaclient "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/client/clientset/versioned"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tailor-dev/tailor/recommender/logic"
	scalerv1 "github.com/tailor-dev/tailor/scaler/api/v1alpha1"
)

// TestCoordination: a ReplicaAutoscaler scales the hamster on cpu and a VPA
// sizes it. New pods keep the template's cpu request and get the
// recommended memory; the recommender leaves cpu out of the recommendation
// and says why in a condition; the updater leaves cpu alone.
func TestCoordination(t *testing.T) {
	t.Parallel() // own namespaces and Tailor (testLabel)
	ctx := context.Background()
	scheme := runtime.NewScheme()
	if err := scalerv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(env.RESTConfig(), client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	admission := readyTailor(t, webhookOnly)
	registerWebhooks(t, admission)
	ns := namespace(t, map[string]string{enabledLabel: "true"})

	ra := &scalerv1.ReplicaAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "hamster", Namespace: ns},
		Spec: scalerv1.ReplicaAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "hamster"},
			MinReplicas:    new(int32(1)), MaxReplicas: 10,
			Metrics: []scalerv1.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: new(int32(50))}}}},
		},
	}
	if err := c.Create(ctx, ra); err != nil {
		t.Fatal(err)
	}
	// The VPA's recommendation (written by hand, as no recommender runs
	// yet) still has cpu: holding it is the admission path's own doing.
	createVPAWithTarget(t, ns, hamsterVPA(vpav1.UpdateModeAuto), "587m", "262144k")
	pods := hamster(t, ns, nil)
	assertResources(t, pods, corev1.ResourceRequirements{Requests: rl("100m", "262144k")})

	// Now the recommender and the updater, on the same objects.
	admission.stop()
	loops := readyTailor(t, "--components=recommender,updater", "--recommender-interval=3s", "--updater-interval=2s", "--updater-pod-cooldown=0s")
	vc := vpaclient.NewForConfigOrDie(env.RESTConfig())
	eventually(t, 60*time.Second, func(ctx context.Context) (bool, string) {
		v, err := vc.AutoscalingV1().VerticalPodAutoscalers(ns).Get(ctx, "hamster-vpa", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		if !hasCondition(v, logic.ConditionHorizontallyScaled) {
			return false, fmt.Sprintf("conditions %+v", v.Status.Conditions)
		}
		for _, cr := range v.Status.Recommendation.ContainerRecommendations {
			if _, ok := cr.Target[corev1.ResourceCPU]; ok {
				return false, fmt.Sprintf("cpu still recommended: %+v", cr)
			}
		}
		for _, cond := range v.Status.Conditions {
			if cond.Type == logic.ConditionHorizontallyScaled {
				t.Logf("condition %s=%s reason %s: %s", cond.Type, cond.Status, cond.Reason, cond.Message)
			}
		}
		t.Logf("recommendation %+v", v.Status.Recommendation.ContainerRecommendations)
		return true, ""
	})
	// A few updater passes later the pods still have the template's cpu.
	waitPasses(t, loops, "updater", 3)
	for _, p := range runningHamsters(t, ns, 2) {
		if got := p.Spec.Containers[0].Resources.Requests.Cpu().String(); got != "100m" {
			t.Errorf("pod %s cpu request %s, want the template's 100m", p.Name, got)
		}
	}
}
