package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/jsonpath"
	"k8s.io/utils/ptr"

	"github.com/tailor-dev/tailor/cmd/tailor/sandbox/cluster"
	scalerv1 "github.com/tailor-dev/tailor/scaler/api/v1alpha1"
)

// setQueue sets the memory the "queue" pods report (kwok usage), which the
// test's Prometheus scrapes: the stand-in for a queue length.
func setQueue(t *testing.T, ns, mem string) {
	t.Helper()
	pods, err := env.Clientset().CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=queue"})
	if err != nil {
		t.Fatal(err)
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{cluster.UsageMemoryAnnotation: mem}}})
	for _, p := range pods.Items {
		if _, err := env.Clientset().CoreV1().Pods(ns).Patch(context.Background(), p.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// scaledToZeroColumn is the ScaledToZero printer column of kubectl get ra.
func scaledToZeroColumn(t *testing.T, ra *scalerv1.ReplicaAutoscaler) string {
	t.Helper()
	u := map[string]any{}
	b, _ := json.Marshal(ra)
	_ = json.Unmarshal(b, &u)
	jp := jsonpath.New("ScaledToZero")
	if err := jp.Parse(`{.status.conditions[?(@.type=="ScaledToZero")].status}`); err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	if err := jp.Execute(&sb, u); err != nil {
		t.Fatal(err)
	}
	return sb.String()
}

// TestScaleToZero: a Prometheus metric (the test's real Prometheus,
// scraping kwok) drives a Deployment 0 → 1 → 3 → 0 through a
// ReplicaAutoscaler with minReplicas 0; one whose only metric is cpu is
// refused minReplicas 0 with a field error.
func TestScaleToZero(t *testing.T) {
	t.Parallel() // own namespaces and Tailor (testLabel)
	ctx := context.Background()
	start := time.Now()
	prom, err := env.StartPrometheus(ctx, cluster.PrometheusOptions{ScrapeInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prom.Stop)
	inst := readyTailor(t, "--components=scaler,webhook", "--scaler-interval=2s", "--prometheus-address", prom.URL)
	registerWebhooks(t, inst)
	ns := namespace(t, nil)
	c := raClient(t)

	t.Run("cpu only: minReplicas 0 refused", func(t *testing.T) {
		ra := cpuRA("cpu-zero", deploymentRef("worker"))
		ra.Namespace, ra.Spec.MinReplicas = ns, ptr.To[int32](0)
		err := c.Create(ctx, ra)
		if err == nil || !strings.Contains(err.Error(), "spec.minReplicas") || !strings.Contains(err.Error(), "Object, External or Prometheus") {
			t.Fatalf("create: %v, want a field error on spec.minReplicas", err)
		}
		t.Logf("refused: %v", err)
	})

	queue := deployment("queue", 1, rl("10m", "10Mi"))
	queue.Spec.Template.Annotations = map[string]string{cluster.UsageMemoryAnnotation: "1Mi"}
	worker := deployment("worker", 0, rl("100m", "50Mi"))
	if _, err := env.Clientset().AppsV1().Deployments(ns).Create(ctx, queue, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Clientset().AppsV1().Deployments(ns).Create(ctx, worker, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The queue length: the queue pods' memory in MiB (kwok's usage), 1 when idle.
	ra := promRA("worker", "worker", `sum(container_memory_working_set_bytes{pod=~"queue-.*"}) / 1048576`)
	ra.Namespace = ns
	ra.Spec.MinReplicas, ra.Spec.MaxReplicas = ptr.To[int32](0), 5
	ra.Spec.Metrics[0].Prometheus.Target.AverageValue = ptr.To(resource.MustParse("10"))
	ra.Spec.Metrics[0].ActivationThreshold = ptr.To(resource.MustParse("5"))
	ra.Spec.ScaleToZeroCooldownSeconds = ptr.To[int32](10)
	ra.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To[int32](0)}}
	if err := c.Create(ctx, ra); err != nil {
		t.Fatal(err)
	}

	// Idle: the target stays at zero, and says so.
	got := waitRACondition(t, c, ns, "worker", scalerv1.ScaledToZero, corev1.ConditionTrue, "ScaledToZero", "at zero replicas: prometheus query")
	eventually(t, 30*time.Second, func(ctx context.Context) (bool, string) {
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "worker"}, got); err != nil {
			return false, err.Error()
		}
		cond := raCondition(got, autoscalingv2.ScalingActive)
		return cond != nil && cond.Reason == "ScaledToZero" && strings.Contains(cond.Message, " 1, activation threshold 5"),
			fmt.Sprintf("ScalingActive %+v (Prometheus may not have the queue's series yet)", cond)
	})
	t.Logf("at zero: %s; kubectl get ra: %v ScaledToZero=%s", raCondition(got, scalerv1.ScaledToZero).Message, printerColumns(t, c, ns, "worker"), scaledToZeroColumn(t, got))
	if col := scaledToZeroColumn(t, got); col != "True" || printerColumns(t, c, ns, "worker")["MINPODS"] != "0" {
		t.Errorf("kubectl get ra: ScaledToZero %q, columns %v", col, printerColumns(t, c, ns, "worker"))
	}
	waitPasses(t, inst, "scaler", 3)
	if n := specReplicas(t, ns, "worker"); n != 0 {
		t.Fatalf("worker at %d replicas while the queue is idle, want 0", n)
	}

	// Work arrives: 0 → 1 at once, then the HPA algorithm: 30 / 10 per pod = 3.
	active := time.Now()
	setQueue(t, ns, "30Mi")
	waitEventMessage(t, ns, "ScaledFromZero", "worker", "0 → 1: prometheus query")
	t.Logf("0 → 1 %s after the queue filled", time.Since(active).Round(100*time.Millisecond))
	eventually(t, 60*time.Second, func(context.Context) (bool, string) {
		n := specReplicas(t, ns, "worker")
		return n == 3, fmt.Sprintf("worker at %d replicas, want 3", n)
	})
	t.Logf("1 → 3 %s after the queue filled", time.Since(active).Round(100*time.Millisecond))
	got = waitRACondition(t, c, ns, "worker", scalerv1.ScaledToZero, corev1.ConditionFalse, "Active", "activation threshold 5")
	if got.Status.IdleSince != nil {
		t.Errorf("idleSince %s while active", got.Status.IdleSince)
	}

	// The queue drains: down to one, then to zero after the 10 s cooldown.
	idle := time.Now()
	setQueue(t, ns, "1Mi")
	waitEventMessage(t, ns, "ScaledToZero", "worker", "→ 0: every activation metric at or below its threshold for 10s")
	t.Logf("→ 0 %s after the queue drained", time.Since(idle).Round(100*time.Millisecond))
	if n := specReplicas(t, ns, "worker"); n != 0 {
		t.Errorf("worker at %d replicas, want 0", n)
	}
	got = waitRACondition(t, c, ns, "worker", scalerv1.ScaledToZero, corev1.ConditionTrue, "ScaledToZero", "activation threshold 5")
	if got.Status.IdleSince == nil || got.Status.IdleSince.Time.Before(idle.Add(-time.Second).Truncate(time.Second)) {
		t.Errorf("idleSince %v, want after the queue drained at %s", got.Status.IdleSince, idle)
	}
	for _, reason := range []string{"ScaledFromZero", "ScaledToZero", "SuccessfulRescale"} {
		t.Logf("%s events: %q", reason, eventsWith(t, ns, reason))
	}
	t.Logf("0 → 1 → 3 → 0 in %s", time.Since(start).Round(time.Second))
}
