package simulate

import (
	"fmt"
	"math"
)

// Scoring is how the replay's kube-scheduler chooses among the ready nodes
// a new pod fits (which nodes fit is the provisioner's solver's, the same
// predicates). A real scheduler scores every feasible node and binds to
// the best; which one it is decides how full nodes get between the
// provisioner's decisions, so it moves cost, consolidations and pending
// time.
type Scoring string

const (
	// LeastAllocated is kube-scheduler's default profile, the one EKS runs
	// (its scheduler's configuration cannot be changed there): the score
	// plugins NodeResourcesFit (strategy LeastAllocated) and
	// NodeResourcesBalancedAllocation, weight 1 each, over CPU and memory.
	// It spreads: a new pod goes to the emptiest node.
	LeastAllocated Scoring = "LeastAllocated"
	// MostAllocated is the bin-packing profile a self-managed scheduler
	// can run: NodeResourcesFit with strategy MostAllocated, plus
	// NodeResourcesBalancedAllocation.
	MostAllocated Scoring = "MostAllocated"
	// OldestFirst binds to the oldest ready node with room: no real
	// profile, the replay's model before it scored nodes (kept to compare).
	OldestFirst Scoring = "OldestFirst"
)

// Scorings are the values --scheduler takes.
var Scorings = []Scoring{LeastAllocated, MostAllocated, OldestFirst}

// ParseScoring returns the Scoring named s.
func ParseScoring(s string) (Scoring, error) {
	for _, v := range Scorings {
		if string(v) == s {
			return v, nil
		}
	}
	return "", fmt.Errorf("scheduler scoring %q: want LeastAllocated, MostAllocated or OldestFirst", s)
}

const maxNodeScore = 100

// SchedNode is what scoring reads of a node: allocatable and the Σ of its
// pods' requests, CPU in millicores and memory in bytes. The replay's pods
// state both requests, so kube-scheduler's defaults for a container
// without one (100m, 200 MiB, which NodeResourcesFit counts) never apply:
// a request of zero counts as zero, as there.
type SchedNode struct {
	AllocMilliCPU, AllocMemory int64
	MilliCPU, Memory           int64
}

// Score is the node's total score (0–200) for a pod requesting milliCPU
// and memory, as kube-scheduler v1.37's two resource plugins compute it,
// in their integer arithmetic: NodeResourcesFit's strategy score (the
// mean over CPU and memory of the free or the used share after the pod,
// × 100) plus
// NodeResourcesBalancedAllocation's, which scores how much the pod
// improves the balance of the requested CPU and memory shares: 50 + (50 +
// balance with the pod − balance without) ÷ 2, balance = (1 − half the
// shares' distance) × 100, and 0 for a pod without requests. OldestFirst
// scores every node 0.
func (s Scoring) Score(n SchedNode, milliCPU, memory int64) int64 {
	var fit func(requested, capacity int64) int64
	switch s {
	case LeastAllocated:
		fit = leastRequested
	case MostAllocated:
		fit = mostRequested
	default:
		return 0
	}
	var score, resources int64
	for _, r := range [2][2]int64{{n.MilliCPU + milliCPU, n.AllocMilliCPU}, {n.Memory + memory, n.AllocMemory}} {
		if r[1] > 0 { // a resource the node has none of is left out
			score += fit(r[0], r[1])
			resources++
		}
	}
	if resources > 0 {
		score /= resources
	}
	if milliCPU == 0 && memory == 0 {
		return score
	}
	with := balance(n.MilliCPU+milliCPU, n.AllocMilliCPU, n.Memory+memory, n.AllocMemory)
	without := balance(n.MilliCPU, n.AllocMilliCPU, n.Memory, n.AllocMemory)
	return score + maxNodeScore/2 + (maxNodeScore/2+with-without)/2
}

func leastRequested(requested, capacity int64) int64 {
	if requested > capacity {
		return 0
	}
	return (capacity - requested) * maxNodeScore / capacity
}

func mostRequested(requested, capacity int64) int64 {
	return min(requested, capacity) * maxNodeScore / capacity
}

// balance is (1 − the standard deviation of the requested shares of CPU
// and memory, each at most 1) × 100; for two resources the deviation is
// half their distance. A resource the node has none of is left out.
func balance(cpu, cpuAlloc, mem, memAlloc int64) int64 {
	var f []float64
	for _, p := range [2][2]int64{{cpu, cpuAlloc}, {mem, memAlloc}} {
		if p[1] > 0 {
			f = append(f, min(float64(p[0])/float64(p[1]), 1))
		}
	}
	std := 0.0
	if len(f) == 2 {
		std = math.Abs(f[0]-f[1]) / 2
	}
	return int64((1 - std) * maxNodeScore)
}
