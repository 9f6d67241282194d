package e2e

import (
	"context"
	"fmt"
	"maps"
	"math"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/catalog"
	"github.com/tailor-dev/tailor/provisioner/cloud/sim"
	"github.com/tailor-dev/tailor/provisioner/scope"
)

// The provisioner's acceptance (issue 11) on the real control plane with
// the sim cloud. Each test's Tailor acts on the test's own NodePools
// (labelled testLabel, --nodepool-selector), so the tests run side by
// side; each pool also has its own taint, which only its own pods
// tolerate, so no pool of one test can take another test's pods.

// provClient is a controller-runtime client that knows Tailor's types.
func provClient(t *testing.T) client.Client {
	t.Helper()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, provisionerv1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	c, err := client.New(env.RESTConfig(), client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// simFaults writes the sim cloud's faults ConfigMap in its state namespace.
func simFaults(t *testing.T, state string, faults map[string]string) {
	t.Helper()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: sim.FaultsConfigMap, Namespace: state}, Data: faults}
	if _, err := env.Clientset().CoreV1().ConfigMaps(state).Create(context.Background(), cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// startProvisioner runs the webhook and the provisioner (or extra's
// --components) with the sim cloud,
// its state and faults in ns; no leader election, so that a killed
// instance's successor acts at once.
func startProvisioner(t *testing.T, ns string, extra ...string) *instance {
	t.Helper()
	inst := newInstance(t)
	inst.certDir, inst.caPEM = servingCerts(t)
	args := append([]string{"run", "--kubeconfig", env.Kubeconfig, "--cert-dir", inst.certDir, "--metrics-secure=false",
		"--leader-elect=false", "--cloud", "sim", "--sim-launch-delay", "1s"}, inst.loopbackArgs()...)
	if !slices.ContainsFunc(extra, func(a string) bool { return strings.HasPrefix(a, "--components") }) {
		args = append(args, "--components", "webhook,provisioner")
	}
	args = append(append(args, scopeArgs(t)...), extra...)
	inst.cmd = exec.Command(tailorBin, args...)
	inst.cmd.Env = append(inst.cmd.Environ(), "POD_NAMESPACE="+ns)
	startInstance(t, inst)
	eventually(t, 60*time.Second, func(context.Context) (bool, string) {
		code, body, err := get(inst.probe + "/readyz")
		return err == nil && code == 200, fmt.Sprintf("/readyz: %d %q %v", code, body, err)
	})
	return inst
}

// ensureNodeClass creates the AWSNodeClass every test pool names (the sim
// cloud does not read it; the same YAML works on EKS).
func ensureNodeClass(t *testing.T, c client.Client) {
	t.Helper()
	nc := &provisionerv1.AWSNodeClass{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e"},
		Spec: provisionerv1.AWSNodeClassSpec{
			Role:                       "KarpenterNodeRole-e2e",
			AMISelectorTerms:           []provisionerv1.AMISelectorTerm{{Alias: "al2023@latest"}},
			SubnetSelectorTerms:        []provisionerv1.SubnetSelectorTerm{{Tags: map[string]string{"tailor.dev/discovery": "e2e"}}},
			SecurityGroupSelectorTerms: []provisionerv1.SecurityGroupSelectorTerm{{Tags: map[string]string{"tailor.dev/discovery": "e2e"}}},
		},
	}
	if err := c.Create(context.Background(), nc); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func req(key string, op corev1.NodeSelectorOperator, values ...string) provisionerv1.NodeSelectorRequirementWithMinValues {
	return provisionerv1.NodeSelectorRequirementWithMinValues{Key: key, Operator: op, Values: values}
}

// testPool is a NodePool tainted for one test; its pods tolerate taint.
type testPool struct {
	np    *provisionerv1.NodePool
	taint corev1.Taint
}

func newTestPool(name string, weight int32, reqs ...provisionerv1.NodeSelectorRequirementWithMinValues) *testPool {
	taint := corev1.Taint{Key: "e2e.tailor.dev/" + name, Value: "true", Effect: corev1.TaintEffectNoSchedule}
	np := &provisionerv1.NodePool{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: provisionerv1.NodePoolSpec{
			Template: provisionerv1.NodeClaimTemplate{
				Metadata: provisionerv1.NodeClaimTemplateMetadata{Labels: map[string]string{"e2e.tailor.dev/pool": name}},
				Spec: provisionerv1.NodeClaimTemplateSpec{
					Requirements: reqs,
					NodeClassRef: &provisionerv1.NodeClassReference{Group: "tailor.dev", Kind: "AWSNodeClass", Name: "e2e"},
					Taints:       []corev1.Taint{taint},
				},
			},
			Disruption: provisionerv1.Disruption{ConsolidationPolicy: provisionerv1.ConsolidationPolicyWhenEmpty, ConsolidateAfter: "10s"},
		},
	}
	if weight > 0 {
		np.Spec.Weight = &weight
	}
	return &testPool{np: np, taint: taint}
}

// create creates the pool as the test's (own: its Tailor's
// --nodepool-selector matches it; its claims and nodes carry testLabel
// too), waits until Tailor has seen it (its status is written), and
// deletes it when the test ends.
func (p *testPool) create(t *testing.T, c client.Client) {
	t.Helper()
	ctx := context.Background()
	own(t, p.np)
	p.np.Spec.Template.Metadata.Labels[testLabel] = testID(t)
	_ = c.Delete(ctx, &provisionerv1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: p.np.Name}}) // a leftover of an interrupted run
	eventually(t, 60*time.Second, func(ctx context.Context) (bool, string) {
		err := c.Create(ctx, p.np.DeepCopy())
		return err == nil, fmt.Sprint(err)
	})
	t.Cleanup(func() {
		_ = c.Delete(context.Background(), &provisionerv1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: p.np.Name}})
	})
	eventually(t, 30*time.Second, func(ctx context.Context) (bool, string) {
		np := &provisionerv1.NodePool{}
		if err := c.Get(ctx, types.NamespacedName{Name: p.np.Name}, np); err != nil {
			return false, err.Error()
		}
		return meta.IsStatusConditionTrue(np.Status.Conditions, provisionerv1.ConditionReady), fmt.Sprintf("pool conditions %+v", np.Status.Conditions)
	})
}

