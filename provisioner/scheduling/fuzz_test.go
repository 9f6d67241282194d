package scheduling

import (
	"fmt"
	"math/rand"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
)

// FuzzSolve builds a random cluster from the fuzzer's bytes (pods with
// random sizes, selectors, affinity, spread, ports and tolerations; pools
// with random requirements, taints and limits; existing nodes) and checks
// that Solve does not panic and that every placed pod fits (checkFits).
func FuzzSolve(f *testing.F) {
	f.Add(int64(1), uint8(20), uint8(2), uint8(2))
	f.Add(int64(42), uint8(200), uint8(3), uint8(0))
	f.Add(int64(7), uint8(5), uint8(1), uint8(5))
	f.Fuzz(func(t *testing.T, seed int64, npods, npools, nnodes uint8) {
		rng := rand.New(rand.NewSource(seed))
		zones := append(append([]string(nil), MixZones...), "nowhere")
		pick := func(list ...string) string { return list[rng.Intn(len(list))] }
		var in Input
		types := SyntheticTypes(1 + rng.Intn(24))
		for i := 0; i < int(npools%4); i++ {
			np := nodePool(fmt.Sprintf("pool-%d", i))
			if uint64(seed)%3 == 0 { // both packings, without moving the seeds' draws
				np.Spec.Packing = provisionerv1.PackingMarginalCost
			}
			w := int32(1 + rng.Intn(100))
			np.Spec.Weight = &w
			if rng.Intn(2) == 0 {
				np.Spec.Template.Spec.Requirements = append(np.Spec.Template.Spec.Requirements, provisionerv1.NodeSelectorRequirementWithMinValues{
					Key: provisionerv1.LabelCapacityType, Operator: corev1.NodeSelectorOpIn, Values: []string{pick("spot", "on-demand")}})
			}
			if rng.Intn(3) == 0 {
				np.Spec.Template.Spec.Requirements = append(np.Spec.Template.Spec.Requirements, provisionerv1.NodeSelectorRequirementWithMinValues{
					Key: provisionerv1.LabelInstanceCPU, Operator: corev1.NodeSelectorOperator(pick("Gt", "Lt")), Values: []string{fmt.Sprint(rng.Intn(16))}})
			}
			if rng.Intn(3) == 0 {
				np.Spec.Template.Spec.Taints = []corev1.Taint{{Key: "t", Effect: corev1.TaintEffectNoSchedule}}
			}
			if rng.Intn(3) == 0 {
				np.Spec.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(fmt.Sprint(rng.Intn(64))), provisionerv1.ResourceNodes: resource.MustParse(fmt.Sprint(rng.Intn(20)))}
			}
			in.Pools = append(in.Pools, Pool{NodePool: np, InstanceTypes: types})
		}
		for i := 0; i < int(nnodes%6); i++ {
			n := existing(fmt.Sprintf("n%d", i), pick(MixZones...), fmt.Sprint(1+rng.Intn(8)), fmt.Sprintf("%dGi", 1+rng.Intn(16)))
			if rng.Intn(2) == 0 {
				n.Pods = []*corev1.Pod{pod(fmt.Sprintf("old%d", i), "100m", "100Mi", antiHost(pick("x", "y")))}
			}
			in.Nodes = append(in.Nodes, n)
		}
		if rng.Intn(2) == 0 {
			in.DaemonSetPods = []*corev1.Pod{pod("ds", "100m", "64Mi")}
		}
		for i := 0; i < int(npods); i++ {
			p := pod(fmt.Sprintf("p%d", i), pick("50m", "250m", "1", "3", "9"), pick("64Mi", "1Gi", "6Gi"))
			p.Labels["app"] = pick("x", "y", "z")
			switch rng.Intn(9) {
			case 0:
				p.Spec.NodeSelector = map[string]string{corev1.LabelTopologyZone: pick(zones...)}
			case 1:
				required(pick(provisionerv1.LabelCapacityType, corev1.LabelTopologyZone, "custom"), corev1.NodeSelectorOperator(pick("In", "NotIn", "Exists", "DoesNotExist")), pick(zones...))(p)
			case 2:
				spreadOn(pick(corev1.LabelTopologyZone, corev1.LabelHostname), corev1.UnsatisfiableConstraintAction(pick("DoNotSchedule", "ScheduleAnyway")))(p)
			case 3:
				antiHost(p.Labels["app"])(p)
			case 4:
				p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
					TopologyKey: pick(corev1.LabelTopologyZone, corev1.LabelHostname), LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": p.Labels["app"]}}}}}}
			case 5:
				withHostPort(int32(80 + rng.Intn(2)))(p)
			case 6:
				tolerate("t")(p)
			case 7:
				preferZone(pick(zones...))(p)
			}
			in.Pods = append(in.Pods, p)
		}
		r, err := Solve(in)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Placements) != len(in.Pods) {
			t.Fatalf("%d placements for %d pods", len(r.Placements), len(in.Pods))
		}
		checkFits(t, in, r)
	})
}
