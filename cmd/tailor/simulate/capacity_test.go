package simulate

import (
	"testing"
)

// TestCapacitySchedulerBindsAtOnce: a new pod that fits a ready node is
// bound by the (modelled) kube-scheduler at once, without waiting for the
// provisioner's batch; one that fits only an in-flight node, or no node,
// waits for the batch (and the node). The first pod of every case makes
// one node, solved when its 1 s batch closes and ready 60 s later.
func TestCapacitySchedulerBindsAtOnce(t *testing.T) {
	cl := DefaultCluster()
	first := Pod{Name: "first", CPUMilli: 1000, MemMiB: 1024, Create: 100, Delete: 7200}
	wait := float64(cl.BatchIdle + cl.NodeStart) // the first pod's
	for _, tc := range []struct {
		name   string
		pods   []Pod
		solves int     // the provisioner's batch solves
		nodes  int     // launched
		pend   float64 // pending pod-seconds of all pods
		atOnce int     // pods the scheduler bound
	}{
		{"fits the ready node: bound at once", []Pod{
			first,
			{Name: "b", CPUMilli: 100, MemMiB: 128, Create: 500, Delete: 7200},
		}, 1, 1, wait, 1},
		{"two at once, both fit: both bound", []Pod{
			first,
			{Name: "b", CPUMilli: 100, MemMiB: 128, Create: 500, Delete: 7200},
			{Name: "c", CPUMilli: 100, MemMiB: 128, Create: 500, Delete: 7200},
		}, 1, 1, wait, 2},
		{"room only on the node in flight: the batch nominates it there", []Pod{
			first,
			{Name: "b", CPUMilli: 100, MemMiB: 128, Create: 120, Delete: 7200},
		}, 2, 1, wait + (float64(first.Create) + wait - 120), 0},
		{"fits no ready node: batch and a new node", []Pod{
			first,
			{Name: "b", CPUMilli: 16000, MemMiB: 16384, Create: 500, Delete: 7200},
		}, 2, 2, 2 * wait, 1}, // first, evicted by a consolidation onto b's node
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ReplayCapacity(&Arrivals{Pods: tc.pods}, cl, []CapacityPolicy{Provisioner{}})
			if err != nil {
				t.Fatal(err)
			}
			sc := s[0]
			if sc.Solves != tc.solves || sc.Nodes != tc.nodes || sc.PendingPodSeconds != tc.pend || sc.BoundAtOnce != tc.atOnce {
				t.Errorf("solves %d, nodes %d, pending pod-seconds %v, bound at once %d; want %d, %d, %v, %d",
					sc.Solves, sc.Nodes, sc.PendingPodSeconds, sc.BoundAtOnce, tc.solves, tc.nodes, tc.pend, tc.atOnce)
			}
		})
	}
}

// TestCapacityCommandOrder: a disruption command runs in the controller's
// order. A big and a small pod share a node; the big one leaves at 3700,
// so single-node consolidation (pass at 3700) replaces the node by a
// smaller one (ready at 3760). The candidate is tainted when the command
// starts (3700), before the replacement launches, and drains at the pass
// that finds the replacement ready (3760, DisruptionValidation after the
// taint): a pod arriving during the launch is kept off the candidate (no
// eviction) and waits for the replacement in flight, or for a node of its
// own if it fits only where the candidate is; one arriving after the
// drain is bound at once. An empty node goes in the pass that finds it
// empty.
func TestCapacityCommandOrder(t *testing.T) {
	cl := DefaultCluster()
	pods := func(extra ...Pod) []Pod {
		return append([]Pod{
			{Name: "big", CPUMilli: 7000, MemMiB: 8192, Create: 100, Delete: 3700},
			{Name: "small", CPUMilli: 250, MemMiB: 256, Create: 100, Delete: 4 * 3600},
		}, extra...)
	}
	first := 2 * float64(cl.BatchIdle+cl.NodeStart) // the first two pods wait for the first node
	for _, tc := range []struct {
		name                   string
		pods                   []Pod
		disrupted, onCandidate int
		consolidations, nodes  int
		pend                   float64
	}{
		{"nothing arrives", pods(), 1, 0, 1, 2, first},
		{"arrives during the launch: kept off the tainted candidate, nominated to the replacement",
			pods(Pod{Name: "late", CPUMilli: 250, MemMiB: 256, Create: 3720, Delete: 4 * 3600}), 1, 0, 1, 2, first + 3760 - 3720},
		// late gets a node of its own (61 s). The command evicts small
		// alone (3760); then small, on the t4g.micro replacement, fits
		// late's node in flight, so that replacement goes (3760, drained
		// 3780: small waits 1 s for late's node), and once late leaves
		// (3900) its node is replaced by a t4g.micro: 3 evictions of
		// small, none of late, no loop.
		{"arrives during the launch, fits only where the candidate is: a node of its own, never evicted",
			pods(Pod{Name: "late", CPUMilli: 3000, MemMiB: 2048, Create: 3720, Delete: 3900}), 3, 0, 3, 4, first + float64(cl.BatchIdle+cl.NodeStart) + 1},
		{"arrives after the drain: bound at once", pods(Pod{Name: "late", CPUMilli: 250, MemMiB: 256, Create: 3770, Delete: 4 * 3600}), 1, 0, 1, 2, first},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ReplayCapacity(&Arrivals{Pods: tc.pods}, cl, []CapacityPolicy{Provisioner{}})
			if err != nil {
				t.Fatal(err)
			}
			sc := s[0]
			if sc.Disrupted != tc.disrupted || sc.OnCandidate != tc.onCandidate || sc.Commands["single_node_consolidation"] != tc.consolidations || sc.Nodes != tc.nodes {
				t.Errorf("disrupted %d, on a candidate %d, commands %v, nodes %d; want %d, %d, %d single-node consolidations, %d",
					sc.Disrupted, sc.OnCandidate, sc.Commands, sc.Nodes, tc.disrupted, tc.onCandidate, tc.consolidations, tc.nodes)
			}
			if sc.PendingPodSeconds != tc.pend {
				t.Errorf("pending pod-seconds %v, want %v", sc.PendingPodSeconds, tc.pend)
			}
		})
	}
	// Emptiness: the node's life ends in the pass that finds it empty (the
	// pod leaves at a pass, 3700). The node's price is the cost of an hour
	// more of the same pod.
	life := func(end int64) float64 {
		s, err := ReplayCapacity(&Arrivals{Pods: []Pod{{Name: "a", CPUMilli: 1000, MemMiB: 1024, Create: 100, Delete: end}}}, cl, []CapacityPolicy{Provisioner{}})
		if err != nil {
			t.Fatal(err)
		}
		if s[0].Commands["emptiness"] != 1 {
			t.Fatalf("commands %v, want one emptiness", s[0].Commands)
		}
		return s[0].NodeCost
	}
	short, long := life(3700), life(3700+3600)
	if got, want := short/(long-short)*3600, float64(3700-(100+cl.BatchIdle)); got < want-0.01 || got > want+0.01 {
		t.Errorf("empty node lived %.2f s, want %v (from its launch to the pass that found it empty)", got, want)
	}
}
