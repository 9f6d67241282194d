package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/catalog"
	"github.com/tailor-dev/tailor/provisioner/cloud/sim"
	"github.com/tailor-dev/tailor/test/awsfake"
)

// The aws backend (issue 13) on the real control plane: Tailor runs with
// --cloud=aws against the local AWS fake, whose launched instances become
// kwok Nodes with their providerID, so pending pods really run.

const awsCluster = "e2e-aws"

// startAWSFake starts the fake; its instances register as kwok Nodes (as
// an instance's kubelet would: instance labels, the unregistered taint)
// and leave when terminated.
func startAWSFake(t *testing.T) *awsfake.Server {
	t.Helper()
	s, err := awsfake.New(awsCluster)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	nodes := env.Clientset().CoreV1().Nodes()
	s.OnLaunch(func(in awsfake.Instance) {
		ct, ok := catalog.Lookup(in.Type)
		if !ok {
			return
		}
		o := catalog.DefaultOptions()
		labels := ct.Labels(o)
		labels[provisionerv1.LabelZone] = in.Zone
		labels[provisionerv1.LabelCapacityType] = in.CapacityType
		labels[provisionerv1.LabelHostname] = in.NodeName()
		taints := []corev1.Taint{{Key: provisionerv1.TaintUnregistered, Effect: corev1.TaintEffectNoExecute}}
		if in.Group != "" {
			// An Auto Scaling group's instance boots from the group's own
			// launch template: its labels and taints, not Tailor's.
			taints = nil
			for k, v := range in.Labels {
				labels[k] = v
			}
			for _, tt := range in.Taints {
				kv, effect, _ := strings.Cut(tt, ":")
				k, v, _ := strings.Cut(kv, "=")
				taints = append(taints, corev1.Taint{Key: k, Value: v, Effect: corev1.TaintEffect(effect)})
			}
		}
		n := sim.KwokNode(in.NodeName(), in.ProviderID(), labels, taints, ct.Capacity(o), ct.Allocatable(o))
		if _, err := nodes.Create(context.Background(), n, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Logf("node for %s: %v", in.ID, err)
		}
	})
	s.OnTerminate(func(in awsfake.Instance) {
		_ = nodes.Delete(context.Background(), in.NodeName(), metav1.DeleteOptions{})
	})
	return s
}

// startAWSTailor runs the webhook and the provisioner with --cloud=aws
// against the fake.
func startAWSTailor(t *testing.T, s *awsfake.Server, ns string, extra ...string) *instance {
	t.Helper()
	inst := newInstance(t)
	inst.certDir, inst.caPEM = servingCerts(t)
	args := append([]string{"run", "--kubeconfig", env.Kubeconfig, "--cert-dir", inst.certDir, "--metrics-secure=false",
		"--leader-elect=false", "--components", "webhook,provisioner", "--cloud", "aws", "--cluster-name", awsCluster,
		"--aws-region", "us-east-1", "--aws-endpoint-url", s.URL}, inst.loopbackArgs()...)
	args = append(append(args, scopeArgs(t)...), extra...)
	inst.cmd = exec.Command(tailorBin, args...)
	inst.cmd.Env = append(inst.cmd.Environ(), "POD_NAMESPACE="+ns, "AWS_ACCESS_KEY_ID=AKIDE2E", "AWS_SECRET_ACCESS_KEY=e2e", "AWS_EC2_METADATA_DISABLED=true")
	startInstance(t, inst)
	eventually(t, 60*time.Second, func(context.Context) (bool, string) {
		code, body, err := get(inst.probe + "/readyz")
		return err == nil && code == 200, fmt.Sprintf("/readyz: %d %q %v", code, body, err)
	})
	return inst
}

// createAWSClass creates an AWSNodeClass of the fake's subnets and
// security groups as the test's own (resolved by its Tailor:
// --nodepool-selector), deleted when the test ends.
func createAWSClass(t *testing.T, c client.Client, name string) *provisionerv1.AWSNodeClass {
	t.Helper()
	class := &provisionerv1.AWSNodeClass{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: provisionerv1.AWSNodeClassSpec{
			Role:                       "NodeRole-e2e",
			AMISelectorTerms:           []provisionerv1.AMISelectorTerm{{Alias: "al2023@latest"}},
			SubnetSelectorTerms:        []provisionerv1.SubnetSelectorTerm{{Tags: map[string]string{"tailor.dev/discovery": awsCluster}}},
			SecurityGroupSelectorTerms: []provisionerv1.SecurityGroupSelectorTerm{{Tags: map[string]string{"tailor.dev/discovery": awsCluster}}},
		},
	}
	own(t, class)
	ctx := context.Background()
	_ = c.Delete(ctx, class)
	if err := c.Create(ctx, class); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Delete(context.Background(), class) })
	return class
}

