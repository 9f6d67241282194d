package controller

import (
	"context"
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
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	clientfake "sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/cloud/sim"
	"github.com/tailor-dev/tailor/provisioner/scope"
)

// Two installations share the cluster: this one selects team=a
// (--nodepool-selector team=a), the other team=b. Each test checks that a
// part of the provisioner keeps to team a's pools, claims and nodes.

func teamPool(name, team string, weight int32) *provisionerv1.NodePool {
	np := pool()
	np.Name, np.UID, np.Labels = name, k8stypes.UID("uid-"+name), map[string]string{"team": team}
	np.Spec.Weight = &weight
	np.Spec.Template.Spec.Taints, np.Spec.Template.Spec.StartupTaints, np.Spec.Limits = nil, nil, nil
	np.Spec.Template.Spec.Requirements = []provisionerv1.NodeSelectorRequirementWithMinValues{
		{Key: provisionerv1.LabelInstanceFamily, Operator: corev1.NodeSelectorOpIn, Values: []string{"c5"}},
	}
	return np
}

func teamA(t *testing.T) Options {
	t.Helper()
	sel, err := scope.Parse("team=a")
	if err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions()
	o.Pools = sel
	return o
}

func scopeClient(objs ...client.Object) client.Client {
	scheme := runtime.NewScheme()
	_ = corev1.AddToScheme(scheme)
	_ = appsv1.AddToScheme(scheme)
	_ = policyv1.AddToScheme(scheme)
	_ = provisionerv1.AddToScheme(scheme)
	return clientfake.NewClientBuilder().WithScheme(scheme).WithStatusSubresource(&provisionerv1.NodeClaim{}, &provisionerv1.NodePool{}).
		WithIndex(&corev1.Node{}, nodeProviderIDField, func(obj client.Object) []string {
			if id := obj.(*corev1.Node).Spec.ProviderID; id != "" {
				return []string{id}
			}
			return nil
		}).
		WithObjects(objs...).Build()
}

func simCloud(t *testing.T) *sim.Cloud {
	t.Helper()
	c, err := sim.New(fake.NewClientset(), sim.DefaultOptions(), log.Log)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pinned(name, pool string) *corev1.Pod {
	p := pendingPod(name)
	p.Spec.NodeSelector = map[string]string{provisionerv1.LabelNodePool: pool}
	return p
}

// launched is a claim of pool, launched long ago, on node.
func launched(name string, np *provisionerv1.NodePool, node string) *provisionerv1.NodeClaim {
	nc := &provisionerv1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{provisionerv1.LabelNodePool: np.Name},
		Finalizers: []string{Finalizer}}}
	nc.Status.ProviderID = "aws:///us-east-1a/i-" + name
	nc.Status.NodeName = node
	nc.Status.PricePerHour = "0.1"
	nc.Status.Conditions = []metav1.Condition{{Type: provisionerv1.ConditionLaunched, Status: metav1.ConditionTrue, Reason: "Launched",
		LastTransitionTime: metav1.NewTime(time.Now().Add(-time.Hour))}}
	return nc
}

// Provision solves only the pods whose pool is team a's, into team a's
// pools, and tells nothing to the others' pods.
func TestProvisionKeepsToSelectedPools(t *testing.T) {
	mine, theirs := teamPool("mine", "a", 10), teamPool("theirs", "b", 20)
	c := scopeClient(mine, theirs,
		pinned("to-mine", "mine"),     // admission pinned it to team a's pool
		pinned("to-theirs", "theirs"), // to team b's
		pendingPod("unpinned"),        // not placed: team b's pool is heavier
	)
	rec := events.NewFakeRecorder(100)
	p := newProvisioner(c, simCloud(t), rec, log.Log, teamA(t))
	ctx := context.Background()
	if err := p.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	var list provisionerv1.NodeClaimList
	if err := c.List(ctx, &list); err != nil {
		t.Fatal(err)
	}
	for _, nc := range list.Items {
		if nc.Labels[provisionerv1.LabelNodePool] != "mine" {
			t.Errorf("NodeClaim %s of pool %s: another installation's pool", nc.Name, nc.Labels[provisionerv1.LabelNodePool])
		}
		if l, ok := scope.RecordedLabels(&nc); !ok || l["team"] != "a" {
			t.Errorf("NodeClaim %s records pool labels %v %v, want team a", nc.Name, l, ok)
		}
	}
	if len(list.Items) != 1 {
		t.Errorf("%d NodeClaims, want 1 (for to-mine)", len(list.Items))
	}
	if len(p.nominated) != 1 || p.nominated["uid-to-mine"] == "" {
		t.Errorf("nominated %v, want to-mine alone", p.nominated)
	}
	close(rec.Events)
	for e := range rec.Events {
		if strings.Contains(e, ReasonNoPoolFits) || strings.Contains(e, ReasonLimitReached) {
			t.Errorf("an Event about another installation's pod: %s", e)
		}
	}
}

