package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	vpaclient "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/client/clientset/versioned"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/tailor-dev/tailor/cmd/tailor/sandbox/cluster"
)

// TestMemoryAtScale measures Tailor's resident memory with every component
// running over a cluster of TAILOR_SCALE_PODS pods (10 per ReplicaSet, one
// VPA per ReplicaSet, 10 ReplicaSets per namespace), for README's sizing
// table. It is a measurement, run by `make scale`, not by `make test`: the
// cluster takes minutes to fill. It fails only when Tailor would not fit
// the shipped Deployment's memory limit.
func TestMemoryAtScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("TAILOR_SCALE_PODS"))
	if n <= 0 {
		t.Skip("set TAILOR_SCALE_PODS (make scale) to measure")
	}
	ctx := context.Background()
	cfg := env.RESTConfig()
	cfg.QPS, cfg.Burst = 1000, 2000
	cs := kubernetes.NewForConfigOrDie(cfg)
	vc := vpaclient.NewForConfigOrDie(cfg)
	start := time.Now()
	namespaces, sets := fillCluster(t, n)
	const perRS = scalePodsPerSet

	inst := startTailor(t, "--leader-election-namespace", leaseNamespace(t), "--recommender-interval=15s")
	eventually(t, 5*time.Minute, func(context.Context) (bool, string) {
		code, body, err := get(inst.probe + "/readyz")
		return err == nil && code == 200, fmt.Sprintf("/readyz: %d %q %v", code, body, err)
	})
	ready := time.Since(start)
	_, rssReady := procMemory(t, inst.cmd.Process.Pid)
	// Settle: recommendations for the VPAs (kwok runs the pods and
	// metrics-server reports them), a few passes of every loop. Progress is
	// logged; the memory is measured whatever the count reached.
	recommended := 0
	deadline := time.Now().Add(8 * time.Minute)
	for time.Now().Before(deadline) && recommended < sets {
		time.Sleep(15 * time.Second)
		recommended = 0
		for _, ns := range namespaces {
			l, err := vc.AutoscalingV1().VerticalPodAutoscalers(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range l.Items {
				if v.Status.Recommendation != nil {
					recommended++
				}
			}
		}
		running := 0
		for _, ns := range namespaces {
			r, err := runningPodsIn(ctx, cs, ns, nil)
			if err != nil {
				t.Fatal(err)
			}
			running += r
		}
		passes, _ := inst.passes("recommender")
		_, rss := procMemory(t, inst.cmd.Process.Pid)
		t.Logf("%s: %d pods running, %d of %d VPAs recommended, %d recommender passes, RSS %d MiB",
			time.Since(start).Round(time.Second), running, recommended, sets, passes, rss>>20)
	}
	waitPasses(t, inst, "recommender", 2)
	peak, rss := procMemory(t, inst.cmd.Process.Pid)
	heap := metricValue(t, inst, regexp.MustCompile(`(?m)^go_memstats_heap_inuse_bytes ([0-9.e+]+)`))
	t.Logf("MEASURED pods=%d vpas=%d recommended=%d: RSS %d MiB (peak %d MiB, %d MiB when ready), Go heap in use %.0f MiB; ready %s after the objects were written",
		sets*perRS, sets, recommended, rss>>20, peak>>20, rssReady>>20, heap/(1<<20), ready.Round(time.Second))
	limit := shippedMemoryLimit(t)
	if peak > limit {
		t.Errorf("peak RSS %d MiB over the shipped Deployment's limit %d MiB", peak>>20, limit>>20)
	}
}

// scalePodsPerSet and scaleSetsPerNamespace shape the filled cluster.
const scalePodsPerSet, scaleSetsPerNamespace = 10, 10

