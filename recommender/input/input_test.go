package input

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"github.com/tailor-dev/tailor/recommender/sizing"
)

func pod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name)},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("50Mi")}}}}},
	}
}

func usage(pod, container, cpu, mem string, ts time.Time) metricsv1beta1.PodMetrics {
	return metricsv1beta1.PodMetrics{
		ObjectMeta: metav1.ObjectMeta{Name: pod}, Timestamp: metav1.NewTime(ts),
		Containers: []metricsv1beta1.ContainerMetrics{{Name: container, Usage: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}}},
	}
}

func TestUsageOf(t *testing.T) {
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	got, d := UsageOf([]*corev1.Pod{pod("a"), pod("b")}, []metricsv1beta1.PodMetrics{
		usage("a", "app", "500m", "200Mi", ts),
		usage("b", "app", "-1", "-5", ts),     // negative: dropped
		usage("b", "sidecar", "1", "1Mi", ts), // unknown container
		usage("other", "app", "1", "1Mi", ts), // not a pod of the target
		{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Containers: []metricsv1beta1.ContainerMetrics{{Name: "app"}}}, // no timestamp
	})
	if len(got) != 1 {
		t.Fatalf("samples %+v", got)
	}
	u := got[0]
	if u.Pod != "uid-a" || u.Container != "app" || u.CPUMillicores != 500 || u.MemoryBytes != 200<<20 || u.CPURequestMillicores != 100 || !u.Time.Equal(ts) {
		t.Fatalf("sample %+v", u)
	}
	if d.UnknownPod != 1 || d.Invalid != 3 {
		t.Fatalf("dropped %+v", d)
	}
}

// The CPU of a boosted pod is left out while it runs boosted and for
// samples whose window began before Ready + duration; its memory is kept.
func TestUsageOfStartupBoost(t *testing.T) {
	ready := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	boosted := func(name, req string, isReady bool) *corev1.Pod {
		p := pod(name)
		p.Annotations = map[string]string{sizing.PodBoostAnnotation: "app: cpu 100m->200m; until Ready+1m0s"}
		p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse(req)
		if isReady {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(ready)}}
		}
		return p
	}
	window := func(m metricsv1beta1.PodMetrics) metricsv1beta1.PodMetrics {
		m.Window = metav1.Duration{Duration: 30 * time.Second}
		return m
	}
	for _, tc := range []struct {
		name    string
		pod     *corev1.Pod
		at      time.Time
		wantCPU int64
	}{
		{"boosted, not ready", boosted("p", "200m", false), ready.Add(time.Hour), -1},
		{"boosted, ready, the updater late", boosted("p", "200m", true), ready.Add(time.Hour), -1},
		{"resized back, window began in the boost", boosted("p", "100m", true), ready.Add(time.Minute + 29*time.Second), -1},
		{"resized back, window began at the boost's end", boosted("p", "100m", true), ready.Add(time.Minute + 30*time.Second), 900},
		{"never boosted", pod("p"), ready, 900},
	} {
		got, d := UsageOf([]*corev1.Pod{tc.pod}, []metricsv1beta1.PodMetrics{window(usage("p", "app", "900m", "200Mi", tc.at))})
		if len(got) != 1 || got[0].CPUMillicores != tc.wantCPU || got[0].MemoryBytes != 200<<20 {
			t.Errorf("%s: samples %+v, want cpu %d and the memory", tc.name, got, tc.wantCPU)
		}
		if want := map[bool]int{true: 1, false: 0}[tc.wantCPU < 0]; d.StartupBoost != want || d.Invalid != 0 {
			t.Errorf("%s: dropped %+v", tc.name, d)
		}
	}
}

func TestOOMs(t *testing.T) {
	p := pod("a")
	at := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", LastTerminationState: corev1.ContainerState{
		Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", FinishedAt: at}}}}
	q := pod("b")
	q.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", LastTerminationState: corev1.ContainerState{
		Terminated: &corev1.ContainerStateTerminated{Reason: "Error", FinishedAt: at}}}}
	got := OOMs([]*corev1.Pod{p, q})
	if len(got) != 1 || got[0].Pod != "uid-a" || got[0].MemoryRequestBytes != 50<<20 || !got[0].Time.Equal(at.Time) {
		t.Fatalf("ooms %+v", got)
	}
}