// The lifecycle leaves another installation's claims alone (no finalizer,
// no launch), and takes its own even once their pool is gone.
func TestLifecycleKeepsToSelectedClaims(t *testing.T) {
	mine, theirs := teamPool("mine", "a", 10), teamPool("theirs", "b", 10)
	gonePool := teamPool("gone", "a", 10)
	fresh := func(np *provisionerv1.NodePool) *provisionerv1.NodeClaim {
		nc := &provisionerv1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: np.Name + "-1", Labels: map[string]string{provisionerv1.LabelNodePool: np.Name}}}
		nc.Spec.Requirements = []provisionerv1.NodeSelectorRequirementWithMinValues{
			{Key: provisionerv1.LabelInstanceType, Operator: corev1.NodeSelectorOpIn, Values: []string{"c5.large"}},
			{Key: provisionerv1.LabelCapacityType, Operator: corev1.NodeSelectorOpIn, Values: []string{"on-demand"}},
		}
		scope.RecordLabels(nc, np)
		return nc
	}
	c := scopeClient(mine, theirs, fresh(mine), fresh(theirs), fresh(gonePool))
	l := &lifecycle{opts: teamA(t), client: c, cloud: simCloud(t), recorder: events.NewFakeRecorder(100), log: log.Log, now: time.Now,
		pods: map[string]string{}, told: map[string]bool{}}
	ctx := context.Background()
	for _, name := range []string{"mine-1", "theirs-1", "gone-1"} {
		if _, err := l.Reconcile(ctx, reconcile.Request{NamespacedName: k8stypes.NamespacedName{Name: name}}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	for name, want := range map[string]bool{"mine-1": true, "gone-1": true, "theirs-1": false} {
		nc := &provisionerv1.NodeClaim{}
		if err := c.Get(ctx, k8stypes.NamespacedName{Name: name}, nc); err != nil {
			t.Fatal(err)
		}
		got := meta.IsStatusConditionTrue(nc.Status.Conditions, provisionerv1.ConditionLaunched) && len(nc.Finalizers) == 1
		if got != want {
			t.Errorf("%s: launched with finalizer %v, want %v (finalizers %v, conditions %v)", name, got, want, nc.Finalizers, nc.Status.Conditions)
		}
	}
}

// NodePool status is written for team a's pools only.
func TestPoolStatusKeepsToSelectedPools(t *testing.T) {
	mine, theirs := teamPool("mine", "a", 10), teamPool("theirs", "b", 10)
	mine.Spec.Template.Spec.NodeClassRef, theirs.Spec.Template.Spec.NodeClassRef = nil, nil
	c := scopeClient(mine, theirs)
	r := &poolStatus{client: c, pools: teamA(t).Pools, log: log.Log, provisioner: newProvisioner(c, simCloud(t), events.NewFakeRecorder(10), log.Log, teamA(t))}
	ctx := context.Background()
	for _, name := range []string{"mine", "theirs"} {
		if _, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: k8stypes.NamespacedName{Name: name}}); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range map[string]bool{"mine": true, "theirs": false} {
		np := &provisionerv1.NodePool{}
		if err := c.Get(ctx, k8stypes.NamespacedName{Name: name}, np); err != nil {
			t.Fatal(err)
		}
		if got := meta.FindStatusCondition(np.Status.Conditions, provisionerv1.ConditionReady) != nil; got != want {
			t.Errorf("pool %s: status written %v, want %v (%+v)", name, got, want, np.Status)
		}
	}
}

// The disruption loop's candidates are team a's claims, and another
// installation's nodes are not room to move pods to.
func TestDisruptionReadKeepsToSelectedClaims(t *testing.T) {
	mine, theirs := teamPool("mine", "a", 10), teamPool("theirs", "b", 10)
	node := func(name string, labels map[string]string) *corev1.Node {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
		n.Status.Allocatable = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("110")}
		n.Status.Capacity = n.Status.Allocatable
		return n
	}
	c := scopeClient(mine, theirs,
		launched("mine-1", mine, "n-mine"), launched("theirs-1", theirs, "n-theirs"),
		node("n-mine", map[string]string{provisionerv1.LabelNodeClaim: "mine-1", provisionerv1.LabelNodePool: "mine"}),
		node("n-theirs", map[string]string{provisionerv1.LabelNodeClaim: "theirs-1", provisionerv1.LabelNodePool: "theirs"}),
		node("n-theirs-group", map[string]string{provisionerv1.LabelNodePool: "theirs"}), // an Auto Scaling group's
		node("n-plain", nil),
	)
	o := teamA(t)
	p := newProvisioner(c, simCloud(t), events.NewFakeRecorder(10), log.Log, o)
	d := &disrupter{opts: o, client: c, recorder: events.NewFakeRecorder(10), log: log.Log, now: time.Now, provisioner: p, told: map[string]string{}}
	cl, err := d.read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var claims, others, pools []string
	for _, n := range cl.in.Nodes {
		claims = append(claims, n.Claim)
	}
	for _, n := range cl.in.Others {
		others = append(others, n.Name)
	}
	for _, np := range cl.in.Pools {
		pools = append(pools, np.NodePool.Name)
	}
	if strings.Join(claims, ",") != "mine-1" || strings.Join(others, ",") != "n-plain" || strings.Join(pools, ",") != "mine" {
		t.Errorf("candidates %v, other nodes %v, pools %v; want mine-1, n-plain, mine", claims, others, pools)
	}
}

// The GC deletes team a's claims whose instance is gone, never another
// installation's, whose instance this cloud does not know.
func TestCollectKeepsToSelectedClaims(t *testing.T) {
	mine, theirs := teamPool("mine", "a", 10), teamPool("theirs", "b", 10)
	c := scopeClient(mine, theirs, launched("mine-1", mine, ""), launched("theirs-1", theirs, ""))
	o := teamA(t)
	o.InstanceGoneGrace, o.InstanceGoneChecks = 0, 1
	p := newProvisioner(c, simCloud(t), events.NewFakeRecorder(10), log.Log, o)
	ctx := context.Background()
	p.collect(ctx)
	for name, wantGone := range map[string]bool{"mine-1": true, "theirs-1": false} {
		nc := &provisionerv1.NodeClaim{}
		err := c.Get(ctx, k8stypes.NamespacedName{Name: name}, nc)
		gone := apierrors.IsNotFound(err) || err == nil && nc.DeletionTimestamp != nil
		if gone != wantGone {
			t.Errorf("%s: deleted %v, want %v (%v)", name, gone, wantGone, err)
		}
	}
}
