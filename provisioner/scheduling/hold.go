package scheduling

import corev1 "k8s.io/api/core/v1"

// Hold places pods that are about to need room (those of nodes a
// disruption command is draining, which it will evict) on in.Nodes and
// returns the nodes with them added, in in.Nodes' order, and the names of
// the nodes that got some. A solve over the returned nodes plans nothing
// onto the room those pods will take: an arrival that took it would leave
// an evicted pod a new node to wait for (and pay), where the command had
// planned none. in.Pods is ignored; in.Pools are offered as the solve
// offers them, and the pods it would put on new claims are left out (when
// evicted they are pending like any other and get what they need then).
// The input nodes' Pods slices are not modified.
func Hold(in Input, pods []*corev1.Pod) ([]Node, map[string]bool, error) {
	if len(pods) == 0 {
		return in.Nodes, nil, nil
	}
	in.Pods = pods
	res, err := Solve(in)
	if err != nil {
		return nil, nil, err
	}
	index := make(map[string]int, len(in.Nodes))
	for i := range in.Nodes {
		index[in.Nodes[i].Name] = i
	}
	nodes := append([]Node(nil), in.Nodes...)
	held := map[string]bool{}
	for _, pl := range res.Placements {
		if pl.Kind != ExistingNode && pl.Kind != InFlightNode {
			continue
		}
		n := &nodes[index[pl.Node]]
		n.Pods = append(n.Pods[:len(n.Pods):len(n.Pods)], pl.Pod)
		held[pl.Node] = true
	}
	return nodes, held, nil
}
