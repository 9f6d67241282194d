package scheduling

import (
	"math"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
)

// Bound is the LP relaxation of buying nodes for a demand of resources:
// the least Σ price(t) × x(t) over real x(t) ≥ 0 with Σ x(t) ×
// allocatable(t, r) ≥ demand(r) for every resource r. Whole nodes and
// per-pod packing cost more, so no schedule is cheaper. It is tighter
// than pricing each resource alone at its cheapest type (a type cheap in
// CPU is rarely cheap in memory too): mixes of types are priced.
//
// Cost solves the LP by the revised simplex method: one row per resource
// (at most a handful), one column per type, so a basis is a k×k matrix
// and a pivot is a scan of the types. The answer is certified through the
// dual: the final dual prices are clamped and scaled until no type is
// priced above its price, so whatever rounding did, the value returned is
// that of a dual-feasible point and by weak duality no more than the LP's
// optimum.
type Bound struct {
	Resources []corev1.ResourceName
	cols      [][]float64 // allocatable per type, each resource in units of scale
	price     []float64
	scale     []float64
	unit      []float64 // per resource, the cheapest price of one unit on any type (+Inf: no type has it)

	mu     sync.Mutex
	recent []optimum // the last optimal bases, newest first
}

// optimum is an optimal basis: its reduced costs do not depend on the
// demand, so it stays optimal for any demand it keeps feasible
// (B⁻¹ d ≥ 0), and the price is d · y without a pivot.
type optimum struct {
	rows [maxBoundResources]int
	k    int
	inv  [maxBoundResources][maxBoundResources]float64
	y    [maxBoundResources]float64 // certified dual prices
}

// recentOptima is how many optimal bases Cost remembers.
const recentOptima = 4

// NewBound prepares the bound over types, each at price(t) USD per hour
// (+Inf or NaN: not for sale), for the resources (at most maxBoundResources).
func NewBound(types []*InstanceType, price func(*InstanceType) float64, resources []corev1.ResourceName) *Bound {
	k := len(resources)
	b := &Bound{Resources: resources}
	if k == 0 || k > maxBoundResources {
		return b
	}
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
			row[r] = max(q.AsApproximateFloat64(), 0)
		}
		a, c = append(a, row), append(c, p)
	}
	// A type another beats (at least as much of every resource for no
	// more) is never needed in an optimal mix: dropped, so each pivot
	// scans the few hundred types that matter.
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
			b.cols, b.price = append(b.cols, a[t]), append(b.price, c[t])
		}
	}
	// Each resource in units of its largest allocatable (bytes and cores
	// differ by 1e10): the pivots stay well conditioned.
	b.scale = make([]float64, k)
	b.unit = make([]float64, k)
	for r := range k {
		b.scale[r] = 1
		for _, col := range b.cols {
			b.scale[r] = max(b.scale[r], col[r])
		}
		b.unit[r] = math.Inf(1)
		for t, col := range b.cols {
			col[r] /= b.scale[r]
			if col[r] > 0 {
				b.unit[r] = min(b.unit[r], b.price[t]/col[r])
			}
		}
	}
	return b
}

// maxBoundResources is the most resources a Bound prices.
const maxBoundResources = 8

