package controller

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/disruption"
)

// A disruption command's resume or rollback from the state a crash (or
// the world) leaves it in, on a fake API server: the candidate claim
// "cand" on node "n-cand", its replacement claim "rep". A rollback leaves
// the condition Disrupting=False RolledBack (it was refused as a conflict
// before unmark updated the claim in place).

var commandStart = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func commandNode(name string, tainted bool) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{provisionerv1.LabelNodePool: "default"}}}
	n.Status.Allocatable = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("110")}
	n.Status.Capacity = n.Status.Allocatable
	if tainted {
		n.Spec.Taints = []corev1.Taint{{Key: provisionerv1.TaintDisrupted, Effect: corev1.TaintEffectNoSchedule}}
	}
	return n
}

func initializedClaim(nc *provisionerv1.NodeClaim) *provisionerv1.NodeClaim {
	nc.Status.Conditions = append(nc.Status.Conditions, metav1.Condition{Type: provisionerv1.ConditionInitialized, Status: metav1.ConditionTrue,
		Reason: "Initialized", LastTransitionTime: metav1.NewTime(commandStart.Add(-time.Hour))})
	return nc
}

func commandDisrupter(t *testing.T, c client.Client, now time.Time) *disrupter {
	o := DefaultOptions()
	p := newProvisioner(c, simCloud(t), events.NewFakeRecorder(100), log.Log, o)
	return &disrupter{opts: o, client: c, recorder: events.NewFakeRecorder(100), log: log.Log, now: func() time.Time { return now },
		provisioner: p, told: map[string]string{}}
}

func hasDisruptedTaint(t *testing.T, c client.Client, node string) bool {
	t.Helper()
	n := &corev1.Node{}
	if err := c.Get(context.Background(), k8stypes.NamespacedName{Name: node}, n); err != nil {
		t.Fatal(err)
	}
	return hasTaint(n.Spec.Taints, corev1.Taint{Key: provisionerv1.TaintDisrupted, Effect: corev1.TaintEffectNoSchedule})
}

