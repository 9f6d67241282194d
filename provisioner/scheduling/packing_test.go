package scheduling

import (
	"fmt"
	"math"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
)

// ladderType is a type of cpu cores, 64 GiB and 110 pods at price.
func ladderType(name string, cpu int64, price float64) *InstanceType {
	rl := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewQuantity(cpu, resource.DecimalSI),
		corev1.ResourceMemory: resource.MustParse("64Gi"),
		corev1.ResourcePods:   *resource.NewQuantity(110, resource.DecimalSI),
	}
	return &InstanceType{Name: name, Labels: map[string]string{provisionerv1.LabelInstanceType: name},
		Capacity: rl, Allocatable: rl,
		Offerings: []Offering{{Zone: "z1", CapacityType: provisionerv1.CapacityTypeOnDemand, Price: price, Available: true}}}
}

func withPacking(p provisionerv1.Packing) func(*provisionerv1.NodePool) {
	return func(np *provisionerv1.NodePool) { np.Spec.Packing = p }
}

// TestPacking: FirstFit grows a planned node to a larger type; with
// MarginalCost a pod gets a node of its own when the rise of the planned
// node's price is at least what that node costs, and joins it otherwise.
func TestPacking(t *testing.T) {
	// Prices per core are the same along the linear ladder; the steep
	// one's large type costs more than two small ones (as GPU types often
	// do), the cheap one's less.
	linear := []*InstanceType{ladderType("small", 4, 1), ladderType("large", 8, 2)}
	steep := []*InstanceType{ladderType("small", 4, 1), ladderType("large", 8, 3)}
	cheap := []*InstanceType{ladderType("small", 4, 1), ladderType("large", 8, 1.5)}
	tests := []struct {
		name    string
		types   []*InstanceType
		packing provisionerv1.Packing
		pods    []string // CPU requests
		want    []string // claims' cheapest types
		cost    float64
	}{
		{"first fit grows the node", steep, "", []string{"3", "3"}, []string{"large"}, 3},
		{"first fit, explicitly", steep, provisionerv1.PackingFirstFit, []string{"3", "3"}, []string{"large"}, 3},
		{"marginal cost: two small nodes", steep, provisionerv1.PackingMarginalCost, []string{"3", "3"}, []string{"small", "small"}, 2},
		// The rise (1) is what a node of its own costs (1): at the same
		// price, two nodes (each can go alone).
		{"marginal cost, linear prices: two nodes", linear, provisionerv1.PackingMarginalCost, []string{"3", "3"}, []string{"small", "small"}, 2},
		// The rise (0.5) is less than a node of its own (1): one node.
		{"marginal cost, cheaper large type: one node", cheap, provisionerv1.PackingMarginalCost, []string{"3", "3"}, []string{"large"}, 1.5},
		// Room left on the planned node costs nothing.
		{"marginal cost: free room first", steep, provisionerv1.PackingMarginalCost, []string{"3", "1"}, []string{"small"}, 1},
		// Three 3-core pods: two small nodes and a third, not one large
		// node and a small one (3 + 1 = 4 > 3).
		{"marginal cost: three pods", steep, provisionerv1.PackingMarginalCost, []string{"3", "3", "3"}, []string{"small", "small", "small"}, 3},
		{"first fit: three pods", steep, "", []string{"3", "3", "3"}, []string{"large", "small"}, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{Pools: []Pool{{NodePool: nodePool("default", withPacking(tc.packing)), InstanceTypes: tc.types}}}
			for i, cpu := range tc.pods {
				in.Pods = append(in.Pods, pod(fmt.Sprintf("p%d", i), cpu, "1Gi"))
			}
			r, err := Solve(in)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range r.Claims {
				got = append(got, c.InstanceTypes[0].Name)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) || math.Abs(r.Cost()-tc.cost) > 1e-9 {
				t.Fatalf("claims %v ($%v), want %v ($%v)", got, r.Cost(), tc.want, tc.cost)
			}
			checkFits(t, in, r)
		})
	}
}
