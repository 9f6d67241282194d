package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	vpaclient "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/client/clientset/versioned"

	"github.com/tailor-dev/tailor/cmd/tailor/sandbox/cluster"
	"github.com/tailor-dev/tailor/deploy/crds"
	"github.com/tailor-dev/tailor/recommender/logic"
)

// TestRecommenderWithoutMetricsServer runs the recommender on a control
// plane that has no metrics.k8s.io at all (what a cluster without
// metrics-server looks like): every VPA says why in its conditions, a
// recommendation already written is kept, a VPA whose target does not exist
// is ConfigUnsupported, one whose target has no pods NoPodsMatched, one
// naming another recommender is left alone, and Tailor keeps running.
func TestRecommenderWithoutMetricsServer(t *testing.T) {
	t.Parallel() // own namespaces and Tailor (testLabel)
	ctx := context.Background()
	const ns = "faults"
	bare := bareCluster(t, ns)
	cs := bare.Clientset()
	for _, d := range []*appsv1.Deployment{deployment("hamster", 1, rl("100m", "50Mi")), deployment("idle", 0, rl("100m", "50Mi"))} {
		if _, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	vpas := vpaclient.NewForConfigOrDie(bare.RESTConfig()).AutoscalingV1().VerticalPodAutoscalers(ns)
	fresh := hamsterVPA(vpav1.UpdateModeInitial)
	kept := hamsterVPA(vpav1.UpdateModeInitial)
	kept.Name = "kept-vpa"
	ghost := hamsterVPA(vpav1.UpdateModeInitial)
	ghost.Name, ghost.Spec.TargetRef = "ghost-vpa", &autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "nope"}
	idle := hamsterVPA(vpav1.UpdateModeInitial)
	idle.Name, idle.Spec.TargetRef = "idle-vpa", &autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "idle"}
	other := hamsterVPA(vpav1.UpdateModeInitial)
	other.Name, other.Spec.Recommenders = "other-vpa", []*vpav1.VerticalPodAutoscalerRecommenderSelector{{Name: "upstream"}}
	for _, v := range []*vpav1.VerticalPodAutoscaler{fresh, kept, ghost, idle, other} {
		if _, err := vpas.Create(ctx, v, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	last := `{"status":{"recommendation":{"containerRecommendations":[{"containerName":"hamster","target":{"cpu":"300m","memory":"300Mi"}}]}}}`
	if _, err := vpas.Patch(ctx, kept.Name, "application/merge-patch+json", []byte(last), metav1.PatchOptions{}, "status"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func(ctx context.Context) (bool, string) {
		n, err := runningPodsIn(ctx, cs, ns, map[string]string{"app": "hamster"})
		return err == nil && n == 1, fmt.Sprintf("%d running, %v", n, err)
	})

	// A control plane of its own: every namespace (--namespace-selector empty).
	inst := startTailor(t, "--kubeconfig", bare.Kubeconfig, "--namespace-selector=", "--leader-election-namespace", ns,
		"--components=recommender", "--recommender-interval=2s", "--recommender-checkpoint-interval=2s")
	condition := func(name string, typ vpav1.VerticalPodAutoscalerConditionType, want func(vpav1.VerticalPodAutoscalerCondition, *vpav1.VerticalPodAutoscaler) bool) {
		t.Helper()
		eventually(t, time.Minute, func(ctx context.Context) (bool, string) {
			v, err := vpas.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			for _, c := range v.Status.Conditions {
				if c.Type == typ && want(c, v) {
					return true, ""
				}
			}
			return false, fmt.Sprintf("%s conditions %+v", name, v.Status.Conditions)
		})
	}
	condition(fresh.Name, vpav1.RecommendationProvided, func(c vpav1.VerticalPodAutoscalerCondition, _ *vpav1.VerticalPodAutoscaler) bool {
		return c.Status == corev1.ConditionFalse && c.Reason == logic.ReasonMetricsUnavailable && strings.Contains(c.Message, "metrics.k8s.io")
	})
	condition(kept.Name, vpav1.RecommendationProvided, func(c vpav1.VerticalPodAutoscalerCondition, v *vpav1.VerticalPodAutoscaler) bool {
		r := v.Status.Recommendation
		return c.Status == corev1.ConditionTrue && c.Reason == logic.ReasonMetricsUnavailable && strings.Contains(c.Message, "kept") &&
			r != nil && len(r.ContainerRecommendations) == 1 && r.ContainerRecommendations[0].Target.Cpu().String() == "300m"
	})
	condition(ghost.Name, vpav1.ConfigUnsupported, func(c vpav1.VerticalPodAutoscalerCondition, _ *vpav1.VerticalPodAutoscaler) bool {
		return c.Status == corev1.ConditionTrue && strings.Contains(c.Message, "Deployment faults/nope not found")
	})

	condition(idle.Name, vpav1.NoPodsMatched, func(c vpav1.VerticalPodAutoscalerCondition, _ *vpav1.VerticalPodAutoscaler) bool {
		return c.Status == corev1.ConditionTrue
	})

	// Several passes later: still running, the failure counted and logged
	// once per pass, no checkpoint written from nothing.
	time.Sleep(5 * time.Second)
	select {
	case <-inst.done:
		t.Fatalf("tailor exited:\n%s", inst.out.String())
	default:
	}
	_, body, err := get(inst.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`tailor_recommender_source_errors_total\{source="metrics.k8s.io"\} (\d+)`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no metrics.k8s.io source errors in /metrics")
	}
	if n, _ := strconv.Atoi(m[1]); n < 2 {
		t.Errorf("source errors %d, want one per pass", n)
	}
	if !strings.Contains(inst.out.String(), "read usage from metrics.k8s.io; recommendations kept") {
		t.Errorf("no log line for the failing source")
	}
	if v, err := vpas.Get(ctx, other.Name, metav1.GetOptions{}); err != nil || v.Status.Recommendation != nil || len(v.Status.Conditions) != 0 {
		t.Errorf("a VPA naming another recommender was touched: %+v %v", v.Status, err)
	}
	cps, err := vpaclient.NewForConfigOrDie(bare.RESTConfig()).AutoscalingV1().VerticalPodAutoscalerCheckpoints(ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(cps.Items) != 0 {
		t.Errorf("checkpoints without samples: %v %v", cps, err)
	}
}

// bareCluster starts a second control plane without metrics-server (one
// node, Tailor's CRDs, namespace ns), stopped when the test ends.
func bareCluster(t *testing.T, ns string) *cluster.Cluster {
	t.Helper()
	ctx := context.Background()
	bare, err := cluster.Start(ctx, cluster.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bare.Stop)
	if _, err := bare.AddNode(ctx, cluster.NodeOptions{Name: "worker-1", CPU: "8", Memory: "32Gi"}); err != nil {
		t.Fatal(err)
	}
	objs, err := crds.Objects()
	if err == nil {
		err = bare.InstallCRDs(objs)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bare.Clientset().CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{enabledLabel: "true"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return bare
}
