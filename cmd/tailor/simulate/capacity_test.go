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
// smaller one (ready at 3760). The candidate is tainted only at the pass
// that finds the replacement ready (3760) and drains at the first pass
// DisruptionValidation after (3780): a pod arriving before the taint lands
// on the candidate and is evicted with the small one; one arriving after
// it does not. An empty node goes in the pass that finds it empty.
func TestCapacityCommandOrder(t *testing.T) {
	cl := DefaultCluster()
	pods := func(extra ...Pod) []Pod {
		return append([]Pod{
			{Name: "big", CPUMilli: 7000, MemMiB: 8192, Create: 100, Delete: 3700},
			{Name: "small", CPUMilli: 250, MemMiB: 256, Create: 100, Delete: 4 * 3600},
		}, extra...)
	}
	for _, tc := range []struct {
		name                   string
		pods                   []Pod
		disrupted, onCandidate int
	}{
		{"nothing arrives", pods(), 1, 0},
		{"arrives before the taint: lands on the candidate, evicted", pods(Pod{Name: "late", CPUMilli: 250, MemMiB: 256, Create: 3720, Delete: 4 * 3600}), 2, 1},
		{"arrives after the taint: not on the candidate", pods(Pod{Name: "late", CPUMilli: 250, MemMiB: 256, Create: 3770, Delete: 4 * 3600}), 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ReplayCapacity(&Arrivals{Pods: tc.pods}, cl, []CapacityPolicy{Provisioner{}})
			if err != nil {
				t.Fatal(err)
			}
			sc := s[0]
			if sc.Disrupted != tc.disrupted || sc.OnCandidate != tc.onCandidate || sc.Commands["single_node_consolidation"] != 1 || sc.Nodes != 2 {
				t.Errorf("disrupted %d, on a candidate %d, commands %v, nodes %d; want %d, %d, one consolidation, 2",
					sc.Disrupted, sc.OnCandidate, sc.Commands, sc.Nodes, tc.disrupted, tc.onCandidate)
			}
			// Every pod bound at once but the first two (which waited for
			// the first node): the evicted ones onto the ready replacement.
			if want := 2 * float64(cl.BatchIdle+cl.NodeStart); sc.PendingPodSeconds != want {
				t.Errorf("pending pod-seconds %v, want %v", sc.PendingPodSeconds, want)
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
