package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	vpaclient "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/client/clientset/versioned"

	"github.com/tailor-dev/tailor/cmd/tailor/sandbox/cluster"
)

// TestRecommenderOOM: a hamster using 200Mi is recommended 250Mi; once its
// container is OOM-killed at a 300Mi request, the memory target rises to at
// least upstream's bump, max(300Mi × 1.2, 300Mi + 100Mi) = 400Mi, with an
// Event. (As upstream, an OOM alone makes no recommendation: it needs
// usage samples beside it.)
func TestRecommenderOOM(t *testing.T) {
	t.Parallel() // own namespaces and Tailor (testLabel)
	ctx := context.Background()
	ns := namespace(t, map[string]string{enabledLabel: "true"})
	startTailor(t, "--leader-election-namespace", ns, "--components=recommender", "--recommender-interval=2s")
	vpa := hamsterVPA(vpav1.UpdateModeInitial)
	vpa.Spec.ResourcePolicy.ContainerPolicies[0].MaxAllowed[corev1.ResourceMemory] = resource.MustParse("1Gi")
	vpas := vpaclient.NewForConfigOrDie(env.RESTConfig()).AutoscalingV1().VerticalPodAutoscalers(ns)
	if _, err := vpas.Create(ctx, vpa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	d := deployment("hamster", 1, rl("100m", "300Mi"))
	d.Spec.Template.Annotations = map[string]string{cluster.UsageCPUAnnotation: "100m", cluster.UsageMemoryAnnotation: "200Mi"}
	if _, err := env.Clientset().AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	memTarget := func(ctx context.Context) (resource.Quantity, string) {
		v, err := vpas.Get(ctx, vpa.Name, metav1.GetOptions{})
		if err != nil {
			return resource.Quantity{}, err.Error()
		}
		if v.Status.Recommendation == nil || len(v.Status.Recommendation.ContainerRecommendations) == 0 {
			return resource.Quantity{}, fmt.Sprintf("no recommendation: %+v", v.Status.Conditions)
		}
		mem := v.Status.Recommendation.ContainerRecommendations[0].Target[corev1.ResourceMemory]
		return mem, "memory target " + mem.String()
	}
	// metrics-server reports the new pod after ~40 s.
	eventually(t, 2*time.Minute, func(ctx context.Context) (bool, string) {
		mem, msg := memTarget(ctx)
		return mem.Cmp(resource.MustParse("250Mi")) == 0, msg + ", want the 250Mi pod minimum"
	})
	var pod corev1.Pod
	eventually(t, 30*time.Second, func(ctx context.Context) (bool, string) {
		l, err := env.Clientset().CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=hamster"})
		if err != nil || len(l.Items) != 1 || len(l.Items[0].Status.ContainerStatuses) != 1 {
			return false, fmt.Sprintf("pods %v %v", l, err)
		}
		pod = l.Items[0]
		return true, ""
	})
	// What the kubelet reports after the kernel OOM-killed the container
	// and it was restarted (kwok runs no kubelet: the test writes it).
	cs := pod.Status.ContainerStatuses[0]
	cs.RestartCount = 1
	cs.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: 137, Reason: "OOMKilled", StartedAt: metav1.NewTime(time.Now().Add(-time.Minute)), FinishedAt: metav1.NewTime(time.Now().Add(-time.Second)),
	}}
	patch, err := json.Marshal(map[string]any{"status": map[string]any{"containerStatuses": []corev1.ContainerStatus{cs}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Clientset().CoreV1().Pods(ns).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
		t.Fatal(err)
	}
	bump := resource.MustParse("400Mi")
	eventually(t, 30*time.Second, func(ctx context.Context) (bool, string) {
		mem, msg := memTarget(ctx)
		return mem.Cmp(bump) >= 0, msg + ", want >= " + bump.String()
	})
	waitEvent(t, ns, "RecommendationChanged", vpa.Name)
}
