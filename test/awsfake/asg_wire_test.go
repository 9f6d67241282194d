package awsfake_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/cloud"
	"github.com/tailor-dev/tailor/provisioner/cloud/asg"
	"github.com/tailor-dev/tailor/provisioner/cloud/asg/nodegroup"
	awscloud "github.com/tailor-dev/tailor/provisioner/cloud/aws"
	"github.com/tailor-dev/tailor/test/awsfake"
)

// The asg backend over the wire: the real Auto Scaling and EC2 clients
// against the fake's groups.

func asgClaim(name string, cpu, mem string, types ...string) *provisionerv1.NodeClaim {
	return &provisionerv1.NodeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: "uid-" + "name", Labels: map[string]string{provisionerv1.LabelNodePool: "ng"}},
		Spec: provisionerv1.NodeClaimSpec{
			Requirements: []provisionerv1.NodeSelectorRequirementWithMinValues{req(provisionerv1.LabelInstanceType, types...)},
			Resources: provisionerv1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}},
		},
	}
}

// TestWireASG runs every path of the asg backend and checks its IAM
// policy grants exactly the actions called.
func TestWireASG(t *testing.T) {
	s := startFake(t)
	discover := map[string]string{nodegroup.TagEnabled: "true", nodegroup.TagCluster + "wire": "owned"}
	with := func(extra map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range discover {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	// A mixed group whose first override (c5.2xlarge, 16 GiB) is not what
	// its lowest-price strategy launches (r5.xlarge, 32 GiB, cheaper).
	s.AddGroup(awsfake.Group{Name: "mixed", Max: 3, Zones: []string{"us-east-1a"}, Overrides: []string{"c5.2xlarge", "r5.xlarge"},
		OnDemandStrategy: "lowest-price", Tags: with(map[string]string{nodegroup.TagLabel + "workload": "mem"})})
	// Named by the pool, without the discovery tags; one node at min.
	s.AddGroup(awsfake.Group{Name: "plain", Min: 1, Max: 2, Desired: 1, Zones: []string{"us-east-1b"}, InstanceType: "m5.xlarge",
		Tags: map[string]string{nodegroup.TagCluster + "wire": "owned"}})
	s.AddGroup(awsfake.Group{Name: "tainted", Max: 3, Zones: []string{"us-east-1a"}, InstanceType: "g4dn.xlarge",
		Tags: with(map[string]string{nodegroup.TagTaint + "dedicated": "gpu:NoSchedule"})})
	s.AddGroup(awsfake.Group{Name: "other-cluster", Max: 3, Zones: []string{"us-east-1a"}, InstanceType: "m5.large",
		Tags: map[string]string{nodegroup.TagEnabled: "true", nodegroup.TagCluster + "else": "owned"}})
	// Two EKS managed node groups: one whose labels EKS tells (a
	// node-template tag overrides one), one with a taint the pool lacks.
	s.AddGroup(awsfake.Group{Name: "eks-ng-labels", Max: 2, Zones: []string{"us-east-1c"}, InstanceType: "c5.large",
		Tags: with(map[string]string{nodegroup.TagNodeGroup: "labels", nodegroup.TagEKSCluster: "wire", nodegroup.TagLabel + "team": "from-tag"})})
	s.AddNodeGroup(awsfake.NodeGroup{Cluster: "wire", Name: "labels", Labels: map[string]string{"workload": "managed", "team": "from-eks"}})
	s.AddGroup(awsfake.Group{Name: "eks-ng-tainted", Max: 2, Zones: []string{"us-east-1c"}, InstanceType: "m5.large",
		Tags: with(map[string]string{nodegroup.TagNodeGroup: "tainted"})})
	s.AddNodeGroup(awsfake.NodeGroup{Cluster: "wire", Name: "tainted", Taints: []awsfake.NodeGroupTaint{{Key: "dedicated", Value: "ml", Effect: "NO_SCHEDULE"}}})
	for i := 0; i < 3; i++ { // more than a page of MaxRecords 50 is not needed: the paginator runs on names too
		s.AddGroup(awsfake.Group{Name: "filler-" + string(rune('a'+i)), Max: 1, Zones: []string{"us-east-1c"}, InstanceType: "t3.small"})
	}
	plain, _ := s.Group("plain")
	first := s.Instances()[0]

	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = provisionerv1.AddToScheme(scheme)
	np := &provisionerv1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: "ng", Generation: 1}, Spec: provisionerv1.NodePoolSpec{
		AutoScalingGroups: &provisionerv1.AutoScalingGroups{Names: []string{"plain", "missing"},
			SelectorTerms: []provisionerv1.AutoScalingGroupSelectorTerm{{Tags: map[string]string{nodegroup.TagEnabled: "true", nodegroup.TagCluster + "wire": "*"}}}},
	}}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: first.NodeName()}, Spec: corev1.NodeSpec{ProviderID: first.ProviderID()}}
	kube := fake.NewClientBuilder().WithScheme(scheme).WithObjects(np, node).WithStatusSubresource(&provisionerv1.NodeClaim{}).Build()

	ctx := context.Background()
	cfg, err := awscloud.LoadConfig(ctx, "us-east-1", s.URL, 4)
	if err != nil {
		t.Fatal(err)
	}
	ao := awscloud.DefaultOptions()
	ao.ClusterName = "wire"
	fleet, err := awscloud.New(kube, awscloud.NewClients(cfg), ao, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	o := asg.DefaultOptions()
	o.ClusterName, o.PollInterval, o.GroupRefresh = "wire", 20*time.Millisecond, 50*time.Millisecond
	c, err := asg.New(kube, autoscaling.NewFromConfig(cfg), ec2.NewFromConfig(cfg), eks.NewFromConfig(cfg), fleet, nil, o, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	fleet.RefreshPrices(ctx) // live prices before the first launch (Start reads them again)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = c.Start(runCtx); close(done) }()
	t.Cleanup(func() { stop(); <-done })

	t.Run("DiscoveryAndTemplates", func(t *testing.T) {
		its, err := c.InstanceTypes(ctx, np)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, it := range its {
			got[it.Name] = it.Offerings[0].Zone + " " + it.Labels["workload"]
		}
		// plain (named), mixed and eks-ng-labels (discovered); tainted's
		// and eks-ng-tainted's taints (the latter's from EKS) are not the
		// pool's, other-cluster and the fillers are not discovered.
		want := map[string]string{"m5.xlarge": "us-east-1b ", "r5.xlarge": "us-east-1a mem", "c5.large": "us-east-1c managed"}
		if len(got) != len(want) || got["m5.xlarge"] != want["m5.xlarge"] || got["r5.xlarge"] != want["r5.xlarge"] || got["c5.large"] != want["c5.large"] {
			t.Errorf("templates %v, want %v", got, want)
		}
		for _, it := range its {
			if it.Name == "c5.large" && it.Labels["team"] != "from-tag" {
				t.Errorf("managed node group template labels %v: the node-template tag team=from-tag wins over EKS's", it.Labels)
			}
		}
		if len(its) > 0 && its[0].Name != "m5.xlarge" {
			t.Errorf("named groups come first: %s", its[0].Name)
		}
	})

	t.Run("ScaleFromZeroOfAMixedGroupTakesItsNextType", func(t *testing.T) {
		in, err := c.Create(ctx, asgClaim("mem-1", "1", "20Gi", "m5.xlarge", "r5.xlarge", "c5.2xlarge"))
		if err != nil {
			t.Fatal(err)
		}
		g, _ := s.Group("mixed")
		if in.InstanceType != "r5.xlarge" || g.Desired != 1 || len(g.Instances) != 1 || in.Price != s.OnDemandPrice("r5.xlarge") {
			t.Errorf("launched %+v; group %+v", in, g)
		}
		got, err := c.Get(ctx, in.ProviderID)
		if err != nil || got.NodeClaim != "mem-1" {
			t.Errorf("Get: %+v %v (the instance is tagged with its claim)", got, err)
		}
	})

	t.Run("CapacityFailureFallsBackAtOnce", func(t *testing.T) {
		s.InsufficientCapacity("m5.xlarge/*/on-demand")
		defer s.InsufficientCapacity()
		// The price expander ranks plain (m5.xlarge) first; it fails, its
		// desired capacity is given back, mixed launches.
		in, err := c.Create(ctx, asgClaim("cpu-1", "2", "4Gi", "m5.xlarge", "r5.xlarge"))
		if err != nil {
			t.Fatal(err)
		}
		p, _ := s.Group("plain")
		if in.InstanceType != "r5.xlarge" || len(in.InsufficientCapacity) != 1 || p.Desired != 1 || s.FailedActivities("plain") != 1 {
			t.Errorf("launched %s, unavailable %v; plain %+v, %d failed activities", in.InstanceType, in.InsufficientCapacity, p, s.FailedActivities("plain"))
		}
		its, err := c.InstanceTypes(ctx, np)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range its {
			if it.Name == "m5.xlarge" && it.Offerings[0].Available {
				t.Errorf("plain is offered again right after its capacity failure")
			}
		}
	})

	t.Run("ScaleDownDecrements", func(t *testing.T) {
		all, err := c.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 2 {
			t.Fatalf("List: %d instances, want the 2 taken for claims (not plain's own)", len(all))
		}
		if err := c.Delete(ctx, all[0].ProviderID); err != nil {
			t.Fatal(err)
		}
		if g, _ := s.Group("mixed"); g.Desired != 1 || len(g.Instances) != 1 {
			t.Errorf("after Delete: %+v, want desired 1", g)
		}
		// plain is at its min: the instance is replaced instead.
		if err := c.Delete(ctx, plain.Instances[0]); err == nil {
			t.Error("Delete of a bare instance id should fail: not a providerID")
		}
		if err := c.Delete(ctx, first.ProviderID()); err != nil {
			t.Fatal(err)
		}
		if p, _ := s.Group("plain"); p.Desired != 1 || len(p.Instances) != 1 || p.Instances[0] == first.ID {
			t.Errorf("plain after Delete at min: %+v", p)
		}
		if err := c.Delete(ctx, first.ProviderID()); !cloud.IsNotFound(err) {
			t.Errorf("Delete of a terminated instance: %v", err)
		}
	})

	t.Run("MaxRespected", func(t *testing.T) {
		// mixed has 1 of 3; two more, then it is full.
		for _, n := range []string{"fill-1", "fill-2"} {
			if _, err := c.Create(ctx, asgClaim(n, "1", "20Gi", "r5.xlarge")); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.Create(ctx, asgClaim("fill-3", "1", "20Gi", "r5.xlarge")); !cloud.IsInsufficientCapacity(err) {
			t.Errorf("a full group: %v", err)
		}
		if g, _ := s.Group("mixed"); g.Desired != 3 {
			t.Errorf("mixed desired %d, want its max 3", g.Desired)
		}
	})

	t.Run("NodesOfThePoolsGroupsLabelled", func(t *testing.T) {
		// The node of plain's first instance (terminated since) was
		// labelled at start; a new one for its replacement is too.
		p, _ := s.Group("plain")
		var repl awsfake.Instance
		for _, in := range s.Instances() {
			if in.ID == p.Instances[0] {
				repl = in
			}
		}
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: repl.NodeName()}, Spec: corev1.NodeSpec{ProviderID: repl.ProviderID()}}
		if err := kube.Create(ctx, n); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the node labelled", func() bool {
			got := &corev1.Node{}
			return kube.Get(ctx, client.ObjectKeyFromObject(n), got) == nil && got.Labels[provisionerv1.LabelNodePool] == "ng"
		})
	})

	t.Run("InterruptionQueueMarksTheClaim", func(t *testing.T) {
		// --interruption-queue with --cloud=asg: a spot interruption and a
		// state change for two of the groups' instances taken by claims
		// mark those claims Interrupted (the disruption loop's urgent
		// path); a rebalance recommendation only tells.
		all, err := c.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		byClaim := map[string]string{}
		for _, in := range all {
			byClaim[in.NodeClaim] = in.ProviderID
			nc := &provisionerv1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: in.NodeClaim}}
			if err := kube.Create(ctx, nc); err != nil {
				t.Fatal(err)
			}
			nc.Status.ProviderID = in.ProviderID
			if err := kube.Status().Update(ctx, nc); err != nil {
				t.Fatal(err)
			}
		}
		if len(all) != 3 {
			t.Fatalf("%d claimed instances, want 3", len(all))
		}
		spot, stopping, rebalance := all[0].NodeClaim, all[1].NodeClaim, all[2].NodeClaim
		idOf := func(claim string) string {
			id, err := awscloud.InstanceID(byClaim[claim])
			if err != nil {
				t.Fatalf("claim %s: %v", claim, err)
			}
			return id
		}
		url := s.CreateQueue("asg-interruptions")
		h := &awscloud.ClaimHandler{Client: kube, Recorder: events.NewFakeRecorder(10), Log: logr.Discard()}
		q := &awscloud.Queue{SQS: awscloud.NewClients(cfg).SQS, Name: "asg-interruptions", Handler: h, Log: logr.Discard()}
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { _ = q.Start(runCtx); close(done) }()
		defer func() { stop(); <-done }()
		s.SendMessage(url, `{"id":"a1","detail-type":"EC2 Spot Instance Interruption Warning","source":"aws.ec2","detail":{"instance-id":"`+idOf(spot)+`","instance-action":"terminate"}}`)
		s.SendMessage(url, `{"id":"a2","detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","detail":{"instance-id":"`+idOf(stopping)+`","state":"stopping"}}`)
		s.SendMessage(url, `{"id":"a3","detail-type":"EC2 Instance Rebalance Recommendation","source":"aws.ec2","detail":{"instance-id":"`+idOf(rebalance)+`"}}`)
		waitFor(t, "the queue to drain", func() bool { return s.QueueDepth(url) == 0 })
		for claim, want := range map[string]bool{spot: true, stopping: true, rebalance: false} {
			var nc provisionerv1.NodeClaim
			if err := kube.Get(ctx, client.ObjectKey{Name: claim}, &nc); err != nil {
				t.Fatal(err)
			}
			if got := meta.IsStatusConditionTrue(nc.Status.Conditions, provisionerv1.ConditionInterrupted); got != want {
				t.Errorf("claim %s Interrupted %v, want %v (%+v)", claim, got, want, nc.Status.Conditions)
			}
		}
	})

	t.Run("IAMPolicyIsExactlyWhatIsCalled", func(t *testing.T) {
		missing, extra, err := awsfake.CheckPolicy("../../deploy/overlays/eks/iam-policy-asg.json", s.Actions())
		if err != nil {
			t.Fatal(err)
		}
		if len(missing) > 0 || len(extra) > 0 {
			t.Errorf("asg IAM policy: missing %v, granted but never called %v (called: %v)", missing, extra, s.Actions())
		}
	})
}
