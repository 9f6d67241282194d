package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	vpaclient "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/client/clientset/versioned"
)

// updaterArgs: a fast updater with no cooldown, so that a resize repeated
// for want of a kubelet acknowledgement would show at once.
var updaterArgs = []string{"--components=webhook,updater", "--updater-interval=2s", "--updater-pod-cooldown=0s", "--updater-max-pods-per-workload=2"}

// runningHamsters waits until the Deployment's pods are all Running and the
// Deployment available (the updater leaves a rollout alone), and returns them.
func runningHamsters(t *testing.T, ns string, n int) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	eventually(t, 60*time.Second, func(ctx context.Context) (bool, string) {
		d, err := env.Clientset().AppsV1().Deployments(ns).Get(ctx, "hamster", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		list, err := env.Clientset().CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=hamster"})
		if err != nil {
			return false, err.Error()
		}
		pods = pods[:0]
		for _, p := range list.Items {
			if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
				pods = append(pods, p)
			}
		}
		return len(pods) == n && len(list.Items) == n && d.Status.AvailableReplicas == int32(n),
			fmt.Sprintf("%d of %d pods running, %d available", len(pods), len(list.Items), d.Status.AvailableReplicas)
	})
	return pods
}

// eventsWith lists the Events of ns with the reason.
func eventsWith(t *testing.T, ns, reason string) []string {
	t.Helper()
	evs, err := env.Clientset().EventsV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs.Items {
		if e.Reason == reason {
			out = append(out, e.Regarding.Name+": "+e.Note)
		}
	}
	return out
}

func uidsOf(pods []corev1.Pod) map[types.UID]string {
	m := map[types.UID]string{}
	for _, p := range pods {
		m[p.UID] = p.Name
	}
	return m
}