func TestAWSFleet(t *testing.T) {
	t.Parallel() // own namespaces, pools and Tailor (testLabel)
	c := provClient(t)
	s := startAWSFake(t)
	class := createAWSClass(t, c, "e2e-aws")
	ctx := context.Background()
	state := namespace(t, nil)
	queue := s.CreateQueue("e2e-interruptions")
	inst := startAWSTailor(t, s, state, "--interruption-queue", "e2e-interruptions")
	registerWebhooks(t, inst)
	ownClaimsGoneAtCleanup(t, c)

	// The node class is resolved into its status.
	eventually(t, 30*time.Second, func(ctx context.Context) (bool, string) {
		got := &provisionerv1.AWSNodeClass{}
		if err := c.Get(ctx, types.NamespacedName{Name: class.Name}, got); err != nil {
			return false, err.Error()
		}
		return meta.IsStatusConditionTrue(got.Status.Conditions, provisionerv1.ConditionReady) && len(got.Status.Subnets) == 3,
			fmt.Sprintf("status %+v", got.Status)
	})

	ns := namespace(t, map[string]string{"tailor.dev/enabled": "true"})
	p := newTestPool("e2e-aws", 0,
		req(provisionerv1.LabelCapacityType, corev1.NodeSelectorOpIn, "on-demand"),
		req(provisionerv1.LabelInstanceFamily, corev1.NodeSelectorOpIn, "c5", "m5"))
	p.np.Spec.Template.Spec.NodeClassRef.Name = class.Name
	p.create(t, c)

	// Faults: the cheapest type for a 3-CPU pod has no capacity; the first
	// CreateFleet is throttled twice, then launches but its answer is lost
	// (500): the SDK retries with the same ClientToken.
	s.InsufficientCapacity("c5.xlarge/*/on-demand")
	s.Fail(awsfake.Fault{Action: "ec2:CreateFleet", Code: "RequestLimitExceeded", Status: 503, Times: 2})
	s.Fail(awsfake.Fault{Action: "ec2:CreateFleet", Code: "InternalError", Status: 500, Times: 1, AfterApply: true})

	start := time.Now()
	big := inflate(ns, "big", 1, "3", p)
	if _, err := env.Clientset().AppsV1().Deployments(ns).Create(ctx, big, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRunning(t, ns, "big", 1, 90*time.Second)
	if _, err := env.Clientset().AppsV1().Deployments(ns).Create(ctx, inflate(ns, "inflate", 6, "1", p), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRunning(t, ns, "inflate", 6, 90*time.Second)
	t.Logf("big (3 CPU) and inflate (6 × 1 CPU) Running %s after the first Deployment", time.Since(start).Round(100*time.Millisecond))

	claims, err := claimsOf(ctx, c, p.np.Name)
	if err != nil {
		t.Fatal(err)
	}
	byClaim := map[string]int{}
	for _, in := range s.Running() {
		byClaim[in.Tags[provisionerv1.LabelNodeClaim]]++
	}
	for _, nc := range claims {
		if byClaim[nc.Name] != 1 {
			t.Errorf("NodeClaim %s has %d instances, want exactly 1", nc.Name, byClaim[nc.Name])
		}
		price, _ := strconv.ParseFloat(nc.Status.PricePerHour, 64)
		if live := s.OnDemandPrice(nc.Status.InstanceType); fmt.Sprintf("%.4f", price) != fmt.Sprintf("%.4f", live) {
			t.Errorf("NodeClaim %s: price %s, want the live on-demand price %v", nc.Name, nc.Status.PricePerHour, live)
		}
		if nc.Status.InstanceType == "c5.xlarge" {
			t.Errorf("NodeClaim %s launched c5.xlarge, which had no capacity", nc.Name)
		}
		t.Logf("NodeClaim %s: %s %s %s $%s/h", nc.Name, nc.Status.InstanceType, nc.Status.Zone, nc.Status.ProviderID, nc.Status.PricePerHour)
	}
	if len(s.Running()) != len(claims) {
		t.Errorf("%d instances running for %d NodeClaims", len(s.Running()), len(claims))
	}
	bigPod := waitPods(t, ns, "app=big", 1)[0]
	node, err := env.Clientset().CoreV1().Nodes().Get(ctx, bigPod.Spec.NodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the 3-CPU pod runs on %s (c5.xlarge out of capacity)", node.Labels[provisionerv1.LabelInstanceType])
	if retries := metricValue(t, inst, regexp.MustCompile(`tailor_aws_retries_total\{operation="CreateFleet",service="EC2"\} (\S+)`)); retries < 3 {
		t.Errorf("tailor_aws_retries_total for CreateFleet = %v, want at least 3 (2 throttled, 1 lost answer)", retries)
	}

	// A spot interruption warning for the instance under some inflate
	// pods: its NodeClaim is marked and replaced, the pods run again
	// elsewhere, the message is deleted; a garbage message is counted and
	// deleted, and the loop goes on.
	pod := waitPods(t, ns, "app=inflate", 6)[0]
	victim, err := env.Clientset().CoreV1().Nodes().Get(ctx, pod.Spec.NodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	victimClaim := victim.Labels[provisionerv1.LabelNodeClaim]
	instanceID := victim.Spec.ProviderID[strings.LastIndex(victim.Spec.ProviderID, "/")+1:]
	s.SendMessage(queue, `not an event`)
	s.SendMessage(queue, `{"version":"0","id":"e2e-1","detail-type":"EC2 Spot Instance Interruption Warning","source":"aws.ec2","region":"us-east-1",`+
		`"detail":{"instance-id":"`+instanceID+`","instance-action":"terminate"}}`)
	start = time.Now()
	// The replacement is up before the node drains.
	replacedBeforeDrain(t, c, victimClaim, func() (bool, string) {
		return s.QueueDepth(queue) == 0, fmt.Sprintf("%d messages left", s.QueueDepth(queue))
	})
	waitRunning(t, ns, "inflate", 6, 90*time.Second)
	waitRunning(t, ns, "big", 1, 90*time.Second)
	t.Logf("interrupted %s (NodeClaim %s): replaced and pods Running again %s later", instanceID, victimClaim, time.Since(start).Round(100*time.Millisecond))
	for _, re := range []string{`tailor_interruption_messages_total\{kind="malformed",outcome="ignored"\} (\S+)`, `tailor_interruption_messages_total\{kind="SpotInterruption",outcome="handled"\} (\S+)`} {
		if v := metricValue(t, inst, regexp.MustCompile(re)); v != 1 {
			t.Errorf("%s = %v, want 1", re, v)
		}
	}

	// An instance tagged for the cluster whose NodeClaim does not exist (a
	// crash between launch and the claim) is terminated.
	ghost := s.AddInstance(awsfake.Instance{Type: "m5.large", Zone: "us-east-1a", SubnetID: "subnet-011122334455", CapacityType: "on-demand",
		LaunchTime: time.Now().Add(-2 * time.Minute), Tags: map[string]string{"tailor.dev/cluster": awsCluster, provisionerv1.LabelNodeClaim: "ghost"}})
	eventually(t, 90*time.Second, func(context.Context) (bool, string) {
		for _, in := range s.Running() {
			if in.ID == ghost.ID {
				return false, "orphan " + ghost.ID + " still running"
			}
		}
		return true, ""
	})

	scaleTo(t, ns, "inflate", 0)
	scaleTo(t, ns, "big", 0)
	waitPoolEmpty(t, c, p.np.Name, 90*time.Second)
	if n := len(s.Running()); n != 0 {
		t.Errorf("%d instances still running after scale to 0", n)
	}

	missing, extra, err := awsfake.CheckPolicy("../../deploy/overlays/eks/iam-policy.json", s.Actions())
	if err != nil {
		t.Fatal(err)
	}
	// The e2e run has no second node class (DescribeImages) and no
	// launch template old enough to collect (DeleteLaunchTemplate):
	// TestWire in test/awsfake calls those.
	var notCalled []string
	for _, a := range extra {
		if a != "ec2:DescribeImages" && a != "ec2:DeleteLaunchTemplate" {
			notCalled = append(notCalled, a)
		}
	}
	if len(missing) > 0 || len(notCalled) > 0 {
		t.Errorf("IAM policy vs the e2e run: missing %v, never called %v", missing, notCalled)
	}
	t.Logf("AWS actions called: %s", strings.Join(s.Actions(), " "))
}

// replacedBeforeDrain waits until claim is gone and done holds, and fails
// the test if, when the claim is first seen going, no claim replacing it
// is Initialized yet (the interruption path launches first, drains after).
func replacedBeforeDrain(t *testing.T, c client.Client, claim string, done func() (bool, string)) {
	t.Helper()
	checked := false
	eventually(t, 90*time.Second, func(ctx context.Context) (bool, string) {
		var nc provisionerv1.NodeClaim
		err := c.Get(ctx, types.NamespacedName{Name: claim}, &nc)
		if !checked && (apierrors.IsNotFound(err) || (err == nil && nc.DeletionTimestamp != nil)) {
			checked = true
			var all provisionerv1.NodeClaimList
			if err := c.List(ctx, &all); err != nil {
				t.Fatal(err)
			}
			ready := false
			for _, r := range all.Items {
				if r.Annotations[provisionerv1.AnnotationReplaces] != "" && meta.IsStatusConditionTrue(r.Status.Conditions, provisionerv1.ConditionInitialized) {
					ready = true
				}
			}
			if !ready {
				t.Errorf("claim %s drained before its replacement was Initialized", claim)
			}
		}
		ok, why := done()
		return apierrors.IsNotFound(err) && ok, fmt.Sprintf("claim %s: %v; %s", claim, err, why)
	})
}