func (p *testPool) tolerations() []corev1.Toleration {
	return []corev1.Toleration{{Key: p.taint.Key, Operator: corev1.TolerationOpEqual, Value: p.taint.Value, Effect: p.taint.Effect}}
}

// inflate is Karpenter's getting-started deployment: pause pods.
func inflate(ns, name string, replicas int32, cpu string, p *testPool) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptrTo(int64(0)),
					Tolerations:                   p.tolerations(),
					Containers: []corev1.Container{{
						Name: "pause", Image: "public.ecr.aws/eks-distro/kubernetes/pause:3.7",
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
							corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("64Mi"),
						}},
					}},
				},
			},
		},
	}
}

func ptrTo[T any](v T) *T { return &v }

// ownClaims are the NodeClaims the test's Tailor acts on: its pools', by
// the product's own rule (provisioner/scope), so a claim of a pool the
// test deleted still counts.
func ownClaims(ctx context.Context, t *testing.T, c client.Client) ([]provisionerv1.NodeClaim, error) {
	sel, err := scope.Parse(testLabel + "=" + testID(t))
	if err != nil {
		return nil, err
	}
	var claims provisionerv1.NodeClaimList
	if err := c.List(ctx, &claims); err != nil {
		return nil, err
	}
	var out []provisionerv1.NodeClaim
	for i := range claims.Items {
		nc := &claims.Items[i]
		var pool *provisionerv1.NodePool
		np := &provisionerv1.NodePool{}
		if err := c.Get(ctx, types.NamespacedName{Name: nc.Labels[provisionerv1.LabelNodePool]}, np); err == nil {
			pool = np
		}
		if sel.Claim(nc, pool) {
			out = append(out, *nc)
		}
	}
	return out, nil
}

// ownClaimsGoneAtCleanup: when the test ends, before its Tailor stops
// (cleanups run last-registered first), every claim of its pools is gone
// (their finalizers need the Tailor).
func ownClaimsGoneAtCleanup(t *testing.T, c client.Client) {
	t.Cleanup(func() {
		eventually(t, 90*time.Second, func(ctx context.Context) (bool, string) {
			claims, err := ownClaims(ctx, t, c)
			return err == nil && len(claims) == 0, fmt.Sprintf("%d NodeClaims of the test left (%v)", len(claims), err)
		})
	})
}

// claimsOf lists the pool's NodeClaims.
func claimsOf(ctx context.Context, c client.Client, pool string) ([]provisionerv1.NodeClaim, error) {
	var list provisionerv1.NodeClaimList
	err := c.List(ctx, &list, client.MatchingLabels{provisionerv1.LabelNodePool: pool})
	return list.Items, err
}

// nodesOf lists the pool's Nodes.
func nodesOf(ctx context.Context, pool string) ([]corev1.Node, error) {
	list, err := env.Clientset().CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: provisionerv1.LabelNodePool + "=" + pool})
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

// waitRunning waits until n pods with app=name run in ns.
func waitRunning(t *testing.T, ns, name string, n int, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, func(ctx context.Context) (bool, string) {
		got, err := runningPods(ctx, ns, map[string]string{"app": name})
		return err == nil && got == n, fmt.Sprintf("%d of %d pods running (%v)", got, n, err)
	})
}

