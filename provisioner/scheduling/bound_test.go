package scheduling

import (
	"math"
	"math/rand/v2"
	"slices"
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

// vertexBound is the LP's optimum by brute force, the way Bound was
// first computed: every vertex of the dual polytope (every choice of
// len(demand) tight constraints among the types' and y ≥ 0) that is
// feasible, the best of demand · y. Exponential: for tests.
func vertexBound(types []*InstanceType, res []corev1.ResourceName, demand []float64) float64 {
	k := len(res)
	var a [][]float64
	var c []float64
	for _, it := range types {
		row := make([]float64, k)
		for r, n := range res {
			q := it.Allocatable[n]
			row[r] = q.AsApproximateFloat64()
		}
		a, c = append(a, row), append(c, cheapestOffering(it))
	}
	// Each resource in units of its largest allocatable: tolerances
	// below are for numbers near 1.
	demand = slices.Clone(demand)
	for r := range k {
		scale := 1.0
		for _, row := range a {
			scale = max(scale, row[r])
		}
		for _, row := range a {
			row[r] /= scale
		}
		demand[r] /= scale
	}
	for r := range k {
		row := make([]float64, k)
		row[r] = -1
		a, c = append(a, row), append(c, 0)
	}
	best := 0.0
	idx := make([]int, k)
	var rec func(start, depth int)
	rec = func(start, depth int) {
		if depth < k {
			for j := start; j < len(a); j++ {
				idx[depth] = j
				rec(j+1, depth+1)
			}
			return
		}
		m := make([][]float64, k)
		for i, j := range idx {
			m[i] = append(append([]float64{}, a[j]...), c[j])
		}
		// Gaussian elimination.
		for col := range k {
			p := col
			for i := col + 1; i < k; i++ {
				if math.Abs(m[i][col]) > math.Abs(m[p][col]) {
					p = i
				}
			}
			if math.Abs(m[p][col]) < 1e-12 {
				return
			}
			m[col], m[p] = m[p], m[col]
			for i := range k {
				if i != col {
					f := m[i][col] / m[col][col]
					for j := col; j <= k; j++ {
						m[i][j] -= f * m[col][j]
					}
				}
			}
		}
		y := make([]float64, k)
		for i := range k {
			y[i] = m[i][k] / m[i][i]
			if y[i] < -1e-9 {
				return
			}
		}
		for j := range a {
			var s float64
			for r := range k {
				s += a[j][r] * y[r]
			}
			if s > c[j]*(1+1e-9)+1e-12 {
				return
			}
		}
		var v float64
		for r := range k {
			v += demand[r] * y[r]
		}
		best = max(best, v)
	}
	rec(0, 0)
	return best
}

func randomTypes(r *rand.Rand, n int) []*InstanceType {
	var types []*InstanceType
	for range n {
		it := boundType(int64(1+r.IntN(64)), int64(1+r.IntN(512)), 0.01+r.Float64()*5)
		if r.IntN(4) == 0 {
			it.Allocatable[gpu] = *resource.NewQuantity(int64(r.IntN(9)), resource.DecimalSI)
		}
		types = append(types, it)
	}
	return types
}

const gpu corev1.ResourceName = "nvidia.com/gpu"

// FuzzBound: the simplex's bound is the LP's optimum (the best vertex of
// the dual, enumerated), so at least the per-resource bound and at most
// what buying whole nodes of any one type costs.
func FuzzBound(f *testing.F) {
	f.Add(uint64(1), uint8(5), 10.0, 40.0, 0.0)
	f.Add(uint64(7), uint8(30), 0.5, 1000.0, 3.0)
	f.Add(uint64(3), uint8(12), 0.0, 0.0, 2.0)
	f.Fuzz(func(t *testing.T, seed uint64, n uint8, cpu, memGi, gpus float64) {
		if !(cpu >= 0 && cpu < 1e6 && memGi >= 0 && memGi < 1e6 && gpus >= 0 && gpus < 1e4) {
			return
		}
		r := rand.New(rand.NewPCG(seed, 1))
		types := randomTypes(r, int(n%25)+1)
		res := []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, gpu}
		demand := []float64{cpu, memGi * (1 << 30), gpus}
		bd := NewBound(types, cheapestOffering, res)
		// A neighbouring demand first: the second Cost may reuse its
		// optimal basis.
		bd.Cost([]float64{cpu * 1.1, memGi * (1 << 30) * 0.9, gpus})
		got := bd.Cost(demand)
		// Resources no type has are free (the brute force would find no
		// vertex bounding them).
		for i, name := range res {
			has := false
			for _, it := range types {
				q := it.Allocatable[name]
				has = has || q.Sign() > 0
			}
			if !has {
				demand[i] = 0
			}
		}
		want := vertexBound(types, res, demand)
		if math.Abs(got-want) > 1e-7*max(1, want) {
			t.Fatalf("simplex bound %v, the best dual vertex %v", got, want)
		}
		if lo := perResource(types, demand[:2]); got < lo*(1-1e-9)-1e-9 {
			t.Fatalf("LP bound %v below the per-resource bound %v", got, lo)
		}
		for _, it := range types {
			c, m := it.Allocatable[corev1.ResourceCPU], it.Allocatable[corev1.ResourceMemory]
			nodes := math.Max(math.Ceil(demand[0]/c.AsApproximateFloat64()), math.Ceil(demand[1]/m.AsApproximateFloat64()))
			if demand[2] > 0 {
				g := it.Allocatable[gpu]
				nodes = math.Max(nodes, math.Ceil(demand[2]/g.AsApproximateFloat64()))
			}
			if whole := nodes * cheapestOffering(it); got > whole*(1+1e-9)+1e-9 {
				t.Fatalf("LP bound %v above %v nodes of one type, $%v", got, nodes, whole)
			}
		}
	})
}

