package e2e

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"
	"k8s.io/utils/ptr"

	"github.com/tailor-dev/tailor/cmd/tailor/sandbox/cluster"
)

func deployment(name string, replicas int32, requests corev1.ResourceList) *appsv1.Deployment {
	sel := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: sel},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: name, Image: "registry.k8s.io/pause:3.10",
					Resources: corev1.ResourceRequirements{Requests: requests},
				}}},
			},
		},
	}
}

func TestDeploymentRunsAndScales(t *testing.T) {
	ns := namespace(t, nil)
	cs := env.Clientset()
	ctx := context.Background()
	d := deployment("web", 3, corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")})
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRunning := func(want int) {
		eventually(t, 60*time.Second, func(ctx context.Context) (bool, string) {
			n, err := runningPods(ctx, ns, map[string]string{"app": "web"})
			return err == nil && n == want, fmt.Sprintf("running pods: %d (want %d), err %v", n, want, err)
		})
	}
	waitRunning(3)

	// Through the scale subresource, as an autoscaler does.
	scale := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns}, Spec: autoscalingv1.ScaleSpec{Replicas: 5}}
	if _, err := cs.AppsV1().Deployments(ns).UpdateScale(ctx, "web", scale, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRunning(5)
}

func TestUnschedulablePodRunsWhenNodeAppears(t *testing.T) {
	ns := namespace(t, nil)
	cs := env.Clientset()
	ctx := context.Background()
	pool := "big-" + ns
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "big"},
		Spec: corev1.PodSpec{
			NodeSelector: map[string]string{"pool": pool},
			Containers: []corev1.Container{{Name: "big", Image: "registry.k8s.io/pause:3.10",
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("48")}}}},
		},
	}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func(ctx context.Context) (bool, string) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, "big", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled {
				return c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable, fmt.Sprintf("PodScheduled=%s/%s: %s", c.Status, c.Reason, c.Message)
			}
		}
		return false, "no PodScheduled condition yet"
	})

	// A node of the pool with room for it appears: the scheduler binds it.
	name := "big-node-" + ns
	if _, err := env.AddNode(ctx, cluster.NodeOptions{Name: name, CPU: "64", Memory: "256Gi", Labels: map[string]string{"pool": pool}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	eventually(t, 60*time.Second, func(ctx context.Context) (bool, string) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, "big", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return p.Status.Phase == corev1.PodRunning && p.Spec.NodeName == name, fmt.Sprintf("phase %s on %q", p.Status.Phase, p.Spec.NodeName)
	})
}

func TestMetricsAPIReportsKwokUsage(t *testing.T) {
	t.Parallel() // own namespaces and Tailor (testLabel)
	ns := namespace(t, nil)
	cs := env.Clientset()
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "busy", Annotations: map[string]string{
			cluster.UsageCPUAnnotation:    "250m",
			cluster.UsageMemoryAnnotation: "100Mi",
		}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "busy", Image: "registry.k8s.io/pause:3.10"}}},
	}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	mc, err := metricsclient.NewForConfig(env.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	// metrics-server needs two scrapes (10 s resolution) to report a new pod.
	eventually(t, 120*time.Second, func(ctx context.Context) (bool, string) {
		pm, err := mc.MetricsV1beta1().PodMetricses(ns).Get(ctx, "busy", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		if len(pm.Containers) != 1 {
			return false, fmt.Sprintf("containers: %d", len(pm.Containers))
		}
		cpu := pm.Containers[0].Usage.Cpu().MilliValue()
		mem := pm.Containers[0].Usage.Memory().Value()
		msg := fmt.Sprintf("usage cpu %dm memory %d", cpu, mem)
		// CPU is a rate over two cumulative samples: allow 10%.
		return math.Abs(float64(cpu)-250) <= 25 && mem == 100<<20, msg
	})
}
