package disruption

import (
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"

	"github.com/tailor-dev/tailor/provisioner/scheduling"
)

// Cluster Autoscaler parity for node-group (ASG) nodes: CA's scale-down,
// as pure logic. A node whose requested CPU and memory are both below a
// share of its allocatable, and whose pods fit on the other nodes, is
// unneeded; one unneeded for the unneeded time is removed — empty ones
// together, at most one with pods per pass. The names of the options are
// CA's flags.

// CAOptions are CA's scale-down settings.
type CAOptions struct {
	// UtilizationThreshold (--scale-down-utilization-threshold): a node is
	// a candidate when the sum of its pods' CPU and memory requests, each
	// divided by its allocatable, are both below it.
	UtilizationThreshold float64
	// UnneededTime (--scale-down-unneeded-time): how long a node must be
	// unneeded before it is removed.
	UnneededTime time.Duration
	// IgnoreDaemonSetsUtilization (--ignore-daemonsets-utilization):
	// leave DaemonSet pods out of the utilization.
	IgnoreDaemonSetsUtilization bool
	// MaxEmptyBulkDelete (--max-empty-bulk-delete): most empty nodes
	// removed in one pass.
	MaxEmptyBulkDelete int
}

// DefaultCAOptions are CA's defaults.
func DefaultCAOptions() CAOptions {
	return CAOptions{UtilizationThreshold: 0.5, UnneededTime: 10 * time.Minute, MaxEmptyBulkDelete: 10}
}

// CANode is a node of a node group.
type CANode struct {
	Name  string
	Group string
	// Node is the node for the solver, every bound pod in Node.Pods.
	Node scheduling.Node
	// DoNotDisrupt: tailor.dev/do-not-disrupt, or CA's own
	// cluster-autoscaler.kubernetes.io/scale-down-disabled=true.
	DoNotDisrupt bool
}

// CAInput is one scale-down pass.
type CAInput struct {
	Now   time.Time
	Nodes []CANode
	// Others are nodes outside node groups: places for pods.
	Others []scheduling.Node
	PDBs   []*policyv1.PodDisruptionBudget
	// GroupMin is each group's minimum size: its nodes are not removed
	// below it.
	GroupMin map[string]int
	// UnneededSince is the previous pass's result (nil the first time).
	UnneededSince map[string]time.Time
	Options       CAOptions
}

// CAResult is the outcome of a pass.
type CAResult struct {
	// UnneededSince: every node unneeded now, and since when; give it to
	// the next pass.
	UnneededSince map[string]time.Time
	// Remove are the nodes to drain and delete now.
	Remove []string
	// Why says, per node, why it is needed, unneeded or removed.
	Why map[string]string
}

// CAPodAnnotationSafeToEvict is CA's pod annotation; "false" blocks the
// node's scale-down like tailor.dev/do-not-disrupt.
const CAPodAnnotationSafeToEvict = "cluster-autoscaler.kubernetes.io/safe-to-evict"

// Utilization is CA's: the larger of the node's requested CPU and
// memory over its allocatable (DaemonSet pods left out when ignoreDS).
func Utilization(n scheduling.Node, reqs *scheduling.RequestCache, ignoreDS bool) float64 {
	var cpu, mem float64
	for _, pod := range n.Pods {
		if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed || ignoreDS && daemonSetPod(pod) {
			continue
		}
		rl := reqs.Of(pod)
		cpu += rl.Cpu().AsApproximateFloat64()
		mem += rl.Memory().AsApproximateFloat64()
	}
	u := 0.0
	if a := n.Allocatable.Cpu().AsApproximateFloat64(); a > 0 {
		u = cpu / a
	}
	if a := n.Allocatable.Memory().AsApproximateFloat64(); a > 0 {
		u = max(u, mem/a)
	}
	return u
}