// waitPoolEmpty waits until the pool has no NodeClaim and no Node.
func waitPoolEmpty(t *testing.T, c client.Client, pool string, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, func(ctx context.Context) (bool, string) {
		claims, err := claimsOf(ctx, c, pool)
		if err != nil {
			return false, err.Error()
		}
		nodes, err := nodesOf(ctx, pool)
		if err != nil {
			return false, err.Error()
		}
		return len(claims) == 0 && len(nodes) == 0, fmt.Sprintf("%d NodeClaims and %d Nodes left", len(claims), len(nodes))
	})
}

func scaleTo(t *testing.T, ns, name string, n int32) {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, n)
	if _, err := env.Clientset().AppsV1().Deployments(ns).Patch(context.Background(), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// metricValue reads one sample of the instance's /metrics.
func metricValue(t *testing.T, inst *instance, re *regexp.Regexp) float64 {
	t.Helper()
	_, body, err := get(inst.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m := re.FindStringSubmatch(body)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// TestProvisioner runs the acceptance scenarios that can share one Tailor,
// in parallel, each in its own namespace with its own pool.
func TestProvisioner(t *testing.T) {
	t.Parallel() // own namespaces, pools and Tailor (testLabel)
	c := provClient(t)
	ensureNodeClass(t, c)
	state := namespace(t, nil)
	inst := startProvisioner(t, state)
	registerWebhooks(t, inst)
	ownClaimsGoneAtCleanup(t, c)
	enabled := map[string]string{"tailor.dev/enabled": "true"}

	t.Run("Weights", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t, enabled)
		arm := newTestPool("e2e-weights-arm", 50, req(provisionerv1.LabelArch, corev1.NodeSelectorOpIn, "arm64"))
		spot := newTestPool("e2e-weights-spot", 10, req(provisionerv1.LabelCapacityType, corev1.NodeSelectorOpIn, "spot"),
			req(provisionerv1.LabelArch, corev1.NodeSelectorOpIn, "amd64", "arm64"))
		spot.taint = arm.taint // one taint for both pools of the test
		spot.np.Spec.Template.Spec.Taints = []corev1.Taint{arm.taint}
		arm.create(t, c)
		spot.create(t, c)
		mk := func(name string, sel map[string]string) *corev1.Pod {
			return &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": name}},
				Spec: corev1.PodSpec{
					NodeSelector: sel, Tolerations: arm.tolerations(), TerminationGracePeriodSeconds: ptrTo(int64(0)),
					Containers: []corev1.Container{{Name: "pause", Image: "pause", Resources: corev1.ResourceRequirements{
						Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}}}},
				},
			}
		}
		pods := []*corev1.Pod{
			mk("any", nil),
			mk("amd", map[string]string{provisionerv1.LabelArch: "amd64"}),
			mk("nowhere", map[string]string{provisionerv1.LabelArch: "amd64", provisionerv1.LabelCapacityType: "on-demand"}),
		}
		for _, pod := range pods {
			if _, err := env.Clientset().CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		want := map[string]string{"any": arm.np.Name, "amd": spot.np.Name}
		for name, pool := range want {
			waitRunning(t, ns, name, 1, 2*time.Minute)
			pod, _ := env.Clientset().CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
			node, _ := env.Clientset().CoreV1().Nodes().Get(context.Background(), pod.Spec.NodeName, metav1.GetOptions{})
			if pod.Spec.NodeSelector[provisionerv1.LabelNodePool] != pool || node.Labels[provisionerv1.LabelNodePool] != pool {
				t.Errorf("pod %s: pinned to %q, runs on %s of pool %q; want pool %s", name, pod.Spec.NodeSelector[provisionerv1.LabelNodePool], node.Name, node.Labels[provisionerv1.LabelNodePool], pool)
			}
			t.Logf("pod %s → pool %s, node %s (%s, %s)", name, pool, node.Name, node.Labels[provisionerv1.LabelArch], node.Labels[provisionerv1.LabelCapacityType])
		}
		nowhere, _ := env.Clientset().CoreV1().Pods(ns).Get(context.Background(), "nowhere", metav1.GetOptions{})
		if _, pinned := nowhere.Spec.NodeSelector[provisionerv1.LabelNodePool]; pinned || !strings.HasPrefix(nowhere.Annotations["tailor.dev/placement"], "no pool fits") {
			t.Errorf("unplaceable pod: nodeSelector %v, annotation %q", nowhere.Spec.NodeSelector, nowhere.Annotations["tailor.dev/placement"])
		}
		t.Logf("unplaceable pod: %s", nowhere.Annotations["tailor.dev/placement"])
		waitEvent(t, ns, "NoPoolFits", "nowhere")
	})

	t.Run("AntiAffinityAndSpread", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t, enabled)
		// A pool each: kube-scheduler counts only the zones that have a
		// node of the pod's pool at the time, so spread pods sharing the
		// anti-affinity pods' nodes could fill a zone that came up first.
		pools := map[string]*testPool{}
		for _, name := range []string{"anti", "spread"} {
			pools[name] = newTestPool("e2e-"+name, 0,
				req(provisionerv1.LabelCapacityType, corev1.NodeSelectorOpIn, "on-demand"),
				req(provisionerv1.LabelInstanceFamily, corev1.NodeSelectorOpIn, "c5"))
			pools[name].create(t, c)
		}
		anti := inflate(ns, "anti", 3, "250m", pools["anti"])
		anti.Spec.Template.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				TopologyKey: corev1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "anti"}},
			}},
		}}
		// 1.5 CPU: a c5.xlarge (the cheapest fit for two) carries two, so
		// the first node up cannot take a third zone's share.
		spread := inflate(ns, "spread", 6, "1500m", pools["spread"])
		spread.Spec.Template.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: corev1.LabelTopologyZone, WhenUnsatisfiable: corev1.DoNotSchedule,
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "spread"}},
		}}
		for _, d := range []*appsv1.Deployment{anti, spread} {
			if _, err := env.Clientset().AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		waitRunning(t, ns, "anti", 3, 2*time.Minute)
		waitRunning(t, ns, "spread", 6, 2*time.Minute)
		count := func(app, key string) map[string]int {
			pods, _ := env.Clientset().CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + app})
			out := map[string]int{}
			for _, pod := range pods.Items {
				node, err := env.Clientset().CoreV1().Nodes().Get(context.Background(), pod.Spec.NodeName, metav1.GetOptions{})
				if err == nil {
					out[node.Labels[key]]++
				}
			}
			return out
		}
		hosts := count("anti", corev1.LabelHostname)
		zones := count("spread", corev1.LabelTopologyZone)
		t.Logf("anti-affinity pods per node %v; spread pods per zone %v", hosts, zones)
		if len(hosts) != 3 {
			t.Errorf("anti-affinity: %v, want one pod on each of 3 nodes", hosts)
		}
		if len(zones) != 3 {
			t.Errorf("zone spread: %v, want 3 zones", zones)
		}
		for z, n := range zones {
			if n != 2 {
				t.Errorf("zone %s has %d spread pods, want 2 (maxSkew 1)", z, n)
			}
		}
	})

	t.Run("Limit", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t, enabled)
		p := newTestPool("e2e-limit", 0, req(provisionerv1.LabelInstanceType, corev1.NodeSelectorOpIn, "c5.xlarge"),
			req(provisionerv1.LabelCapacityType, corev1.NodeSelectorOpIn, "on-demand"))
		p.np.Spec.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}
		p.create(t, c)
		// Pinned to the pool by the pods themselves: once the pool is at its
		// limit, placement picks no pool for the next pods (Karpenter would
		// not provision for them either), and in this shared cluster they
		// ran on other tests' nodes (CI: "6 pods, pending \"\"").
		pinned(ns, "limited", 6, p)
		// A c5.xlarge (4 vCPU, 3.92 allocatable) takes three; the limit
		// allows one.
		waitRunning(t, ns, "limited", 3, 2*time.Minute)
		eventually(t, 30*time.Second, func(ctx context.Context) (bool, string) {
			np := &provisionerv1.NodePool{}
			if err := c.Get(ctx, types.NamespacedName{Name: p.np.Name}, np); err != nil {
				return false, err.Error()
			}
			cond := meta.FindStatusCondition(np.Status.Conditions, "LimitsReached")
			return cond != nil && cond.Status == metav1.ConditionTrue, fmt.Sprintf("LimitsReached %+v", cond)
		})
		// The ReplicaSet may still be creating the last pods (slow start)
		// when the first three run and the limit is reached.
		var pending string
		eventually(t, 30*time.Second, func(ctx context.Context) (bool, string) {
			pods, err := env.Clientset().CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=limited"})
			if err != nil {
				return false, err.Error()
			}
			pending = ""
			for _, pod := range pods.Items {
				if pod.Spec.NodeName == "" {
					pending = pod.Name
				}
			}
			return len(pods.Items) == 6 && pending != "", fmt.Sprintf("%d pods, pending %q", len(pods.Items), pending)
		})
		waitEvent(t, ns, "LimitReached", pending)
		time.Sleep(3 * time.Second)
		claims, _ := claimsOf(context.Background(), c, p.np.Name)
		np := &provisionerv1.NodePool{}
		_ = c.Get(context.Background(), types.NamespacedName{Name: p.np.Name}, np)
		t.Logf("limit cpu 4: %d NodeClaim(s), pool resources %v", len(claims), np.Status.Resources)
		if len(claims) != 1 {
			t.Errorf("%d NodeClaims, want 1 under the cpu limit 4", len(claims))
		}
	})

	t.Run("InsufficientCapacity", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t, enabled)
		p := newTestPool("e2e-ice", 0, req(provisionerv1.LabelInstanceType, corev1.NodeSelectorOpIn, "m6i.large", "m6a.large", "m7i.large"),
			req(provisionerv1.LabelCapacityType, corev1.NodeSelectorOpIn, "on-demand"),
			req(provisionerv1.LabelZone, corev1.NodeSelectorOpIn, "us-east-1a"))
		// The cheapest offering the pool allows is out of capacity.
		var cheapest string
		price := math.Inf(1)
		for _, name := range p.np.Spec.Template.Spec.Requirements[0].Values {
			if ty, ok := catalog.Lookup(name); ok && ty.OnDemandPrice < price {
				cheapest, price = name, ty.OnDemandPrice
			}
		}
		simFaults(t, state, map[string]string{sim.FaultInsufficientCapacity: cheapest + "/us-east-1a/on-demand"})
		p.create(t, c)
		// 1.5 CPU: one pod per large node, so two pods make two launches.
		if _, err := env.Clientset().AppsV1().Deployments(ns).Create(context.Background(), inflate(ns, "ice", 1, "1500m", p), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// 60 s: under the whole suite side by side a launch that meets the
		// out-of-capacity error took over 30 s once (5 s alone).
		waitRunning(t, ns, "ice", 1, 2*time.Minute)
		scaleTo(t, ns, "ice", 2)
		waitRunning(t, ns, "ice", 2, 2*time.Minute)
		claims, _ := claimsOf(context.Background(), c, p.np.Name)
		for _, nc := range claims {
			t.Logf("launched %s %s %s at $%s/h (cheapest %s out of capacity)", nc.Name, nc.Status.InstanceType, nc.Status.Zone, nc.Status.PricePerHour, cheapest)
			if nc.Status.InstanceType == cheapest {
				t.Errorf("%s launched %s, which is out of capacity", nc.Name, cheapest)
			}
		}
		re := regexp.MustCompile(`tailor_provisioner_insufficient_capacity_total\{capacity_type="on-demand",instance_type="` + regexp.QuoteMeta(cheapest) + `",zone="us-east-1a"\} (\S+)`)
		if n := metricValue(t, inst, re); n != 1 {
			t.Errorf("the out-of-capacity offering was tried %v times, want 1 (unavailable for 3 minutes after the first)", n)
		}
	})

	t.Run("DaemonSetOverhead", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t, enabled)
		p := newTestPool("e2e-daemons", 0, req(provisionerv1.LabelInstanceType, corev1.NodeSelectorOpIn, "c5.large", "c5.xlarge"),
			req(provisionerv1.LabelCapacityType, corev1.NodeSelectorOpIn, "on-demand"))
		p.create(t, c)
		labels := map[string]string{"app": "agent"}
		ds := &appsv1.DaemonSet{
			ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: ns},
			Spec: appsv1.DaemonSetSpec{
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{
						NodeSelector: map[string]string{provisionerv1.LabelNodePool: p.np.Name},
						Tolerations:  p.tolerations(), TerminationGracePeriodSeconds: ptrTo(int64(0)),
						Containers: []corev1.Container{{Name: "agent", Image: "pause", Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}}}},
					},
				},
			},
		}
		if _, err := env.Clientset().AppsV1().DaemonSets(ns).Create(context.Background(), ds, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// 1.5 CPU fits a c5.large (1.93 allocatable) alone, not with the
		// agent's 500m: the provisioner must see the overhead.
		if _, err := env.Clientset().AppsV1().Deployments(ns).Create(context.Background(), inflate(ns, "work", 2, "1500m", p), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitRunning(t, ns, "work", 2, 2*time.Minute)
		eventually(t, 30*time.Second, func(ctx context.Context) (bool, string) {
			nodes, err := nodesOf(ctx, p.np.Name)
			if err != nil {
				return false, err.Error()
			}
			agents, err := runningPods(ctx, ns, labels)
			return err == nil && agents == len(nodes), fmt.Sprintf("%d agents running on %d nodes", agents, len(nodes))
		})
		nodes, _ := nodesOf(context.Background(), p.np.Name)
		for _, n := range nodes {
			t.Logf("node %s: %s", n.Name, n.Labels[provisionerv1.LabelInstanceType])
		}
	})

	t.Run("PlacementDisabled", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t, map[string]string{"tailor.dev/enabled": "true", "tailor.dev/placement": "disabled"})
		p := newTestPool("e2e-noplace", 0)
		p.create(t, c)
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "free", Namespace: ns},
			Spec:       corev1.PodSpec{Tolerations: p.tolerations(), Containers: []corev1.Container{{Name: "pause", Image: "pause"}}},
		}
		created, err := env.Clientset().CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, pinned := created.Spec.NodeSelector[provisionerv1.LabelNodePool]; pinned || created.Annotations["tailor.dev/placement"] != "" {
			t.Errorf("pod in a namespace with placement disabled: nodeSelector %v, annotations %v", created.Spec.NodeSelector, created.Annotations)
		}
		// Left alone because of the label (not because the webhook did not
		// know the namespace yet).
		re := regexp.MustCompile(`tailor_admission_total\{outcome="skipped",reason="[^"]*placement_disabled",webhook="pods"\} (\S+)`)
		if n := metricValue(t, inst, re); n < 1 {
			t.Errorf("no pod admission skipped for placement_disabled")
		}
	})

	t.Run("BadNodePools", func(t *testing.T) {
		t.Parallel()
		cases := map[string]struct {
			mutate func(*provisionerv1.NodePool)
			path   string
		}{
			"unknown operator": {func(np *provisionerv1.NodePool) {
				np.Spec.Template.Spec.Requirements = []provisionerv1.NodeSelectorRequirementWithMinValues{req("tailor.dev/instance-family", "Within", "m5")}
			}, "spec.template.spec.requirements[0].operator"},
			"restricted key": {func(np *provisionerv1.NodePool) {
				np.Spec.Template.Spec.Requirements = []provisionerv1.NodeSelectorRequirementWithMinValues{req(corev1.LabelHostname, corev1.NodeSelectorOpIn, "a")}
			}, "spec.template.spec.requirements"},
			"weight 0":   {func(np *provisionerv1.NodePool) { np.Spec.Weight = ptrTo(int32(0)) }, "spec.weight"},
			"weight 101": {func(np *provisionerv1.NodePool) { np.Spec.Weight = ptrTo(int32(101)) }, "spec.weight"},
			"negative limit": {func(np *provisionerv1.NodePool) {
				np.Spec.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("-1")}
			}, "spec.limits"},
		}
		names := make([]string, 0, len(cases))
		for n := range cases {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, name := range names {
			tc := cases[name]
			np := own(t, newTestPool("e2e-bad", 0).np) // judged by this test's webhook
			tc.mutate(np)
			err := c.Create(context.Background(), np)
			if err == nil {
				_ = c.Delete(context.Background(), np)
				t.Errorf("%s: accepted", name)
				continue
			}
			t.Logf("%s: %v", name, err)
			if !strings.Contains(err.Error(), tc.path) {
				t.Errorf("%s: error does not name %s: %v", name, tc.path, err)
			}
		}
	})

	t.Run("BurstLatency", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t, enabled)
		p := newTestPool("e2e-burst", 0, req(provisionerv1.LabelCapacityType, corev1.NodeSelectorOpIn, "on-demand"),
			req(provisionerv1.LabelInstanceCategory, corev1.NodeSelectorOpIn, "c", "m"))
		p.create(t, c)
		const n = 200
		// First sight of each pod, by a watch; nomination from the Events.
		w, err := env.Clientset().CoreV1().Pods(ns).Watch(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		seen := map[string]time.Time{}
		go func() {
			for ev := range w.ResultChan() {
				if pod, ok := ev.Object.(*corev1.Pod); ok && ev.Type == watch.Added {
					mu.Lock()
					seen[pod.Name] = time.Now()
					mu.Unlock()
				}
			}
		}()
		defer w.Stop()
		if _, err := env.Clientset().AppsV1().Deployments(ns).Create(context.Background(), inflate(ns, "burst", n, "100m", p), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		var lat []time.Duration
		var lastSeen, lastNominated time.Time
		bound := 0 // pods a later batch found room for on a node already up
		eventually(t, 60*time.Second, func(ctx context.Context) (bool, string) {
			evs, err := env.Clientset().EventsV1().Events(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err.Error()
			}
			pods, err := env.Clientset().CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err.Error()
			}
			nominated := map[string]bool{}
			for _, e := range evs.Items {
				if e.Reason == "Nominated" {
					nominated[e.Regarding.Name] = true
				}
			}
			bound = 0
			for _, pod := range pods.Items {
				if pod.Spec.NodeName != "" && !nominated[pod.Name] {
					bound++
				}
			}
			mu.Lock()
			defer mu.Unlock()
			lat = lat[:0]
			for _, e := range evs.Items {
				if at, ok := seen[e.Regarding.Name]; ok && e.Reason == "Nominated" {
					lat = append(lat, e.EventTime.Sub(at))
					if at.After(lastSeen) {
						lastSeen = at
					}
					if e.EventTime.After(lastNominated) {
						lastNominated = e.EventTime.Time
					}
				}
			}
			return len(lat)+bound >= n, fmt.Sprintf("%d of %d pods nominated, %d bound without", len(lat), n, bound)
		})
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		// Pods arrive over seconds (ReplicaSet controller, scheduler) and
		// each one extends the batch, so the early ones wait for the last:
		// the batch's own latency is the last pod's.
		t.Logf("burst of %d pods (1,000 is too slow for this 2-core machine's control plane; %d nominated, %d bound to a node that came up first): pending-to-NodeClaim p50 %s, p90 %s, max %s; last pod created → last nomination %s (batch idle 1s)",
			n, len(lat), bound, lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)*9/10].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond),
			lastNominated.Sub(lastSeen).Round(time.Millisecond))
		waitRunning(t, ns, "burst", n, 90*time.Second)
		scaleTo(t, ns, "burst", 0)
	})
}

