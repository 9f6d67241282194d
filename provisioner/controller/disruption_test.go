package controller

import (
	"encoding/json"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
)

// The command record is what a restarted Tailor resumes from.
func TestRecordOf(t *testing.T) {
	want := disruptionRecord{ID: "single-abcde", Method: "single_node_consolidation", Reason: "Underutilized",
		Candidates: []string{"a-1"}, Replacements: []string{"a-2"}, PriceBefore: 0.34, PriceAfter: 0.17, TaintedAt: "2026-03-02T10:10:00Z"}
	body, _ := json.Marshal(want)
	nc := &provisionerv1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: "a-1", Annotations: map[string]string{provisionerv1.AnnotationDisruption: string(body)}}}
	got, ok := recordOf(nc)
	if !ok || got.ID != want.ID || got.Replacements[0] != "a-2" || got.TaintedAt != want.TaintedAt || got.PriceBefore != 0.34 {
		t.Errorf("record %+v %v, want %+v", got, ok, want)
	}
	nc.Annotations[provisionerv1.AnnotationDisruption] = "{not json"
	if got, ok := recordOf(nc); !ok || got.Method != "unknown" || got.Candidates[0] != "a-1" {
		t.Errorf("unreadable record: %+v %v, want a command of its own to roll back", got, ok)
	}
	delete(nc.Annotations, provisionerv1.AnnotationDisruption)
	if _, ok := recordOf(nc); ok {
		t.Error("a claim without the annotation has a record")
	}
}

func TestConditionsEqual(t *testing.T) {
	a := []metav1.Condition{{Type: "Drifted", Status: metav1.ConditionTrue, Reason: "Drifted", Message: "x"}}
	b := []metav1.Condition{{Type: "Drifted", Status: metav1.ConditionTrue, Reason: "Drifted", Message: "x", LastTransitionTime: metav1.Now()}}
	if !conditionsEqual(a, b) {
		t.Error("equal but for the time: unequal")
	}
	b[0].Message = "y"
	if conditionsEqual(a, b) || conditionsEqual(a, nil) {
		t.Error("different conditions: equal")
	}
}