// BenchmarkBound: preparing the bound over the catalogue's ~170
// undominated types and pricing one demand (what the capacity replay does
// at every event); the brute-force vertex enumeration it replaced took
// ~1.5 s of CPU to prepare 400 types.
func BenchmarkBound(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	types := randomTypes(r, 170)
	res := []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, gpu}
	b.Run("new", func(b *testing.B) {
		for range b.N {
			NewBound(types, cheapestOffering, res)
		}
	})
	bd := NewBound(types, cheapestOffering, res)
	b.Run("cost", func(b *testing.B) {
		for i := range b.N {
			bd.Cost([]float64{float64(100 + i%1000), float64(i%5000) * (1 << 30), float64(i % 7)})
		}
	})
}

func TestFitBound(t *testing.T) {
	small, big := boundType(2, 4, 0.01), boundType(32, 128, 1)
	tests := []struct {
		name      string
		pods      [][]float64 // cores, GiB
		want, all float64
	}{
		// The Bound buys 64 GiB from 16 small nodes; the pod only
		// fits the big one and fills 20/32 of it.
		{"lone big pod", [][]float64{{20, 64}}, 20.0 / 32, 0.16},
		{"small pods", [][]float64{{1, 1}, {1, 1}}, 0.01, 0.01},
		// Memory-bound: 100 GiB of the big one.
		{"by memory", [][]float64{{1, 100}, {1, 1}}, 100.0 / 128, 101 * 0.0025},
		{"none", nil, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFitBound([]*InstanceType{small, big}, cheapestOffering, cpuMem)
			for _, p := range tc.pods {
				f.Add([]float64{p[0], p[1] * (1 << 30)}, 1)
			}
			// A pod that came and went leaves nothing behind.
			f.Add([]float64{30, 10 << 30}, 1)
			f.Add([]float64{30, 10 << 30}, -1)
			if got := f.Cost(); math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("fit bound %v, want %v", got, tc.want)
			}
			if got := f.all.Cost(f.total); math.Abs(got-tc.all) > 1e-9 {
				t.Errorf("bound %v, want %v", got, tc.all)
			}
		})
	}
}

// FuzzFitBound: the fit bound is at least the Bound and at most the cost
// of a real placement, every pod alone on the cheapest type that holds it.
func FuzzFitBound(f *testing.F) {
	f.Add(uint64(1), uint8(10), uint8(5))
	f.Add(uint64(9), uint8(40), uint8(30))
	f.Fuzz(func(t *testing.T, seed uint64, ntypes, npods uint8) {
		r := rand.New(rand.NewPCG(seed, 2))
		types := randomTypes(r, int(ntypes%30)+1)
		res := []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, gpu}
		fb := NewFitBound(types, cheapestOffering, res)
		alone := 0.0
		for range int(npods % 40) {
			req := []float64{r.Float64() * 64, r.Float64() * 512 * (1 << 30), float64(r.IntN(3))}
			cheapest := math.Inf(1)
			for _, it := range types {
				fits := true
				for i, n := range res {
					q := it.Allocatable[n]
					fits = fits && q.AsApproximateFloat64() >= req[i]
				}
				if fits {
					cheapest = min(cheapest, cheapestOffering(it))
				}
			}
			if math.IsInf(cheapest, 1) {
				continue // fits no type
			}
			alone += cheapest
			fb.Add(req, 1)
		}
		got, lp := fb.Cost(), fb.all.Cost(fb.total)
		if got < lp*(1-1e-9) {
			t.Fatalf("fit bound %v below the bound %v", got, lp)
		}
		if got > alone*(1+1e-9)+1e-12 {
			t.Fatalf("fit bound %v above a placement's cost %v", got, alone)
		}
	})
}
