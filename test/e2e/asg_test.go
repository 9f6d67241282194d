package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/cloud/asg/nodegroup"
	"github.com/tailor-dev/tailor/test/awsfake"
)

// The asg backend (issue 13, the Cluster Autoscaler's mode) on the real
// control plane: Tailor runs with --cloud=asg against the AWS fake, whose
// Auto Scaling groups launch kwok Nodes with the groups' labels and taints.

// podsOf is a Deployment of pause pods with cpu and memory requests that
// tolerate the pool's taint.
func podsOf(ns, name string, replicas int32, cpu, mem string, p *testPool) *appsv1.Deployment {
	d := inflate(ns, name, replicas, cpu, p)
	d.Spec.Template.Spec.Containers[0].Resources.Requests[corev1.ResourceMemory] = resource.MustParse(mem)
	return d
}

// nodeOfPod is the Node the first pod of app=name runs on.
func nodeOfPod(t *testing.T, ns, name string) *corev1.Node {
	t.Helper()
	pod := waitPods(t, ns, "app="+name, 1)[0]
	node, err := env.Clientset().CoreV1().Nodes().Get(context.Background(), pod.Spec.NodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return node
}

// groupOf is the fake's group that launched the node's instance.
func groupOf(s *awsfake.Server, node *corev1.Node) string {
	for _, in := range s.Instances() {
		if in.ProviderID() == node.Spec.ProviderID {
			return in.Group
		}
	}
	return ""
}

// claimEvent waits for an Event with reason on the NodeClaim of node whose
// note contains want, and returns the note.
func claimEvent(t *testing.T, node *corev1.Node, reason, want string) string {
	t.Helper()
	claim := node.Labels[provisionerv1.LabelNodeClaim]
	var note string
	eventually(t, 30*time.Second, func(ctx context.Context) (bool, string) {
		evs, err := env.Clientset().EventsV1().Events("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, e := range evs.Items {
			if e.Reason == reason && e.Regarding.Name == claim && strings.Contains(e.Note, want) {
				note = e.Note
				return true, ""
			}
		}
		return false, fmt.Sprintf("no %s Event on NodeClaim %q containing %q", reason, claim, want)
	})
	return note
}

func TestASG(t *testing.T) {
	t.Parallel() // own namespaces, pools and Tailor (testLabel)
	c := provClient(t)
	s := startAWSFake(t)
	ctx := context.Background()
	p := newTestPool("e2e-asg", 0)
	taintTag := map[string]string{nodegroup.TagTaint + p.taint.Key: p.taint.Value + ":" + string(p.taint.Effect)}
	tags := func(cluster string) map[string]string {
		out := map[string]string{nodegroup.TagEnabled: "true", nodegroup.TagCluster + cluster: "owned"}
		for k, v := range taintTag {
			out[k] = v
		}
		return out
	}
	// Discovered by the Cluster Autoscaler's tags: a mixed group whose
	// first override (c5.2xlarge, 16 GiB) is not the type it launches
	// (lowest-price: r5.xlarge, 32 GiB); m5.xlarge on-demand and spot.
	mixedTags := tags(awsCluster)
	mixedTags[nodegroup.TagLabel+"e2e.tailor.dev/memory"] = "high"
	s.AddGroup(awsfake.Group{Name: "asg-mixed", Max: 3, Zones: []string{"us-east-1a"}, Overrides: []string{"c5.2xlarge", "r5.xlarge"},
		OnDemandStrategy: "lowest-price", Tags: mixedTags})
	s.AddGroup(awsfake.Group{Name: "asg-od", Max: 3, Zones: []string{"us-east-1b"}, InstanceType: "m5.xlarge", Tags: tags(awsCluster)})
	s.AddGroup(awsfake.Group{Name: "asg-spot", Max: 3, Zones: []string{"us-east-1b"}, Overrides: []string{"m5.xlarge"}, Spot: true, Tags: tags(awsCluster)})
	// Another cluster's group (cheaper, never used) and a group named by
	// the pool without the tags, with one node at its min size.
	s.AddGroup(awsfake.Group{Name: "asg-other", Max: 3, Zones: []string{"us-east-1b"}, Overrides: []string{"m5.xlarge"}, Spot: true, Tags: tags("another")})
	s.AddGroup(awsfake.Group{Name: "asg-base", Min: 1, Max: 1, Desired: 1, Zones: []string{"us-east-1c"}, InstanceType: "m5.large", Tags: taintTag})
	t.Cleanup(func() {
		for _, in := range s.Running() {
			_ = env.Clientset().CoreV1().Nodes().Delete(context.Background(), in.NodeName(), metav1.DeleteOptions{})
		}
	})

	state := namespace(t, nil)
	inst := startAWSTailor(t, s, state, "--cloud", "asg")
	registerWebhooks(t, inst)
	ownClaimsGoneAtCleanup(t, c)
	p.np.Spec.Template.Spec.NodeClassRef = nil
	p.np.Spec.AutoScalingGroups = &provisionerv1.AutoScalingGroups{Names: []string{"asg-base"},
		SelectorTerms: []provisionerv1.AutoScalingGroupSelectorTerm{{Tags: map[string]string{nodegroup.TagEnabled: "true", nodegroup.TagCluster + awsCluster: "*"}}}}
	p.create(t, c)

	// Discovery: the pool's Event lists the named group and the three
	// tagged for this cluster, not the other cluster's; the node the named
	// group had already gets the pool's label.
	eventually(t, 60*time.Second, func(ctx context.Context) (bool, string) {
		evs, err := env.Clientset().EventsV1().Events("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, e := range evs.Items {
			if e.Reason == "AutoScalingGroups" && e.Regarding.Name == p.np.Name {
				ok := strings.HasPrefix(e.Note, "4 Auto Scaling groups: asg-base") && !strings.Contains(e.Note, "asg-other")
				for _, g := range []string{"asg-mixed (0/0..3, next r5.xlarge on-demand)", "asg-od", "asg-spot"} {
					ok = ok && strings.Contains(e.Note, g)
				}
				if ok {
					t.Logf("discovered: %s", e.Note)
					return true, ""
				}
			}
		}
		return false, "no AutoScalingGroups Event listing the discovered groups"
	})
	base, _ := s.Group("asg-base")
	eventually(t, 30*time.Second, func(ctx context.Context) (bool, string) {
		var n corev1.Node
		for _, in := range s.Running() {
			if in.ID == base.Instances[0] {
				if err := c.Get(ctx, client.ObjectKey{Name: in.NodeName()}, &n); err != nil {
					return false, err.Error()
				}
			}
		}
		return n.Labels[provisionerv1.LabelNodePool] == p.np.Name, fmt.Sprintf("asg-base's node labels %v", n.Labels)
	})

	ns := namespace(t, map[string]string{"tailor.dev/enabled": "true"})
	create := func(d *appsv1.Deployment) {
		t.Helper()
		if _, err := env.Clientset().AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// Scale from zero of the mixed group: a pod of 20 GiB fits r5.xlarge
	// only, which is not the first override (the Cluster Autoscaler's
	// template, c5.2xlarge, would not fit it: #9568).
	start := time.Now()
	create(podsOf(ns, "mem", 1, "1", "20Gi", p))
	waitRunning(t, ns, "mem", 1, 90*time.Second)
	node := nodeOfPod(t, ns, "mem")
	t.Logf("20 GiB pod Running %s after its Deployment on %s (%s, group %s)", time.Since(start).Round(100*time.Millisecond),
		node.Name, node.Labels[provisionerv1.LabelInstanceType], groupOf(s, node))
	if node.Labels[provisionerv1.LabelInstanceType] != "r5.xlarge" || groupOf(s, node) != "asg-mixed" || node.Labels["e2e.tailor.dev/memory"] != "high" ||
		node.Labels[provisionerv1.LabelNodePool] != p.np.Name {
		t.Errorf("the 20 GiB pod runs on %s from group %q, labels %v; want r5.xlarge from asg-mixed with its node-template label and the pool",
			node.Labels[provisionerv1.LabelInstanceType], groupOf(s, node), node.Labels)
	}

	// The price expander: a 3-CPU pod fits m5.xlarge in asg-od and
	// asg-spot (and r5.xlarge in asg-mixed); the spot group is cheapest
	// (least-waste or the name would take asg-od or asg-mixed).
	create(podsOf(ns, "cpu", 1, "3", "1Gi", p))
	waitRunning(t, ns, "cpu", 1, 90*time.Second)
	node = nodeOfPod(t, ns, "cpu")
	if groupOf(s, node) != "asg-spot" || node.Labels[provisionerv1.LabelCapacityType] != "spot" {
		t.Errorf("the 3-CPU pod runs on group %q (%s); want asg-spot, the cheapest", groupOf(s, node), node.Labels[provisionerv1.LabelCapacityType])
	}
	note := claimEvent(t, node, "ScaledUp", "ranked first by price")
	t.Logf("3-CPU pod: %s", note)

	// A capacity failure falls back at once: asg-spot has no m5.xlarge
	// spot capacity now; its scaling activity fails, its desired capacity
	// is given back and asg-od launches, without waiting.
	s.InsufficientCapacity("m5.xlarge/*/spot")
	create(podsOf(ns, "fallback", 1, "3", "1Gi", p))
	waitRunning(t, ns, "fallback", 1, 90*time.Second)
	node = nodeOfPod(t, ns, "fallback")
	note = claimEvent(t, node, "ScaledUp", "")
	t.Logf("after asg-spot's capacity failure: %s", note)
	spot, _ := s.Group("asg-spot")
	if groupOf(s, node) != "asg-od" || s.FailedActivities("asg-spot") != 1 || spot.Desired != 1 {
		t.Errorf("fallback pod on group %q; asg-spot: %d failed activities, desired %d; want asg-od, 1, 1",
			groupOf(s, node), s.FailedActivities("asg-spot"), spot.Desired)
	}
	claimEvent(t, node, "InsufficientCapacity", "asg-spot")
	s.InsufficientCapacity()

	// Scale-down decrements: with the pods gone, each claim's node is
	// empty after consolidateAfter (10 s) and its instance terminated in
	// its group with the desired capacity lowered; asg-base keeps its min.
	for _, d := range []string{"mem", "cpu", "fallback"} {
		scaleTo(t, ns, d, 0)
	}
	eventually(t, 120*time.Second, func(ctx context.Context) (bool, string) {
		claims, err := claimsOf(ctx, c, p.np.Name)
		if err != nil {
			return false, err.Error()
		}
		var sizes []string
		done := len(claims) == 0
		for _, name := range []string{"asg-mixed", "asg-od", "asg-spot", "asg-base"} {
			g, _ := s.Group(name)
			sizes = append(sizes, fmt.Sprintf("%s %d/%d", name, g.Desired, len(g.Instances)))
			want := 0
			if name == "asg-base" {
				want = 1
			}
			done = done && g.Desired == want && len(g.Instances) == want
		}
		return done, fmt.Sprintf("%d claims; desired/instances: %s", len(claims), strings.Join(sizes, ", "))
	})
	// One decrementing termination per claim (a repeated call for an
	// instance already gone is NotFound, not counted).
	for _, g := range []string{"asg-mixed", "asg-od", "asg-spot"} {
		re := regexp.MustCompile(`tailor_asg_scale_downs_total\{group="` + g + `",outcome="decremented"\} (\S+)`)
		if v := metricValue(t, inst, re); v != 1 {
			t.Errorf("tailor_asg_scale_downs_total{group=%q,outcome=\"decremented\"} = %v, want 1", g, v)
		}
	}
	if other, _ := s.Group("asg-other"); other.Desired != 0 {
		t.Errorf("another cluster's group was scaled: %+v", other)
	}

	missing, extra, err := awsfake.CheckPolicy("../../deploy/overlays/eks/iam-policy-asg.json", s.Actions())
	if err != nil {
		t.Fatal(err)
	}
	// This run has no managed node group (eks:DescribeNodegroup) and no
	// interruption queue (sqs:*): TestWireASG in test/awsfake calls those.
	var notCalled []string
	for _, a := range extra {
		if a != "eks:DescribeNodegroup" && !strings.HasPrefix(a, "sqs:") {
			notCalled = append(notCalled, a)
		}
	}
	if len(missing) > 0 || len(notCalled) > 0 {
		t.Errorf("asg IAM policy vs the e2e run: missing %v, never called %v", missing, notCalled)
	}
	t.Logf("AWS actions called: %s", strings.Join(s.Actions(), " "))
}
