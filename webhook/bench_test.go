package webhook

import (
	"context"
	"encoding/json"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/tailor-dev/tailor/recommender/sizing"
)

// mapLookup stands in for the informer cache with plain maps, so the
// benchmark measures the handler (decode, owner walk, decision, patch).
type mapLookup struct {
	controllers map[string]*metav1.OwnerReference // namespace/kind/name
	vpas        map[string][]*vpav1.VerticalPodAutoscaler
	limitRanges map[string][]corev1.LimitRange
	quotas      map[string][]corev1.ResourceQuota
}

func (m mapLookup) ControllerOf(_ context.Context, ns string, o sizing.Owner) *metav1.OwnerReference {
	return m.controllers[ns+"/"+o.Kind+"/"+o.Name]
}

func (m mapLookup) VPAs(_ context.Context, ns string) ([]*vpav1.VerticalPodAutoscaler, error) {
	return m.vpas[ns], nil
}

func (m mapLookup) LimitRanges(_ context.Context, ns string) ([]corev1.LimitRange, error) {
	return m.limitRanges[ns], nil
}

func (m mapLookup) ResourceQuotas(_ context.Context, ns string) ([]corev1.ResourceQuota, error) {
	return m.quotas[ns], nil
}

// benchFixture is a hamster-like Deployment's ReplicaSet, its VPA with a
// recommendation for three containers, and a pod create request for it.
func benchFixture(tb testing.TB) (*PodSizer, admission.Request) {
	tb.Helper()
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = vpav1.AddToScheme(scheme)
	ns := "bench"
	names := []string{"hamster", "sidecar", "proxy"}
	var recs []vpav1.RecommendedContainerResources
	var containers []corev1.Container
	for _, n := range names {
		recs = append(recs, vpav1.RecommendedContainerResources{ContainerName: n,
			Target: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("587m"), corev1.ResourceMemory: resource.MustParse("262144k")}})
		containers = append(containers, corev1.Container{Name: n, Image: "x", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("50Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m"), corev1.ResourceMemory: resource.MustParse("100Mi")}}})
	}
	vpa := &vpav1.VerticalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "hamster-vpa", Namespace: ns},
		Spec:       vpav1.VerticalPodAutoscalerSpec{TargetRef: &autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "hamster"}},
		Status:     vpav1.VerticalPodAutoscalerStatus{Recommendation: &vpav1.RecommendedPodResources{ContainerRecommendations: recs}},
	}
	lookup := mapLookup{
		controllers: map[string]*metav1.OwnerReference{ns + "/ReplicaSet/hamster-5d8f": {APIVersion: "apps/v1", Kind: "Deployment", Name: "hamster", UID: "d1", Controller: ptr.To(true)}},
		vpas:        map[string][]*vpav1.VerticalPodAutoscaler{ns: {vpa}},
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "hamster-5d8f-", Namespace: ns, Labels: map[string]string{"app": "hamster"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "hamster-5d8f", UID: "r1", Controller: ptr.To(true)}}},
		Spec: corev1.PodSpec{Containers: containers},
	}
	raw, err := json.Marshal(pod)
	if err != nil {
		tb.Fatal(err)
	}
	synced := &atomic.Bool{}
	synced.Store(true)
	h := &PodSizer{Lookup: lookup, Synced: synced, TailorNamespace: "tailor-system"}
	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: "u", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
		Namespace: ns, Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw},
	}}
	return h, req
}

// measureHandler runs h on req b.N times and reports p50 and p99 besides
// the mean.
func measureHandler(b *testing.B, h admission.Handler, req admission.Request) {
	ctx := context.Background()
	durations := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		h.Handle(ctx, req)
		durations = append(durations, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(durations, func(i, j int) bool { return durations[i] < durations[j] })
	if n := len(durations); n > 0 {
		b.ReportMetric(float64(durations[n*99/100].Nanoseconds()), "p99-ns")
		b.ReportMetric(float64(durations[n/2].Nanoseconds()), "p50-ns")
	}
}

// BenchmarkPodSizer measures the in-process pod handler on a 3-container pod.
func BenchmarkPodSizer(b *testing.B) {
	h, req := benchFixture(b)
	if resp := h.Handle(context.Background(), req); len(resp.Patches) == 0 {
		b.Fatalf("fixture not mutated: %+v", resp.Result)
	}
	measureHandler(b, h, req)
}

// BenchmarkNoopHandler measures a handler that admits everything the same
// way: the floor that scheduling on this machine puts under any handler.
func BenchmarkNoopHandler(b *testing.B) {
	_, req := benchFixture(b)
	measureHandler(b, noop{}, req)
}
