package resize

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
)

// FuzzDecideConverges: whatever the requests, limits and recommendation, a
// pod resized as decided is not resized again (the updater cannot loop),
// held resources never change, and no more pods than the budget are updated.
func FuzzDecideConverges(f *testing.F) {
	f.Add(int64(100), int64(50<<20), int64(0), int64(0), int64(587), int64(262144000), int64(500), int64(700), true, uint8(0))
	f.Add(int64(100), int64(50<<20), int64(200), int64(100<<20), int64(587), int64(262144000), int64(500), int64(700), false, uint8(1))
	f.Add(int64(0), int64(0), int64(0), int64(0), int64(1), int64(1), int64(1), int64(1), true, uint8(2))
	f.Fuzz(func(t *testing.T, cpu, mem, cpuLim, memLim, target, memTarget, lo, hi int64, holdCPU bool, modes uint8) {
		q := func(milli bool, v int64) string {
			if milli {
				return resource.NewMilliQuantity(v, resource.DecimalSI).String()
			}
			return resource.NewQuantity(v, resource.BinarySI).String()
		}
		pos := func(v int64) bool { return v > 0 && v < 1<<40 }
		list := func(c, m int64) corev1.ResourceList {
			l := corev1.ResourceList{}
			if pos(c) {
				l[corev1.ResourceCPU] = resource.MustParse(q(true, c))
			}
			if pos(m) {
				l[corev1.ResourceMemory] = resource.MustParse(q(false, m))
			}
			return l
		}
		if !pos(target) || !pos(memTarget) || lo < 0 || hi < 0 {
			return
		}
		mode := []vpav1.UpdateMode{vpav1.UpdateModeAuto, vpav1.UpdateModeInPlace, vpav1.UpdateModeRecreate}[int(modes)%3]
		vpa := hamsterVPA(mode)
		cr := &vpa.Status.Recommendation.ContainerRecommendations[0]
		cr.Target = list(target, memTarget)
		cr.LowerBound = list(lo, memTarget/2)
		cr.UpperBound = list(hi, memTarget*2)
		if modes&4 != 0 {
			vpa.Spec.ResourcePolicy = &vpav1.PodResourcePolicy{ContainerPolicies: []vpav1.ContainerResourcePolicy{{ContainerName: "*",
				MaxAllowed: list(target/2+1, 0), ControlledValues: ptrTo(vpav1.ContainerControlledValuesRequestsOnly)}}}
		}
		var hold []corev1.ResourceName
		if holdCPU {
			hold = []corev1.ResourceName{corev1.ResourceCPU}
		}
		p := running("a", "", "")
		p.Pod.Spec.Containers[0].Resources = corev1.ResourceRequirements{Requests: list(cpu, mem), Limits: list(cpuLim, memLim)}
		if r := p.Pod.Spec.Containers[0].Resources; len(r.Requests) == 0 {
			p.Pod.Spec.Containers[0].Resources.Requests = nil
		}
		in := Input{VPA: vpa, Pods: []Pod{p}, Hold: hold, Now: t0}
		d, err := Decide(in, DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Updates) > 1 {
			t.Fatalf("%d updates, budget 1", len(d.Updates))
		}
		if len(d.Updates) == 0 || d.Updates[0].Action != Resize {
			return
		}
		before := p.Pod.Spec.Containers[0].Resources
		after := d.Updates[0].Changes[0].After
		if holdCPU && (fmt.Sprint(before.Requests[corev1.ResourceCPU]) != fmt.Sprint(after.Requests[corev1.ResourceCPU]) ||
			fmt.Sprint(before.Limits[corev1.ResourceCPU]) != fmt.Sprint(after.Limits[corev1.ResourceCPU])) {
			t.Fatalf("held cpu changed: %v -> %v", before, after)
		}
		resized := p.Pod.DeepCopy()
		resized.Spec.Containers[0].Resources = after
		again, err := Decide(Input{VPA: vpa, Pods: []Pod{{Pod: resized}}, Hold: hold, Now: t0}, DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range again.Updates {
			if u.Action == Resize {
				t.Fatalf("resized twice: %v -> %v -> %v", before, after, u.Changes[0].After)
			}
		}
	})
}

func ptrTo[T any](v T) *T { return &v }

func BenchmarkDecide(b *testing.B) {
	vpa := hamsterVPA(vpav1.UpdateModeInPlaceOrRecreate)
	pods := make([]Pod, 100)
	for i := range pods {
		req := "cpu=600m,memory=250Mi" // inside the bounds
		if i%2 == 0 {
			req = "cpu=100m,memory=50Mi"
		}
		pods[i] = running(fmt.Sprintf("hamster-%03d", i), req, "cpu=1,memory=500Mi")
	}
	in := Input{VPA: vpa, Pods: pods, Now: t0}
	cfg := DefaultConfig()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if d, err := Decide(in, cfg); err != nil || len(d.Updates) != 1 {
			b.Fatal(d, err)
		}
	}
	b.ReportMetric(float64(b.N*len(pods))/b.Elapsed().Seconds(), "pods/s")
}
