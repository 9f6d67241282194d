package simulate

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tailor-dev/tailor/provisioner/scheduling"
)

// TestScore: kube-scheduler v1.37's NodeResourcesFit and
// NodeResourcesBalancedAllocation scores, worked by hand from their
// formulas (test/e2e's TestSchedulerScoringMatchesKubeScheduler checks
// LeastAllocated against the real scheduler).
func TestScore(t *testing.T) {
	const gi = int64(1) << 30
	half := SchedNode{AllocMilliCPU: 4000, AllocMemory: 16 * gi, MilliCPU: 2000, Memory: 2 * gi}
	empty := SchedNode{AllocMilliCPU: 2000, AllocMemory: 4 * gi}
	memFull := SchedNode{AllocMilliCPU: 8000, AllocMemory: 8 * gi, MilliCPU: 1000, Memory: 6 * gi}
	for _, tc := range []struct {
		name        string
		s           Scoring
		n           SchedNode
		cpu, memory int64
		want        int64
	}{
		// Fit: CPU (4000−2500)×100/4000 = 37, memory 13/16 → 81, mean 59.
		// Balance with the pod: shares .625 and .1875, deviation .21875 →
		// 78; without: .5, .125 → 81; 50 + (50 + 78 − 81)/2 = 73.
		{"least allocated", LeastAllocated, half, 500, gi, 59 + 73},
		// Fit: CPU 2500×100/4000 = 62, memory 3/16 → 18, mean 40.
		{"most allocated", MostAllocated, half, 500, gi, 40 + 73},
		// An empty node: 75 free of both; the balance stays 100 → 75.
		{"least allocated, empty node", LeastAllocated, empty, 500, gi, 75 + 75},
		{"most allocated, empty node", MostAllocated, empty, 500, gi, 25 + 75},
		// No requests: BalancedAllocation scores 0; fit (50 + 87)/2.
		{"pod without requests", LeastAllocated, half, 0, 0, 68},
		// Over the CPU: its fit is 0 and its share counts as 1; memory
		// 1/8 free → 12; balance 93 with, 68 without → 50 + 75/2.
		{"more than allocatable", LeastAllocated, memFull, 8000, gi, 6 + 87},
		// Most allocated: CPU 3000/8000 → 37, memory 8/8 → 100, mean 68;
		// balance .375/1 → 68 with, .125/.75 → 68 without → 75.
		{"most allocated, memory full", MostAllocated, memFull, 2000, 2 * gi, 68 + 75},
		// A node without memory: CPU alone, no balance to keep.
		{"no memory allocatable", LeastAllocated, SchedNode{AllocMilliCPU: 1000}, 250, 0, 75 + 75},
		{"oldest first scores nothing", OldestFirst, half, 500, gi, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.s.Score(tc.n, tc.cpu, tc.memory); got != tc.want {
				t.Errorf("score %d, want %d", got, tc.want)
			}
		})
	}
}

func TestParseScoring(t *testing.T) {
	for _, s := range Scorings {
		if got, err := ParseScoring(string(s)); err != nil || got != s {
			t.Errorf("ParseScoring(%q) = %q, %v", s, got, err)
		}
	}
	if _, err := ParseScoring("leastallocated"); err == nil {
		t.Error("ParseScoring accepted a name in the wrong case")
	}
}

// TestCapacitySchedulerScoring: the replay's scheduler binds a new pod
// that fits two ready nodes (4 cores, 16 GiB each) to the emptier under
// LeastAllocated (total score 148 against 118), the fuller under
// MostAllocated (127 against 95) and the older under OldestFirst. The
// older node holds 3 cores, the newer 1.
func TestCapacitySchedulerScoring(t *testing.T) {
	for _, tc := range []struct {
		s    Scoring
		want int // node id
	}{
		{LeastAllocated, 1},
		{MostAllocated, 0},
		{OldestFirst, 0},
	} {
		t.Run(string(tc.s), func(t *testing.T) {
			cl := DefaultCluster()
			cl.Scheduler = tc.s
			r := &capReplay{cl: cl, sc: &CapacityScore{Commands: map[string]int{}}, reqs: scheduling.NewRequestCache(), passDue: never, lastPass: -1}
			r.pods = []Pod{
				{Name: "big", CPUMilli: 3000, MemMiB: 3072},
				{Name: "small", CPUMilli: 1000, MemMiB: 1024},
				{Name: "probe", CPUMilli: 500, MemMiB: 512},
			}
			for i := range r.pods {
				r.core = append(r.core, corePod(&r.pods[i]))
			}
			r.phase, r.since, r.nodeOf = make([]podPhase, 3), make([]int64, 3), make([]int, 3)
			for id := range 2 {
				kn := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("node-%d", id)}, Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("16Gi"), corev1.ResourcePods: resource.MustParse("110"),
				}}}
				r.addNode(&simNode{node: scheduling.NodeFromCore(kn, nil), allocMilliCPU: 4000, allocMemory: 16 << 30})
				r.bind(id, id, 0) // big on node 0, small on node 1
			}
			if !r.schedule(2, 100) {
				t.Fatal("the probe was not bound")
			}
			if r.nodeOf[2] != tc.want {
				t.Errorf("probe on node %d, want %d", r.nodeOf[2], tc.want)
			}
		})
	}
}
