package controller

import (
	"context"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/events"
	clientfake "sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/log"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/cloud/sim"
)

func pendingPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: k8stypes.UID("uid-" + name)},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable}}},
	}
}

// A restarted provisioner (no memory of its nominations) puts the pending
// pods on the claims in flight instead of making new ones.
func TestProvisionIsIdempotentAcrossRestarts(t *testing.T) {
	scheme := runtime.NewScheme()
	_ = corev1.AddToScheme(scheme)
	_ = appsv1.AddToScheme(scheme)
	_ = provisionerv1.AddToScheme(scheme)
	np := pool()
	np.Spec.Template.Spec.Taints = nil
	np.Spec.Limits = nil
	np.Spec.Template.Spec.Requirements = []provisionerv1.NodeSelectorRequirementWithMinValues{
		{Key: provisionerv1.LabelInstanceFamily, Operator: corev1.NodeSelectorOpIn, Values: []string{"c5"}},
	}
	c := clientfake.NewClientBuilder().WithScheme(scheme).WithStatusSubresource(&provisionerv1.NodeClaim{}).
		WithObjects(np, pendingPod("a"), pendingPod("b"), pendingPod("c")).Build()
	cloud, err := sim.New(fake.NewClientset(), sim.DefaultOptions(), log.Log)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	count := func() int {
		var list provisionerv1.NodeClaimList
		if err := c.List(ctx, &list); err != nil {
			t.Fatal(err)
		}
		return len(list.Items)
	}
	p := newProvisioner(c, cloud, events.NewFakeRecorder(100), log.Log, DefaultOptions())
	if err := p.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	n := count()
	if n == 0 || len(p.nominated) != 3 {
		t.Fatalf("%d claims, %d pods nominated", n, len(p.nominated))
	}
	// The same process: the pods are nominated, nothing to do.
	if err := p.Provision(ctx); err != nil || count() != n {
		t.Fatalf("second batch: %d claims, want %d (%v)", count(), n, err)
	}
	restarted := newProvisioner(c, cloud, events.NewFakeRecorder(100), log.Log, DefaultOptions())
	if err := restarted.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if count() != n || len(restarted.nominated) != 3 {
		t.Errorf("after a restart: %d claims (want %d), %d pods nominated", count(), n, len(restarted.nominated))
	}
}

// A pod whose claim is gone is nominated to a new one, and its Events on
// the API server say so: the second Nominated Event is its own (related
// to the new claim), not a repeat of the first under the old claim's name.
func TestRenominatedPodGetsANewEvent(t *testing.T) {
	np := pool()
	np.Spec.Template.Spec.Taints = nil
	np.Spec.Limits = nil
	c := scopeClient(np, pendingPod("a"))
	rec, cs := apiRecorder(t, c.Scheme())
	p := newProvisioner(c, simCloud(t), rec, log.Log, DefaultOptions())
	ctx := context.Background()
	// The claim not being deleted (the finalizer keeps a deleted one).
	claim := func() string {
		var list provisionerv1.NodeClaimList
		if err := c.List(ctx, &list); err != nil {
			t.Fatal(err)
		}
		var live []string
		for _, nc := range list.Items {
			if nc.DeletionTimestamp == nil {
				live = append(live, nc.Name)
			}
		}
		if len(live) != 1 {
			t.Fatalf("claims %q, want 1", live)
		}
		return live[0]
	}
	if err := p.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	first := claim()
	if err := c.Delete(ctx, &provisionerv1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: first}}); err != nil {
		t.Fatal(err)
	}
	if err := p.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	second := claim()
	want := []string{"Pod/a Nominated: nominated to NodeClaim " + first, "Pod/a Nominated: nominated to NodeClaim " + second}
	sort.Strings(want)
	var got []string
	for _, n := range eventNotes(t, cs, 4) { // and each claim's Created
		if strings.HasPrefix(n, "Pod/") {
			got = append(got, n)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("Events %q, want %q", got, want)
	}
}

// The scheduler re-marks a nominated pod Unschedulable while its claim
// launches (nothing to do), and after the claim's node came up without it
// (it gave the room to other pods): that pod needs a batch now, so its
// Event says why it waits (a limit, no pool) without waiting for the tick.
func TestPodHandlerTriggersForPodsLeftOutOfTheirClaim(t *testing.T) {
	scheme := runtime.NewScheme()
	_ = corev1.AddToScheme(scheme)
	_ = provisionerv1.AddToScheme(scheme)
	up := &provisionerv1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: "up"}, Status: provisionerv1.NodeClaimStatus{
		Conditions: []metav1.Condition{{Type: provisionerv1.ConditionInitialized, Status: metav1.ConditionTrue}}}}
	launching := &provisionerv1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: "launching"}}
	c := clientfake.NewClientBuilder().WithScheme(scheme).WithObjects(up, launching).Build()
	for _, tc := range []struct {
		name, claim string // claim "": not nominated
		want        bool
	}{
		{"not nominated", "", true},
		{"nominated to a claim still launching", "launching", false},
		{"nominated to a claim whose node is up", "up", true},
		{"nominated to a claim gone", "gone", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newProvisioner(c, nil, events.NewFakeRecorder(10), log.Log, DefaultOptions())
			pod := pendingPod("a")
			if tc.claim != "" {
				p.nominated[pod.UID] = tc.claim
			}
			p.podHandler().OnUpdate(pod, pod)
			got := false
			select {
			case <-p.trigger:
				got = true
			default:
			}
			if got != tc.want {
				t.Errorf("triggered %v, want %v", got, tc.want)
			}
		})
	}
}