// progress from every state a command can be left in (by a crash, or by
// the world), on the API server alone.
func TestDisruptionProgressResumesOrRollsBack(t *testing.T) {
	np := pool()
	np.Spec.Template.Spec.Taints, np.Spec.Template.Spec.StartupTaints, np.Spec.Limits = nil, nil, nil
	record := func(method disruption.Method, reps []string, taintedAt string) string {
		b, _ := json.Marshal(&disruptionRecord{ID: "single-abc", Method: string(method), Candidates: []string{"cand"}, Replacements: reps,
			PriceBefore: 0.1, PriceAfter: 0.085, TaintedAt: taintedAt})
		return string(b)
	}
	at := commandStart.Format(time.RFC3339Nano)
	rep := func(init, deleting bool) *provisionerv1.NodeClaim {
		r := launched("rep", np, "")
		r.Annotations = map[string]string{provisionerv1.AnnotationReplaces: "single-abc"}
		if init {
			initializedClaim(r)
		}
		if deleting {
			r.DeletionTimestamp = &metav1.Time{Time: commandStart}
		}
		return r
	}
	for _, tc := range []struct {
		name         string
		method       disruption.Method
		reps         []string
		taintedAt    string // in the record
		nodeTainted  bool   // on the node before the pass
		rep          *provisionerv1.NodeClaim
		doNotDisrupt bool
		pod          bool // a pod runs on the candidate
		after        time.Duration
		phase        string
		tainted      bool // after the pass
		marked       bool
		deleted      bool
	}{
		{name: "crash between mark and launch: the replacement is missing, rolled back",
			method: disruption.SingleNode, reps: []string{"rep"},
			phase: "launching", tainted: false, marked: false},
		{name: "replacement launching: waits, untainted",
			method: disruption.SingleNode, reps: []string{"rep"}, rep: rep(false, false),
			phase: "launching", tainted: false, marked: true},
		{name: "replacement being deleted: rolled back",
			method: disruption.SingleNode, reps: []string{"rep"}, rep: rep(false, true),
			phase: "launching", tainted: false, marked: false},
		{name: "replacement up: the candidate is tainted, and validates",
			method: disruption.SingleNode, reps: []string{"rep"}, rep: rep(true, false),
			phase: "validating", tainted: true, marked: true},
		{name: "tainted, within the validation period: validating",
			method: disruption.SingleNode, reps: []string{"rep"}, taintedAt: at, nodeTainted: true, rep: rep(true, false),
			after: 5 * time.Second, phase: "validating", tainted: true, marked: true},
		{name: "tainted, the validation period passed (or a crash before the drain): drained",
			method: disruption.SingleNode, reps: []string{"rep"}, taintedAt: at, nodeTainted: true, rep: rep(true, false),
			after: time.Minute, phase: "draining", tainted: true, marked: true, deleted: true},
		{name: "tainted, the candidate now do-not-disrupt: rolled back and untainted",
			method: disruption.SingleNode, reps: []string{"rep"}, taintedAt: at, nodeTainted: true, rep: rep(true, false),
			doNotDisrupt: true, after: time.Minute, phase: "validating", tainted: false, marked: false},
		{name: "emptiness, a pod arrived: rolled back, untainted",
			method: disruption.Emptiness, pod: true,
			phase: "validating", tainted: false, marked: false},
		{name: "emptiness still empty: tainted and drained in the pass",
			method: disruption.Emptiness,
			phase:  "draining", tainted: true, marked: true, deleted: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cand := initializedClaim(launched("cand", np, "n-cand"))
			cand.Annotations = map[string]string{provisionerv1.AnnotationDisruption: record(tc.method, tc.reps, tc.taintedAt)}
			if tc.doNotDisrupt {
				cand.Annotations[provisionerv1.AnnotationDoNotDisrupt] = "true"
			}
			objs := []client.Object{np, cand, commandNode("n-cand", tc.nodeTainted)}
			if tc.rep != nil {
				objs = append(objs, tc.rep)
			}
			if tc.pod {
				pod := pendingPod("arrived")
				pod.Spec.NodeName = "n-cand"
				pod.Status = corev1.PodStatus{Phase: corev1.PodRunning}
				objs = append(objs, pod)
			}
			c := scopeClient(objs...)
			d := commandDisrupter(t, c, commandStart.Add(tc.after))
			ctx := context.Background()
			cl, err := d.read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			r, _ := recordOf(cl.byName["cand"])
			phase, err := d.progress(ctx, cl, r, []*provisionerv1.NodeClaim{cl.byName["cand"]})
			if err != nil {
				t.Fatal(err)
			}
			if phase != tc.phase {
				t.Errorf("phase %s, want %s", phase, tc.phase)
			}
			if got := hasDisruptedTaint(t, c, "n-cand"); got != tc.tainted {
				t.Errorf("node tainted %v, want %v", got, tc.tainted)
			}
			got := &provisionerv1.NodeClaim{}
			err = c.Get(ctx, k8stypes.NamespacedName{Name: "cand"}, got)
			if err != nil && !apierrors.IsNotFound(err) {
				t.Fatal(err)
			}
			deleted := apierrors.IsNotFound(err) || got.DeletionTimestamp != nil
			if deleted != tc.deleted {
				t.Errorf("candidate deleted %v, want %v", deleted, tc.deleted)
			}
			if deleted {
				return
			}
			rec, marked := recordOf(got)
			if marked != tc.marked {
				t.Errorf("candidate marked %v, want %v", marked, tc.marked)
			}
			if marked && tc.tainted && rec.TaintedAt == "" {
				t.Error("tainted, but the record does not say when")
			}
			if !tc.marked {
				cond := meta.FindStatusCondition(got.Status.Conditions, provisionerv1.ConditionDisrupting)
				if cond == nil || cond.Reason != "RolledBack" {
					t.Errorf("Disrupting condition %+v, want RolledBack", cond)
				}
			}
		})
	}
}
