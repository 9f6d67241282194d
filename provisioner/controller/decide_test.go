package controller

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/cloud"
	"github.com/tailor-dev/tailor/provisioner/requirements"
	"github.com/tailor-dev/tailor/provisioner/scheduling"
)

func pool() *provisionerv1.NodePool {
	return &provisionerv1.NodePool{
		ObjectMeta: metav1.ObjectMeta{Name: "default", UID: "u1"},
		Spec: provisionerv1.NodePoolSpec{
			Template: provisionerv1.NodeClaimTemplate{
				Metadata: provisionerv1.NodeClaimTemplateMetadata{Labels: map[string]string{"team": "a"}},
				Spec: provisionerv1.NodeClaimTemplateSpec{
					NodeClassRef:  &provisionerv1.NodeClassReference{Group: "tailor.dev", Kind: "AWSNodeClass", Name: "default"},
					Taints:        []corev1.Taint{{Key: "team", Value: "a", Effect: corev1.TaintEffectNoSchedule}},
					StartupTaints: []corev1.Taint{{Key: "cni", Effect: corev1.TaintEffectNoSchedule}},
				},
			},
			Disruption: provisionerv1.Disruption{ConsolidateAfter: "10s"},
			Limits:     corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8")},
		},
	}
}

func TestNewNodeClaim(t *testing.T) {
	its := []*scheduling.InstanceType{{Name: "m5.large"}, {Name: "m5.xlarge"}, {Name: "m5.2xlarge"}}
	c := &scheduling.Claim{Pool: "default", InstanceTypes: its, Requirements: requirements.FromLabels(map[string]string{provisionerv1.LabelCapacityType: "spot"}),
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}
	nc := newNodeClaim(pool(), c, "default-abcde", 2)
	if nc.Labels[provisionerv1.LabelNodePool] != "default" || nc.Labels["team"] != "a" || nc.Finalizers[0] != Finalizer || nc.OwnerReferences[0].Name != "default" {
		t.Errorf("metadata %+v", nc.ObjectMeta)
	}
	var types []string
	for _, r := range nc.Spec.Requirements {
		if r.Key == provisionerv1.LabelInstanceType {
			types = r.Values
		}
	}
	if strings.Join(types, ",") != "m5.large,m5.xlarge" {
		t.Errorf("instance types %v, want the 2 cheapest", types)
	}
	if len(nc.Spec.Taints) != 1 || len(nc.Spec.StartupTaints) != 1 || nc.Spec.NodeClassRef.Name != "default" {
		t.Errorf("spec %+v", nc.Spec)
	}
}

func TestPoolUsagesAndLimits(t *testing.T) {
	claims := []provisionerv1.NodeClaim{
		{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{provisionerv1.LabelNodePool: "default"}},
			Status: provisionerv1.NodeClaimStatus{Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourcePods: resource.MustParse("58")}}},
		{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{provisionerv1.LabelNodePool: "default"}},
			Spec: provisionerv1.NodeClaimSpec{Resources: provisionerv1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}}}},
	}
	u := poolUsages(claims)["default"]
	if u.Cpu().String() != "8" || u.Name(provisionerv1.ResourceNodes, resource.DecimalSI).String() != "2" {
		t.Errorf("usage %v", u)
	}
	if _, ok := u[corev1.ResourcePods]; ok {
		t.Error("pods are not summed")
	}
	if got := limitsReached(pool(), u); len(got) != 1 || got[0] != "cpu 8 of 8" {
		t.Errorf("limits reached %v", got)
	}
}

