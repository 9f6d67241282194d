package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	vpaclient "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/client/clientset/versioned"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"
	"k8s.io/utils/ptr"

	"github.com/tailor-dev/tailor/cmd/tailor/sandbox/cluster"
	"github.com/tailor-dev/tailor/recommender/sizing"
)

// boostVPA is the hamster VPA (mode Initial: the VPA updater never touches
// running pods, so every resize seen is the boost's) with upstream's
// startupBoost: cpu ×2 until 90 s after Ready.
func boostVPA() *vpav1.VerticalPodAutoscaler {
	v := hamsterVPA(vpav1.UpdateModeInitial)
	v.Spec.StartupBoost = &vpav1.StartupBoost{CPU: &vpav1.GenericStartupBoost{
		Type: vpav1.FactorStartupBoostType, Factor: ptr.To[int32](2), DurationSeconds: ptr.To[int32](90)}}
	return v
}

// seriesValue reads one series of Tailor's /metrics by its exact name
// and labels (0 when absent).
func seriesValue(t *testing.T, inst *instance, series string) float64 {
	t.Helper()
	return metricValue(t, inst, regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(series)+` (\S+)$`))
}

// TestStartupBoost: the hamster's pods are born with twice their CPU
// (upstream's startupBoost on the VPA), recorded on the pod; once Ready +
// 90 s has passed they are resized in place back (same UIDs, no eviction);
// the recommender leaves out the CPU they used while boosted (a start-up
// burst of 900m, then 200m), so the recommendation follows the 200m.
// A ResourceQuota the boosted pod would exceed has it born unboosted.
func TestStartupBoost(t *testing.T) {
	t.Parallel() // own namespaces and Tailor (testLabel)
	start := time.Now()
	ctx := context.Background()
	inst := readyTailor(t, "--components=webhook,updater,recommender", "--recommender-interval=5s", "--updater-interval=2s")
	registerWebhooks(t, inst)
	vc := vpaclient.NewForConfigOrDie(env.RESTConfig())

	t.Run("born boosted then resized back and the burst not learned", func(t *testing.T) {
		ns := namespace(t, map[string]string{enabledLabel: "true"})
		if _, err := vc.AutoscalingV1().VerticalPodAutoscalers(ns).Create(ctx, boostVPA(), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// The VPA has no recommendation yet: the boost applies to the
		// template's requests, 100m (limit 200m).
		d := deployment("hamster", 2, rl("100m", "50Mi"))
		d.Spec.Template.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m")}
		d.Spec.Template.Annotations = map[string]string{cluster.UsageCPUAnnotation: "900m", cluster.UsageMemoryAnnotation: "200Mi"}
		if _, err := env.Clientset().AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		born := runningHamsters(t, ns, 2)
		for _, p := range born {
			c := p.Spec.Containers[0].Resources
			if c.Requests.Cpu().String() != "200m" || c.Limits.Cpu().String() != "400m" {
				t.Errorf("pod %s born with cpu %s limit %s, want 200m/400m (100m/200m ×2)", p.Name, c.Requests.Cpu(), c.Limits.Cpu())
			}
			if got, want := p.Annotations[sizing.PodBoostAnnotation], "hamster: cpu 100m->200m, limit 200m->400m; until Ready+1m30s"; got != want {
				t.Errorf("pod %s annotation %q, want %q", p.Name, got, want)
			}
		}
		t.Logf("pods born boosted: %s", born[0].Annotations[sizing.PodBoostAnnotation])
		waitEvent(t, ns, "StartupBoost", "hamster-vpa")

		// metrics-server reports the burst while the pods are boosted; once
		// it has, the burst ends (the pods' usage drops to 200m) well
		// before the boost does.
		mc := metricsclient.NewForConfigOrDie(env.RESTConfig())
		eventually(t, 2*time.Minute, func(ctx context.Context) (bool, string) {
			pms, err := mc.MetricsV1beta1().PodMetricses(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=hamster"})
			if err != nil {
				return false, err.Error()
			}
			high := 0
			for _, pm := range pms.Items {
				for _, c := range pm.Containers {
					if c.Usage.Cpu().MilliValue() > 800 {
						high++
					}
				}
			}
			return high == 2, fmt.Sprintf("%d of 2 pods reported at the 900m burst", high)
		})
		// One more recommender pass reads them.
		waitPasses(t, inst, "recommender", 2)
		t.Logf("burst seen by metrics-server %s after the start; boosted CPU samples left out: %v", time.Since(start).Round(time.Second),
			seriesValue(t, inst, `tailor_recommender_samples_excluded_total{reason="startup_boost"}`))
		for _, p := range born {
			patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{cluster.UsageCPUAnnotation: "200m"}}})
			if _, err := env.Clientset().CoreV1().Pods(ns).Patch(ctx, p.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
				t.Fatal(err)
			}
		}

		// Resized back in place once Ready + 90 s has passed.
		var after []corev1.Pod
		eventually(t, 3*time.Minute, func(ctx context.Context) (bool, string) {
			list, err := env.Clientset().CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=hamster"})
			if err != nil {
				return false, err.Error()
			}
			after = list.Items
			done := 0
			for _, p := range after {
				if c := p.Spec.Containers[0].Resources; c.Requests.Cpu().String() == "100m" && c.Limits.Cpu().String() == "200m" {
					done++
				}
			}
			return done == 2, fmt.Sprintf("%d of %d pods back at 100m/200m", done, len(after))
		})
		if got, want := uidsOf(after), uidsOf(born); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("pods after the boost %v, want the same UIDs %v", got, want)
		}
		for _, p := range after {
			var ready time.Time
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady {
					ready = c.LastTransitionTime.Time
				}
			}
			if since := time.Since(ready); since < 90*time.Second {
				t.Errorf("pod %s resized back %s after Ready, before the 90 s boost ended", p.Name, since)
			}
			waitEvent(t, ns, "StartupBoostEnded", p.Name)
		}
		t.Logf("events: %q", eventsWith(t, ns, "StartupBoostEnded"))
		if evs := eventsWith(t, ns, "EvictedByVPA"); len(evs) != 0 {
			t.Errorf("evictions %q, want none", evs)
		}
		if n := seriesValue(t, inst, `tailor_startup_boost_resizes_total{result="ok"}`); n != 2 {
			t.Errorf("tailor_startup_boost_resizes_total ok = %v, want 2", n)
		}
		granted := seriesValue(t, inst, "tailor_startup_boost_cpu_seconds_total")
		// 2 pods × 100m extra × at least the 90 s boost.
		if granted < 18 {
			t.Errorf("tailor_startup_boost_cpu_seconds_total = %v, want at least 18", granted)
		}
		t.Logf("granted %.1f CPU-seconds; boosted pods %v", granted, seriesValue(t, inst, `tailor_startup_boost_pods_total{outcome="boosted"}`))

		// Samples from after the boost: the recommendation follows the
		// 200m the pods use now. Had the 900m burst been learned, the 90th
		// percentile would sit at the burst (capped by maxAllowed 1).
		samples := seriesValue(t, inst, `tailor_recommender_samples_total{resource="cpu"}`)
		eventually(t, 2*time.Minute, func(context.Context) (bool, string) {
			n := seriesValue(t, inst, `tailor_recommender_samples_total{resource="cpu"}`)
			return n >= samples+4, fmt.Sprintf("cpu samples %v, want 4 more than %v", n, samples)
		})
		waitPasses(t, inst, "recommender", 1)
		vpa, err := vc.AutoscalingV1().VerticalPodAutoscalers(ns).Get(ctx, "hamster-vpa", metav1.GetOptions{})
		if err != nil || vpa.Status.Recommendation == nil || len(vpa.Status.Recommendation.ContainerRecommendations) == 0 {
			t.Fatalf("no recommendation: %v %+v", err, vpa.Status)
		}
		cpu := vpa.Status.Recommendation.ContainerRecommendations[0].Target[corev1.ResourceCPU]
		t.Logf("recommended cpu %s after the boost (excluded samples: %v)", cpu.String(), seriesValue(t, inst, `tailor_recommender_samples_excluded_total{reason="startup_boost"}`))
		if cpu.Cmp(resource.MustParse("150m")) < 0 || cpu.Cmp(resource.MustParse("400m")) > 0 {
			t.Errorf("recommended cpu %s, want about 200m × 1.15: the burst learned or nothing learned", cpu.String())
		}
	})

	t.Run("a boost that would exceed the ResourceQuota is not given", func(t *testing.T) {
		ns := namespace(t, map[string]string{enabledLabel: "true"})
		q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "team"}, Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("150m")}}}
		if _, err := env.Clientset().CoreV1().ResourceQuotas(ns).Create(ctx, q, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := vc.AutoscalingV1().VerticalPodAutoscalers(ns).Create(ctx, boostVPA(), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		d := deployment("hamster", 1, rl("100m", "50Mi"))
		if _, err := env.Clientset().AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		pods := runningHamsters(t, ns, 1)
		if got := pods[0].Spec.Containers[0].Resources.Requests.Cpu().String(); got != "100m" {
			t.Errorf("pod born with cpu %s, want the unboosted 100m (200m would exceed the 150m quota)", got)
		}
		if _, ok := pods[0].Annotations[sizing.PodBoostAnnotation]; ok {
			t.Errorf("pod annotated boosted: %v", pods[0].Annotations)
		}
		waitEvent(t, ns, "StartupBoostSkipped", "hamster-vpa")
		for _, e := range eventsWith(t, ns, "StartupBoostSkipped") {
			t.Logf("event: %s", e)
			if !strings.Contains(e, "would exceed ResourceQuota team") {
				t.Errorf("event %q does not name the quota", e)
			}
		}
	})
}