// fillCluster writes n pods (10 per ReplicaSet, one VPA per ReplicaSet,
// 10 ReplicaSets per opted-in namespace) on kwok nodes and returns the
// namespaces and the number of ReplicaSets.
func fillCluster(t *testing.T, n int) ([]string, int) {
	t.Helper()
	const perRS, rsPerNS = scalePodsPerSet, scaleSetsPerNamespace
	ctx := context.Background()
	cfg := env.RESTConfig()
	cfg.QPS, cfg.Burst = 1000, 2000
	cs := kubernetes.NewForConfigOrDie(cfg)
	vc := vpaclient.NewForConfigOrDie(cfg)

	nodes := (n + 999) / 1000
	for i := range nodes {
		name := fmt.Sprintf("scale-%d", i)
		if _, err := env.AddNode(ctx, cluster.NodeOptions{Name: name, CPU: "1000", Memory: "4Ti", Pods: 1100}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cs.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	}

	// Objects are written directly (pods bound to nodes, owned by their
	// ReplicaSet): kube-controller-manager and the scheduler would take
	// many minutes at their default client rate limits.
	sets := n / perRS
	var namespaces []string
	for range (sets + rsPerNS - 1) / rsPerNS {
		namespaces = append(namespaces, namespace(t, map[string]string{enabledLabel: "true"}))
	}
	start := time.Now()
	work := make(chan int)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if err := scaleSet(ctx, cs, vc, namespaces[i/rsPerNS], i, perRS, fmt.Sprintf("scale-%d", (i*perRS)/1000)); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	for i := range sets {
		work <- i
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	t.Logf("%d pods, %d ReplicaSets and VPAs in %d namespaces written in %s", sets*perRS, sets, len(namespaces), time.Since(start).Round(time.Second))

	return namespaces, sets
}

// scaleSet writes ReplicaSet i with its pods and a VPA on it.
func scaleSet(ctx context.Context, cs kubernetes.Interface, vc vpaclient.Interface, ns string, i, pods int, node string) error {
	name := fmt.Sprintf("app-%d", i)
	labels := map[string]string{"app": name, "tier": "backend", "team": "payments"}
	tmpl := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{
			cluster.UsageCPUAnnotation: "50m", cluster.UsageMemoryAnnotation: "64Mi"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "registry.example.com/payments/app:1.2.3",
			Env:   []corev1.EnvVar{{Name: "LOG_LEVEL", Value: "info"}, {Name: "PORT", Value: "8080"}},
			Ports: []corev1.ContainerPort{{ContainerPort: 8080, Name: "http"}},
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("32Mi")}},
		}}},
	}
	replicas := int32(pods)
	rs, err := cs.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       appsv1.ReplicaSetSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl},
	}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	ctrl := true
	for j := range pods {
		p := &corev1.Pod{ObjectMeta: *tmpl.ObjectMeta.DeepCopy(), Spec: *tmpl.Spec.DeepCopy()}
		p.Name = fmt.Sprintf("%s-%d", name, j)
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: &ctrl}}
		p.Spec.NodeName = node
		p.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	off := vpav1.UpdateModeOff
	_, err = vc.AutoscalingV1().VerticalPodAutoscalers(ns).Create(ctx, &vpav1.VerticalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: vpav1.VerticalPodAutoscalerSpec{
			TargetRef:    &autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: name},
			UpdatePolicy: &vpav1.PodUpdatePolicy{UpdateMode: &off},
		},
	}, metav1.CreateOptions{})
	return err
}

// procMemory reads VmHWM (peak) and VmRSS of pid, in bytes.
func procMemory(t *testing.T, pid int) (peak, rss int64) {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, _ := strings.Cut(s.Text(), ":")
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmHWM":
			peak = kb << 10
		case "VmRSS":
			rss = kb << 10
		}
	}
	return peak, rss
}

// shippedMemoryLimit is the memory limit of deploy/base's Deployment
// tailor, whose leader runs the recommender.
func shippedMemoryLimit(t *testing.T) int64 {
	t.Helper()
	for _, o := range render(t, "self-signed") {
		if o.Kind != "Deployment" || o.Metadata.Name != "tailor" {
			continue
		}
		var d appsv1.Deployment
		if err := yaml.Unmarshal(o.raw, &d); err != nil {
			t.Fatal(err)
		}
		q := d.Spec.Template.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory]
		return q.Value()
	}
	t.Fatal("no Deployment rendered")
	return 0
}
