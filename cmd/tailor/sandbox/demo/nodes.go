package demo

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/catalog"
)

// nodeScenario is a NodePool and a workload scaled 0 → Pods → 0.
type nodeScenario struct {
	name, workload, about string
	pods                  int32
	cpu                   string
	reqs                  []provisionerv1.NodeSelectorRequirementWithMinValues
	policy                provisionerv1.ConsolidationPolicy
	consolidateAfter      string
	// oneType: every node the same type (a node group).
	oneType string
}

func req(key string, values ...string) provisionerv1.NodeSelectorRequirementWithMinValues {
	return provisionerv1.NodeSelectorRequirementWithMinValues{Key: key, Operator: corev1.NodeSelectorOpIn, Values: values}
}

// The Cluster Autoscaler's node group as the sandbox can play it: the sim
// cloud has no Auto Scaling groups, so a NodePool of one instance type in
// one zone, on-demand, that scales from zero and removes empty nodes
// (the CA's scale-down of unneeded nodes).
var caScenario = nodeScenario{
	name: "ca", workload: "web", pods: 6, cpu: "600m", oneType: "m5.large",
	about: "a node group: NodePool of m5.large in us-east-1a, on-demand (the sim cloud has no Auto Scaling groups), WhenEmpty after 10s",
	reqs: []provisionerv1.NodeSelectorRequirementWithMinValues{
		req(provisionerv1.LabelInstanceType, "m5.large"), req(provisionerv1.LabelZone, "us-east-1a"), req(provisionerv1.LabelCapacityType, provisionerv1.CapacityTypeOnDemand)},
	policy: provisionerv1.ConsolidationPolicyWhenEmpty, consolidateAfter: "10s",
}

// Karpenter's getting started: inflate on a c/m/r on-demand amd64 pool.
var karpenterScenario = nodeScenario{
	name: "karpenter", workload: "inflate", pods: 10, cpu: "1",
	about: "Karpenter's getting started: NodePool c/m/r, amd64, on-demand, WhenEmptyOrUnderutilized after 10s (shortened for the demo)",
	reqs: []provisionerv1.NodeSelectorRequirementWithMinValues{
		req(provisionerv1.LabelArch, "amd64"), req(provisionerv1.LabelCapacityType, provisionerv1.CapacityTypeOnDemand), req(provisionerv1.LabelInstanceCategory, "c", "m", "r")},
	policy: provisionerv1.ConsolidationPolicyWhenEmptyOrUnderutilized, consolidateAfter: "10s",
}

// NodeClassName is the AWSNodeClass the demo's pools name (the sim cloud
// does not read it; the same YAML works on EKS).
const NodeClassName = "demo"

