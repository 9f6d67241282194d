package awsfake_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/cloud"
	awscloud "github.com/tailor-dev/tailor/provisioner/cloud/aws"
	"github.com/tailor-dev/tailor/provisioner/interruption"
	"github.com/tailor-dev/tailor/test/awsfake"
)

// The aws backend over the wire: the real SDK clients against the fake.

// startFake starts the fake AWS endpoints for cluster "wire", with static
// credentials and no instance metadata, stopped when the test ends.
func startFake(t *testing.T) *awsfake.Server {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDFAKE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "fake")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	s, err := awsfake.New("wire")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func setup(t *testing.T) (*awsfake.Server, *awscloud.Cloud, client.Client) {
	t.Helper()
	s := startFake(t)
	scheme := runtime.NewScheme()
	if err := provisionerv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	class := &provisionerv1.AWSNodeClass{
		ObjectMeta: metav1.ObjectMeta{Name: "default", Generation: 1},
		Spec: provisionerv1.AWSNodeClassSpec{
			Role:                       "NodeRole",
			AMISelectorTerms:           []provisionerv1.AMISelectorTerm{{Alias: "al2023@latest"}},
			SubnetSelectorTerms:        []provisionerv1.SubnetSelectorTerm{{Tags: map[string]string{"tailor.dev/discovery": "wire"}}},
			SecurityGroupSelectorTerms: []provisionerv1.SecurityGroupSelectorTerm{{Tags: map[string]string{"tailor.dev/discovery": "*"}}},
			Tags:                       map[string]string{"team": "web"},
		},
	}
	// A second class finds its AMI by id (DescribeImages).
	byID := &provisionerv1.AWSNodeClass{ObjectMeta: metav1.ObjectMeta{Name: "by-id", Generation: 1}, Spec: *class.Spec.DeepCopy()}
	byID.Spec.AMISelectorTerms = []provisionerv1.AMISelectorTerm{{ID: "ami-0a1b2c3d4e5f60002"}}
	byID.Spec.AMIFamily = ptr("AL2023")
	// A third by name, among three images on two pages (the fake's pages
	// hold 2 items): the newest, on the second page, wins.
	byName := &provisionerv1.AWSNodeClass{ObjectMeta: metav1.ObjectMeta{Name: "by-name", Generation: 1}, Spec: *class.Spec.DeepCopy()}
	byName.Spec.AMISelectorTerms = []provisionerv1.AMISelectorTerm{{Name: "team-arm-*"}}
	s.AddImage("ami-0000000000000a001", "team-arm-1", "arm64", "2026-01-01T00:00:00.000Z", nil)
	s.AddImage("ami-0000000000000a002", "team-arm-2", "arm64", "2026-02-01T00:00:00.000Z", nil)
	s.AddImage("ami-0000000000000a003", "team-arm-3", "arm64", "2026-03-01T00:00:00.000Z", nil)
	s.SetPageSize(2)
	kube := fake.NewClientBuilder().WithScheme(scheme).WithObjects(class, byID, byName).WithStatusSubresource(class, byID, byName).Build()
	return s, newCloud(t, s, kube, awscloud.DefaultOptions()), kube
}

func ptr[T any](v T) *T { return &v }

func newCloud(t *testing.T, s *awsfake.Server, kube client.Client, o awscloud.Options) *awscloud.Cloud {
	t.Helper()
	cfg, err := awscloud.LoadConfig(context.Background(), "us-east-1", s.URL, 4)
	if err != nil {
		t.Fatal(err)
	}
	o.ClusterName, o.ClusterEndpoint, o.ClusterCA, o.KubernetesVersion = "wire", "https://example.eks", []byte("CA"), "1.37"
	c, err := awscloud.New(kube, awscloud.NewClients(cfg), o, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// start runs c's loops until the test ends.
func start(t *testing.T, c *awscloud.Cloud) {
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = c.Start(runCtx); close(done) }()
	t.Cleanup(func() { stop(); <-done })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func claim(name string, reqs ...provisionerv1.NodeSelectorRequirementWithMinValues) *provisionerv1.NodeClaim {
	return &provisionerv1.NodeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: "uid-" + "name", Labels: map[string]string{provisionerv1.LabelNodePool: "default"}},
		Spec: provisionerv1.NodeClaimSpec{
			NodeClassRef: &provisionerv1.NodeClassReference{Group: "tailor.dev", Kind: "AWSNodeClass", Name: "default"},
			Requirements: reqs,
			Resources:    provisionerv1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3")}},
		},
	}
}