func TestSyncNodeAndInitialized(t *testing.T) {
	nc := newNodeClaim(pool(), &scheduling.Claim{Requirements: requirements.FromLabels(map[string]string{provisionerv1.LabelCapacityType: "spot"})}, "default-abcde", 10)
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "ip-10-0-0-1", Labels: map[string]string{provisionerv1.LabelCapacityType: "spot"}},
		Spec: corev1.NodeSpec{Taints: []corev1.Taint{
			{Key: provisionerv1.TaintUnregistered, Effect: corev1.TaintEffectNoExecute},
			{Key: "cni", Effect: corev1.TaintEffectNoSchedule},
		}},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}},
	}
	synced, changed := syncNode(node, nc)
	if !changed || synced.Labels[provisionerv1.LabelNodePool] != "default" || synced.Labels[provisionerv1.LabelNodeClaim] != "default-abcde" || synced.Labels["team"] != "a" {
		t.Fatalf("labels %v", synced.Labels)
	}
	if hasTaint(synced.Spec.Taints, corev1.Taint{Key: provisionerv1.TaintUnregistered, Effect: corev1.TaintEffectNoExecute}) ||
		!hasTaint(synced.Spec.Taints, corev1.Taint{Key: "team", Effect: corev1.TaintEffectNoSchedule}) || synced.Finalizers[0] != Finalizer {
		t.Errorf("taints %v finalizers %v", synced.Spec.Taints, synced.Finalizers)
	}
	if _, again := syncNode(synced, nc); again {
		t.Error("a synced node needs no second patch")
	}
	if initialized(synced, nc) {
		t.Error("initialized with the startup taint still on")
	}
	synced.Spec.Taints = synced.Spec.Taints[1:]
	if !initialized(synced, nc) {
		t.Errorf("not initialized: %v", synced.Spec.Taints)
	}
}

func TestDeadlines(t *testing.T) {
	now := time.Unix(10000, 0)
	nc := &provisionerv1.NodeClaim{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(now.Add(-time.Minute))}}
	nc.Status.Conditions = []metav1.Condition{{Type: provisionerv1.ConditionLaunched, Status: metav1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-10 * time.Second))}}
	if d := registrationDeadline(nc, 15*time.Second, now); d != 5*time.Second {
		t.Errorf("registration deadline in %s, want 5s (from launch)", d)
	}
}

func TestUnschedulable(t *testing.T) {
	pod := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable}}}}
	if !unschedulable(pod) {
		t.Error("unschedulable pod not seen")
	}
	pod.Status.Conditions[0].Reason = "SchedulerError"
	if unschedulable(pod) {
		t.Error("only the scheduler's Unschedulable counts")
	}
}

func TestOrphans(t *testing.T) {
	now := time.Unix(10000, 0)
	instances := []*cloud.Instance{
		{ProviderID: "aws:///a/i-1", NodeClaim: "kept", Launched: now.Add(-time.Hour)},
		{ProviderID: "aws:///a/i-2", NodeClaim: "gone", Launched: now.Add(-time.Hour)},
		{ProviderID: "aws:///a/i-3", NodeClaim: "new", Launched: now.Add(-time.Second)},
	}
	claims := []provisionerv1.NodeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "kept"}}}
	if got := orphans(instances, claims, now, time.Minute); len(got) != 1 || got[0] != "aws:///a/i-2" {
		t.Errorf("orphans %v, want only i-2 (i-3 is within the grace)", got)
	}
}

func launchedClaim(name, providerID string, at time.Time) provisionerv1.NodeClaim {
	nc := provisionerv1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: name}}
	nc.Status.ProviderID = providerID
	nc.Status.Conditions = []metav1.Condition{{Type: provisionerv1.ConditionLaunched, Status: metav1.ConditionTrue, LastTransitionTime: metav1.NewTime(at)}}
	return nc
}

func TestGoneSuspects(t *testing.T) {
	now := time.Unix(10000, 0)
	deleting := launchedClaim("deleting", "aws:///a/i-4", now.Add(-time.Hour))
	deleting.DeletionTimestamp = &metav1.Time{Time: now}
	notLaunched := provisionerv1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: "launching"}}
	claims := []provisionerv1.NodeClaim{
		launchedClaim("listed", "aws:///a/i-1", now.Add(-time.Hour)),
		launchedClaim("missing", "aws:///a/i-2", now.Add(-time.Hour)),
		launchedClaim("young", "aws:///a/i-3", now.Add(-time.Minute)),
		deleting, notLaunched,
	}
	instances := []*cloud.Instance{{ProviderID: "aws:///a/i-1", NodeClaim: "listed"}}
	got := goneSuspects(instances, claims, now, 5*time.Minute)
	if len(got) != 1 || got["aws:///a/i-2"] != "missing" {
		t.Errorf("suspects %v, want only i-2 of claim missing (i-1 listed, i-3 within the grace, i-4 being deleted)", got)
	}
}

