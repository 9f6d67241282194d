package sim

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/controller-runtime/pkg/log"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/cloud"
)

func claim(types ...string) *provisionerv1.NodeClaim {
	return &provisionerv1.NodeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "default-abcde"},
		Spec: provisionerv1.NodeClaimSpec{
			Requirements: []provisionerv1.NodeSelectorRequirementWithMinValues{
				{Key: provisionerv1.LabelInstanceType, Operator: corev1.NodeSelectorOpIn, Values: types},
				{Key: provisionerv1.LabelCapacityType, Operator: corev1.NodeSelectorOpIn, Values: []string{"on-demand"}},
			},
			Resources: provisionerv1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}},
			Taints:    []corev1.Taint{{Key: "team", Value: "a", Effect: corev1.TaintEffectNoSchedule}},
		},
	}
}

func TestCreateBootDeleteAndRestart(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	o := DefaultOptions()
	o.LaunchDelay = 0
	o.InsufficientCapacity = []string{"m5.large/us-east-1a/*"}
	c, err := New(cs, o, log.Log)
	if err != nil {
		t.Fatal(err)
	}
	in, err := c.Create(ctx, claim("m5.large", "m5.xlarge"))
	if err != nil {
		t.Fatal(err)
	}
	// us-east-1a is out of capacity: the same price in the next zone.
	if in.InstanceType != "m5.large" || in.Zone != "us-east-1b" || in.CapacityType != "on-demand" || !strings.HasPrefix(in.ProviderID, "aws:///us-east-1b/i-") {
		t.Fatalf("launched %+v", in)
	}
	if !c.unavailable.Is(cloud.Offering{InstanceType: "m5.large", Zone: "us-east-1a", CapacityType: "on-demand"}) {
		t.Error("the offering out of capacity is not marked unavailable")
	}
	if err := c.boot(ctx); err != nil {
		t.Fatal(err)
	}
	nodes, _ := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if len(nodes.Items) != 1 {
		t.Fatalf("%d nodes", len(nodes.Items))
	}
	n := nodes.Items[0]
	if n.Spec.ProviderID != in.ProviderID || n.Labels[provisionerv1.LabelZone] != "us-east-1b" || n.Annotations["kwok.x-k8s.io/node"] != "fake" || len(n.Spec.Taints) != 2 {
		t.Errorf("node %+v", n)
	}
	// A new process finds the instance in the state ConfigMap.
	c2, _ := New(cs, o, log.Log)
	got, err := c2.Get(ctx, in.ProviderID)
	if err != nil || got.InstanceType != "m5.large" {
		t.Fatalf("after restart: %+v %v", got, err)
	}
	if err := c2.Delete(ctx, in.ProviderID); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Get(ctx, in.ProviderID); !cloud.IsNotFound(err) {
		t.Errorf("after delete: %v", err)
	}
	if _, err := cs.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{}); err == nil {
		t.Error("node still there")
	}
}

func TestInsufficientCapacityEverywhere(t *testing.T) {
	o := DefaultOptions()
	o.InsufficientCapacity = []string{"m5.large/*/on-demand"}
	c, _ := New(fake.NewClientset(), o, log.Log)
	_, err := c.Create(context.Background(), claim("m5.large"))
	if !cloud.IsInsufficientCapacity(err) || !strings.Contains(err.Error(), "m5.large/us-east-1c/on-demand") {
		t.Fatalf("got %v", err)
	}
}

func TestNeverRegisterFault(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: FaultsConfigMap, Namespace: "tailor-system"}, Data: map[string]string{FaultNeverRegister: "1"}})
	o := DefaultOptions()
	o.LaunchDelay = 0
	c, _ := New(cs, o, log.Log)
	c.now = func() time.Time { return time.Unix(1000, 0) }
	if _, err := c.Create(ctx, claim("m5.large")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, claim("m5.large")); err != nil {
		t.Fatal(err)
	}
	_ = c.boot(ctx)
	nodes, _ := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if len(nodes.Items) != 1 {
		t.Fatalf("%d nodes, want 1 (one launch never registers)", len(nodes.Items))
	}
}

// Concurrent launches all end up in the state (the first ones create the
// ConfigMap together).
func TestConcurrentLaunchesAreAllSaved(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	c, _ := New(cs, DefaultOptions(), log.Log)
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		go func() { _, err := c.Create(ctx, claim("m5.large")); errs <- err }()
	}
	for i := 0; i < 8; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	c2, _ := New(cs, DefaultOptions(), log.Log)
	all, err := c2.List(ctx)
	if err != nil || len(all) != 8 {
		t.Fatalf("%d instances saved, want 8 (%v)", len(all), err)
	}
}
