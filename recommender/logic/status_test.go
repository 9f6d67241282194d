package logic

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"

	"github.com/tailor-dev/tailor/recommender/model"
)

func recOf(cpu, mem string) *vpav1.RecommendedPodResources {
	l := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}
	return &vpav1.RecommendedPodResources{ContainerRecommendations: []vpav1.RecommendedContainerResources{{ContainerName: "c", Target: l}}}
}

func cond(s vpav1.VerticalPodAutoscalerStatus, t vpav1.VerticalPodAutoscalerConditionType) *vpav1.VerticalPodAutoscalerCondition {
	for i := range s.Conditions {
		if s.Conditions[i].Type == t {
			return &s.Conditions[i]
		}
	}
	return nil
}

func TestStatus(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t.Run("new recommendation", func(t *testing.T) {
		s := Status(StatusInput{Recommendation: recOf("587m", "250Mi"), PodsMatched: true, LowConfidence: []string{"c"}, HistoryNeeded: 24 * time.Hour, Now: now})
		if c := cond(s, vpav1.RecommendationProvided); c == nil || c.Status != corev1.ConditionTrue {
			t.Fatalf("RecommendationProvided: %+v", c)
		}
		if c := cond(s, vpav1.LowConfidence); c == nil || c.Status != corev1.ConditionTrue {
			t.Fatalf("LowConfidence: %+v", c)
		}
		if cond(s, vpav1.NoPodsMatched) != nil {
			t.Fatal("NoPodsMatched set")
		}
	})
	t.Run("no pods", func(t *testing.T) {
		s := Status(StatusInput{PodsMatched: false, Now: now})
		if c := cond(s, vpav1.NoPodsMatched); c == nil || c.Status != corev1.ConditionTrue {
			t.Fatalf("NoPodsMatched: %+v", c)
		}
		if c := cond(s, vpav1.RecommendationProvided); c == nil || c.Status != corev1.ConditionFalse || c.Reason != ReasonNoPodsMatched {
			t.Fatalf("RecommendationProvided: %+v", c)
		}
	})
	t.Run("source failure keeps the last recommendation", func(t *testing.T) {
		prev := Status(StatusInput{Recommendation: recOf("587m", "250Mi"), PodsMatched: true, Now: now})
		s := Status(StatusInput{Previous: prev, PodsMatched: true, Now: now.Add(time.Minute)})
		if !HasRecommendation(s.Recommendation) {
			t.Fatal("recommendation cleared")
		}
		c := cond(s, vpav1.RecommendationProvided)
		if c == nil || c.Status != corev1.ConditionTrue || c.Reason != ReasonKept {
			t.Fatalf("RecommendationProvided: %+v", c)
		}
		if !c.LastTransitionTime.Equal(&metav1.Time{Time: now}) {
			t.Errorf("lastTransitionTime moved: %v", c.LastTransitionTime)
		}
	})
	t.Run("source error is named", func(t *testing.T) {
		const why = "reading usage from metrics.k8s.io failed: the server could not find the requested resource"
		prev := Status(StatusInput{Recommendation: recOf("587m", "250Mi"), PodsMatched: true, Now: now})
		for _, tc := range []struct {
			name     string
			in       StatusInput
			status   corev1.ConditionStatus
			msgStart string
		}{
			{"nothing yet", StatusInput{PodsMatched: true}, corev1.ConditionFalse, "reading usage"},
			{"kept", StatusInput{Previous: prev, PodsMatched: true}, corev1.ConditionTrue, "the last recommendation is kept: reading usage"},
			{"from history", StatusInput{Previous: prev, Recommendation: recOf("600m", "250Mi"), PodsMatched: true}, corev1.ConditionTrue, "computed from the history already held: reading usage"},
		} {
			tc.in.SourceError, tc.in.Now = why, now
			s := Status(tc.in)
			c := cond(s, vpav1.RecommendationProvided)
			if c == nil || c.Status != tc.status || c.Reason != ReasonMetricsUnavailable || len(c.Message) < len(tc.msgStart) || c.Message[:len(tc.msgStart)] != tc.msgStart {
				t.Errorf("%s: RecommendationProvided %+v", tc.name, c)
			}
			if tc.in.Previous.Recommendation != nil && !HasRecommendation(s.Recommendation) {
				t.Errorf("%s: recommendation cleared", tc.name)
			}
		}
		// A target problem outranks the source error.
		s := Status(StatusInput{TargetError: "Deployment ns/x not found", SourceError: why, Now: now})
		if c := cond(s, vpav1.RecommendationProvided); c == nil || c.Reason != ReasonCannotReadTargetRef {
			t.Errorf("missing target with source error: %+v", c)
		}
	})
	t.Run("history condition", func(t *testing.T) {
		s := Status(StatusInput{PodsMatched: true, History: &HistoryCondition{Fetching: true, Reason: "PrometheusTimeout", Message: "attempt 1 of 3"}, Now: now})
		if c := cond(s, vpav1.FetchingHistory); c == nil || c.Status != corev1.ConditionTrue || c.Reason != "PrometheusTimeout" {
			t.Fatalf("FetchingHistory: %+v", c)
		}
		// Later passes without a bootstrap keep the outcome.
		s = Status(StatusInput{Previous: s, PodsMatched: true, Now: now.Add(time.Minute)})
		if c := cond(s, vpav1.FetchingHistory); c == nil || c.Reason != "PrometheusTimeout" {
			t.Fatalf("FetchingHistory dropped: %+v", c)
		}
		s = Status(StatusInput{Previous: s, PodsMatched: true, History: &HistoryCondition{Reason: ReasonHistoryLoaded, Message: "10 samples"}, Now: now.Add(2 * time.Minute)})
		if c := cond(s, vpav1.FetchingHistory); c == nil || c.Status != corev1.ConditionFalse || c.Reason != ReasonHistoryLoaded || !c.LastTransitionTime.Equal(&metav1.Time{Time: now.Add(2 * time.Minute)}) {
			t.Fatalf("FetchingHistory after load: %+v", c)
		}
	})
	t.Run("missing target", func(t *testing.T) {
		s := Status(StatusInput{TargetError: "Deployment ns/x not found", Now: now})
		if c := cond(s, vpav1.ConfigUnsupported); c == nil || c.Status != corev1.ConditionTrue || c.Message == "" {
			t.Fatalf("ConfigUnsupported: %+v", c)
		}
		if cond(s, vpav1.NoPodsMatched) != nil {
			t.Fatal("NoPodsMatched set for a missing target")
		}
	})
	t.Run("stable", func(t *testing.T) {
		in := StatusInput{Recommendation: recOf("587m", "250Mi"), PodsMatched: true, Generation: 2, Now: now}
		a := Status(in)
		in.Previous, in.Now = a, now.Add(time.Hour)
		if b := Status(in); !StatusEqual(a, b) {
			t.Fatalf("status changed with the same input:\n%+v\n%+v", a, b)
		}
	})
}