func TestResize(t *testing.T) {
	t.Parallel() // own namespaces and Tailor (testLabel)
	inst := readyTailor(t, updaterArgs...)
	registerWebhooks(t, inst)
	enabled := map[string]string{enabledLabel: "true"}

	t.Run("hamster is resized in place", func(t *testing.T) {
		ns := namespace(t, enabled)
		createVPAWithTarget(t, ns, hamsterVPA(vpav1.UpdateModeInPlaceOrRecreate), "100m", "50Mi")
		hamster(t, ns, nil)
		before := runningHamsters(t, ns, 2)
		assertResources(t, before, corev1.ResourceRequirements{Requests: rl("100m", "50Mi")})

		start := time.Now()
		setVPATarget(t, ns, "hamster-vpa", "587m", "262144k")
		var after []corev1.Pod
		eventually(t, 30*time.Second, func(ctx context.Context) (bool, string) {
			list, err := env.Clientset().CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=hamster"})
			if err != nil {
				return false, err.Error()
			}
			after = list.Items
			done := 0
			for _, p := range after {
				if r := p.Spec.Containers[0].Resources.Requests; r.Cpu().String() == "587m" && r.Memory().Cmp(rl("587m", "262144k")[corev1.ResourceMemory]) == 0 {
					done++
				}
			}
			return done == 2, fmt.Sprintf("%d of %d pods resized", done, len(after))
		})
		t.Logf("both pods resized %s after the recommendation moved", time.Since(start).Round(100*time.Millisecond))
		// Same pods: resized, not recreated.
		if got, want := uidsOf(after), uidsOf(before); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("pods after the resize %v, want the same UIDs as before %v", got, want)
		}
		assertResources(t, after, corev1.ResourceRequirements{Requests: rl("587m", "262144k")})
		for _, p := range after {
			waitEvent(t, ns, "InPlaceResizedByVPA", p.Name)
		}
		waitEvent(t, ns, "InPlaceResizedPod", "hamster-vpa")

		// What the API server and kwok make of a resize: the spec changes;
		// kwok runs no kubelet, so the status is what it was.
		for _, p := range after {
			var res []string
			for _, cs := range p.Status.ContainerStatuses {
				res = append(res, fmt.Sprintf("%s resources=%v allocated=%v", cs.Name, cs.Resources, cs.AllocatedResources))
			}
			var conds []string
			for _, c := range p.Status.Conditions {
				conds = append(conds, fmt.Sprintf("%s=%s(%s)", c.Type, c.Status, c.Reason))
			}
			t.Logf("pod %s after resize: generation %d, observedGeneration %d, resize %q, qosClass %s, containerStatuses %v, conditions %v",
				p.Name, p.Generation, p.Status.ObservedGeneration, p.Status.Resize, p.Status.QOSClass, res, conds)
		}

		// No acknowledgement ever comes; the updater must neither resize
		// again nor evict. Several passes with no cooldown:
		waitPasses(t, inst, "updater", 3)
		if evs := eventsWith(t, ns, "InPlaceResizedByVPA"); len(evs) != 2 {
			t.Errorf("resize events %q, want one per pod", evs)
		} else {
			t.Logf("events: %q", evs)
		}
		if evs := eventsWith(t, ns, "EvictedByVPA"); len(evs) != 0 {
			t.Errorf("eviction events %q, want none", evs)
		}
		if got := runningHamsters(t, ns, 2); fmt.Sprint(uidsOf(got)) != fmt.Sprint(uidsOf(before)) {
			t.Errorf("pods %v, want the original %v", uidsOf(got), uidsOf(before))
		}
		if _, body, err := get(inst.metrics + "/metrics"); err != nil || !strings.Contains(body, `tailor_updater_updates_total{action="resize",result="ok"} 2`) {
			t.Errorf("metrics: want 2 resizes ok: %v\n%s", err, grepLines(body, "tailor_updater_"))
		}
	})

	t.Run("Initial leaves running pods alone", func(t *testing.T) {
		ns := namespace(t, enabled)
		createVPAWithTarget(t, ns, hamsterVPA(vpav1.UpdateModeInitial), "100m", "50Mi")
		hamster(t, ns, nil)
		before := runningHamsters(t, ns, 2)
		setVPATarget(t, ns, "hamster-vpa", "587m", "262144k")
		waitPasses(t, inst, "updater", 3)
		got := runningHamsters(t, ns, 2)
		assertResources(t, got, corev1.ResourceRequirements{Requests: rl("100m", "50Mi")})
		if fmt.Sprint(uidsOf(got)) != fmt.Sprint(uidsOf(before)) {
			t.Errorf("pods %v, want the original %v", uidsOf(got), uidsOf(before))
		}
	})

	t.Run("a namespace that has not opted in is left alone, saying why", func(t *testing.T) {
		// Pods there are not sized at admission: an evicted pod would come
		// back unchanged and be evicted again every pass.
		ns := namespace(t, nil)
		createVPAWithTarget(t, ns, hamsterVPA(vpav1.UpdateModeRecreate), "587m", "262144k")
		hamster(t, ns, nil)
		before := runningHamsters(t, ns, 2)
		waitPasses(t, inst, "updater", 3)
		got := runningHamsters(t, ns, 2)
		assertResources(t, got, corev1.ResourceRequirements{Requests: rl("100m", "50Mi")})
		if fmt.Sprint(uidsOf(got)) != fmt.Sprint(uidsOf(before)) {
			t.Errorf("pods %v, want the original %v: nothing evicted", uidsOf(got), uidsOf(before))
		}
		for _, reason := range []string{"InPlaceResizedByVPA", "EvictedByVPA"} {
			if evs := eventsWith(t, ns, reason); len(evs) != 0 {
				t.Errorf("%s events %q, want none", reason, evs)
			}
		}
		waitEvent(t, ns, "NamespaceNotOptedIn", "hamster-vpa")
	})

	t.Run("a resize that would change the QoS class is an eviction", func(t *testing.T) {
		ns := namespace(t, enabled)
		// No recommendation yet: the pods are admitted as they are, without
		// requests (BestEffort).
		vc := vpaclient.NewForConfigOrDie(env.RESTConfig())
		if _, err := vc.AutoscalingV1().VerticalPodAutoscalers(ns).Create(context.Background(), hamsterVPA(vpav1.UpdateModeInPlaceOrRecreate), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := env.Clientset().AppsV1().Deployments(ns).Create(context.Background(), deployment("hamster", 2, nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		before := runningHamsters(t, ns, 2)

		// The API server refuses such a resize, which is why the updater
		// does not try it.
		patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"containers": []any{map[string]any{
			"name": "hamster", "resources": map[string]any{"requests": map[string]string{"cpu": "587m"}}}}}})
		_, err := env.Clientset().CoreV1().Pods(ns).Patch(context.Background(), before[0].Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "resize")
		if !apierrors.IsInvalid(err) {
			t.Fatalf("resize of a BestEffort pod: %v, want Invalid", err)
		}
		t.Logf("API server on a QoS-changing resize: %v", err)

		setVPATarget(t, ns, "hamster-vpa", "587m", "262144k")
		var after []corev1.Pod
		eventually(t, 60*time.Second, func(ctx context.Context) (bool, string) {
			list, err := env.Clientset().CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=hamster"})
			if err != nil {
				return false, err.Error()
			}
			after = after[:0]
			for _, p := range list.Items {
				if _, old := uidsOf(before)[p.UID]; !old && p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
					after = append(after, p)
				}
			}
			return len(after) == 2, fmt.Sprintf("%d replacement pods running of %d", len(after), len(list.Items))
		})
		// The replacements were sized at admission.
		assertResources(t, after, corev1.ResourceRequirements{Requests: rl("587m", "262144k")})
		waitEvent(t, ns, "EvictedByVPA", before[0].Name)
		waitEvent(t, ns, "EvictedPod", "hamster-vpa")
		t.Logf("events: %q", eventsWith(t, ns, "EvictedByVPA"))
	})
}

// grepLines keeps the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
