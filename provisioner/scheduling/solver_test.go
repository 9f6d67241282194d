package scheduling

import (
	"math"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/requirements"
)

func withReq(key string, op corev1.NodeSelectorOperator, values ...string) func(*provisionerv1.NodePool) {
	return func(np *provisionerv1.NodePool) {
		np.Spec.Template.Spec.Requirements = append(np.Spec.Template.Spec.Requirements,
			provisionerv1.NodeSelectorRequirementWithMinValues{Key: key, Operator: op, Values: values})
	}
}

func required(key string, op corev1.NodeSelectorOperator, values ...string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: key, Operator: op, Values: values}}}},
		}}}
	}
}

func podLabels(kv ...string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		for i := 0; i < len(kv); i += 2 {
			p.Labels[kv[i]] = kv[i+1]
		}
	}
}

func antiHost(app string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Labels["app"] = app
		p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
			TopologyKey: corev1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
		}}}}
	}
}

func spreadOn(key string, when corev1.UnsatisfiableConstraintAction) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Labels["app"] = "web"
		p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: key, WhenUnsatisfiable: when,
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}
	}
}

func tolerate(key string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists})
	}
}

func withHostPort(port int32) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: port, HostPort: port}}
	}
}

func existing(name, zone, cpu, mem string, taints ...corev1.Taint) Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		corev1.LabelHostname: name, corev1.LabelTopologyZone: zone, provisionerv1.LabelNodePool: "default"}}}
	n.Spec.Taints = taints
	n.Status.Allocatable = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem), corev1.ResourcePods: resource.MustParse("110")}
	return NodeFromCore(n, nil)
}

func defaultPools(mutate ...func(*provisionerv1.NodePool)) []Pool {
	return []Pool{{NodePool: nodePool("default", mutate...), InstanceTypes: SyntheticTypes(16)}}
}

func zoneOf(t *testing.T, c *Claim) string {
	t.Helper()
	r := c.Requirements.Get(provisionerv1.LabelZone)
	if r == nil || len(r.Values()) != 1 {
		return ""
	}
	return r.Values()[0]
}