func TestMoves(t *testing.T) {
	if m := Moves(nil, recOf("500m", "200Mi"), 0.1); len(m) != 2 {
		t.Fatalf("first recommendation: %v", m)
	}
	if m := Moves(recOf("500m", "200Mi"), recOf("540m", "210Mi"), 0.1); len(m) != 0 {
		t.Fatalf("small move: %v", m)
	}
	m := Moves(recOf("500m", "200Mi"), recOf("560m", "200Mi"), 0.1)
	if len(m) != 1 || m[0].Resource != corev1.ResourceCPU || m[0].String() != "c cpu 500m->560m" {
		t.Fatalf("cpu move: %v", m)
	}
}

func TestLowConfidence(t *testing.T) {
	r, err := New(Default())
	if err != nil {
		t.Fatal(err)
	}
	p := model.DefaultParams()
	a := model.NewAggregate(p, time.Unix(0, 0))
	c := model.NewContainer(a)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.AddCPU(t0, 500, 100)
	c.AddCPU(t0.Add(time.Hour), 500, 100)
	if !r.LowConfidence(a) {
		t.Fatal("1h of history is not low confidence")
	}
	c.AddCPU(t0.Add(25*time.Hour), 500, 100)
	if r.LowConfidence(a) {
		t.Fatal("25h of history is low confidence")
	}
}