func TestGoneCounter(t *testing.T) {
	type round struct {
		checked map[string]bool
		want    []string
	}
	for _, tc := range []struct {
		name   string
		n      int
		rounds []round
	}{
		{"three misses in a row", 3, []round{
			{map[string]bool{"a": true}, nil},
			{map[string]bool{"a": true}, nil},
			{map[string]bool{"a": true}, []string{"a"}},
		}},
		{"found again resets", 3, []round{
			{map[string]bool{"a": true}, nil},
			{map[string]bool{"a": true}, nil},
			{map[string]bool{"a": false}, nil},
			{map[string]bool{"a": true}, nil},
			{map[string]bool{"a": true}, nil},
			{map[string]bool{"a": true}, []string{"a"}},
		}},
		{"not checked (listed again, lookup failed) resets", 2, []round{
			{map[string]bool{"a": true, "b": true}, nil},
			{map[string]bool{"b": true}, []string{"b"}},
			{map[string]bool{"a": true}, nil},
			{map[string]bool{"a": true}, []string{"a"}},
		}},
		{"one check is enough when n is 1", 1, []round{{map[string]bool{"b": true, "a": true, "c": false}, []string{"a", "b"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := goneCounter{}
			for i, r := range tc.rounds {
				if got := g.observe(r.checked, tc.n); strings.Join(got, ",") != strings.Join(r.want, ",") {
					t.Fatalf("round %d: deleted %v, want %v", i, got, r.want)
				}
			}
		})
	}
}

// FuzzGoneCounter: a claim is only ever deleted after n gone checks in a
// row, and once.
func FuzzGoneCounter(f *testing.F) {
	f.Add([]byte{1, 1, 1, 0, 1}, uint8(3))
	f.Add([]byte{3, 2, 1, 3, 3, 3}, uint8(2))
	f.Fuzz(func(t *testing.T, rounds []byte, n uint8) {
		need := int(n%5) + 1
		g := goneCounter{}
		streak := map[string]int{}
		for _, b := range rounds {
			checked := map[string]bool{}
			for i, name := range []string{"a", "b"} {
				switch (b >> (2 * i)) & 3 {
				case 1:
					checked[name] = true
				case 2:
					checked[name] = false
				}
			}
			for _, name := range []string{"a", "b"} {
				if checked[name] {
					streak[name]++
				} else {
					streak[name] = 0
				}
			}
			for _, name := range g.observe(checked, need) {
				if streak[name] < need {
					t.Fatalf("%s deleted after %d gone checks in a row, want %d", name, streak[name], need)
				}
				streak[name] = 0
			}
			for name, s := range streak {
				if s >= need {
					t.Fatalf("%s gone %d checks in a row and not deleted (n=%d)", name, s, need)
				}
			}
		}
	})
}

// BenchmarkGoneCheck: one GC round's pure part for 5,000 claims, 1% of
// whose instances are missing from the list.
func BenchmarkGoneCheck(b *testing.B) {
	now := time.Unix(100000, 0)
	var claims []provisionerv1.NodeClaim
	var instances []*cloud.Instance
	for i := range 5000 {
		id := fmt.Sprintf("aws:///us-east-1a/i-%017d", i)
		claims = append(claims, launchedClaim(fmt.Sprintf("c-%d", i), id, now.Add(-time.Hour)))
		if i%100 != 0 {
			instances = append(instances, &cloud.Instance{ProviderID: id, NodeClaim: fmt.Sprintf("c-%d", i)})
		}
	}
	g := goneCounter{}
	b.ResetTimer()
	for b.Loop() {
		s := goneSuspects(instances, claims, now, 5*time.Minute)
		checked := make(map[string]bool, len(s))
		for _, name := range s {
			checked[name] = true
		}
		g.observe(checked, 3)
	}
}
