package asg

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Expander ranks the groups that can take a NodeClaim (the Cluster
// Autoscaler's --expander). Several chain: each breaks the ties of the
// ones before, and the group name breaks the last.
type Expander string

// Expanders.
const (
	// Price: the cheapest next instance first (CA has no price expander
	// on AWS, kubernetes/autoscaler #1821).
	Price Expander = "price"
	// LeastWaste: the least CPU and memory left idle by the claim's
	// requests on the next instance (CA's least-waste).
	LeastWaste Expander = "least-waste"
	// Priority: the NodePool's weight, then the group's place in the
	// pool's autoScalingGroups.names (named groups before discovered ones).
	Priority Expander = "priority"
	// Random: a random order (CA's historical default).
	Random Expander = "random"
)

// DefaultExpanders: price, ties broken by least-waste.
var DefaultExpanders = []Expander{Price, LeastWaste}

// ParseExpanders reads a comma-separated chain ("priority,price").
func ParseExpanders(s string) ([]Expander, error) {
	var out []Expander
	seen := map[Expander]bool{}
	for _, p := range strings.Split(s, ",") {
		e := Expander(strings.TrimSpace(p))
		switch e {
		case Price, LeastWaste, Priority, Random:
		default:
			return nil, fmt.Errorf("expander %q: want price, least-waste, priority or random", p)
		}
		if seen[e] {
			return nil, fmt.Errorf("expander %q named twice", e)
		}
		seen[e] = true
		out = append(out, e)
	}
	return out, nil
}

// Option is a group that can take a NodeClaim, as the expanders see it.
type Option struct {
	Group string
	// InstanceType the group launches next, its capacity type and price.
	InstanceType string
	CapacityType string
	Price        float64
	// Allocatable of that instance type (with the node-template tags).
	Allocatable corev1.ResourceList
	// Weight of the NodePool; Order is the group's place in the pool.
	Weight int32
	Order  int
}

// Waste is the share of the option's CPU and memory the requests leave
// idle, summed (0 to 2; CA's least-waste score for one node).
func Waste(o Option, requests corev1.ResourceList) float64 {
	w := 0.0
	for _, n := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		a := o.Allocatable[n]
		total := a.AsApproximateFloat64()
		if total <= 0 {
			w++
			continue
		}
		r := requests[n]
		idle := (total - r.AsApproximateFloat64()) / total
		w += max(0, min(1, idle))
	}
	return w
}

// Rank orders opts best first by the chain of expanders; requests are the
// NodeClaim's, shuffle(n) returns a permutation of 0..n-1 (the random
// expander's; math/rand's Perm). opts is not modified.
func Rank(opts []Option, chain []Expander, requests corev1.ResourceList, shuffle func(n int) []int) []Option {
	type scored struct {
		Option
		waste float64
		rnd   int
	}
	sc := make([]scored, len(opts))
	for i, o := range opts {
		sc[i] = scored{Option: o, waste: Waste(o, requests)}
	}
	// Sorting indices moves ints, not Options.
	idx := make([]int, len(sc))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool { return sc[idx[i]].Group < sc[idx[j]].Group })
	if shuffle != nil && slices.Contains(chain, Random) {
		for i, r := range shuffle(len(sc)) {
			sc[idx[i]].rnd = r
		}
	}
	sort.SliceStable(idx, func(i, j int) bool {
		a, b := &sc[idx[i]], &sc[idx[j]]
		for _, e := range chain {
			switch e {
			case Price:
				if a.Price != b.Price {
					return a.Price < b.Price
				}
			case LeastWaste:
				if a.waste != b.waste {
					return a.waste < b.waste
				}
			case Priority:
				if a.Weight != b.Weight {
					return a.Weight > b.Weight
				}
				if a.Order != b.Order {
					return a.Order < b.Order
				}
			case Random:
				if a.rnd != b.rnd {
					return a.rnd < b.rnd
				}
			}
		}
		return a.Group < b.Group
	})
	out := make([]Option, len(sc))
	for i, k := range idx {
		out[i] = sc[k].Option
	}
	return out
}