func req(key string, values ...string) provisionerv1.NodeSelectorRequirementWithMinValues {
	return provisionerv1.NodeSelectorRequirementWithMinValues{Key: key, Operator: corev1.NodeSelectorOpIn, Values: values}
}

// TestWire runs every path of the backend once, and checks the shipped IAM
// policy grants exactly the actions called.
func TestWire(t *testing.T) {
	s, c, kube := setup(t)
	ctx := context.Background()
	// Start-up: types, prices, node classes (status), as the leader does.
	start(t, c)
	var class provisionerv1.AWSNodeClass
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := kube.Get(ctx, client.ObjectKey{Name: "default"}, &class); err != nil {
			t.Fatal(err)
		}
		if meta.IsStatusConditionTrue(class.Status.Conditions, provisionerv1.ConditionReady) && s.Count("ec2:DescribeSpotPriceHistory") > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node class status %+v; calls %v", class.Status, s.Actions())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(class.Status.Subnets) != 3 || len(class.Status.SecurityGroups) != 1 || len(class.Status.AMIs) != 2 || class.Status.InstanceProfile != "NodeRole" {
		t.Errorf("resolved status: %+v", class.Status)
	}
	var byName provisionerv1.AWSNodeClass
	waitFor(t, "the by-name class resolved", func() bool {
		return kube.Get(ctx, client.ObjectKey{Name: "by-name"}, &byName) == nil && len(byName.Status.AMIs) > 0
	})
	if a := byName.Status.AMIs; len(a) != 1 || a[0].ID != "ami-0000000000000a003" {
		t.Errorf("AMIs by name over two pages: %+v, want only the newest, ami-0000000000000a003 (second page)", a)
	}

	t.Run("LaunchAtLivePrice", func(t *testing.T) {
		nc := claim("od-1", req(provisionerv1.LabelCapacityType, "on-demand"), req(provisionerv1.LabelInstanceFamily, "c5", "m5"))
		in, err := c.Create(ctx, nc)
		if err != nil {
			t.Fatal(err)
		}
		// c5.xlarge is the cheapest of c5/m5 with 3 CPUs allocatable.
		if in.InstanceType != "c5.xlarge" || in.CapacityType != "on-demand" || in.Price != s.OnDemandPrice("c5.xlarge") {
			t.Errorf("launched %+v; want c5.xlarge on-demand at the live price %v", in, s.OnDemandPrice("c5.xlarge"))
		}
		got, err := c.Get(ctx, in.ProviderID)
		if err != nil || got.NodeClaim != "od-1" || got.InstanceType != "c5.xlarge" {
			t.Errorf("Get: %+v %v", got, err)
		}
		run := s.Running()
		lt := s.LaunchTemplates()[run[len(run)-1].LaunchTemplate]
		if lt["MetadataOptions.HttpTokens"] != "required" || lt["MetadataOptions.HttpPutResponseHopLimit"] != "1" || lt["IamInstanceProfile.Name"] != "NodeRole" ||
			!strings.Contains(lt["UserData"], "apiServerEndpoint: https://example.eks") || !strings.Contains(lt["UserData"], "tailor.dev/nodepool=default") {
			t.Errorf("launch template %v", lt)
		}
		tags := run[len(run)-1].Tags
		for k, v := range map[string]string{"tailor.dev/cluster": "wire", "kubernetes.io/cluster/wire": "owned", "tailor.dev/nodeclaim": "od-1", "tailor.dev/nodepool": "default", "team": "web"} {
			if tags[k] != v {
				t.Errorf("instance tag %s=%q, want %q (all: %v)", k, tags[k], v, tags)
			}
		}
	})

	t.Run("AMIFamiliesBootstrapTheirWay", func(t *testing.T) {
		// An alias picks the family: AL2 boots with bootstrap.sh, Bottlerocket
		// with TOML settings, each from its own SSM parameter's AMI.
		for alias, want := range map[string][2]string{
			"al2@latest":          {"ami-0a1b2c3d4e5f60003", "/etc/eks/bootstrap.sh 'wire' --apiserver-endpoint 'https://example.eks'"},
			"bottlerocket@latest": {"ami-0a1b2c3d4e5f60005", "[settings.kubernetes]\ncluster-name = \"wire\"\napi-server = \"https://example.eks\""},
		} {
			name := strings.Split(alias, "@")[0]
			class := &provisionerv1.AWSNodeClass{ObjectMeta: metav1.ObjectMeta{Name: name, Generation: 1}, Spec: provisionerv1.AWSNodeClassSpec{
				Role: "NodeRole", AMISelectorTerms: []provisionerv1.AMISelectorTerm{{Alias: alias}},
				SubnetSelectorTerms:        []provisionerv1.SubnetSelectorTerm{{Tags: map[string]string{"tailor.dev/discovery": "wire"}}},
				SecurityGroupSelectorTerms: []provisionerv1.SecurityGroupSelectorTerm{{Tags: map[string]string{"tailor.dev/discovery": "*"}}},
			}}
			if err := kube.Create(ctx, class); err != nil {
				t.Fatal(err)
			}
			nc := claim(name+"-1", req(provisionerv1.LabelCapacityType, "on-demand"), req(provisionerv1.LabelArch, "amd64"))
			nc.Spec.NodeClassRef.Name = name
			in, err := c.Create(ctx, nc)
			if err != nil {
				t.Fatal(err)
			}
			var lt map[string]string
			for _, i := range s.Instances() {
				if i.ProviderID() == in.ProviderID {
					lt = s.LaunchTemplates()[i.LaunchTemplate]
				}
			}
			if name == "bottlerocket" && (lt["BlockDeviceMapping.2.DeviceName"] != "/dev/xvdb" || lt["BlockDeviceMapping.1.Ebs.VolumeSize"] != "4") {
				t.Errorf("bottlerocket block devices: %v", lt)
			}
			if lt["ImageId"] != want[0] || !strings.Contains(lt["UserData"], want[1]) {
				t.Errorf("%s: launch template image %s, user data:\n%s\nwant %s and %q", alias, lt["ImageId"], lt["UserData"], want[0], want[1])
			}
		}
	})

	t.Run("RetriedAfterALostResponseLaunchesOnce", func(t *testing.T) {
		before := len(s.Running())
		s.Fail(awsfake.Fault{Action: "ec2:CreateFleet", Code: "InternalError", Status: 500, Times: 1, AfterApply: true})
		s.Fail(awsfake.Fault{Action: "ec2:DescribeInstances", Code: "RequestLimitExceeded", Status: 503, Times: 2})
		in, err := c.Create(ctx, claim("lost-1", req(provisionerv1.LabelCapacityType, "spot")))
		if err != nil {
			t.Fatal(err)
		}
		if n := len(s.Running()); n != before+1 {
			t.Errorf("%d instances launched, want 1", n-before)
		}
		all, err := c.List(ctx) // throttled twice, then answered
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, i := range all {
			found = found || i.ProviderID == in.ProviderID
		}
		if !found || in.CapacityType != "spot" || in.Price != s.SpotPrice(in.InstanceType, in.Zone) {
			t.Errorf("instance %+v (listed: %v)", in, found)
		}
	})

	t.Run("CrashBetweenLaunchAndStatusLaunchesOnce", func(t *testing.T) {
		// Every attempt of the first Create launches but loses its answer
		// (as a Tailor that dies after CreateFleet); the next Create for
		// the same claim — the retry, or a new leader whose instance list
		// has not caught up — sends the same ClientToken.
		before := len(s.Running())
		s.Fail(awsfake.Fault{Action: "ec2:CreateFleet", Code: "InternalError", Status: 500, Times: 4, AfterApply: true})
		nc := claim("crash-1", req(provisionerv1.LabelCapacityType, "on-demand"))
		if _, err := c.Create(ctx, nc); err == nil {
			t.Fatal("the first Create should have failed")
		}
		in, err := c.Create(ctx, nc)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(s.Running()); n != before+1 {
			t.Errorf("%d instances for one claim, want 1", n-before)
		}
		if got, err := c.Get(ctx, in.ProviderID); err != nil || got.NodeClaim != "crash-1" {
			t.Errorf("Get: %+v %v", got, err)
		}
	})

	t.Run("InsufficientCapacityMarksAndFallsBack", func(t *testing.T) {
		s.InsufficientCapacity("c5.xlarge/*/on-demand")
		nc := claim("ice-1", req(provisionerv1.LabelCapacityType, "on-demand"), req(provisionerv1.LabelInstanceFamily, "c5", "m5"))
		in, err := c.Create(ctx, nc)
		if err != nil {
			t.Fatal(err)
		}
		if in.InstanceType == "c5.xlarge" || len(in.InsufficientCapacity) != 3 {
			t.Errorf("launched %s with insufficient capacity %v; want another type, 3 offerings marked", in.InstanceType, in.InsufficientCapacity)
		}
		s.InsufficientCapacity("*/*/*")
		_, err = c.Create(ctx, claim("ice-2", req(provisionerv1.LabelCapacityType, "on-demand"), req(provisionerv1.LabelInstanceType, "m5.xlarge")))
		if !cloud.IsInsufficientCapacity(err) {
			t.Errorf("all out of capacity: %v", err)
		}
		s.InsufficientCapacity()
	})

	t.Run("TerminateAndNotFound", func(t *testing.T) {
		run := s.Running()
		id := run[0].ProviderID()
		if err := c.Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Get(ctx, id); !cloud.IsNotFound(err) {
			t.Errorf("Get after terminate: %v", err)
		}
		if err := c.Delete(ctx, "aws:///us-east-1a/i-00000000000000000"); !cloud.IsNotFound(err) {
			t.Errorf("Delete of an unknown instance: %v", err)
		}
	})

	t.Run("UnusedLaunchTemplatesCollected", func(t *testing.T) {
		// Five more of this cluster's (an earlier Tailor's), and one of
		// another cluster's: with pages of 2, one collection (the one at
		// start-up: the next is an hour away) must read every page.
		for i := range 5 {
			s.AddLaunchTemplate(fmt.Sprintf("tailor-wire-old%d", i), map[string]string{"tailor.dev/cluster": "wire"}, time.Now().Add(-2*time.Hour))
		}
		s.AddLaunchTemplate("tailor-other-old", map[string]string{"tailor.dev/cluster": "other"}, time.Now().Add(-2*time.Hour))
		if n := len(s.LaunchTemplates()); n < 7 {
			t.Fatalf("%d launch templates before the collection, want at least 7", n)
		}
		o := awscloud.DefaultOptions()
		o.LaunchTemplateTTL, o.NodeClassRefresh = time.Nanosecond, time.Hour
		start(t, newCloud(t, s, kube, o))
		waitFor(t, "this cluster's launch templates to be deleted", func() bool {
			lts := s.LaunchTemplates()
			_, other := lts["tailor-other-old"]
			return len(lts) == 1 && other
		})
	})

	t.Run("InterruptionQueue", func(t *testing.T) {
		url := s.CreateQueue("wire-interruptions")
		cfg, err := awscloud.LoadConfig(ctx, "us-east-1", s.URL, 4)
		if err != nil {
			t.Fatal(err)
		}
		h := &recordingHandler{}
		q := &awscloud.Queue{SQS: awscloud.NewClients(cfg).SQS, Name: "wire-interruptions", Handler: h, Log: logr.Discard()}
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { _ = q.Start(runCtx); close(done) }()
		defer func() { stop(); <-done }()
		s.SendMessage(url, `{"id":"1","detail-type":"EC2 Spot Instance Interruption Warning","source":"aws.ec2","detail":{"instance-id":"i-0b662ef9931388ba0","instance-action":"terminate"}}`)
		s.SendMessage(url, `garbage`)
		waitFor(t, "the queue to drain", func() bool { return s.QueueDepth(url) == 0 })
		if got := h.got(); len(got) != 1 || got[0] != "i-0b662ef9931388ba0 SpotInterruption" {
			t.Errorf("handled %v", got)
		}
	})

	t.Run("IAMPolicyIsExactlyWhatIsCalled", func(t *testing.T) {
		checkPolicy(t, s.Actions())
	})
}

func checkPolicy(t *testing.T, called []string) {
	t.Helper()
	missing, extra, err := awsfake.CheckPolicy("../../deploy/overlays/eks/iam-policy.json", called)
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) > 0 || len(extra) > 0 {
		t.Errorf("IAM policy: missing %v, granted but never called %v (called: %v)", missing, extra, called)
	}
}

type recordingHandler struct {
	mu   sync.Mutex
	seen []string
}

func (h *recordingHandler) Interrupted(_ context.Context, id string, m interruption.Message) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seen = append(h.seen, id+" "+string(m.Kind))
	return nil
}

func (h *recordingHandler) got() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.seen...)
}