// TestProvisionerRestart kills Tailor after a NodeClaim is created and
// before its Node registers: its successor makes no second claim or node.
func TestProvisionerRestart(t *testing.T) {
	t.Parallel() // own namespaces, pools and Tailor (testLabel)
	c := provClient(t)
	ensureNodeClass(t, c)
	state := namespace(t, nil)
	inst := startProvisioner(t, state, "--sim-launch-delay", "8s")
	ns := namespace(t, nil)
	p := newTestPool("e2e-restart", 0, req(provisionerv1.LabelCapacityType, corev1.NodeSelectorOpIn, "on-demand"))
	p.create(t, c)
	d := inflate(ns, "restart", 2, "1", p)
	d.Spec.Template.Spec.NodeSelector = map[string]string{provisionerv1.LabelNodePool: p.np.Name}
	if _, err := env.Clientset().AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var first []provisionerv1.NodeClaim
	eventually(t, 30*time.Second, func(ctx context.Context) (bool, string) {
		claims, err := claimsOf(ctx, c, p.np.Name)
		first = claims
		launched := len(claims) > 0 && claims[0].Status.ProviderID != ""
		return err == nil && launched, fmt.Sprintf("%d claims, launched %v (%v)", len(claims), launched, err)
	})
	nodes, _ := nodesOf(context.Background(), p.np.Name)
	if len(nodes) > 0 {
		t.Fatalf("a node registered before the kill; raise --sim-launch-delay")
	}
	_ = inst.cmd.Process.Signal(syscall.SIGKILL)
	<-inst.done
	t.Logf("killed Tailor with %d NodeClaim(s) launched and no Node", len(first))
	startProvisioner(t, state, "--sim-launch-delay", "8s")
	waitRunning(t, ns, "restart", 2, 2*time.Minute)
	time.Sleep(3 * time.Second) // a duplicate would have been made by now
	claims, _ := claimsOf(context.Background(), c, p.np.Name)
	nodes, _ = nodesOf(context.Background(), p.np.Name)
	t.Logf("after the restart: %d NodeClaim(s), %d Node(s)", len(claims), len(nodes))
	if len(claims) != len(first) || len(nodes) != len(first) {
		t.Errorf("%d claims and %d nodes after the restart, want %d of each (no duplicate)", len(claims), len(nodes), len(first))
	}
	scaleTo(t, ns, "restart", 0)
	waitPoolEmpty(t, c, p.np.Name, 60*time.Second)
}