func TestSolve(t *testing.T) {
	cases := []struct {
		name  string
		in    Input
		check func(t *testing.T, r *Result)
	}{
		{
			name: "one pod makes one claim of the cheapest type that fits",
			in:   Input{Pods: []*corev1.Pod{pod("a", "1500m", "1Gi")}, Pools: defaultPools()},
			check: func(t *testing.T, r *Result) {
				wantKinds(t, r, NewClaim)
				c := r.Claims[0]
				if c.InstanceTypes[0].Name != "fake-it-1" || math.Abs(c.Price-0.6) > 1e-9 {
					t.Errorf("cheapest %s at %v, want fake-it-1 at 0.6", c.InstanceTypes[0].Name, c.Price)
				}
				for i := 1; i < len(c.InstanceTypes); i++ {
					if c.InstanceTypes[i].Name == "fake-it-0" {
						t.Error("fake-it-0 (1 vCPU) cannot fit 1500m")
					}
				}
			},
		},
		{
			name: "pods fit an existing node before any claim",
			in:   Input{Pods: []*corev1.Pod{pod("a", "1", "1Gi"), pod("b", "1", "1Gi")}, Nodes: []Node{existing("n1", "test-zone-1", "4", "8Gi")}, Pools: defaultPools()},
			check: func(t *testing.T, r *Result) {
				wantKinds(t, r, ExistingNode, ExistingNode)
				if r.Placements[0].Node != "n1" {
					t.Errorf("node %q", r.Placements[0].Node)
				}
			},
		},
		{
			name: "an existing node's untolerated taint sends the pod to a claim",
			in: Input{Pods: []*corev1.Pod{pod("a", "1", "1Gi")}, Pools: defaultPools(),
				Nodes: []Node{existing("n1", "test-zone-1", "4", "8Gi", corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule})}},
			check: func(t *testing.T, r *Result) { wantKinds(t, r, NewClaim) },
		},
		{
			name:  "existing node full: the rest goes to a claim",
			in:    Input{Pods: []*corev1.Pod{pod("a", "3", "1Gi"), pod("b", "3", "1Gi")}, Nodes: []Node{existing("n1", "test-zone-1", "4", "8Gi")}, Pools: defaultPools()},
			check: func(t *testing.T, r *Result) { wantKinds(t, r, ExistingNode, NewClaim) },
		},
		{
			name: "in-flight node takes the pods it was made for",
			in: func() Input {
				nc := &provisionerv1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: "c1", Labels: map[string]string{provisionerv1.LabelNodePool: "default"}}}
				nc.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("2Gi"), corev1.ResourcePods: resource.MustParse("10")}
				nc.Spec.Requirements = []provisionerv1.NodeSelectorRequirementWithMinValues{{Key: provisionerv1.LabelZone, Operator: corev1.NodeSelectorOpIn, Values: []string{"test-zone-2"}}}
				n, err := NodeFromClaim(nc, nil)
				if err != nil {
					t.Fatal(err)
				}
				return Input{Pods: []*corev1.Pod{pod("a", "1", "1Gi")}, Nodes: []Node{n}, Pools: defaultPools()}
			}(),
			check: func(t *testing.T, r *Result) { wantKinds(t, r, InFlightNode) },
		},
		{
			name: "nodeSelector on zone settles the claim's zone",
			in:   Input{Pods: []*corev1.Pod{pod("a", "1", "1Gi", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{corev1.LabelTopologyZone: "test-zone-3"} })}, Pools: defaultPools()},
			check: func(t *testing.T, r *Result) {
				wantKinds(t, r, NewClaim)
				if z := zoneOf(t, r.Claims[0]); z != "test-zone-3" {
					t.Errorf("zone %q", z)
				}
			},
		},
		{
			name: "Gt on instance-cpu keeps only larger types",
			in:   Input{Pods: []*corev1.Pod{pod("a", "100m", "100Mi", required(provisionerv1.LabelInstanceCPU, corev1.NodeSelectorOpGt, "8"))}, Pools: defaultPools()},
			check: func(t *testing.T, r *Result) {
				wantKinds(t, r, NewClaim)
				if n := r.Claims[0].InstanceTypes[0].Name; n != "fake-it-8" {
					t.Errorf("cheapest %s, want fake-it-8 (9 vCPU)", n)
				}
			},
		},
		{
			name: "NotIn spot gives an on-demand claim (spot exists only in zones 1–2)",
			in: Input{Pods: []*corev1.Pod{pod("a", "1", "1Gi", required(provisionerv1.LabelCapacityType, corev1.NodeSelectorOpNotIn, "spot"),
				func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{corev1.LabelTopologyZone: "test-zone-3"} })}, Pools: defaultPools()},
			check: func(t *testing.T, r *Result) {
				wantKinds(t, r, NewClaim)
				if _, bad := r.Claims[0].Requirements.Conflict(requirements.Requirements{}.With(requirements.Single(provisionerv1.LabelCapacityType, "spot")), nil); !bad {
					t.Error("claim still allows spot")
				}
			},
		},
		{
			name: "spot only in zones 1–2: a spot pool cannot serve zone 3",
			in: Input{Pods: []*corev1.Pod{pod("a", "1", "1Gi", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{corev1.LabelTopologyZone: "test-zone-3"} })},
				Pools: defaultPools(withReq(provisionerv1.LabelCapacityType, corev1.NodeSelectorOpIn, "spot"))},
			check: func(t *testing.T, r *Result) {
				wantKinds(t, r, Unschedulable)
				if why := r.Placements[0].PoolReasons["default"]; !strings.Contains(why, "incompatible") && !strings.Contains(why, "no instance type") {
					t.Errorf("reason %q", why)
				}
			},
		},
		{
			name: "a custom label the pool does not set is unschedulable, with the pool's reason",
			in:   Input{Pods: []*corev1.Pod{pod("a", "1", "1Gi", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"team": "db"} })}, Pools: defaultPools()},
			check: func(t *testing.T, r *Result) {
				wantKinds(t, r, Unschedulable)
				if why := r.Placements[0].PoolReasons["default"]; !strings.Contains(why, "team In [db]") {
					t.Errorf("reason %q", why)
				}
			},
		},
		{
			name: "the pool's template labels satisfy a nodeSelector",
			in: Input{Pods: []*corev1.Pod{pod("a", "1", "1Gi", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"team": "db"} })},
				Pools: defaultPools(func(np *provisionerv1.NodePool) { np.Spec.Template.Metadata.Labels = map[string]string{"team": "db"} })},
			check: func(t *testing.T, r *Result) { wantKinds(t, r, NewClaim) },
		},
		{
			name: "pool taints need tolerations",
			in: Input{Pods: []*corev1.Pod{pod("a", "1", "1Gi"), pod("b", "1", "1Gi", tolerate("gpu"))},
				Pools: defaultPools(func(np *provisionerv1.NodePool) {
					np.Spec.Template.Spec.Taints = []corev1.Taint{{Key: "gpu", Effect: corev1.TaintEffectNoSchedule}}
				})},
			check: func(t *testing.T, r *Result) {
				wantKinds(t, r, Unschedulable, NewClaim)
				if why := r.Placements[0].PoolReasons["default"]; why != "does not tolerate taint gpu:NoSchedule" {
					t.Errorf("reason %q", why)
				}
			},
		},
		{
			name: "the heavier pool wins",
			in: Input{Pods: []*corev1.Pod{pod("a", "1", "1Gi")}, Pools: []Pool{
				{NodePool: nodePool("light"), InstanceTypes: SyntheticTypes(4)},
				{NodePool: nodePool("heavy", func(np *provisionerv1.NodePool) { w := int32(50); np.Spec.Weight = &w }), InstanceTypes: SyntheticTypes(4)},
			}},
			check: func(t *testing.T, r *Result) {
				wantKinds(t, r, NewClaim)
				if r.Claims[0].Pool != "heavy" {
					t.Errorf("pool %s", r.Claims[0].Pool)
				}
			},
		},
		{
			name: "limits: a pool out of CPU sends pods to the next pool",
			in: Input{Pods: []*corev1.Pod{pod("a", "1500m", "1Gi"), pod("b", "1500m", "1Gi"), pod("c", "1500m", "1Gi")}, Pools: []Pool{
				{NodePool: nodePool("capped", func(np *provisionerv1.NodePool) {
					w := int32(10)
					np.Spec.Weight = &w
					np.Spec.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}
				}), InstanceTypes: SyntheticTypes(8)},
				{NodePool: nodePool("spill"), InstanceTypes: SyntheticTypes(8)},
			}},
			check: func(t *testing.T, r *Result) {
				cpu := int64(0)
				for _, c := range r.Claims {
					if c.Pool == "capped" {
						q := c.InstanceTypes[0].Capacity[corev1.ResourceCPU]
						cpu += q.Value()
					}
				}
				if cpu > 4 {
					t.Errorf("capped pool got %d CPUs, limit 4", cpu)
				}
				if len(r.Claims) < 2 {
					t.Errorf("claims %d, want the overflow in pool spill", len(r.Claims))
				}
				wantKinds(t, r, NewClaim, NewClaim, NewClaim)
			},
		},
		{
			name: "limits on nodes",
			in: Input{Pods: []*corev1.Pod{pod("a", "1", "1Gi", antiHost("x")), pod("b", "1", "1Gi", antiHost("x"))},
				Pools: defaultPools(func(np *provisionerv1.NodePool) {
					np.Spec.Limits = corev1.ResourceList{provisionerv1.ResourceNodes: resource.MustParse("1")}
				})},
			check: func(t *testing.T, r *Result) {
				if len(r.Claims) != 1 {
					t.Errorf("claims %d, want 1", len(r.Claims))
				}
			},
		},
		{
			name: "DaemonSet overhead is reserved on new nodes",
			in: Input{Pods: []*corev1.Pod{pod("a", "1500m", "1Gi")}, Pools: defaultPools(),
				DaemonSetPods: []*corev1.Pod{pod("ds", "500m", "256Mi", func(p *corev1.Pod) {
					p.OwnerReferences = []metav1.OwnerReference{{Kind: "DaemonSet", Name: "agent"}}
				})}},
			check: func(t *testing.T, r *Result) {
				c := r.Claims[0]
				if c.InstanceTypes[0].Name != "fake-it-2" { // 2 vCPU − 100m < 2000m
					t.Errorf("cheapest %s, want fake-it-2", c.InstanceTypes[0].Name)
				}
				if q := c.Requests[corev1.ResourceCPU]; q.MilliValue() != 2000 {
					t.Errorf("requests cpu %s, want 2 (pod + DaemonSet)", q.String())
				}
			},
		},
		{
			name: "a DaemonSet that does not tolerate the pool's taint adds nothing",
			in: Input{Pods: []*corev1.Pod{pod("a", "1500m", "1Gi", tolerate("t"))},
				Pools: defaultPools(func(np *provisionerv1.NodePool) {
					np.Spec.Template.Spec.Taints = []corev1.Taint{{Key: "t", Effect: corev1.TaintEffectNoSchedule}}
				}),
				DaemonSetPods: []*corev1.Pod{pod("ds", "500m", "256Mi")}},
			check: func(t *testing.T, r *Result) {
				if n := r.Claims[0].InstanceTypes[0].Name; n != "fake-it-1" {
					t.Errorf("cheapest %s, want fake-it-1", n)
				}
			},
		},
		{
			name: "zone spread puts three pods in three zones",
			in: Input{Pods: []*corev1.Pod{pod("a", "1", "1Gi", spreadOn(corev1.LabelTopologyZone, corev1.DoNotSchedule)),
				pod("b", "1", "1Gi", spreadOn(corev1.LabelTopologyZone, corev1.DoNotSchedule)),
				pod("c", "1", "1Gi", spreadOn(corev1.LabelTopologyZone, corev1.DoNotSchedule))}, Pools: defaultPools()},
			check: func(t *testing.T, r *Result) {
				zones := map[string]bool{}
				for _, c := range r.Claims {
					zones[zoneOf(t, c)] = true
				}
				if len(zones) != 3 || zones[""] {
					t.Errorf("zones %v", zones)
				}
			},
		},
		{
			name: "zone spread counts existing pods",
			in: Input{Pods: []*corev1.Pod{pod("a", "1", "1Gi", spreadOn(corev1.LabelTopologyZone, corev1.DoNotSchedule))}, Pools: defaultPools(),
				Nodes: func() []Node {
					n1 := existing("n1", "test-zone-1", "1", "1Gi")
					n1.Pods = []*corev1.Pod{pod("old1", "100m", "100Mi", podLabels("app", "web"))}
					n2 := existing("n2", "test-zone-2", "1", "1Gi")
					n2.Pods = []*corev1.Pod{pod("old2", "100m", "100Mi", podLabels("app", "web"))}
					return []Node{n1, n2}
				}()},
			check: func(t *testing.T, r *Result) {
				if z := zoneOf(t, r.Claims[0]); z != "test-zone-3" {
					t.Errorf("zone %q, want the empty test-zone-3", z)
				}
			},
		},
		{
			name: "hostname anti-affinity: one pod per node",
			in:   Input{Pods: []*corev1.Pod{pod("a", "100m", "100Mi", antiHost("x")), pod("b", "100m", "100Mi", antiHost("x")), pod("c", "100m", "100Mi", antiHost("x"))}, Pools: defaultPools()},
			check: func(t *testing.T, r *Result) {
				if len(r.Claims) != 3 {
					t.Errorf("claims %d, want 3", len(r.Claims))
				}
			},
		},
		{
			name: "anti-affinity of a bound pod keeps matching pods off its node",
			in: Input{Pods: []*corev1.Pod{pod("a", "100m", "100Mi", podLabels("app", "x"))}, Pools: defaultPools(),
				Nodes: func() []Node {
					n := existing("n1", "test-zone-1", "4", "8Gi")
					n.Pods = []*corev1.Pod{pod("old", "100m", "100Mi", antiHost("x"))}
					return []Node{n}
				}()},
			check: func(t *testing.T, r *Result) { wantKinds(t, r, NewClaim) },
		},
		{
			name: "hostname spread with maxSkew 1",
			in:   Input{Pods: []*corev1.Pod{pod("a", "100m", "100Mi", spreadOn(corev1.LabelHostname, corev1.DoNotSchedule)), pod("b", "100m", "100Mi", spreadOn(corev1.LabelHostname, corev1.DoNotSchedule))}, Pools: defaultPools()},
			check: func(t *testing.T, r *Result) {
				if len(r.Claims) != 2 {
					t.Errorf("claims %d, want 2", len(r.Claims))
				}
			},
		},
		{
			name: "ScheduleAnyway spread is relaxed when it cannot be met",
			in: Input{Pods: []*corev1.Pod{pod("a", "100m", "100Mi", spreadOn(corev1.LabelHostname, corev1.ScheduleAnyway)), pod("b", "100m", "100Mi", spreadOn(corev1.LabelHostname, corev1.ScheduleAnyway))},
				Pools: defaultPools(func(np *provisionerv1.NodePool) {
					np.Spec.Limits = corev1.ResourceList{provisionerv1.ResourceNodes: resource.MustParse("1")}
				})},
			check: func(t *testing.T, r *Result) { wantKinds(t, r, NewClaim, NewClaim) },
		},
		{
			name: "zone pod affinity keeps the group in one zone",
			in: Input{Pods: func() []*corev1.Pod {
				var out []*corev1.Pod
				for _, n := range []string{"a", "b", "c", "d"} {
					out = append(out, pod(n, "3", "1Gi", func(p *corev1.Pod) {
						p.Labels["app"] = "db"
						p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
							TopologyKey: corev1.LabelTopologyZone, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}}}}}
					}, antiHostKeep("db")))
				}
				return out
			}(), Pools: defaultPools()},
			check: func(t *testing.T, r *Result) {
				zones := map[string]bool{}
				for _, c := range r.Claims {
					zones[zoneOf(t, c)] = true
				}
				if len(r.Claims) != 4 || len(zones) != 1 || zones[""] {
					t.Errorf("claims %d zones %v, want 4 claims in one zone", len(r.Claims), zones)
				}
			},
		},
		{
			name: "host ports conflict",
			in:   Input{Pods: []*corev1.Pod{pod("a", "100m", "100Mi", withHostPort(80)), pod("b", "100m", "100Mi", withHostPort(80)), pod("c", "100m", "100Mi", withHostPort(81))}, Pools: defaultPools()},
			check: func(t *testing.T, r *Result) {
				if len(r.Claims) != 2 {
					t.Errorf("claims %d, want 2", len(r.Claims))
				}
			},
		},
		{
			name: "preferred node affinity is honoured when possible",
			in:   Input{Pods: []*corev1.Pod{pod("a", "1", "1Gi", preferZone("test-zone-2"))}, Pools: defaultPools()},
			check: func(t *testing.T, r *Result) {
				if z := zoneOf(t, r.Claims[0]); z != "test-zone-2" {
					t.Errorf("zone %q", z)
				}
			},
		},
		{
			name:  "preferred node affinity is dropped when impossible",
			in:    Input{Pods: []*corev1.Pod{pod("a", "1", "1Gi", preferZone("mars-1"))}, Pools: defaultPools()},
			check: func(t *testing.T, r *Result) { wantKinds(t, r, NewClaim) },
		},
		{
			name: "required affinity terms are ORed",
			in: Input{Pods: []*corev1.Pod{pod("a", "1", "1Gi", func(p *corev1.Pod) {
				p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{
					{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: []string{"mars-1"}}}},
					{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: []string{"test-zone-1"}}}},
				}}}}
			})}, Pools: defaultPools()},
			check: func(t *testing.T, r *Result) {
				wantKinds(t, r, NewClaim)
				if z := zoneOf(t, r.Claims[0]); z != "test-zone-1" {
					t.Errorf("zone %q", z)
				}
			},
		},
		{
			name: "init containers and pod overhead count",
			in: Input{Pods: []*corev1.Pod{pod("a", "500m", "1Gi", func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{{Name: "init", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m")}}}}
				p.Spec.Overhead = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")}
			})}, Pools: defaultPools()},
			check: func(t *testing.T, r *Result) {
				if q := r.Claims[0].Requests[corev1.ResourceCPU]; q.MilliValue() != 1750 {
					t.Errorf("cpu %s, want 1750m (init 1500m + overhead 250m)", q.String())
				}
			},
		},
		{
			name: "minValues keeps enough instance types",
			in: Input{Pods: []*corev1.Pod{pod("a", "7", "1Gi")}, Pools: defaultPools(func(np *provisionerv1.NodePool) {
				two := 20
				np.Spec.Template.Spec.Requirements = []provisionerv1.NodeSelectorRequirementWithMinValues{{Key: provisionerv1.LabelInstanceType, Operator: corev1.NodeSelectorOpIn,
					Values: []string{"fake-it-0", "fake-it-1", "fake-it-2", "fake-it-3", "fake-it-4", "fake-it-5", "fake-it-6", "fake-it-7", "fake-it-8", "fake-it-9", "fake-it-10",
						"fake-it-11", "fake-it-12", "fake-it-13", "fake-it-14", "fake-it-15", "x1", "x2", "x3", "x4"}, MinValues: &two}}
			})},
			check: func(t *testing.T, r *Result) {
				wantKinds(t, r, Unschedulable)
				if why := r.Placements[0].PoolReasons["default"]; !strings.Contains(why, "minValues") {
					t.Errorf("reason %q", why)
				}
			},
		},
		{
			name: "a pod too big for every type",
			in:   Input{Pods: []*corev1.Pod{pod("a", "64", "1Gi")}, Pools: defaultPools()},
			check: func(t *testing.T, r *Result) {
				wantKinds(t, r, Unschedulable)
				if why := r.Placements[0].PoolReasons["default"]; !strings.Contains(why, "no instance type has room") {
					t.Errorf("reason %q", why)
				}
			},
		},
		{
			name: "pods share a claim and the claim takes the cheapest type for all of them",
			in:   Input{Pods: []*corev1.Pod{pod("a", "1", "1Gi"), pod("b", "1", "1Gi"), pod("c", "1", "1Gi")}, Pools: defaultPools()},
			check: func(t *testing.T, r *Result) {
				if len(r.Claims) != 1 || r.Claims[0].InstanceTypes[0].Name != "fake-it-3" {
					t.Errorf("claims %d, cheapest %s; want 1 claim of fake-it-3 (3 pods of 1 CPU need 4 vCPU less 100m)", len(r.Claims), r.Claims[0].InstanceTypes[0].Name)
				}
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := Solve(c.in)
			if err != nil {
				t.Fatal(err)
			}
			checkFits(t, c.in, r)
			c.check(t, r)
		})
	}
}

