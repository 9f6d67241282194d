package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	vpaclient "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/client/clientset/versioned"

	"github.com/tailor-dev/tailor/cmd/tailor/sandbox/cluster"
	"github.com/tailor-dev/tailor/recommender/logic"
)

// TestRecommenderFromPrometheus: on a cluster without metrics-server, with
// the pinned Prometheus scraping kwok, a workload that ran before its VPA
// existed gets a recommendation on Tailor's first pass from its history;
// then Prometheus turns slow and unreachable: the conditions say so, the
// recommendation stays, Tailor keeps running.
func TestRecommenderFromPrometheus(t *testing.T) {
	t.Parallel() // own namespaces and Tailor (testLabel)
	ctx := context.Background()
	const ns = "prom"
	bare := bareCluster(t, ns)
	prom, err := bare.StartPrometheus(ctx, cluster.PrometheusOptions{ScrapeInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prom.Stop)

	d := deployment("hamster", 1, rl("100m", "50Mi"))
	d.Spec.Template.Annotations = map[string]string{cluster.UsageCPUAnnotation: "500m", cluster.UsageMemoryAnnotation: "200Mi"}
	if _, err := bare.Clientset().AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Past usage: wait until Prometheus holds 30 s of the hamster's memory.
	pc, err := api.NewClient(api.Config{Address: prom.URL})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Minute, func(ctx context.Context) (bool, string) {
		v, _, _, err := promv1.NewAPI(pc).Query(ctx, `count_over_time(container_memory_working_set_bytes{namespace="prom",container="hamster"}[1m])`, time.Now())
		if err != nil {
			return false, err.Error()
		}
		vec, _ := v.(model.Vector)
		return len(vec) == 1 && vec[0].Value >= 30, fmt.Sprintf("points: %v", v)
	})

	vpas := vpaclient.NewForConfigOrDie(bare.RESTConfig()).AutoscalingV1().VerticalPodAutoscalers(ns)
	if _, err := vpas.Create(ctx, hamsterVPA(vpav1.UpdateModeInitial), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tailor := func(address string, extra ...string) *instance {
		// A control plane of its own: every namespace (--namespace-selector empty).
		args := []string{"--kubeconfig", bare.Kubeconfig, "--namespace-selector=", "--leader-election-namespace", ns, "--components=recommender",
			"--prometheus-address", address, "--recommender-usage-source=prometheus", "--prometheus-rate-window=10s",
			"--recommender-history-length=1m", "--recommender-history-resolution=2s"}
		return startTailor(t, append(args, extra...)...)
	}
	condition := func(name string, typ vpav1.VerticalPodAutoscalerConditionType, want func(vpav1.VerticalPodAutoscalerCondition) bool) *vpav1.VerticalPodAutoscaler {
		t.Helper()
		var got *vpav1.VerticalPodAutoscaler
		eventually(t, 30*time.Second, func(ctx context.Context) (bool, string) {
			v, err := vpas.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			got = v
			for _, c := range v.Status.Conditions {
				if c.Type == typ && want(c) {
					return true, ""
				}
			}
			return false, fmt.Sprintf("%s conditions %+v", name, v.Status.Conditions)
		})
		return got
	}

	// One pass only (10m interval): whatever it recommends comes from the
	// history read at start plus one live sample.
	started := time.Now()
	inst := tailor(prom.URL, "--recommender-interval=10m", "--recommender-checkpoint-interval=10m")
	v := condition("hamster-vpa", vpav1.FetchingHistory, func(c vpav1.VerticalPodAutoscalerCondition) bool {
		return c.Status == corev1.ConditionFalse && c.Reason == logic.ReasonHistoryLoaded
	})
	t.Logf("recommendation from history %s after Tailor started: %+v", time.Since(started).Round(100*time.Millisecond), v.Status.Conditions)
	if !hasCondition(v, vpav1.RecommendationProvided) || v.Status.Recommendation == nil || len(v.Status.Recommendation.ContainerRecommendations) != 1 {
		t.Fatalf("no recommendation with the history: %+v", v.Status)
	}
	target := v.Status.Recommendation.ContainerRecommendations[0].Target
	if cpu := target[corev1.ResourceCPU]; cpu.Cmp(resource.MustParse("450m")) < 0 || cpu.Cmp(resource.MustParse("700m")) > 0 {
		t.Errorf("cpu target %s, want about 575m (500m + 15%%)", cpu.String())
	}
	if mem := target[corev1.ResourceMemory]; mem.Cmp(resource.MustParse("250Mi")) != 0 {
		t.Errorf("memory target %s, want the 250Mi pod minimum (200Mi + 15%% is below it)", mem.String())
	}
	cps := vpaclient.NewForConfigOrDie(bare.RESTConfig()).AutoscalingV1().VerticalPodAutoscalerCheckpoints(ns)
	eventually(t, 10*time.Second, func(ctx context.Context) (bool, string) {
		cp, err := cps.Get(ctx, "hamster-vpa-hamster", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		// ~30 s of history at 2s steps, CPU only where its 10s rate window
		// is covered: about 10 CPU samples (what the count holds); one
		// live pass alone would add one.
		return cp.Status.TotalSamplesCount >= 5, fmt.Sprintf("%d samples", cp.Status.TotalSamplesCount)
	})
	inst.stop()

	// Slow: every query outlives --prometheus-timeout.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(3 * time.Second):
		}
		http.Error(w, "too late", http.StatusServiceUnavailable)
	}))
	t.Cleanup(slow.Close)
	fresh := hamsterVPA(vpav1.UpdateModeInitial)
	fresh.Name = "fresh-vpa"
	if _, err := vpas.Create(ctx, fresh, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	inst = tailor(slow.URL, "--recommender-interval=2s", "--prometheus-timeout=1s")
	v = condition("hamster-vpa", vpav1.RecommendationProvided, func(c vpav1.VerticalPodAutoscalerCondition) bool {
		return c.Status == corev1.ConditionTrue && c.Reason == logic.ReasonMetricsUnavailable && strings.Contains(c.Message, "timed out")
	})
	if got := v.Status.Recommendation.ContainerRecommendations[0].Target; !got.Cpu().Equal(*target.Cpu()) && got.Cpu().Cmp(resource.MustParse("450m")) < 0 {
		t.Errorf("recommendation lost while Prometheus is slow: %v (was %v)", got, target)
	}
	// A VPA without history retries the history, then gives up and says so.
	condition(fresh.Name, vpav1.FetchingHistory, func(c vpav1.VerticalPodAutoscalerCondition) bool {
		return c.Status == corev1.ConditionTrue && c.Reason == "PrometheusTimeout"
	})
	condition(fresh.Name, vpav1.FetchingHistory, func(c vpav1.VerticalPodAutoscalerCondition) bool {
		return c.Status == corev1.ConditionFalse && c.Reason == "PrometheusTimeout" && strings.Contains(c.Message, "after 3 attempts")
	})
	inst.stop()

	// Unreachable: nothing listens there any more.
	slow.Close()
	inst = tailor(slow.URL, "--recommender-interval=2s")
	condition("hamster-vpa", vpav1.RecommendationProvided, func(c vpav1.VerticalPodAutoscalerCondition) bool {
		return c.Status == corev1.ConditionTrue && c.Reason == logic.ReasonMetricsUnavailable && strings.Contains(c.Message, "unreachable")
	})
	time.Sleep(3 * time.Second)
	select {
	case <-inst.done:
		t.Fatalf("tailor exited:\n%s", inst.out.String())
	default:
	}
	_, body, err := get(inst.metrics + "/metrics")
	if err != nil || !strings.Contains(body, `tailor_recommender_source_errors_total{source="prometheus"}`) {
		t.Errorf("prometheus source errors not counted: %v", err)
	}
}
