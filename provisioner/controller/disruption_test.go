package controller

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/disruption"
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

// apiRecorder is client-go's events.k8s.io recorder, writing to a fake
// clientset: what the manager's recorder does to the API server,
// series and all.
func apiRecorder(t *testing.T, scheme *runtime.Scheme) (recorder.EventRecorder, *fake.Clientset) {
	cs := fake.NewClientset()
	b := events.NewBroadcaster(&events.EventSinkImpl{Interface: cs.EventsV1()})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	b.StartRecordingToSink(ctx.Done())
	return b.NewRecorder(scheme, "tailor.dev/provisioner").(recorder.EventRecorder), cs
}

// eventNotes waits until the fake clientset holds want Events and returns
// them as "kind/name reason: note", sorted.
func eventNotes(t *testing.T, cs *fake.Clientset, want int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		evs, err := cs.EventsV1().Events("").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var notes []string
		for _, e := range evs.Items {
			notes = append(notes, e.Regarding.Kind+"/"+e.Regarding.Name+" "+e.Reason+": "+e.Note)
		}
		sort.Strings(notes)
		if len(notes) >= want || time.Now().After(deadline) {
			return notes
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A claim refused for one reason, then another, shows the second through
// the API, on the claim (condition and Event) and on its node, with
// client-go's own events.k8s.io broadcaster (which folds an Event into an
// earlier one with the same references, whatever its note). Once no
// longer refused, the condition goes.
func TestRefusalsReachTheAPI(t *testing.T) {
	np := pool()
	cand := initializedClaim(launched("cand", np, "n-cand"))
	c := scopeClient(np, cand, commandNode("n-cand", false))
	d := commandDisrupter(t, c, commandStart)
	ctx := context.Background()
	var cs *fake.Clientset
	d.recorder, cs = apiRecorder(t, c.Scheme())
	cl, err := d.read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	refuse := func(reason, msg string) {
		d.refusals(ctx, cl, []disruption.Refusal{{Claim: "cand", Method: disruption.SingleNode, Reason: reason, Message: msg, PriceBefore: 0.34}}, nil)
	}
	refuse(disruption.RefusedPodsNotRunning, "underused; but pod a/b is not Running")
	refuse(disruption.RefusedPodsNotRunning, "underused; but pod a/b is not Running") // told once
	refuse(disruption.RefusedPDB, "underused; but PodDisruptionBudget a/pdb allows no disruption")

	got := &provisionerv1.NodeClaim{}
	if err := c.Get(ctx, k8stypes.NamespacedName{Name: "cand"}, got); err != nil {
		t.Fatal(err)
	}
	cond := meta.FindStatusCondition(got.Status.Conditions, provisionerv1.ConditionDisrupting)
	if cond == nil || cond.Status != metav1.ConditionFalse || cond.Reason != provisionerv1.ReasonBlocked || !strings.Contains(cond.Message, "PodDisruptionBudget a/pdb") {
		t.Errorf("Disrupting condition %+v, want False, %s, naming the PDB", cond, provisionerv1.ReasonBlocked)
	}
	// Two refusals, each on the claim and on the node.
	notes := eventNotes(t, cs, 4)
	pdb := 0
	for _, n := range notes {
		if strings.Contains(n, "PodDisruptionBudget a/pdb") {
			pdb++
		}
	}
	if len(notes) != 4 || pdb != 2 {
		t.Errorf("Events %q, want 4, the PDB refusal on the claim and on the node", notes)
	}

	// A pass that did not reach the claim keeps the refusal; one that
	// reached it and did not refuse clears it.
	d.refusals(ctx, cl, nil, []string{"cand"})
	if err := c.Get(ctx, k8stypes.NamespacedName{Name: "cand"}, got); err != nil {
		t.Fatal(err)
	}
	if cond := meta.FindStatusCondition(got.Status.Conditions, provisionerv1.ConditionDisrupting); cond == nil || cond.Reason != provisionerv1.ReasonBlocked {
		t.Errorf("Disrupting condition %+v after a pass that deferred the claim, want Blocked still", cond)
	}
	d.refusals(ctx, cl, nil, nil)
	if err := c.Get(ctx, k8stypes.NamespacedName{Name: "cand"}, got); err != nil {
		t.Fatal(err)
	}
	if cond := meta.FindStatusCondition(got.Status.Conditions, provisionerv1.ConditionDisrupting); cond != nil {
		t.Errorf("Disrupting condition %+v after the refusal ended, want none", cond)
	}
}
