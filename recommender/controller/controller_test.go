package controller

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

type fakeSource struct {
	err error
	ts  time.Time
	cpu string
}

func (f *fakeSource) PodMetrics(_ context.Context, ns string) ([]metricsv1beta1.PodMetrics, error) {
	if f.err != nil {
		return nil, f.err
	}
	return []metricsv1beta1.PodMetrics{{
		ObjectMeta: metav1.ObjectMeta{Name: "hamster-1", Namespace: ns}, Timestamp: metav1.NewTime(f.ts),
		Containers: []metricsv1beta1.ContainerMetrics{{Name: "hamster", Usage: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse(f.cpu), corev1.ResourceMemory: resource.MustParse("200Mi")}}},
	}}, nil
}

func setup(t *testing.T, objs ...client.Object) (client.Client, *fakeSource, *events.FakeRecorder, *Recommender) {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := vpav1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).WithStatusSubresource(&vpav1.VerticalPodAutoscaler{}).Build()
	src := &fakeSource{ts: time.Now(), cpu: "500m"}
	rec := events.NewFakeRecorder(10)
	r, err := New(c, c, src, rec, logr.Discard(), Options{Interval: time.Second, CheckpointInterval: time.Second, HandleUnnamed: true})
	if err != nil {
		t.Fatal(err)
	}
	return c, src, rec, r
}

func hamsterObjects(recommenders ...string) []client.Object {
	sel := map[string]string{"app": "hamster"}
	vpa := &vpav1.VerticalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "hamster-vpa", Namespace: "ns"},
		Spec:       vpav1.VerticalPodAutoscalerSpec{TargetRef: &autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "hamster"}},
	}
	for _, n := range recommenders {
		vpa.Spec.Recommenders = append(vpa.Spec.Recommenders, &vpav1.VerticalPodAutoscalerRecommenderSelector{Name: n})
	}
	return []client.Object{
		vpa,
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "hamster", Namespace: "ns"}, Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: sel}}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "hamster-1", Namespace: "ns", UID: "u1", Labels: sel},
			Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "hamster"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning}},
	}
}

func getVPA(t *testing.T, c client.Client) *vpav1.VerticalPodAutoscaler {
	t.Helper()
	v := &vpav1.VerticalPodAutoscaler{}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: "hamster-vpa"}, v); err != nil {
		t.Fatal(err)
	}
	return v
}

func condition(v *vpav1.VerticalPodAutoscaler, t vpav1.VerticalPodAutoscalerConditionType) *vpav1.VerticalPodAutoscalerCondition {
	for i := range v.Status.Conditions {
		if v.Status.Conditions[i].Type == t {
			return &v.Status.Conditions[i]
		}
	}
	return nil
}

func TestSyncWritesRecommendationAndKeepsItOnSourceErrors(t *testing.T) {
	ctx := context.Background()
	c, src, rec, r := setup(t, hamsterObjects()...)
	r.Sync(ctx)
	v := getVPA(t, c)
	if cd := condition(v, vpav1.RecommendationProvided); cd == nil || cd.Status != corev1.ConditionTrue {
		t.Fatalf("conditions %+v", v.Status.Conditions)
	}
	target := v.Status.Recommendation.ContainerRecommendations[0].Target
	if cpu := target[corev1.ResourceCPU]; cpu.String() != "587m" {
		t.Fatalf("cpu target %s, want 587m", cpu.String())
	}
	select {
	case e := <-rec.Events:
		if !strings.Contains(e, "RecommendationChanged") || !strings.Contains(e, "hamster cpu none->587m") {
			t.Fatalf("event %q", e)
		}
	default:
		t.Fatal("no event")
	}

	// metrics.k8s.io fails, and Tailor restarts (no state): the last
	// recommendation stays.
	src.err = errors.New("the server is currently unable to handle the request")
	_, _, _, r2 := setup(t)
	r2.client, r2.source = c, src
	r2.Sync(ctx)
	r.Sync(ctx)
	v = getVPA(t, c)
	if v.Status.Recommendation == nil || v.Status.Recommendation.ContainerRecommendations[0].Target[corev1.ResourceCPU] != target[corev1.ResourceCPU] {
		t.Fatalf("recommendation lost: %+v", v.Status.Recommendation)
	}
	if cd := condition(v, vpav1.RecommendationProvided); cd == nil || cd.Status != corev1.ConditionTrue {
		t.Fatalf("conditions %+v", v.Status.Conditions)
	}
}

func TestSyncConditions(t *testing.T) {
	ctx := context.Background()
	t.Run("no pods", func(t *testing.T) {
		objs := hamsterObjects()
		c, _, _, r := setup(t, objs[:2]...)
		r.Sync(ctx)
		v := getVPA(t, c)
		if cd := condition(v, vpav1.NoPodsMatched); cd == nil || cd.Status != corev1.ConditionTrue {
			t.Fatalf("conditions %+v", v.Status.Conditions)
		}
	})
	t.Run("missing target", func(t *testing.T) {
		objs := hamsterObjects()
		c, _, _, r := setup(t, objs[0], objs[2])
		r.Sync(ctx)
		v := getVPA(t, c)
		if cd := condition(v, vpav1.ConfigUnsupported); cd == nil || !strings.Contains(cd.Message, "not found") {
			t.Fatalf("conditions %+v", v.Status.Conditions)
		}
	})
	t.Run("other recommender's VPA is left alone", func(t *testing.T) {
		c, _, _, r := setup(t, hamsterObjects("default")...)
		r.Sync(ctx)
		if v := getVPA(t, c); len(v.Status.Conditions) != 0 || v.Status.Recommendation != nil {
			t.Fatalf("status written: %+v", v.Status)
		}
	})
	t.Run("named tailor", func(t *testing.T) {
		c, _, _, r := setup(t, hamsterObjects("tailor")...)
		r.opts.HandleUnnamed = false
		r.Sync(ctx)
		if v := getVPA(t, c); v.Status.Recommendation == nil {
			t.Fatalf("no recommendation: %+v", v.Status)
		}
	})
}

func TestGCDropsStateOfDeletedVPA(t *testing.T) {
	ctx := context.Background()
	c, _, _, r := setup(t, hamsterObjects()...)
	r.Sync(ctx)
	if r.set.Len() != 1 || len(r.pods) != 1 {
		t.Fatalf("state: %d aggregates, %d containers", r.set.Len(), len(r.pods))
	}
	if err := c.Delete(ctx, getVPA(t, c)); err != nil {
		t.Fatal(err)
	}
	r.Sync(ctx)
	if r.set.Len() != 0 || len(r.pods) != 0 || len(r.containers) != 0 {
		t.Fatalf("state left: %d aggregates, %d containers", r.set.Len(), len(r.pods))
	}
}
