package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	vpaclient "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/client/clientset/versioned"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/util/jsonpath"

	"github.com/tailor-dev/tailor/cmd/tailor/sandbox/cluster"
)

// TestRecommender runs the whole loop on the real control plane: kwok
// reports the hamster's usage, metrics-server serves it on metrics.k8s.io,
// Tailor's recommender writes the seed's hamster-vpa status, and a new
// hamster pod is admitted with the recommended requests.
func TestRecommender(t *testing.T) {
	t.Parallel() // own namespaces and Tailor (testLabel)
	start := time.Now()
	ctx := context.Background()
	lease := leaseNamespace(t)
	args := []string{"--leader-election-namespace", lease, "--recommender-interval=5s", "--recommender-checkpoint-interval=5s"}
	inst := startTailor(t, args...)
	eventually(t, 30*time.Second, func(context.Context) (bool, string) {
		code, body, err := get(inst.probe + "/readyz")
		return err == nil && code == 200, fmt.Sprintf("/readyz: %d %q %v", code, body, err)
	})
	registerWebhooks(t, inst)
	ns := namespace(t, map[string]string{enabledLabel: "true"})

	vc := vpaclient.NewForConfigOrDie(env.RESTConfig())
	if _, err := vc.AutoscalingV1().VerticalPodAutoscalers(ns).Create(ctx, hamsterVPA(vpav1.UpdateModeRecreate), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The seed's hamster: requests 100m/50Mi, using about 500m and 200Mi.
	d := deployment("hamster", 2, rl("100m", "50Mi"))
	d.Spec.Template.Annotations = map[string]string{
		cluster.UsageCPUAnnotation:    "500m",
		cluster.UsageMemoryAnnotation: "200Mi",
	}
	if _, err := env.Clientset().AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// metrics-server reports a new pod after ~35-40 s; then one pass.
	var vpa *vpav1.VerticalPodAutoscaler
	eventually(t, 3*time.Minute, func(ctx context.Context) (bool, string) {
		v, err := vc.AutoscalingV1().VerticalPodAutoscalers(ns).Get(ctx, "hamster-vpa", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		vpa = v
		if !hasCondition(v, vpav1.RecommendationProvided) || v.Status.Recommendation == nil || len(v.Status.Recommendation.ContainerRecommendations) == 0 {
			return false, fmt.Sprintf("status %+v", v.Status)
		}
		return true, ""
	})
	t.Logf("RecommendationProvided after %s", time.Since(start).Round(time.Second))
	rec := vpa.Status.Recommendation.ContainerRecommendations[0]
	t.Logf("recommendation: %+v; conditions: %+v", rec, vpa.Status.Conditions)
	if rec.ContainerName != "hamster" {
		t.Fatalf("container %q, want hamster", rec.ContainerName)
	}
	cpu, mem := rec.Target[corev1.ResourceCPU], rec.Target[corev1.ResourceMemory]
	within := func(name string, q resource.Quantity, lo, hi string) {
		if q.Cmp(resource.MustParse(lo)) < 0 || q.Cmp(resource.MustParse(hi)) > 0 {
			t.Errorf("target %s = %s, want within [%s, %s]", name, q.String(), lo, hi)
		}
	}
	// Upstream with ~500m samples: 500m bucket × 1.15 safety margin ≈ 575-600m,
	// within minAllowed 100m / maxAllowed 1; above the 100m request.
	within("cpu", cpu, "450m", "1")
	// 200Mi peaks × 1.15, at least the 250Mi pod minimum, under maxAllowed 500Mi.
	within("memory", mem, "200Mi", "500Mi")
	for _, b := range []corev1.ResourceList{rec.LowerBound, rec.UpperBound, rec.UncappedTarget} {
		if _, ok := b[corev1.ResourceCPU]; !ok {
			t.Errorf("bounds lack cpu: %+v", rec)
		}
	}

	// What kubectl get vpa prints: the CRD's printer columns, evaluated
	// with kubectl's JSONPath on the object as the API serves it.
	u, err := dynamic.NewForConfigOrDie(env.RESTConfig()).Resource(schema.GroupVersionResource{
		Group: "autoscaling.k8s.io", Version: "v1", Resource: "verticalpodautoscalers"}).Namespace(ns).Get(ctx, "hamster-vpa", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	col := func(expr string) string {
		jp := jsonpath.New("col")
		if err := jp.Parse("{" + expr + "}"); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if err := jp.Execute(&b, u.Object); err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return b.String()
	}
	if got := col(`.status.conditions[?(@.type=="RecommendationProvided")].status`); got != "True" {
		t.Errorf("PROVIDED column = %q, want True", got)
	}
	if got := col(`.status.recommendation.containerRecommendations[0].target.cpu`); got != cpu.String() {
		t.Errorf("CPU column = %q, want %s", got, cpu.String())
	}
	if got := col(`.status.recommendation.containerRecommendations[0].target.memory`); got == "" {
		t.Errorf("MEM column empty")
	}
	if got := col(`.spec.updatePolicy.updateMode`); got != "Recreate" {
		t.Errorf("MODE column = %q", got)
	}

	// The decision is explained: an Event for the target move.
	waitEvent(t, ns, "RecommendationChanged", "hamster-vpa")
	code, body, err := get(inst.metrics + "/metrics")
	if err != nil || code != 200 {
		t.Fatalf("/metrics: %d %v", code, err)
	}
	for _, want := range []string{"tailor_recommender_recommendations_total ", `tailor_recommender_samples_total{resource="cpu"}`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// The full loop: a new hamster pod is born with the recommendation.
	// Read the recommendation again: a pass may have refined it.
	newPod := newPodAfter(t, ns, "app=hamster", func() {
		scale := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "hamster", Namespace: ns}, Spec: autoscalingv1.ScaleSpec{Replicas: 3}}
		if _, err := env.Clientset().AppsV1().Deployments(ns).UpdateScale(ctx, "hamster", scale, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	})
	v, err := vc.AutoscalingV1().VerticalPodAutoscalers(ns).Get(ctx, "hamster-vpa", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	target := v.Status.Recommendation.ContainerRecommendations[0].Target
	got := newPod.Spec.Containers[0].Resources.Requests
	// The pod was admitted with the recommendation current at its
	// creation; with constant usage it is the same one read now.
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		g, w := got[r], target[r]
		if g.Cmp(w) != 0 {
			t.Errorf("new pod %s requests[%s] = %s, want the recommended %s", newPod.Name, r, g.String(), w.String())
		}
	}
	t.Logf("new pod %s admitted with %v; whole loop %s", newPod.Name, got, time.Since(start).Round(time.Second))

	checkpointsSurviveRestart(t, ns, inst, args)
}

// checkpointsSurviveRestart: the hamster's history is checkpointed, comes
// back when Tailor restarts, and goes with its VPA.
func checkpointsSurviveRestart(t *testing.T, ns string, inst *instance, args []string) {
	ctx := context.Background()
	cps := vpaclient.NewForConfigOrDie(env.RESTConfig()).AutoscalingV1().VerticalPodAutoscalerCheckpoints(ns)
	vpas := vpaclient.NewForConfigOrDie(env.RESTConfig()).AutoscalingV1().VerticalPodAutoscalers(ns)
	vpa, err := vpas.Get(ctx, "hamster-vpa", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Upstream's name and shape, owned by the VPA.
	var cp *vpav1.VerticalPodAutoscalerCheckpoint
	eventually(t, 30*time.Second, func(ctx context.Context) (bool, string) {
		c, err := cps.Get(ctx, "hamster-vpa-hamster", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		cp = c
		return c.Status.TotalSamplesCount > 0 && c.Status.Version == "v3", fmt.Sprintf("%+v", c.Status)
	})
	if cp.Spec.VPAObjectName != "hamster-vpa" || cp.Spec.ContainerName != "hamster" {
		t.Errorf("checkpoint spec %+v", cp.Spec)
	}
	if o := cp.OwnerReferences; len(o) != 1 || o[0].UID != vpa.UID {
		t.Errorf("checkpoint owners %+v, want the VPA %s", o, vpa.UID)
	}
	if !hasCondition(vpa, vpav1.LowConfidence) {
		t.Fatalf("a minutes-old history should be LowConfidence: %+v", vpa.Status.Conditions)
	}

	// SIGTERM: the last history is written on the way out.
	inst.stop()
	final, err := cps.Get(ctx, cp.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if final.Status.TotalSamplesCount < cp.Status.TotalSamplesCount || final.Status.LastUpdateTime.Before(&cp.Status.LastUpdateTime) {
		t.Errorf("final checkpoint %d samples at %v, before it %d at %v", final.Status.TotalSamplesCount, final.Status.LastUpdateTime, cp.Status.TotalSamplesCount, cp.Status.LastUpdateTime)
	}
	// Make the stored history two days long (what a checkpoint of a
	// long-running workload holds): only a Tailor that restores it can
	// drop LowConfidence, which needs 24 h of history.
	first := metav1.NewTime(time.Now().Add(-48 * time.Hour).Truncate(time.Second))
	patch := fmt.Sprintf(`{"status":{"firstSampleStart":%q}}`, first.UTC().Format(time.RFC3339))
	if _, err := cps.Patch(ctx, cp.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	// A checkpoint whose VPA does not exist is garbage to collect.
	ghost := &vpav1.VerticalPodAutoscalerCheckpoint{
		ObjectMeta: metav1.ObjectMeta{Name: "ghost-vpa-app", Namespace: ns},
		Spec:       vpav1.VerticalPodAutoscalerCheckpointSpec{VPAObjectName: "ghost-vpa", ContainerName: "app"},
		Status:     vpav1.VerticalPodAutoscalerCheckpointStatus{Version: "v3"},
	}
	if _, err := cps.Create(ctx, ghost, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	restarted := time.Now()
	startTailor(t, args...)
	eventually(t, time.Minute, func(ctx context.Context) (bool, string) {
		v, err := vpas.Get(ctx, "hamster-vpa", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return hasCondition(v, vpav1.RecommendationProvided) && !hasCondition(v, vpav1.LowConfidence), fmt.Sprintf("conditions %+v", v.Status.Conditions)
	})
	t.Logf("restored history ended LowConfidence %s after restart", time.Since(restarted).Round(100*time.Millisecond))
	eventually(t, 30*time.Second, func(ctx context.Context) (bool, string) {
		c, err := cps.Get(ctx, cp.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		// The history continues: same first sample, more samples.
		return c.Status.FirstSampleStart.Equal(&first) && c.Status.TotalSamplesCount > final.Status.TotalSamplesCount,
			fmt.Sprintf("first %v (want %v), samples %d (had %d)", c.Status.FirstSampleStart, first, c.Status.TotalSamplesCount, final.Status.TotalSamplesCount)
	})
	eventually(t, 30*time.Second, func(ctx context.Context) (bool, string) {
		_, err := cps.Get(ctx, ghost.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprintf("ghost checkpoint: %v", err)
	})

	// The VPA goes: its checkpoints go.
	if err := vpas.Delete(ctx, "hamster-vpa", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func(ctx context.Context) (bool, string) {
		l, err := cps.List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		return len(l.Items) == 0, fmt.Sprintf("%d checkpoints left", len(l.Items))
	})
}

func hasCondition(v *vpav1.VerticalPodAutoscaler, typ vpav1.VerticalPodAutoscalerConditionType) bool {
	for _, c := range v.Status.Conditions {
		if c.Type == typ && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}