// ScaleDown runs one CA scale-down pass: which nodes are unneeded, and
// which of them to remove now.
func ScaleDown(in CAInput) (CAResult, error) {
	o := in.Options
	if o.UtilizationThreshold == 0 && o.UnneededTime == 0 {
		o = DefaultCAOptions()
	}
	res := CAResult{UnneededSince: map[string]time.Time{}, Why: map[string]string{}}
	reqs := scheduling.NewRequestCache()
	pdbs := NewPDBs(in.PDBs)
	size := map[string]int{}
	for _, n := range in.Nodes {
		size[n.Group]++
	}
	// Least used first, as CA does.
	nodes := append([]CANode(nil), in.Nodes...)
	util := map[string]float64{}
	for _, n := range nodes {
		util[n.Name] = Utilization(n.Node, reqs, o.IgnoreDaemonSetsUtilization)
	}
	sort.SliceStable(nodes, func(i, j int) bool { return util[nodes[i].Name] < util[nodes[j].Name] })
	// Nodes found unneeded earlier in the pass take no pods: CA removes
	// them too.
	unneeded := map[string]bool{}
	targets := func(without string) []scheduling.Node {
		out := append([]scheduling.Node(nil), in.Others...)
		for _, n := range in.Nodes {
			if n.Name != without && !unneeded[n.Name] {
				out = append(out, n.Node)
			}
		}
		return out
	}
	for _, n := range nodes {
		if u := util[n.Name]; u >= o.UtilizationThreshold {
			res.Why[n.Name] = fmt.Sprintf("needed: utilization %.2f ≥ %.2f", u, o.UtilizationThreshold)
			continue
		}
		var pods []*corev1.Pod
		for _, pod := range n.Node.Pods {
			if Reschedulable(pod) {
				pods = append(pods, pod)
			}
		}
		cand := Node{Claim: n.Name, DoNotDisrupt: n.DoNotDisrupt, Pods: pods}
		if r, msg := Blocked(&cand, pdbs); r != "" {
			res.Why[n.Name] = "needed: " + msg
			continue
		}
		if blocked := caUnsafe(pods); blocked != "" {
			res.Why[n.Name] = "needed: " + blocked
			continue
		}
		if len(pods) > 0 {
			sol, err := scheduling.Solve(scheduling.Input{Pods: pods, Nodes: targets(n.Name), Requests: reqs})
			if err != nil {
				return res, err
			}
			if bad := unplaced(sol); bad != "" {
				res.Why[n.Name] = "needed: " + bad
				continue
			}
		}
		unneeded[n.Name] = true
		since, ok := in.UnneededSince[n.Name]
		if !ok {
			since = in.Now
		}
		res.UnneededSince[n.Name] = since
		res.Why[n.Name] = fmt.Sprintf("unneeded since %s: utilization %.2f < %.2f and its pods fit elsewhere", since.UTC().Format(time.RFC3339), util[n.Name], o.UtilizationThreshold)
	}
	// Remove the nodes unneeded long enough, above their group's minimum:
	// the empty ones up to MaxEmptyBulkDelete, then one with pods.
	empty, busy := 0, false
	for _, n := range nodes {
		since, ok := res.UnneededSince[n.Name]
		if !ok || in.Now.Sub(since) < o.UnneededTime {
			continue
		}
		if size[n.Group] <= in.GroupMin[n.Group] {
			res.Why[n.Name] += fmt.Sprintf("; kept: node group %s is at its minimum size %d", n.Group, in.GroupMin[n.Group])
			continue
		}
		hasPods := false
		for _, pod := range n.Node.Pods {
			hasPods = hasPods || Reschedulable(pod)
		}
		if hasPods && busy || !hasPods && empty >= o.MaxEmptyBulkDelete {
			continue
		}
		if hasPods {
			busy = true
		} else {
			empty++
		}
		size[n.Group]--
		res.Remove = append(res.Remove, n.Name)
		res.Why[n.Name] += fmt.Sprintf("; removed: unneeded for %s", in.Now.Sub(since).Round(time.Second))
	}
	return res, nil
}

func caUnsafe(pods []*corev1.Pod) string {
	for _, pod := range pods {
		if pod.Annotations[CAPodAnnotationSafeToEvict] == "false" {
			return fmt.Sprintf("pod %s/%s is annotated %s=false", pod.Namespace, pod.Name, CAPodAnnotationSafeToEvict)
		}
	}
	return ""
}
