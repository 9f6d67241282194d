package scheduling

import (
	"math"

	corev1 "k8s.io/api/core/v1"
)

// Bound is the LP relaxation of buying nodes for a demand of resources:
// the least Σ price(t) × x(t) over real x(t) ≥ 0 with Σ x(t) ×
// allocatable(t, r) ≥ demand(r) for every resource r. Whole nodes and
// per-pod packing cost more, so no schedule is cheaper. It is tighter
// than pricing each resource alone at its cheapest type (a type cheap in
// CPU is rarely cheap in memory too): mixes of types are priced.
//
// It is computed through the LP's dual, max demand · y subject to
// allocatable(t) · y ≤ price(t) for every type and y ≥ 0, whose optimum
// is at a vertex of that polytope; NewBound enumerates the vertices once
// (every choice of len(resources) tight constraints), so Cost is a scan
// of a few vectors.
type Bound struct {
	Resources []corev1.ResourceName
	vertices  [][]float64
}

// NewBound prepares the bound over types, each at price(t) USD per hour
// (+Inf or NaN: not for sale), for the resources (at most 4: the
// enumeration grows as types^len(resources)).
func NewBound(types []*InstanceType, price func(*InstanceType) float64, resources []corev1.ResourceName) *Bound {
	k := len(resources)
	b := &Bound{Resources: resources}
	if k == 0 || k > 4 {
		return b
	}
	// Constraints a · y ≤ c: one per type, then y_r ≥ 0 as −y_r ≤ 0.
	var a [][]float64
	var c []float64
	for _, it := range types {
		p := price(it)
		if math.IsNaN(p) || math.IsInf(p, 0) || p < 0 {
			continue
		}
		row := make([]float64, k)
		for r, name := range resources {
			q := it.Allocatable[name]
			row[r] = q.AsApproximateFloat64()
		}
		a, c = append(a, row), append(c, p)
	}
	// A type another beats (at least as much of every resource for no
	// more) adds a redundant constraint: dropped, so a catalogue of a
	// thousand types enumerates the few hundred that matter.
	var keep [][]float64
	var keepC []float64
	for t := range a {
		beaten := false
		for u := range a {
			if u == t || c[u] > c[t] {
				continue
			}
			ge, eq := true, c[u] == c[t]
			for r := range k {
				ge = ge && a[u][r] >= a[t][r]
				eq = eq && a[u][r] == a[t][r]
			}
			if ge && (!eq || u < t) {
				beaten = true
				break
			}
		}
		if !beaten {
			keep, keepC = append(keep, a[t]), append(keepC, c[t])
		}
	}
	a, c = keep, keepC
	// Each resource in units of its largest allocatable (bytes and cores
	// differ by 1e10): the solves stay well conditioned.
	scale := make([]float64, k)
	for r := range k {
		scale[r] = 1
		for _, row := range a {
			scale[r] = max(scale[r], row[r])
		}
		for _, row := range a {
			row[r] /= scale[r]
		}
	}
	for r := range k {
		row := make([]float64, k)
		row[r] = -1
		a, c = append(a, row), append(c, 0)
	}
	idx := make([]int, k)
	m := make([][]float64, k)
	for i := range m {
		m[i] = make([]float64, k+1)
	}
	cut := 0
	var rec func(start, depth int)
	rec = func(start, depth int) {
		if depth == k {
			for i, j := range idx {
				copy(m[i], a[j])
				m[i][k] = c[j]
			}
			y, ok := solve(m)
			if !ok {
				return
			}
			// Clearly negative: not a vertex of the polytope. Rounding
			// noise is clamped to y ≥ 0 before the check: any y that
			// passes is dual feasible, so d · y is a valid bound (weak
			// duality) whatever rounding did.
			big := 0.0
			for _, v := range y {
				big = max(big, math.Abs(v))
			}
			for r := range y {
				if y[r] < -1e-9*big {
					return
				}
				y[r] = max(y[r], 0)
			}
			feasible := func(j int) bool {
				var s float64
				for r := range k {
					s += a[j][r] * y[r]
				}
				return s <= c[j]*(1+1e-9)+1e-12
			}
			// The constraint that cut the last candidate off first: it
			// usually cuts this one too.
			if !feasible(cut) {
				return
			}
			for j := range a {
				if !feasible(j) {
					cut = j
					return
				}
			}
			for r := range y {
				y[r] /= scale[r]
			}
			b.vertices = append(b.vertices, y)
			return
		}
		for j := start; j < len(a); j++ {
			idx[depth] = j
			rec(j+1, depth+1)
		}
	}
	rec(0, 0)
	return b
}

// solve solves the k×(k+1) augmented system m by Gaussian elimination with
// partial pivoting; ok is false when it is singular.
func solve(m [][]float64) ([]float64, bool) {
	k := len(m)
	for col := range k {
		p := col
		for i := col + 1; i < k; i++ {
			if math.Abs(m[i][col]) > math.Abs(m[p][col]) {
				p = i
			}
		}
		if math.Abs(m[p][col]) < 1e-300 {
			return nil, false
		}
		m[col], m[p] = m[p], m[col]
		for i := range k {
			if i == col {
				continue
			}
			f := m[i][col] / m[col][col]
			for j := col; j <= k; j++ {
				m[i][j] -= f * m[col][j]
			}
		}
	}
	y := make([]float64, k)
	for i := range k {
		y[i] = m[i][k] / m[i][i]
		if math.IsNaN(y[i]) || math.IsInf(y[i], 0) {
			return nil, false
		}
	}
	return y, true
}

// Cost is the bound for a demand (in Resources' order, their units: cores
// as AsApproximateFloat64 gives them, bytes, counts), USD per hour. A
// demand no type can meet (a resource no type has) is priced as if that
// resource were free.
func (b *Bound) Cost(demand []float64) float64 {
	best := 0.0
	for _, y := range b.vertices {
		var s float64
		for r, d := range demand {
			s += d * y[r]
		}
		best = max(best, s)
	}
	return best
}

// LowerBound is the Bound of the pods' total requests of CPU, memory and
// pod slots, each type at its cheapest available offering, USD per hour.
func LowerBound(pods []*corev1.Pod, types []*InstanceType) float64 {
	res := []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourcePods}
	demand := make([]float64, len(res))
	for _, p := range pods {
		req := podRequests(p)
		for r, name := range res {
			q := req[name]
			demand[r] += q.AsApproximateFloat64()
		}
	}
	return NewBound(types, func(it *InstanceType) float64 {
		p := math.Inf(1)
		for _, o := range it.Offerings {
			if o.Available {
				p = min(p, o.Price)
			}
		}
		return p
	}, res).Cost(demand)
}