func (r *Runner) ensureNodeClass(ctx context.Context) error {
	nc := &provisionerv1.AWSNodeClass{
		ObjectMeta: metav1.ObjectMeta{Name: NodeClassName},
		Spec: provisionerv1.AWSNodeClassSpec{
			Role:                       "KarpenterNodeRole-sandbox",
			AMISelectorTerms:           []provisionerv1.AMISelectorTerm{{Alias: "al2023@latest"}},
			SubnetSelectorTerms:        []provisionerv1.SubnetSelectorTerm{{Tags: map[string]string{"karpenter.sh/discovery": "sandbox"}}},
			SecurityGroupSelectorTerms: []provisionerv1.SecurityGroupSelectorTerm{{Tags: map[string]string{"karpenter.sh/discovery": "sandbox"}}},
		},
	}
	if err := r.c.Create(ctx, nc); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

// pool is the scenario's NodePool, named after its namespace and tainted
// so that only the scenario's pods go there.
func (s nodeScenario) pool(name string) (*provisionerv1.NodePool, corev1.Taint) {
	taint := corev1.Taint{Key: "demo.tailor.dev/scenario", Value: s.name, Effect: corev1.TaintEffectNoSchedule}
	return &provisionerv1.NodePool{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: provisionerv1.NodePoolSpec{
			Template: provisionerv1.NodeClaimTemplate{
				Spec: provisionerv1.NodeClaimTemplateSpec{
					Requirements: s.reqs,
					NodeClassRef: &provisionerv1.NodeClassReference{Group: "tailor.dev", Kind: "AWSNodeClass", Name: NodeClassName},
					Taints:       []corev1.Taint{taint},
				},
			},
			Limits:     corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100")},
			Disruption: provisionerv1.Disruption{ConsolidationPolicy: s.policy, ConsolidateAfter: provisionerv1.NillableDuration(s.consolidateAfter)},
		},
	}, taint
}

func (r *Runner) nodes(ctx context.Context, s nodeScenario) Result {
	ns, cleanup, err := r.namespace(ctx, s.name, true)
	if err != nil {
		return Result{Failures: []string{err.Error()}}
	}
	defer cleanup()
	fail := func(step string, err error) Result { return failed(ns, ns, step, err) }
	if err := r.ensureNodeClass(ctx); err != nil {
		return fail("create the AWSNodeClass", err)
	}
	np, taint := s.pool(ns)
	np.Labels = maps.Clone(r.o.Labels)
	if err := r.c.Create(ctx, np); err != nil {
		return fail("create the NodePool", err)
	}
	defer func() {
		if !r.o.Keep {
			_ = r.c.Delete(context.Background(), &provisionerv1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: np.Name}})
		}
	}()
	r.say(s.name, "NodePool %s: %s", np.Name, s.about)
	if err := r.poll(ctx, time.Minute, func(ctx context.Context) (bool, error) {
		cur := &provisionerv1.NodePool{}
		if err := r.c.Get(ctx, types.NamespacedName{Name: np.Name}, cur); err != nil {
			return false, err
		}
		return meta.IsStatusConditionTrue(cur.Status.Conditions, provisionerv1.ConditionReady), fmt.Errorf("pool conditions %+v", cur.Status.Conditions)
	}); err != nil {
		return fail("waiting for the NodePool to be Ready", err)
	}

	cpu := resource.MustParse(s.cpu)
	pod := corev1.PodSpec{
		TerminationGracePeriodSeconds: new(int64),
		Tolerations:                   []corev1.Toleration{{Key: taint.Key, Operator: corev1.TolerationOpEqual, Value: taint.Value, Effect: taint.Effect}},
		Containers: []corev1.Container{{Name: "pause", Image: "public.ecr.aws/eks-distro/kubernetes/pause:3.7",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: cpu}}}},
	}
	if _, err := r.cs.AppsV1().Deployments(ns).Create(ctx, deployment(s.workload, 0, pod, nil), metav1.CreateOptions{}); err != nil {
		return fail("create "+s.workload, err)
	}
	packing, err := CheapestPacking(catalog.InstanceTypes(catalog.DefaultOptions()), np, int(s.pods), cpu.MilliValue(), 0)
	if err != nil {
		return fail("cheapest packing", err)
	}
	expect := NodesExpect{Pods: int(s.pods), MaxCost: packing.Cost}
	if s.oneType != "" {
		// A node group: its one type, and no more nodes than the pods need.
		expect.Allowed, expect.MaxNodes = []string{s.oneType}, packing.Nodes
	}

	var points []NodesPoint
	phase := PhaseIdle
	look := func(ctx context.Context) (NodesPoint, error) {
		p := NodesPoint{At: time.Since(r.start), Phase: phase}
		var claims provisionerv1.NodeClaimList
		if err := r.c.List(ctx, &claims, client.MatchingLabels{provisionerv1.LabelNodePool: np.Name}); err != nil {
			return p, err
		}
		p.Claims = len(claims.Items)
		for _, nc := range claims.Items {
			price, _ := strconv.ParseFloat(nc.Status.PricePerHour, 64)
			p.Cost += price
			if nc.Status.InstanceType != "" {
				p.Types = append(p.Types, nc.Status.InstanceType)
			}
		}
		var nodes corev1.NodeList
		if err := r.c.List(ctx, &nodes, client.MatchingLabels{provisionerv1.LabelNodePool: np.Name}); err != nil {
			return p, err
		}
		p.Nodes = len(nodes.Items)
		running, _, err := r.runningPods(ctx, ns, s.workload)
		if err != nil {
			return p, err
		}
		p.Running = len(running)
		for _, pod := range running {
			if pod.Spec.NodeSelector[provisionerv1.LabelNodePool] == np.Name && strings.HasPrefix(pod.Annotations["tailor.dev/placement"], "nodepool "+np.Name) {
				p.Pinned++
			}
		}
		if n := len(points); n == 0 || points[n-1].Running != p.Running || points[n-1].Claims != p.Claims || points[n-1].Nodes != p.Nodes || points[n-1].Cost != p.Cost {
			r.say(s.name, "%s: %d pods Running, %d NodeClaims, %d nodes (%s), $%.4f/h", s.workload, p.Running, p.Claims, p.Nodes, fleet(p.Types), p.Cost)
		}
		points = append(points, p)
		r.rec.Add(s.workload+" Running pods", p.At, float64(p.Running))
		r.rec.Add(s.name+" nodes", p.At, float64(p.Nodes))
		r.rec.Add(s.name+" $/h", p.At, p.Cost)
		return p, nil
	}
	if _, err := look(ctx); err != nil {
		return fail("look at the empty pool", err)
	}

	phase = PhaseUp
	if err := r.scale(ctx, ns, s.workload, s.pods); err != nil {
		return fail("scale up", err)
	}
	r.say(s.name, "kubectl scale deployment %s --replicas=%d (%s CPU each); cheapest single-type packing: %s at $%.4f/h", s.workload, s.pods, s.cpu, packing, packing.Cost)
	if err := r.poll(ctx, 3*time.Minute, func(ctx context.Context) (bool, error) {
		p, err := look(ctx)
		if err != nil {
			return false, err
		}
		return p.Running == int(s.pods) && p.Nodes == p.Claims, fmt.Errorf("%d of %d pods Running, %d NodeClaims, %d nodes", p.Running, s.pods, p.Claims, p.Nodes)
	}); err != nil {
		return fail(fmt.Sprintf("waiting for %d pods Running", s.pods), err)
	}
	nodeClaims := resNodeClaims
	nodeClaims.LabelSelector, nodeClaims.Wide = provisionerv1.LabelNodePool+"="+np.Name, true
	r.table(ctx, s.name, nodeClaims, ns)

	phase = PhaseDown
	if err := r.scale(ctx, ns, s.workload, 0); err != nil {
		return fail("scale down", err)
	}
	r.say(s.name, "kubectl scale deployment %s --replicas=0", s.workload)
	if err := r.poll(ctx, 3*time.Minute, func(ctx context.Context) (bool, error) {
		p, err := look(ctx)
		if err != nil {
			return false, err
		}
		return p.Nodes == 0 && p.Claims == 0, fmt.Errorf("%d NodeClaims and %d nodes left", p.Claims, p.Nodes)
	}); err != nil {
		return fail("waiting for the pool to empty", err)
	}
	r.table(ctx, s.name, nodeClaims, ns)
	what, fails := CheckNodes(points, expect)
	return Result{Namespace: ns, NodePool: np.Name, What: s.workload + " " + what, Failures: fails}
}

func (r *Runner) scale(ctx context.Context, ns, name string, n int32) error {
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, n)
	_, err := r.cs.AppsV1().Deployments(ns).Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	return err
}
