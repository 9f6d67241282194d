package placement

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	resourcehelper "k8s.io/component-helpers/resource"
	"k8s.io/utils/ptr"
)

var requestNames = []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, "hugepages-2Mi", "example.com/foo"}

// fuzzPod builds a pod from data: containers, init containers (some native
// sidecars), pod-level requests and overhead, each with some of
// requestNames at small quantities (zero included).
func fuzzPod(data []byte) *corev1.Pod {
	next := func() byte {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return b
	}
	list := func() corev1.ResourceList {
		mask := next()
		if mask&0x10 != 0 {
			return nil
		}
		l := corev1.ResourceList{}
		for i, n := range requestNames {
			if mask&(1<<i) != 0 {
				l[n] = *resource.NewMilliQuantity(int64(next())*250, resource.DecimalSI)
			}
		}
		return l
	}
	pod := &corev1.Pod{}
	for range next() % 4 {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Resources: corev1.ResourceRequirements{Requests: list()}})
	}
	for range next() % 4 {
		c := corev1.Container{Resources: corev1.ResourceRequirements{Requests: list()}}
		if next()%2 == 1 {
			c.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
		}
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, c)
	}
	if next()%3 == 0 {
		pod.Spec.Resources = &corev1.ResourceRequirements{Requests: list()}
	}
	if next()%3 == 0 {
		pod.Spec.Overhead = list()
	}
	return pod
}

func checkPodRequest(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	want := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
	for _, n := range requestNames {
		got, ok := podRequest(pod, n)
		w, wok := want[n]
		if ok != wok || ok && got.Cmp(w) != 0 {
			t.Fatalf("%s: podRequest = %v (%v), PodRequests = %v (%v)\npod spec: %+v", n, got.String(), ok, w.String(), wok, pod.Spec)
		}
	}
}

func TestPodRequest(t *testing.T) {
	q := resource.MustParse
	always := ptr.To(corev1.ContainerRestartPolicyAlways)
	req := func(cpu string) corev1.ResourceRequirements {
		return corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: q(cpu)}}
	}
	for name, tc := range map[string]struct {
		pod  corev1.Pod
		want string // "" = not requested
	}{
		"none":           {pod: corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{}}}}},
		"containers sum": {pod: corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Resources: req("1")}, {Resources: req("500m")}}}}, want: "1500m"},
		"init larger wins": {pod: corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Resources: req("1")}},
			InitContainers: []corev1.Container{{Resources: req("2")}}}}, want: "2"},
		"sidecar adds and raises later inits": {pod: corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Resources: req("1")}},
			InitContainers: []corev1.Container{{Resources: req("500m"), RestartPolicy: always}, {Resources: req("2")}}}}, want: "2500m"},
		"pod level replaces": {pod: corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Resources: req("1")}},
			Resources: &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: q("3")}}}}, want: "3"},
		"overhead adds": {pod: corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Resources: req("1")}},
			Overhead: corev1.ResourceList{corev1.ResourceCPU: q("250m")}}}, want: "1250m"},
	} {
		t.Run(name, func(t *testing.T) {
			checkPodRequest(t, &tc.pod)
			got, ok := podRequest(&tc.pod, corev1.ResourceCPU)
			if !ok && tc.want != "" || ok && got.Cmp(q(tc.want)) != 0 {
				t.Errorf("cpu %v (%v), want %q", got.String(), ok, tc.want)
			}
		})
	}
}

// FuzzPodRequest holds podRequest equal to component-helpers' PodRequests.
func FuzzPodRequest(f *testing.F) {
	f.Add([]byte{2, 3, 1, 4, 2, 0, 0x11, 0x1f, 1, 2, 3, 4})
	f.Add([]byte{1, 0x03, 4, 8, 3, 0x01, 2, 1, 0x03, 9, 9, 0, 0x01, 1, 0, 0x0f, 1, 2, 3, 4, 0, 0x02, 7})
	f.Fuzz(func(t *testing.T, data []byte) {
		checkPodRequest(t, fuzzPod(data))
	})
}
