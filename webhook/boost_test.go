package webhook

import (
	"encoding/json"
	"strings"
	"testing"

	jsonpatch5 "github.com/evanphx/json-patch/v5"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/tailor-dev/tailor/recommender/sizing"
)

// boostFixture is benchFixture with startupBoost cpu ×2 for 60 s on the VPA.
func boostFixture(tb testing.TB) (*PodSizer, admission.Request) {
	h, req := benchFixture(tb)
	vpa := h.Lookup.(mapLookup).vpas["bench"][0]
	vpa.Spec.StartupBoost = &vpav1.StartupBoost{CPU: &vpav1.GenericStartupBoost{Type: vpav1.FactorStartupBoostType, Factor: ptr.To[int32](2), DurationSeconds: ptr.To[int32](60)}}
	return h, req
}

// admit runs h on req and returns the pod the API server would store.
func admit(t *testing.T, h *PodSizer, req admission.Request) (*corev1.Pod, admission.Response) {
	t.Helper()
	resp := handle(t, h, req)
	if !resp.Allowed {
		t.Fatalf("refused: %+v", resp.Result)
	}
	ops, err := json.Marshal(resp.Patches)
	if err != nil {
		t.Fatal(err)
	}
	p, err := jsonpatch5.DecodePatch(ops)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := p.Apply(req.Object.Raw)
	if err != nil {
		t.Fatalf("patch %s does not apply: %v", ops, err)
	}
	pod := &corev1.Pod{}
	if err := json.Unmarshal(raw, pod); err != nil {
		t.Fatal(err)
	}
	return pod, resp
}

func cpuOf(l corev1.ResourceList) string {
	q := l[corev1.ResourceCPU]
	return q.String()
}

// A pod of a VPA with startupBoost is born sized, then boosted; the
// annotation records both; a reinvocation (another webhook changed the
// pod) does not boost twice.
func TestBoostStep(t *testing.T) {
	h, req := boostFixture(t)
	pod, resp := admit(t, h, req)
	for _, c := range pod.Spec.Containers {
		if cpuOf(c.Resources.Requests) != "1174m" || cpuOf(c.Resources.Limits) != "2348m" {
			t.Errorf("%s: cpu %s limit %s, want the sized 587m ×2 and its limit ×2", c.Name, cpuOf(c.Resources.Requests), cpuOf(c.Resources.Limits))
		}
	}
	want := "hamster: cpu 587m->1174m, limit 1174m->2348m; sidecar: cpu 587m->1174m, limit 1174m->2348m; proxy: cpu 587m->1174m, limit 1174m->2348m; until Ready+1m0s"
	if got := pod.Annotations[sizing.PodBoostAnnotation]; got != want {
		t.Errorf("annotation %q\nwant %q", got, want)
	}
	if !strings.Contains(pod.Annotations[sizing.AnnotationKey], "cpu 100m->587m") || !strings.Contains(resp.Result.Message, "startup boost: ") {
		t.Errorf("sizing annotation %q, message %q", pod.Annotations[sizing.AnnotationKey], resp.Result.Message)
	}

	again := req
	again.Object.Raw, _ = json.Marshal(pod)
	pod2, _ := admit(t, h, again)
	if cpuOf(pod2.Spec.Containers[0].Resources.Requests) != "1174m" || pod2.Annotations[sizing.PodBoostAnnotation] != want {
		t.Errorf("reinvoked: cpu %s, annotation %q", cpuOf(pod2.Spec.Containers[0].Resources.Requests), pod2.Annotations[sizing.PodBoostAnnotation])
	}

	// Without a recommendation the boost applies to the template's CPU,
	// and a reinvocation still does not boost twice.
	vpa := h.Lookup.(mapLookup).vpas["bench"][0]
	rec := vpa.Status.Recommendation
	vpa.Status.Recommendation = nil
	defer func() { vpa.Status.Recommendation = rec }()
	pod3, _ := admit(t, h, req)
	again.Object.Raw, _ = json.Marshal(pod3)
	pod4, _ := admit(t, h, again)
	for _, p := range []*corev1.Pod{pod3, pod4} {
		if c := p.Spec.Containers[0]; cpuOf(c.Resources.Requests) != "200m" || cpuOf(c.Resources.Limits) != "400m" {
			t.Errorf("no recommendation: cpu %s limit %s, want 100m/200m ×2", cpuOf(c.Resources.Requests), cpuOf(c.Resources.Limits))
		}
	}
}

// A ResourceQuota the boosted pod would exceed: born sized, unboosted.
func TestBoostStepQuota(t *testing.T) {
	h, req := boostFixture(t)
	l := h.Lookup.(mapLookup)
	q := corev1.ResourceQuota{}
	q.Name = "team"
	q.Status.Hard = corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("4")}
	q.Status.Used = corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("1")}
	l.quotas = map[string][]corev1.ResourceQuota{"bench": {q}}
	h.Lookup = l
	pod, _ := admit(t, h, req)
	if _, ok := pod.Annotations[sizing.PodBoostAnnotation]; ok || cpuOf(pod.Spec.Containers[0].Resources.Requests) != "587m" {
		t.Errorf("pod boosted over the quota: cpu %s, annotations %v", cpuOf(pod.Spec.Containers[0].Resources.Requests), pod.Annotations)
	}
	// 1 used + 3 × 587m sized = 2.76 fits; boosted (3 × 1174m) would not.
	q.Status.Used = corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("400m")}
	l.quotas["bench"] = []corev1.ResourceQuota{q}
	if pod, _ = admit(t, h, req); cpuOf(pod.Spec.Containers[0].Resources.Requests) != "1174m" {
		t.Errorf("a quota with room: cpu %s, want boosted", cpuOf(pod.Spec.Containers[0].Resources.Requests))
	}
}

// BenchmarkPodSizerBoost is BenchmarkPodSizer for a pod whose VPA sets
// startupBoost: sizing, then the boost, in one review.
func BenchmarkPodSizerBoost(b *testing.B) {
	h, req := boostFixture(b)
	if resp := handle(b, h, req); len(resp.Patches) == 0 || !strings.Contains(resp.Result.Message, "startup boost") {
		b.Fatalf("fixture not boosted: %+v", resp.Result)
	}
	measureHandler(b, h, reviewOf(b, req))
}

// Placement (and so the provisioner) sees the boosted requests.
func TestBoostStepBeforePlacement(t *testing.T) {
	h, req := boostFixture(t)
	f := &fakePlacer{}
	h.Placer, h.Namespaces = f, fakeNamespaces{}
	admit(t, h, req)
	if f.seen == nil {
		t.Fatal("placement did not run")
	}
	if got := cpuOf(f.seen.Spec.Containers[0].Resources.Requests); got != "1174m" {
		t.Errorf("placement saw cpu %s, want the boosted 1174m", got)
	}
}
