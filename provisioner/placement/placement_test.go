package placement

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
)

func np(name string, weight int32, mutate ...func(*provisionerv1.NodePool)) Pool {
	p := &provisionerv1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if weight > 0 {
		p.Spec.Weight = &weight
	}
	for _, m := range mutate {
		m(p)
	}
	return Pool{NodePool: p}
}

func req(key string, op corev1.NodeSelectorOperator, values ...string) func(*provisionerv1.NodePool) {
	return func(p *provisionerv1.NodePool) {
		p.Spec.Template.Spec.Requirements = append(p.Spec.Template.Spec.Requirements, provisionerv1.NodeSelectorRequirementWithMinValues{Key: key, Operator: op, Values: values})
	}
}

func taint(key string) func(*provisionerv1.NodePool) {
	return func(p *provisionerv1.NodePool) {
		p.Spec.Template.Spec.Taints = append(p.Spec.Template.Spec.Taints, corev1.Taint{Key: key, Value: "true", Effect: corev1.TaintEffectNoSchedule})
	}
}

func newPod(mutate ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")}}}}}}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func TestPlace(t *testing.T) {
	gpuTol := func(p *corev1.Pod) {
		p.Spec.Tolerations = []corev1.Toleration{{Key: "gpu", Operator: corev1.TolerationOpExists}}
	}
	arm := func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{provisionerv1.LabelArch: "arm64"} }
	cases := []struct {
		name     string
		pools    []Pool
		pod      *corev1.Pod
		want     string
		rejected map[string]string // pool → substring of reason
	}{
		{"heaviest compatible pool", []Pool{np("a", 10), np("b", 50), np("c", 0)}, newPod(), "b", nil},
		{"ties by name", []Pool{np("z", 10), np("a", 10)}, newPod(), "a", nil},
		{"taint skips the heavier pool", []Pool{np("gpu", 90, taint("gpu")), np("general", 10)}, newPod(), "general",
			map[string]string{"gpu": "does not tolerate taint gpu=true:NoSchedule"}},
		{"toleration admits the tainted pool", []Pool{np("gpu", 90, taint("gpu")), np("general", 10)}, newPod(gpuTol), "gpu", nil},
		{"selector on arch", []Pool{np("x86", 90, req(provisionerv1.LabelArch, corev1.NodeSelectorOpIn, "amd64")), np("any", 10)}, newPod(arm), "any",
			map[string]string{"x86": "kubernetes.io/arch In [arm64] conflicts with kubernetes.io/arch In [amd64]"}},
		{"well-known label unset in the pool is fine", []Pool{np("any", 10)}, newPod(arm), "any", nil},
		{"custom label must be the pool's", []Pool{np("plain", 90), np("team", 10, func(p *provisionerv1.NodePool) { p.Spec.Template.Metadata.Labels = map[string]string{"team": "db"} })},
			newPod(func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"team": "db"} }), "team",
			map[string]string{"plain": "team In [db], but the label is not set"}},
		{"a pinned pool is kept", []Pool{np("a", 90), np("b", 10)},
			newPod(func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{provisionerv1.LabelNodePool: "b"} }), "b", nil},
		{"spot pool for a pod that refuses spot", []Pool{np("spot", 90, req(provisionerv1.LabelCapacityType, corev1.NodeSelectorOpIn, "spot")), np("od", 10)},
			newPod(func(p *corev1.Pod) {
				p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchExpressions: []corev1.NodeSelectorRequirement{{Key: provisionerv1.LabelCapacityType, Operator: corev1.NodeSelectorOpNotIn, Values: []string{"spot"}}}}}}}}
			}), "od", map[string]string{"spot": "capacity-type"}},
		{"exhausted limits", []Pool{
			{NodePool: np("full", 90, func(p *provisionerv1.NodePool) {
				p.Spec.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100")}
			}).NodePool,
				Usage: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100")}},
			np("spare", 10)}, newPod(), "spare", map[string]string{"full": "limit reached: cpu 100 of 100"}},
		{"pod bigger than the limit", []Pool{np("small", 90, func(p *provisionerv1.NodePool) {
			p.Spec.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")}
		}), np("big", 10)},
			newPod(), "big", map[string]string{"small": "more than the limit"}},
		{"none fits", []Pool{np("gpu", 90, taint("gpu"))}, newPod(), "", map[string]string{"gpu": "taint"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := Place(c.pod, c.pools)
			if r.Pool != c.want {
				t.Fatalf("pool %q, want %q (rejected %v)", r.Pool, c.want, r.Rejected)
			}
			for pool, sub := range c.rejected {
				found := false
				for _, rj := range r.Rejected {
					if rj.Pool == pool {
						found = true
						if !strings.Contains(rj.Reason, sub) {
							t.Errorf("%s rejected for %q, want %q", pool, rj.Reason, sub)
						}
					}
				}
				if !found {
					t.Errorf("%s not among the rejected %v", pool, r.Rejected)
				}
			}
		})
	}
}

// BenchmarkPlace: 20 pools, the pod fits only the lightest, so every pool
// is checked and 19 rejections are explained (the worst case).
func BenchmarkPlace(b *testing.B) {
	var pools []Pool
	for i := 0; i < 19; i++ {
		pools = append(pools, np(fmt.Sprintf("pool-%02d", i), int32(100-i),
			req(provisionerv1.LabelInstanceFamily, corev1.NodeSelectorOpIn, "m5", "c5", "r5"),
			req(provisionerv1.LabelCapacityType, corev1.NodeSelectorOpIn, "spot", "on-demand"),
			req(provisionerv1.LabelArch, corev1.NodeSelectorOpIn, "amd64")))
	}
	pools = append(pools, np("arm", 1, req(provisionerv1.LabelArch, corev1.NodeSelectorOpIn, "arm64")))
	placer := New(pools)
	pod := newPod(func(p *corev1.Pod) {
		p.Spec.NodeSelector = map[string]string{provisionerv1.LabelArch: "arm64", corev1.LabelTopologyZone: "us-east-1a"}
	})
	b.ReportAllocs()
	for b.Loop() {
		if r := placer.Place(pod, nil); r.Pool != "arm" {
			b.Fatal(r)
		}
	}
}
