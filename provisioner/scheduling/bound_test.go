package scheduling

import (
	"math"
	"math/rand/v2"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func boundType(cpu, memGi int64, price float64) *InstanceType {
	return &InstanceType{
		Allocatable: corev1.ResourceList{
			corev1.ResourceCPU:    *resource.NewQuantity(cpu, resource.DecimalSI),
			corev1.ResourceMemory: *resource.NewQuantity(memGi<<30, resource.BinarySI),
		},
		Offerings: []Offering{{Price: price, Available: true}},
	}
}

func cheapestOffering(it *InstanceType) float64 { return it.Offerings[0].Price }

var cpuMem = []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory}

// perResource is the bound that prices each resource alone (what
// LowerBound was before the LP).
func perResource(types []*InstanceType, demand []float64) float64 {
	best := 0.0
	for r, name := range cpuMem {
		unit := math.Inf(1)
		for _, it := range types {
			q := it.Allocatable[name]
			unit = min(unit, cheapestOffering(it)/q.AsApproximateFloat64())
		}
		best = max(best, demand[r]*unit)
	}
	return best
}

func TestBound(t *testing.T) {
	cpuHeavy, memHeavy := boundType(4, 8, 1), boundType(2, 16, 1)
	tests := []struct {
		name   string
		types  []*InstanceType
		demand []float64 // cores, GiB
		want   float64
	}{
		// 2/3 of each: 4 cores and 16 GiB for $4/3, where pricing each
		// resource alone says $1.
		{"mix of two types", []*InstanceType{cpuHeavy, memHeavy}, []float64{4, 16}, 4.0 / 3},
		{"cpu only", []*InstanceType{cpuHeavy, memHeavy}, []float64{8, 0}, 2},
		{"memory only", []*InstanceType{cpuHeavy, memHeavy}, []float64{0, 32}, 2},
		{"one type", []*InstanceType{cpuHeavy}, []float64{4, 16}, 2},
		{"nothing", []*InstanceType{cpuHeavy}, []float64{0, 0}, 0},
		{"no types", nil, []float64{1, 1}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBound(tc.types, cheapestOffering, cpuMem)
			got := b.Cost([]float64{tc.demand[0], tc.demand[1] * (1 << 30)})
			if math.Abs(got-tc.want) > 1e-9 {
				t.Fatalf("bound %v, want %v", got, tc.want)
			}
		})
	}
}

// FuzzBound: the LP bound is at least the per-resource bound and at most
// what buying whole nodes of any one type costs.
func FuzzBound(f *testing.F) {
	f.Add(uint64(1), uint8(5), 10.0, 40.0)
	f.Add(uint64(7), uint8(30), 0.5, 1000.0)
	f.Fuzz(func(t *testing.T, seed uint64, n uint8, cpu, memGi float64) {
		if !(cpu >= 0 && cpu < 1e6 && memGi >= 0 && memGi < 1e6) {
			return
		}
		r := rand.New(rand.NewPCG(seed, 1))
		var types []*InstanceType
		for range int(n%40) + 1 {
			types = append(types, boundType(int64(1+r.IntN(64)), int64(1+r.IntN(512)), 0.01+r.Float64()*5))
		}
		demand := []float64{cpu, memGi * (1 << 30)}
		got := NewBound(types, cheapestOffering, cpuMem).Cost(demand)
		if lo := perResource(types, demand); got < lo*(1-1e-9)-1e-9 {
			t.Fatalf("LP bound %v below the per-resource bound %v", got, lo)
		}
		for _, it := range types {
			c, m := it.Allocatable[corev1.ResourceCPU], it.Allocatable[corev1.ResourceMemory]
			nodes := math.Max(math.Ceil(demand[0]/c.AsApproximateFloat64()), math.Ceil(demand[1]/m.AsApproximateFloat64()))
			if whole := nodes * cheapestOffering(it); got > whole*(1+1e-9)+1e-9 {
				t.Fatalf("LP bound %v above %v nodes of one type, $%v", got, nodes, whole)
			}
		}
	})
}

func BenchmarkNewBound(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	var types []*InstanceType
	for range 170 {
		types = append(types, boundType(int64(1+r.IntN(64)), int64(1+r.IntN(512)), 0.01+r.Float64()*5))
	}
	res := []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourcePods}
	for range b.N {
		NewBound(types, cheapestOffering, res)
	}
}
