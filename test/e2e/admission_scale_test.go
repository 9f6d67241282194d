package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	vpaclient "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/client/clientset/versioned"
	"k8s.io/utils/ptr"

	"github.com/tailor-dev/tailor/cmd/tailor/sandbox/reviewload"
	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
)

// TestAdmissionAtScale measures the whole `tailor run` process (every
// default component, informers and loops running) answering pod-create
// AdmissionReviews over HTTPS, over a cluster filled with
// TAILOR_ADMISSION_SCALE_PODS pods and a VPA per 10 of them (10,000 pods
// and 1,000 VPAs by default in `make bench-admission-scale`): reviews/s,
// p50 and p99 latency and Tailor's CPU time per review, for HTTP/2 and
// HTTP/1.1 × 1 and 3 containers × 1, 8 and 32 clients. The reviews are
// the seed's hamster's pods (reviewload), covered by a VPA with a
// recommendation and placed into a NodePool. A measurement, not run by
// make test; it fails only when a review is not answered with the pod
// sized and placed.
func TestAdmissionAtScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("TAILOR_ADMISSION_SCALE_PODS"))
	if n <= 0 {
		t.Skip("set TAILOR_ADMISSION_SCALE_PODS (make bench-admission-scale) to measure")
	}
	reviews := 2000
	if r, _ := strconv.Atoi(os.Getenv("TAILOR_BENCH_REVIEWS")); r > 0 {
		reviews = r
	}
	ctx := context.Background()
	start := time.Now()
	namespaces, sets := fillCluster(t, n)

	// The measured workload: the hamster ReplicaSet with a VPA that has a
	// recommendation, in the first namespace, and a NodePool to place into.
	ns := namespaces[0]
	cs := env.Clientset()
	labels := map[string]string{"app": "hamster"}
	if _, err := cs.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "hamster"},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](0), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "hamster", Image: "registry.k8s.io/ubuntu-slim:0.14"}}}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	vc := vpaclient.NewForConfigOrDie(env.RESTConfig())
	initial := vpav1.UpdateModeInitial
	vpa, err := vc.AutoscalingV1().VerticalPodAutoscalers(ns).Create(ctx, &vpav1.VerticalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "hamster-vpa"},
		Spec: vpav1.VerticalPodAutoscalerSpec{TargetRef: &autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "hamster"},
			UpdatePolicy: &vpav1.PodUpdatePolicy{UpdateMode: &initial}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var recs []vpav1.RecommendedContainerResources
	for _, c := range reviewload.ContainerNames {
		recs = append(recs, vpav1.RecommendedContainerResources{ContainerName: c,
			Target: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("587m"), corev1.ResourceMemory: resource.MustParse("262144k")}})
	}
	vpa.Status.Recommendation = &vpav1.RecommendedPodResources{ContainerRecommendations: recs}
	if _, err := vc.AutoscalingV1().VerticalPodAutoscalers(ns).UpdateStatus(ctx, vpa, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	c := provClient(t)
	pool := &provisionerv1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: "e2e-admission-scale"},
		Spec: provisionerv1.NodePoolSpec{Template: provisionerv1.NodeClaimTemplate{Spec: provisionerv1.NodeClaimTemplateSpec{
			Requirements: []provisionerv1.NodeSelectorRequirementWithMinValues{{Key: provisionerv1.LabelArch, Operator: corev1.NodeSelectorOpIn, Values: []string{"amd64"}}},
			NodeClassRef: &provisionerv1.NodeClassReference{Group: "tailor.dev", Kind: "AWSNodeClass", Name: "e2e"}}},
			Disruption: provisionerv1.Disruption{ConsolidationPolicy: provisionerv1.ConsolidationPolicyWhenEmpty, ConsolidateAfter: "Never"}}}
	_ = c.Delete(ctx, pool.DeepCopy())

	inst := startTailor(t, "--leader-election-namespace", leaseNamespace(t), "--enable-http2")
	eventually(t, 5*time.Minute, func(context.Context) (bool, string) {
		code, body, err := get(inst.probe + "/readyz")
		return err == nil && code == 200, fmt.Sprintf("/readyz: %d %q %v", code, body, err)
	})
	// NodePools are validated by a webhook: created once Tailor serves.
	eventually(t, time.Minute, func(ctx context.Context) (bool, string) {
		err := c.Create(ctx, pool.DeepCopy())
		return err == nil, fmt.Sprint(err)
	})
	t.Cleanup(func() { _ = c.Delete(context.Background(), pool.DeepCopy()) })
	t.Logf("%d pods, %d VPAs: Tailor ready %s after the cluster began to fill", sets*scalePodsPerSet, sets+1, time.Since(start).Round(time.Second))

	t.Logf("| proto | containers | clients | reviews/s | p50 | p99 | Tailor CPU/review |")
	for _, h2 := range []bool{true, false} {
		proto := "h1"
		if h2 {
			proto = "h2"
		}
		for _, containers := range []int{1, 3} {
			body, err := reviewload.Review(reviewload.Pod(ns, "hamster", containers))
			if err != nil {
				t.Fatal(err)
			}
			for _, clients := range []int{1, 8, 32} {
				client, err := reviewload.Client(inst.caPEM, h2, clients)
				if err != nil {
					t.Fatal(err)
				}
				url := inst.webhook + "/mutate-v1-pod"
				// The caches may still be taking the VPA's status and the
				// pool in: wait for the answer the load is about.
				eventually(t, time.Minute, func(ctx context.Context) (bool, string) {
					resp, err := reviewload.Answer(ctx, client, url, body)
					if err != nil {
						return false, err.Error()
					}
					msg := ""
					if resp.Result != nil {
						msg = resp.Result.Message
					}
					return resp.Allowed && strings.Contains(msg, "cpu 100m->587m") && strings.Contains(msg, "nodepool "+pool.Name), msg
				})
				if _, err := reviewload.Run(ctx, client, url, body, clients, reviews/4); err != nil { // warm
					t.Fatal(err)
				}
				cpu0 := procCPU(t, inst.cmd.Process.Pid)
				res, err := reviewload.Run(ctx, client, url, body, clients, reviews)
				if err != nil {
					t.Fatal(err)
				}
				cpu := procCPU(t, inst.cmd.Process.Pid) - cpu0
				t.Logf("MEASURED | %s | %d | %d | %.0f | %s | %s | %.0f µs |", proto, containers, clients, res.PerSecond(),
					res.Percentile(0.5).Round(time.Microsecond), res.Percentile(0.99).Round(time.Microsecond), float64(cpu.Microseconds())/float64(reviews))
				client.CloseIdleConnections()
			}
		}
	}
}

// procCPU is the user and system CPU time pid has used (all threads).
func procCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command (which may hold spaces) start at state.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticksPerSecond = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticksPerSecond
}
