package controller

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	clientfake "sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/log"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/disruption"
	"github.com/tailor-dev/tailor/provisioner/requirements"
	"github.com/tailor-dev/tailor/provisioner/scheduling"
)

// A disruption command's order and its resume/rollback after a crash, on
// a fake API server: the candidate claim "cand" on node "n-cand", its
// replacement claim "rep".

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

func commandClient(funcs interceptor.Funcs, objs ...client.Object) client.Client {
	scheme := runtime.NewScheme()
	_ = corev1.AddToScheme(scheme)
	_ = appsv1.AddToScheme(scheme)
	_ = policyv1.AddToScheme(scheme)
	_ = provisionerv1.AddToScheme(scheme)
	return clientfake.NewClientBuilder().WithScheme(scheme).WithStatusSubresource(&provisionerv1.NodeClaim{}, &provisionerv1.NodePool{}).
		WithObjects(objs...).WithInterceptorFuncs(funcs).Build()
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

// start taints the candidates' nodes before it creates the replacements:
// when the replacement's NodeClaim is created, the candidate's node is
// already tainted (Karpenter's order), and the Events say so.
func TestDisruptionStartTaintsBeforeLaunching(t *testing.T) {
	np := pool()
	np.Spec.Template.Spec.Taints, np.Spec.Template.Spec.StartupTaints, np.Spec.Limits = nil, nil, nil
	cand := initializedClaim(launched("cand", np, "n-cand"))
	taintedAtCreate := map[string]bool{}
	var c client.Client
	c = commandClient(interceptor.Funcs{Create: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
		if _, ok := obj.(*provisionerv1.NodeClaim); ok {
			n := &corev1.Node{}
			if err := cl.Get(ctx, k8stypes.NamespacedName{Name: "n-cand"}, n); err != nil {
				return err
			}
			taintedAtCreate[obj.GetName()] = hasTaint(n.Spec.Taints, corev1.Taint{Key: provisionerv1.TaintDisrupted, Effect: corev1.TaintEffectNoSchedule})
		}
		return cl.Create(ctx, obj, opts...)
	}}, np, cand, commandNode("n-cand", false))
	d := commandDisrupter(t, c, commandStart)
	rec := d.recorder.(*events.FakeRecorder)
	ctx := context.Background()
	cl, err := d.read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	its := []*scheduling.InstanceType{{Name: "c5.large"}}
	claim := &scheduling.Claim{Pool: "default", InstanceTypes: its, Price: 0.085,
		Requirements: requirements.FromLabels(map[string]string{provisionerv1.LabelCapacityType: "on-demand"}),
		Requests:     corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}
	cmd := &disruption.Command{Method: disruption.SingleNode, Reason: provisionerv1.DisruptionReasonUnderutilized,
		Candidates: []string{"cand"}, Replacements: []*scheduling.Claim{claim}, PriceBefore: 0.1, PriceAfter: 0.085, Pods: 1, Message: "underused"}
	if err := d.start(ctx, cl, cmd); err != nil {
		t.Fatal(err)
	}
	if len(taintedAtCreate) != 1 {
		t.Fatalf("replacements created: %v, want one", taintedAtCreate)
	}
	for name, tainted := range taintedAtCreate {
		if !tainted {
			t.Errorf("replacement %s created before the candidate's node was tainted", name)
		}
	}
	if !hasDisruptedTaint(t, c, "n-cand") {
		t.Error("candidate's node not tainted after start")
	}
	got := &provisionerv1.NodeClaim{}
	if err := c.Get(ctx, k8stypes.NamespacedName{Name: "cand"}, got); err != nil {
		t.Fatal(err)
	}
	r, ok := recordOf(got)
	if !ok || r.TaintedAt == "" || len(r.Replacements) != 1 {
		t.Errorf("record %+v, want the taint time and one replacement", r)
	}
	cond := meta.FindStatusCondition(got.Status.Conditions, provisionerv1.ConditionDisrupting)
	if cond == nil || cond.Reason != "Launching" {
		t.Errorf("Disrupting condition %+v, want Launching", cond)
	}
	close(rec.Events)
	var reasons []string
	for e := range rec.Events {
		reasons = append(reasons, e)
	}
	tainted := false
	for _, e := range reasons {
		tainted = tainted || strings.Contains(e, "Tainted") && strings.Contains(e, "before launching")
	}
	if !tainted {
		t.Errorf("no Tainted Event naming the launch among %q", reasons)
	}
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
		{name: "crash between taint and launch: the replacement is missing, rolled back and untainted",
			method: disruption.SingleNode, reps: []string{"rep"}, taintedAt: at, nodeTainted: true,
			phase: "launching", tainted: false, marked: false},
		{name: "crash between mark and taint: rolled back, never tainted",
			method: disruption.SingleNode, reps: []string{"rep"}, taintedAt: at,
			phase: "launching", tainted: false, marked: false},
		{name: "replacement launching: the candidate stays tainted",
			method: disruption.SingleNode, reps: []string{"rep"}, taintedAt: at, nodeTainted: true, rep: rep(false, false),
			phase: "launching", tainted: true, marked: true},
		{name: "a command started untainted (older Tailor, or a crash) is tainted while its replacement launches",
			method: disruption.SingleNode, reps: []string{"rep"}, rep: rep(false, false),
			phase: "launching", tainted: true, marked: true},
		{name: "replacement being deleted: rolled back and untainted",
			method: disruption.SingleNode, reps: []string{"rep"}, taintedAt: at, nodeTainted: true, rep: rep(false, true),
			phase: "launching", tainted: false, marked: false},
		{name: "replacement up within the validation period since the taint: validating",
			method: disruption.SingleNode, reps: []string{"rep"}, taintedAt: at, nodeTainted: true, rep: rep(true, false),
			after: 5 * time.Second, phase: "validating", tainted: true, marked: true},
		{name: "replacement up after the validation period since the taint: drained",
			method: disruption.SingleNode, reps: []string{"rep"}, taintedAt: at, nodeTainted: true, rep: rep(true, false),
			after: time.Minute, phase: "draining", tainted: true, marked: true, deleted: true},
		{name: "replacement up, the candidate now do-not-disrupt: rolled back and untainted",
			method: disruption.SingleNode, reps: []string{"rep"}, taintedAt: at, nodeTainted: true, rep: rep(true, false),
			doNotDisrupt: true, after: time.Minute, phase: "validating", tainted: false, marked: false},
		{name: "emptiness, a pod arrived before the taint: rolled back and untainted",
			method: disruption.Emptiness, taintedAt: at, nodeTainted: true, pod: true,
			phase: "validating", tainted: false, marked: false},
		{name: "emptiness marked, crash before the taint: tainted and drained",
			method: disruption.Emptiness, taintedAt: at,
			phase: "draining", tainted: true, marked: true, deleted: true},
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
			c := commandClient(interceptor.Funcs{}, objs...)
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
