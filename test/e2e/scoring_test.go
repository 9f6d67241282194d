package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tailor-dev/tailor/cmd/tailor/sandbox/cluster"
	"github.com/tailor-dev/tailor/cmd/tailor/simulate"
)

// TestSchedulerScoringMatchesKubeScheduler: `tailor simulate`'s model of
// kube-scheduler's default profile (simulate.LeastAllocated) picks the
// node the real kube-scheduler binds to. Four nodes of the test's own
// (tainted, so no other test's pod lands there), three part-filled by pods
// bound by name; eight pods of different shapes then go through the
// scheduler one at a time, and before each the model scores the nodes the
// pod fits from what the test put on them. The shapes are chosen so the
// best score is unique and the three scorings disagree.
func TestSchedulerScoringMatchesKubeScheduler(t *testing.T) {
	t.Parallel() // own namespace and nodes
	ns := namespace(t, nil)
	cs := env.Clientset()
	ctx := context.Background()
	key := "e2e.tailor.dev/scoring"
	taint := corev1.Taint{Key: key, Value: ns, Effect: corev1.TaintEffectNoSchedule}
	type node struct {
		name        string
		cpu, memory string
		fill        [2]int64 // millicores, bytes bound by name first
		state       simulate.SchedNode
	}
	const gi = int64(1) << 30
	nodes := []*node{
		{name: "a", cpu: "4", memory: "16Gi", fill: [2]int64{2000, 2 * gi}},
		{name: "b", cpu: "8", memory: "8Gi", fill: [2]int64{1000, 6 * gi}},
		{name: "c", cpu: "2", memory: "4Gi"},
		{name: "d", cpu: "16", memory: "64Gi", fill: [2]int64{12000, 8 * gi}},
	}
	pod := func(name, node string, milliCPU, memory int64) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{
				NodeName:     node,
				NodeSelector: map[string]string{key: ns},
				Tolerations:  []corev1.Toleration{{Key: key, Operator: corev1.TolerationOpEqual, Value: ns, Effect: corev1.TaintEffectNoSchedule}},
				Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU:    *resource.NewMilliQuantity(milliCPU, resource.DecimalSI),
					corev1.ResourceMemory: *resource.NewQuantity(memory, resource.BinarySI),
				}}}},
			},
		}
		_, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, n := range nodes {
		n.name = "scoring-" + n.name + "-" + ns
		kn, err := env.AddNode(ctx, cluster.NodeOptions{Name: n.name, CPU: n.cpu, Memory: n.memory, Labels: map[string]string{key: ns}, Taints: []corev1.Taint{taint}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cs.CoreV1().Nodes().Delete(context.Background(), n.name, metav1.DeleteOptions{}) })
		n.state = simulate.SchedNode{AllocMilliCPU: kn.Status.Allocatable.Cpu().MilliValue(), AllocMemory: kn.Status.Allocatable.Memory().Value()}
		if n.fill[0] > 0 {
			pod("fill-"+n.name, n.name, n.fill[0], n.fill[1])
			n.state.MilliCPU, n.state.Memory = n.fill[0], n.fill[1]
		}
	}
	// The scheduler's cache must hold the pods bound by name before it
	// scores: they run (kwok) only once the apiserver has them bound, and
	// the scheduler watches the same objects.
	eventually(t, 60*time.Second, func(ctx context.Context) (bool, string) {
		n, err := runningPods(ctx, ns, nil)
		return err == nil && n == 3, fmt.Sprintf("running pods %d of 3, err %v", n, err)
	})

	// pick is the scoring's choice among the nodes the pod fits (ties:
	// the first, the oldest), and whether the best score is unique.
	pick := func(s simulate.Scoring, milliCPU, memory int64) (best *node, unique bool) {
		var bestScore int64 = -1
		for _, n := range nodes {
			st := n.state
			if st.MilliCPU+milliCPU > st.AllocMilliCPU || st.Memory+memory > st.AllocMemory {
				continue
			}
			switch sc := s.Score(st, milliCPU, memory); {
			case sc > bestScore:
				best, bestScore, unique = n, sc, true
			case sc == bestScore:
				unique = false
			}
		}
		return best, unique
	}
	disagree := map[simulate.Scoring]bool{}
	for i, p := range [][2]int64{
		{500, 1 * gi}, {1000, 512 << 20}, {250, 2 * gi}, {1500, 1 * gi},
		{100, 3 * gi}, {2000, 2 * gi}, {500, 256 << 20}, {750, 4 * gi},
	} {
		want, unique := pick(simulate.LeastAllocated, p[0], p[1])
		if want == nil || !unique {
			t.Fatalf("pod %d (%dm, %d MiB): the case has no single best node (best %v): choose other shapes", i, p[0], p[1]>>20, want)
		}
		for _, s := range []simulate.Scoring{simulate.MostAllocated, simulate.OldestFirst} {
			if other, _ := pick(s, p[0], p[1]); other != want {
				disagree[s] = true
			}
		}
		name := fmt.Sprintf("p%d", i)
		pod(name, "", p[0], p[1])
		var got string
		eventually(t, 60*time.Second, func(ctx context.Context) (bool, string) {
			kp, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			got = kp.Spec.NodeName
			return got != "", "not bound yet"
		})
		if got != want.name {
			t.Fatalf("pod %d (%dm, %d MiB): kube-scheduler bound it to %s, the model (LeastAllocated) scores %s best", i, p[0], p[1]>>20, got, want.name)
		}
		want.state.MilliCPU += p[0]
		want.state.Memory += p[1]
	}
	// The case tells the scorings apart: a model that packed, or took the
	// oldest node, would have failed above.
	if !disagree[simulate.MostAllocated] || !disagree[simulate.OldestFirst] {
		t.Errorf("the case does not tell LeastAllocated from the other scorings (differs: %v): choose other shapes", disagree)
	}
}