// TestProvisionerRegistrationTimeout: a NodeClaim whose node never
// registers is replaced after the (shortened) timeout.
func TestProvisionerRegistrationTimeout(t *testing.T) {
	t.Parallel() // own namespaces, pools and Tailor (testLabel)
	c := provClient(t)
	ensureNodeClass(t, c)
	state := namespace(t, nil)
	simFaults(t, state, map[string]string{sim.FaultNeverRegister: "1"})
	startProvisioner(t, state, "--provisioner-registration-timeout", "10s")
	ns := namespace(t, nil)
	p := newTestPool("e2e-timeout", 0, req(provisionerv1.LabelCapacityType, corev1.NodeSelectorOpIn, "on-demand"))
	p.create(t, c)
	d := inflate(ns, "timeout", 1, "1", p)
	d.Spec.Template.Spec.NodeSelector = map[string]string{provisionerv1.LabelNodePool: p.np.Name}
	start := time.Now()
	if _, err := env.Clientset().AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var first string
	eventually(t, 30*time.Second, func(ctx context.Context) (bool, string) {
		claims, err := claimsOf(ctx, c, p.np.Name)
		if err == nil && len(claims) > 0 {
			first = claims[0].Name
		}
		return first != "", fmt.Sprintf("%d claims (%v)", len(claims), err)
	})
	waitRunning(t, ns, "timeout", 1, 2*time.Minute)
	claims, _ := claimsOf(context.Background(), c, p.np.Name)
	t.Logf("first NodeClaim %s never registered; pod Running on a replacement %s after the claim was created", first, time.Since(start).Round(100*time.Millisecond))
	for _, nc := range claims {
		if nc.Name == first {
			t.Errorf("the claim that never registered is still there")
		}
	}
	waitEvent(t, "default", "RegistrationTimeout", first)
	scaleTo(t, ns, "timeout", 0)
	waitPoolEmpty(t, c, p.np.Name, 60*time.Second)
}