// Cost is the bound for a demand (in Resources' order, their units: cores
// as AsApproximateFloat64 gives them, bytes, counts), USD per hour. A
// demand no type can meet (a resource no type has) is priced as if that
// resource were free.
func (b *Bound) Cost(demand []float64) float64 {
	var rows [maxBoundResources]int // the resources that constrain
	k := 0
	var d [maxBoundResources]float64
	for r, v := range demand {
		if r >= len(b.scale) || !(v > 0) || math.IsInf(b.unit[r], 1) {
			continue
		}
		rows[k], d[k] = r, v/b.scale[r]
		k++
	}
	if k == 0 {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range b.recent {
		if v, ok := b.recent[i].price(rows, k, &d); ok {
			if i > 0 {
				o := b.recent[i]
				copy(b.recent[1:i+1], b.recent[:i])
				b.recent[0] = o
			}
			return v
		}
	}
	n := len(b.cols)
	// Columns: types 0..n-1 (cost price, column allocatable), surplus
	// n..n+k-1 (cost 0, column −e_i), artificial n+k..n+2k-1 (cost
	// 2 × unit + 1, column e_i). No dual price of resource r exceeds
	// unit(r) (a type that has it would be priced above its price), so an
	// artificial column never prices out and the optimum is the LP's; the
	// artificials make the first basis (x = d) feasible.
	col := func(j int, out *[maxBoundResources]float64) float64 {
		switch {
		case j < n:
			for i := range k {
				out[i] = b.cols[j][rows[i]]
			}
			return b.price[j]
		case j < n+k:
			for i := range k {
				out[i] = 0
			}
			out[j-n] = -1
			return 0
		default:
			for i := range k {
				out[i] = 0
			}
			out[j-n-k] = 1
			return 2*b.unit[rows[j-n-k]] + 1
		}
	}
	var basis [maxBoundResources]int
	var cb [maxBoundResources]float64
	for i := range k {
		basis[i] = n + k + i
		cb[i] = 2*b.unit[rows[i]] + 1
	}
	var inv [maxBoundResources][maxBoundResources]float64
	var y [maxBoundResources]float64
	var xb, w, aj [maxBoundResources]float64
	// Pivots are bounded: degenerate cycling (not seen; Bland's rule
	// breaks ties) would only stop early, and the certification below
	// keeps an early stop a valid, if weaker, bound.
	optimal := false
	for iter := 0; iter < 50+4*n; iter++ {
		if !invert(&basis, k, col, &inv) {
			break
		}
		for i := range k {
			xb[i] = 0
			for j := range k {
				xb[i] += inv[i][j] * d[j]
			}
		}
		for j := range k {
			y[j] = 0
			for i := range k {
				y[j] += cb[i] * inv[i][j]
			}
		}
		enter, best := -1, -1e-12
		for j := range n + 2*k {
			if inBasis(&basis, k, j) {
				continue
			}
			cj := col(j, &aj)
			rc := cj
			for i := range k {
				rc -= y[i] * aj[i]
			}
			if cj > 0 {
				rc /= cj
			}
			if rc < best {
				enter, best = j, rc
			}
		}
		if enter < 0 {
			optimal = true
			break
		}
		cj := col(enter, &aj)
		for i := range k {
			w[i] = 0
			for j := range k {
				w[i] += inv[i][j] * aj[j]
			}
		}
		leave, ratio := -1, math.Inf(1)
		for i := range k {
			if w[i] > 1e-12 {
				q := max(xb[i], 0) / w[i]
				if q < ratio || q == ratio && basis[i] < basis[leave] {
					leave, ratio = i, q
				}
			}
		}
		if leave < 0 { // unbounded: cannot happen with costs ≥ 0
			break
		}
		basis[leave], cb[leave] = enter, cj
	}
	// Certify: y ≥ 0, scaled down until every type's column is priced at
	// most its price.
	f := 1.0
	for i := range k {
		y[i] = max(y[i], 0)
	}
	for t, c := range b.cols {
		var s float64
		for i := range k {
			s += c[rows[i]] * y[i]
		}
		if s > b.price[t] {
			f = min(f, b.price[t]/s)
		}
	}
	var v float64
	for i := range k {
		y[i] *= f
		v += d[i] * y[i]
	}
	if optimal {
		b.recent = append(b.recent, optimum{})
		copy(b.recent[1:], b.recent)
		b.recent[0] = optimum{rows: rows, k: k, inv: inv, y: y}
		if len(b.recent) > recentOptima {
			b.recent = b.recent[:recentOptima]
		}
	}
	return v
}

// price is d · y if o's basis is feasible, so optimal, for the demand d
// over rows.
func (o *optimum) price(rows [maxBoundResources]int, k int, d *[maxBoundResources]float64) (float64, bool) {
	if k != o.k || rows != o.rows {
		return 0, false
	}
	var v float64
	for i := range k {
		var x float64
		for j := range k {
			x += o.inv[i][j] * d[j]
		}
		if x < -1e-12 {
			return 0, false
		}
		v += d[i] * o.y[i]
	}
	return v, true
}

func inBasis(basis *[maxBoundResources]int, k, j int) bool {
	for i := range k {
		if basis[i] == j {
			return true
		}
	}
	return false
}

// invert sets inv to the inverse of the basis matrix (column i is basis
// column i) by Gauss-Jordan elimination with partial pivoting; false when
// it is singular.
func invert(basis *[maxBoundResources]int, k int, col func(int, *[maxBoundResources]float64) float64, inv *[maxBoundResources][maxBoundResources]float64) bool {
	var m [maxBoundResources][2 * maxBoundResources]float64
	var c [maxBoundResources]float64
	for i := range k {
		col(basis[i], &c)
		for r := range k {
			m[r][i] = c[r]
			m[r][k+i] = 0
		}
	}
	for r := range k {
		m[r][k+r] = 1
	}
	for j := range k {
		p := j
		for i := j + 1; i < k; i++ {
			if math.Abs(m[i][j]) > math.Abs(m[p][j]) {
				p = i
			}
		}
		if math.Abs(m[p][j]) < 1e-14 {
			return false
		}
		m[j], m[p] = m[p], m[j]
		piv := m[j][j]
		for x := range 2 * k {
			m[j][x] /= piv
		}
		for i := range k {
			if i == j || m[i][j] == 0 {
				continue
			}
			f := m[i][j]
			for x := range 2 * k {
				m[i][x] -= f * m[j][x]
			}
		}
	}
	for i := range k {
		for j := range k {
			inv[i][j] = m[i][k+j]
		}
	}
	return true
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

// FitBound is a tighter bound than Bound, still valid for any placement:
// a pod can only run on a node of a type that holds it. For every
// resource r and every allocatable amount A of r among the types, the
// pods that request more than A of r all run on nodes of types with more
// than A, so the nodes cost at least the Bound over those types of those
// pods' requests; the FitBound is the largest of these and of the Bound of
// all pods over all types. A lone 20-core pod is priced at the fraction of
// a node of ≥ 20 cores it fills, not at the price of 20 cores bought from
// 2-core nodes.
//
// It keeps the live pods' totals: Add a pod's requests when it starts,
// Add them with n = −1 when it ends, Cost for the bound of what is live.
type FitBound struct {
	all     *Bound
	total   []float64
	classes []fitClass
}

type fitClass struct {
	r      int
	above  float64
	b      *Bound
	demand []float64
}

// NewFitBound prepares the bound (see NewBound for price and resources).
func NewFitBound(types []*InstanceType, price func(*InstanceType) float64, resources []corev1.ResourceName) *FitBound {
	f := &FitBound{all: NewBound(types, price, resources), total: make([]float64, len(resources))}
	for r, name := range resources {
		var sizes []float64
		for _, it := range types {
			if p := price(it); math.IsNaN(p) || math.IsInf(p, 0) || p < 0 {
				continue
			}
			q := it.Allocatable[name]
			sizes = append(sizes, q.AsApproximateFloat64())
		}
		slices.Sort(sizes)
		sizes = slices.Compact(sizes)
		// The largest size has no type above it: a pod requesting more
		// fits nowhere and is left to the Bound of all.
		for k := 0; k+1 < len(sizes); k++ {
			a := sizes[k]
			var bigger []*InstanceType
			for _, it := range types {
				if q := it.Allocatable[name]; q.AsApproximateFloat64() > a {
					bigger = append(bigger, it)
				}
			}
			f.classes = append(f.classes, fitClass{r: r, above: a, b: NewBound(bigger, price, resources), demand: make([]float64, len(resources))})
		}
	}
	return f
}

// Add adds n times a pod's requests (Resources' order and units) to the
// live totals.
func (f *FitBound) Add(req []float64, n float64) {
	for r, v := range req {
		f.total[r] += n * v
	}
	for i := range f.classes {
		c := &f.classes[i]
		if req[c.r] > c.above {
			for r, v := range req {
				c.demand[r] += n * v
			}
		}
	}
}

// Cost is the bound of the live pods, USD per hour.
func (f *FitBound) Cost() float64 {
	_, fit := f.Costs()
	return fit
}

// Costs are the Bound of the live pods over all types and the FitBound,
// USD per hour.
func (f *FitBound) Costs() (all, fit float64) {
	all = f.all.Cost(f.total)
	best := all
	for i := range f.classes {
		c := &f.classes[i]
		if c.demand[c.r] > c.above/2 { // some pod is in it (totals drift by rounding)
			best = max(best, c.b.Cost(c.demand))
		}
	}
	return all, best
}