func antiHostKeep(app string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Affinity.PodAntiAffinity = &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
			TopologyKey: corev1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}}}}
	}
}

func preferZone(zone string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{
			Weight: 10, Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: []string{zone}}}},
		}}}}
	}
}

func wantKinds(t *testing.T, r *Result, kinds ...Kind) {
	t.Helper()
	if len(r.Placements) != len(kinds) {
		t.Fatalf("%d placements, want %d", len(r.Placements), len(kinds))
	}
	for i, k := range kinds {
		if got := r.Placements[i].Kind; got != k {
			t.Errorf("pod %s: %s (%s %v), want %s", r.Placements[i].Pod.Name, got, r.Placements[i].Reason, r.Placements[i].PoolReasons, k)
		}
	}
}

// checkFits verifies the invariants every result must hold: placed pods
// fit their node's allocatable (claims: their cheapest type, DaemonSet
// overhead included), claims list pods consistently, and hostname
// anti-affinity among new claims holds.
func checkFits(t *testing.T, in Input, r *Result) {
	t.Helper()
	d := newDims()
	for _, p := range in.Pods {
		_ = d.register(podRequests(p))
	}
	onClaim := map[int]int{}
	for _, p := range r.Placements {
		if p.Kind == NewClaim {
			if p.Claim < 0 || p.Claim >= len(r.Claims) {
				t.Fatalf("pod %s on claim %d of %d", p.Pod.Name, p.Claim, len(r.Claims))
			}
			onClaim[p.Claim]++
		}
	}
	for i, c := range r.Claims {
		if onClaim[i] != len(c.Pods) {
			t.Errorf("claim %d lists %d pods, placements say %d", i, len(c.Pods), onClaim[i])
		}
		if len(c.InstanceTypes) == 0 {
			t.Fatalf("claim %d has no instance type", i)
		}
		_ = d.register(c.InstanceTypes[0].Allocatable)
		_ = d.register(c.Requests)
		req, alloc := d.vec(c.Requests), d.vec(c.InstanceTypes[0].Allocatable)
		var sum vec
		for _, p := range c.Pods {
			v := d.vec(podRequests(p))
			sum.add(&v)
		}
		if !lessEq(&sum, &req) || !lessEq(&req, &alloc) {
			t.Errorf("claim %d: pods %v, requests %v, allocatable of %s %v", i, sum, req, c.InstanceTypes[0].Name, alloc)
		}
		apps := map[string]bool{}
		for _, p := range c.Pods {
			if p.Spec.Affinity == nil || p.Spec.Affinity.PodAntiAffinity == nil || len(p.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) == 0 {
				continue
			}
			if p.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].TopologyKey != corev1.LabelHostname {
				continue
			}
			if apps[p.Labels["app"]] {
				t.Errorf("claim %d holds two anti-affine %q pods", i, p.Labels["app"])
			}
			apps[p.Labels["app"]] = true
		}
	}
	used := map[string]vec{}
	for _, p := range r.Placements {
		if p.Kind == ExistingNode || p.Kind == InFlightNode {
			v := used[p.Node]
			x := d.vec(podRequests(p.Pod))
			v.add(&x)
			used[p.Node] = v
		}
	}
	for _, n := range in.Nodes {
		_ = d.register(n.Allocatable)
		v := used[n.Name]
		for _, p := range n.Pods {
			x := d.vec(podRequests(p))
			v.add(&x)
		}
		alloc := d.vec(n.Allocatable)
		if !lessEq(&v, &alloc) {
			t.Errorf("node %s over-committed: %v > %v", n.Name, v, alloc)
		}
	}
}