// TestNodePoolSelector: two installations on one cluster, each with its
// own pool (--nodepool-selector e2e.tailor.dev/installation=a or b), the
// same taint on both. Pods pinned to a's pool, to b's, and one pinned to
// none (b's pool weighs more: placement would pick it) all run, each
// launched by its pool's installation only: neither launches into the
// other's pool nor for the other's pods (no claim too many).
func TestNodePoolSelector(t *testing.T) {
	t.Parallel() // own namespaces, pools and Tailors (testLabel)
	c := provClient(t)
	ensureNodeClass(t, c)
	installation := func(name string) *instance {
		return startProvisioner(t, namespace(t, nil), "--nodepool-selector", testLabel+"="+testID(t)+",e2e.tailor.dev/installation="+name)
	}
	a, b := installation("a"), installation("b")
	ownClaimsGoneAtCleanup(t, c)
	poolA := newTestPool("e2e-selector-a", 10, req(provisionerv1.LabelCapacityType, corev1.NodeSelectorOpIn, "on-demand"))
	poolB := newTestPool("e2e-selector-b", 50, req(provisionerv1.LabelCapacityType, corev1.NodeSelectorOpIn, "on-demand"))
	poolB.taint = poolA.taint
	poolB.np.Spec.Template.Spec.Taints = []corev1.Taint{poolA.taint}
	poolA.np.Labels = map[string]string{"e2e.tailor.dev/installation": "a"}
	poolB.np.Labels = map[string]string{"e2e.tailor.dev/installation": "b"}
	// Both pools' nodes carry this label, which the unpinned pod selects:
	// it can go to either pool, never to the cluster's untainted workers.
	shared := map[string]string{"e2e.tailor.dev/selector-test": "shared"}
	maps.Copy(poolA.np.Spec.Template.Metadata.Labels, shared)
	maps.Copy(poolB.np.Spec.Template.Metadata.Labels, shared)
	poolA.create(t, c)
	poolB.create(t, c)
	ns := namespace(t, nil)
	for name, pool := range map[string]string{"to-a": poolA.np.Name, "to-b": poolB.np.Name, "unpinned": ""} {
		d := inflate(ns, name, 1, "1", poolA)
		d.Spec.Template.Spec.NodeSelector = maps.Clone(shared)
		if pool != "" {
			d.Spec.Template.Spec.NodeSelector[provisionerv1.LabelNodePool] = pool
		}
		if _, err := env.Clientset().AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"to-a", "to-b", "unpinned"} {
		waitRunning(t, ns, name, 1, 2*time.Minute)
	}
	// Each pod's node is of the pool its installation owns it by.
	for name, want := range map[string]string{"to-a": poolA.np.Name, "to-b": poolB.np.Name, "unpinned": poolB.np.Name} {
		node := nodeOfPod(t, ns, name)
		if got := node.Labels[provisionerv1.LabelNodePool]; got != want {
			t.Errorf("pod %s runs on %s of pool %q, want pool %s", name, node.Name, got, want)
		}
	}
	launched := func(inst *instance, pool string) float64 {
		return metricValue(t, inst, regexp.MustCompile(`(?m)^tailor_provisioner_nodeclaims_launched_total\{[^}]*nodepool="`+pool+`"[^}]*\} (\S+)`))
	}
	for _, tc := range []struct {
		who         string
		inst        *instance
		mine, other string
	}{{"a", a, poolA.np.Name, poolB.np.Name}, {"b", b, poolB.np.Name, poolA.np.Name}} {
		if n := launched(tc.inst, tc.other); n != 0 {
			t.Errorf("installation %s launched %v NodeClaims into the other installation's pool %s", tc.who, n, tc.other)
		}
		if n := launched(tc.inst, tc.mine); n < 1 {
			t.Errorf("installation %s launched nothing into its pool %s", tc.who, tc.mine)
		}
	}
	claimsA, _ := claimsOf(context.Background(), c, poolA.np.Name)
	claimsB, _ := claimsOf(context.Background(), c, poolB.np.Name)
	t.Logf("pool a: %d NodeClaim(s), pool b: %d (to-b and unpinned, 1 CPU each, fit one node)", len(claimsA), len(claimsB))
	if len(claimsA) != 1 {
		t.Errorf("%d NodeClaims in pool a for one pod, want 1", len(claimsA))
	}
	for _, d := range []string{"to-a", "to-b", "unpinned"} {
		scaleTo(t, ns, d, 0)
	}
	waitPoolEmpty(t, c, poolA.np.Name, 90*time.Second)
	waitPoolEmpty(t, c, poolB.np.Name, 90*time.Second)
}
