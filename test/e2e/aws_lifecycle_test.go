package e2e

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/cloud/asg/nodegroup"
	"github.com/tailor-dev/tailor/test/awsfake"
)

// awsBackend is a Tailor on the AWS fake, with one pool that its backend
// serves: an AWSNodeClass pool (aws) or a pool of one Auto Scaling group
// of m5.xlarge in us-east-1a (asg).
type awsBackend struct {
	c    client.Client
	s    *awsfake.Server
	p    *testPool
	inst *instance
	ns   string
}

func startBackend(t *testing.T, mode, name string, extra ...string) *awsBackend {
	t.Helper()
	b := &awsBackend{c: provClient(t), s: startAWSFake(t), p: newTestPool(name, 0)}
	args := extra
	if mode == "aws" {
		b.p.np.Spec.Template.Spec.NodeClassRef.Name = createAWSClass(t, b.c, name).Name
	} else {
		b.s.AddGroup(awsfake.Group{Name: name, Max: 3, Zones: []string{"us-east-1a"}, InstanceType: "m5.xlarge",
			Tags: map[string]string{nodegroup.TagTaint + b.p.taint.Key: b.p.taint.Value + ":" + string(b.p.taint.Effect)}})
		b.p.np.Spec.Template.Spec.NodeClassRef = nil
		b.p.np.Spec.AutoScalingGroups = &provisionerv1.AutoScalingGroups{Names: []string{name}}
		args = append([]string{"--cloud", "asg"}, extra...)
	}
	t.Cleanup(func() {
		for _, in := range b.s.Instances() {
			_ = env.Clientset().CoreV1().Nodes().Delete(context.Background(), in.NodeName(), metav1.DeleteOptions{})
		}
	})
	b.inst = startAWSTailor(t, b.s, namespace(t, nil), args...)
	registerWebhooks(t, b.inst)
	ownClaimsGoneAtCleanup(t, b.c)
	b.p.create(t, b.c)
	b.ns = namespace(t, map[string]string{"tailor.dev/enabled": "true"})
	return b
}

// run deploys n pods of 1 CPU and waits until they run.
func (b *awsBackend) run(t *testing.T, app string, n int32) {
	t.Helper()
	if _, err := env.Clientset().AppsV1().Deployments(b.ns).Create(context.Background(), podsOf(b.ns, app, n, "1", "1Gi", b.p), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRunning(t, b.ns, app, int(n), 90*time.Second)
}

// TestInstanceGone: an instance terminated out of band, with no
// interruption message (the fake's Vanish: its kwok Node stays), is found
// by the GC — terminated or unknown to EC2 for three checks in a row —
// and its NodeClaim deleted with an InstanceGone Event; the node is
// drained and the pod runs again on a new claim. Both backends.
func TestInstanceGone(t *testing.T) {
	t.Parallel() // own namespaces, pools and Tailor (testLabel)
	for _, mode := range []string{"aws", "asg"} {
		t.Run(mode, func(t *testing.T) {
			b := startBackend(t, mode, "e2e-gone-"+mode, "--provisioner-gc-interval", "1s", "--instance-gone-grace", "3s", "--instance-gone-checks", "3")
			c, s, p, ns := b.c, b.s, b.p, b.ns
			b.run(t, "app", 1)
			node := nodeOfPod(t, ns, "app")
			claim := node.Labels[provisionerv1.LabelNodeClaim]
			id := node.Spec.ProviderID[strings.LastIndex(node.Spec.ProviderID, "/")+1:]
			// aws: EC2 answers "terminated"; asg: it forgets the id (NotFound).
			if !s.Vanish(id, mode == "asg") {
				t.Fatalf("no instance %s in the fake", id)
			}
			start := time.Now()
			eventually(t, 90*time.Second, func(ctx context.Context) (bool, string) {
				var nc provisionerv1.NodeClaim
				err := c.Get(ctx, types.NamespacedName{Name: claim}, &nc)
				return apierrors.IsNotFound(err), fmt.Sprintf("NodeClaim %s of vanished instance %s: %v", claim, id, err)
			})
			note := claimEvent(t, node, "InstanceGone", id)
			t.Logf("NodeClaim %s deleted %s after its instance vanished: %s", claim, time.Since(start).Round(100*time.Millisecond), note)
			waitRunning(t, ns, "app", 1, 90*time.Second)
			if again := nodeOfPod(t, ns, "app"); again.Name == node.Name {
				t.Errorf("the pod still runs on %s, whose instance is gone", node.Name)
			}
			re := regexp.MustCompile(`tailor_provisioner_nodeclaims_terminated_total\{nodepool="` + p.np.Name + `",reason="instance_gone"\} (\S+)`)
			if v := metricValue(t, b.inst, re); v != 1 {
				t.Errorf("nodeclaims terminated for instance_gone = %v, want 1", v)
			}
			scaleTo(t, ns, "app", 0)
			waitPoolEmpty(t, c, p.np.Name, 90*time.Second)
		})
	}
}

// TestASGInterruption: --interruption-queue with --cloud=asg. A spot
// interruption warning for a group's instance taken by a claim: the claim
// is marked Interrupted, a replacement launched (the group grows) and
// Initialized before the old node drains, the old instance terminated in
// its group, the message deleted.
func TestASGInterruption(t *testing.T) {
	t.Parallel() // own namespaces, pools and Tailor (testLabel)
	b := startBackend(t, "asg", "e2e-asg-int", "--interruption-queue", "e2e-asg-interruptions")
	queue := b.s.CreateQueue("e2e-asg-interruptions")
	b.run(t, "app", 1)
	node := nodeOfPod(t, b.ns, "app")
	claim := node.Labels[provisionerv1.LabelNodeClaim]
	id := node.Spec.ProviderID[strings.LastIndex(node.Spec.ProviderID, "/")+1:]
	b.s.SendMessage(queue, `{"version":"0","id":"e2e-asg-1","detail-type":"EC2 Spot Instance Interruption Warning","source":"aws.ec2","region":"us-east-1",`+
		`"detail":{"instance-id":"`+id+`","instance-action":"terminate"}}`)
	start := time.Now()
	replacedBeforeDrain(t, b.c, claim, func() (bool, string) {
		return b.s.QueueDepth(queue) == 0, fmt.Sprintf("%d messages left", b.s.QueueDepth(queue))
	})
	claimEvent(t, node, "Interrupted", id)
	waitRunning(t, b.ns, "app", 1, 90*time.Second)
	again := nodeOfPod(t, b.ns, "app")
	g, _ := b.s.Group("e2e-asg-int")
	if again.Name == node.Name || groupOf(b.s, again) != "e2e-asg-int" || g.Desired != 1 || slices.Contains(g.Instances, id) {
		t.Errorf("after the interruption the pod runs on %s (group %q); group %+v; want a new instance of the group, the old one out, desired 1", again.Name, groupOf(b.s, again), g)
	}
	t.Logf("interrupted %s (NodeClaim %s): replaced in its group, pod Running again %s later", id, claim, time.Since(start).Round(100*time.Millisecond))
	re := regexp.MustCompile(`tailor_interruption_messages_total\{kind="SpotInterruption",outcome="handled"\} (\S+)`)
	if v := metricValue(t, b.inst, re); v != 1 {
		t.Errorf("SpotInterruption handled = %v, want 1", v)
	}
	scaleTo(t, b.ns, "app", 0)
	waitPoolEmpty(t, b.c, b.p.np.Name, 90*time.Second)
}
