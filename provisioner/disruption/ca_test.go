package disruption

import (
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tailor-dev/tailor/provisioner/scheduling"
)

func TestScaleDown(t *testing.T) {
	// caNode: a node of group g on synthetic type typ (typ+1 vCPU).
	caNode := func(name, g string, typ int, pods ...*corev1.Pod) CANode {
		n := node(name, "", typ, pods...)
		n.Node.Name = name
		return CANode{Name: name, Group: g, Node: n.Node}
	}
	ds := func(p *corev1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{{Kind: "DaemonSet", Name: "agent", Controller: ptr(true)}}
	}
	unsafe := func(p *corev1.Pod) { p.Annotations = map[string]string{CAPodAnnotationSafeToEvict: "false"} }
	long := map[string]time.Time{"a": t0.Add(-time.Hour), "b": t0.Add(-time.Hour), "c": t0.Add(-time.Hour), "e1": t0.Add(-time.Hour), "e2": t0.Add(-time.Hour)}
	cases := []struct {
		name     string
		nodes    []CANode
		since    map[string]time.Time
		min      map[string]int
		pdbs     []*policyv1.PodDisruptionBudget
		opts     CAOptions
		unneeded []string
		remove   []string
	}{
		{name: "a busy node is needed", nodes: []CANode{caNode("a", "g", 3, runningPod("p", "3"))}},
		{name: "an underused node whose pods fit elsewhere is unneeded, not yet removed",
			nodes:    []CANode{caNode("a", "g", 3, runningPod("p", "500m")), caNode("b", "g", 3, runningPod("q", "2"))},
			unneeded: []string{"a"}},
		{name: "… and removed after the unneeded time", since: long,
			nodes:    []CANode{caNode("a", "g", 3, runningPod("p", "500m")), caNode("b", "g", 3, runningPod("q", "2"))},
			unneeded: []string{"a"}, remove: []string{"a"}},
		{name: "not below its group's minimum", since: long, min: map[string]int{"g": 2},
			nodes:    []CANode{caNode("a", "g", 3, runningPod("p", "500m")), caNode("b", "g", 3, runningPod("q", "2"))},
			unneeded: []string{"a"}},
		{name: "pods that fit nowhere keep it", nodes: []CANode{caNode("a", "g", 3, runningPod("p", "1500m")), caNode("b", "g", 3, runningPod("q", "3"))}},
		{name: "DaemonSet pods count, unless ignored",
			nodes: []CANode{caNode("a", "g", 3, runningPod("d", "2500m", ds)), caNode("b", "g", 3, runningPod("q", "1"))}, unneeded: []string{"b"}},
		{name: "DaemonSet pods ignored", opts: CAOptions{UtilizationThreshold: 0.5, UnneededTime: 10 * time.Minute, IgnoreDaemonSetsUtilization: true, MaxEmptyBulkDelete: 10},
			nodes: []CANode{caNode("a", "g", 3, runningPod("d", "2500m", ds)), caNode("b", "g", 3, runningPod("q", "1"))}, unneeded: []string{"a"}}, // b's pod cannot go to a, unneeded already
		{name: "empty nodes go together, busy ones one at a time", since: long,
			nodes:    []CANode{caNode("e1", "g", 3), caNode("e2", "g", 3), caNode("a", "g", 3, runningPod("p", "100m")), caNode("b", "g", 3, runningPod("q", "100m")), caNode("c", "g", 15, runningPod("r", "10"))},
			unneeded: []string{"a", "b", "e1", "e2"}, remove: []string{"e1", "e2", "a"}},
		{name: "safe-to-evict=false keeps it", nodes: []CANode{caNode("a", "g", 3, runningPod("p", "500m", unsafe)), caNode("b", "g", 3)}, unneeded: []string{"b"}},
		{name: "a PDB that allows nothing keeps it", pdbs: []*policyv1.PodDisruptionBudget{budgetOf("p", 0, "p")},
			nodes: []CANode{caNode("a", "g", 3, runningPod("p", "500m")), caNode("b", "g", 3)}, unneeded: []string{"b"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			if opts == (CAOptions{}) {
				opts = DefaultCAOptions()
			}
			res, err := ScaleDown(CAInput{Now: t0, Nodes: tc.nodes, UnneededSince: tc.since, GroupMin: tc.min, PDBs: tc.pdbs, Options: opts})
			if err != nil {
				t.Fatal(err)
			}
			var unneeded []string
			for n := range res.UnneededSince {
				unneeded = append(unneeded, n)
			}
			slices.Sort(unneeded)
			if !slices.Equal(unneeded, tc.unneeded) || !slices.Equal(res.Remove, tc.remove) {
				t.Errorf("unneeded %v, remove %v; want %v, %v\nwhy: %v", unneeded, res.Remove, tc.unneeded, tc.remove, res.Why)
			}
			for _, n := range tc.nodes {
				if res.Why[n.Name] == "" {
					t.Errorf("no reason for %s", n.Name)
				}
			}
		})
	}
}

func TestUtilization(t *testing.T) {
	n := node("a", "", 3, runningPod("p", "1"), runningPod("q", "500m")).Node // 3.9 CPU, 8Gi−10Mi
	if u := Utilization(n, nil, false); u < 0.38 || u > 0.39 {
		t.Errorf("utilization %.3f, want 1.5/3.9", u)
	}
	n.Allocatable = corev1.ResourceList{}
	if u := Utilization(n, scheduling.NewRequestCache(), false); u != 0 {
		t.Errorf("utilization without allocatable %v, want 0", u)
	}
}

func ptr[T any](v T) *T { return &v }
