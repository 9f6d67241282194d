package sizing

import (
	"encoding/json"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
)

// Flag bits of FuzzDecide's flags argument.
const (
	fzRequestsOnly = 1 << iota
	fzHoldCPU
	fzSidecar
	fzPodLimitRange
	fzModeOff
	fzCPUOnly
	fzNoRecSibling
	fzUpdateOff
)

func FuzzDecide(f *testing.F) {
	f.Add("hamster", "100m", "50Mi", "200m", "100Mi", "587m", "262144k", "", "", "", "", "", "", uint8(0))
	f.Add("hamster", "100m", "50Mi", "", "", "587m", "262144k", "10m", "1", "50m", "400m", "200m", "2", uint8(fzRequestsOnly))
	f.Add("a", "", "", "1", "1Gi", "1e18", "-1", "", "", "", "", "", "", uint8(fzSidecar|fzNoRecSibling))
	f.Add("b", "0", "0", "0", "0", "1n", "1", "0", "0", "0", "0", "0", "0", uint8(fzPodLimitRange|fzHoldCPU))
	f.Add("c", "9223372036854775807", "1Ei", "1e-3", "1Ki", "10M", "8Ei", "1", "1", "1", "1", "1", "1", uint8(fzCPUOnly|fzPodLimitRange))
	f.Add("d", "2", "3Gi", "1", "1Gi", "500m", "2Gi", "", "", "1500m", "", "", "1500m", uint8(fzRequestsOnly|fzPodLimitRange))
	f.Add("e", "0", "1000E", "0", "1000E", "1", "1000E", "", "", "", "", "", "", uint8(fzSidecar))
	f.Fuzz(func(t *testing.T, name, reqCPU, reqMem, limCPU, limMem, tgtCPU, tgtMem, polMin, polMax, lrMin, lrMax, lrDef, lrRatio string, flags uint8) {
		if name == "init" || name == "main" || name == "norec" {
			return // those names belong to the fixture's other containers
		}
		both := func(v string) corev1.ResourceList {
			l := corev1.ResourceList{}
			put(l, corev1.ResourceCPU, v)
			put(l, corev1.ResourceMemory, v)
			return l
		}
		pair := func(cpu, mem string) corev1.ResourceList {
			l := corev1.ResourceList{}
			put(l, corev1.ResourceCPU, cpu)
			put(l, corev1.ResourceMemory, mem)
			return l
		}
		c := corev1.Container{Name: name, Image: "img", Resources: corev1.ResourceRequirements{Requests: pair(reqCPU, reqMem), Limits: pair(limCPU, limMem)}}
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}}
		pod.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "img", Resources: c.Resources}}
		if flags&fzSidecar != 0 {
			always := corev1.ContainerRestartPolicyAlways
			c.RestartPolicy = &always
			pod.Spec.InitContainers = append(pod.Spec.InitContainers, c)
			pod.Spec.Containers = []corev1.Container{{Name: "main", Image: "img"}}
		} else {
			pod.Spec.Containers = []corev1.Container{c}
		}
		if flags&fzNoRecSibling != 0 {
			pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "norec", Image: "img", Resources: c.Resources})
		}

		vpa := &vpav1.VerticalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "v", Namespace: "ns"}}
		vpa.Status.Recommendation = &vpav1.RecommendedPodResources{ContainerRecommendations: []vpav1.RecommendedContainerResources{
			{ContainerName: name, Target: pair(tgtCPU, tgtMem)},
			{ContainerName: "init", Target: pair(tgtCPU, tgtMem)},
		}}
		pol := vpav1.ContainerResourcePolicy{ContainerName: "*", MinAllowed: both(polMin), MaxAllowed: both(polMax)}
		if flags&fzRequestsOnly != 0 {
			pol.ControlledValues = ptr(vpav1.ContainerControlledValuesRequestsOnly)
		}
		if flags&fzModeOff != 0 {
			pol.Mode = ptr(vpav1.ContainerScalingModeOff)
		}
		if flags&fzCPUOnly != 0 {
			pol.ControlledResources = &[]corev1.ResourceName{corev1.ResourceCPU}
		}
		vpa.Spec.ResourcePolicy = &vpav1.PodResourcePolicy{ContainerPolicies: []vpav1.ContainerResourcePolicy{pol}}
		if flags&fzUpdateOff != 0 {
			vpa = withMode(vpa, vpav1.UpdateModeOff)
		}
		lrs := []corev1.LimitRange{{Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type: corev1.LimitTypeContainer, Min: both(lrMin), Max: both(lrMax), Default: both(lrDef), MaxLimitRequestRatio: both(lrRatio),
		}}}}}
		if flags&fzPodLimitRange != 0 {
			lrs[0].Spec.Limits = append(lrs[0].Spec.Limits, corev1.LimitRangeItem{Type: corev1.LimitTypePod, Min: both(lrMin), Max: both(lrMax)})
		}
		// The webhook and the informers only ever see objects decoded from
		// JSON, and some quantities do not survive encoding ("1000E" is
		// written as "1", an apimachinery quirk), so decide on what the API
		// server would send.
		roundTrip(t, pod)
		roundTrip(t, vpa)
		roundTrip(t, &lrs)
		in := Input{Pod: pod, VPA: vpa, LimitRanges: lrs}
		if flags&fzHoldCPU != 0 {
			in.Hold = []corev1.ResourceName{corev1.ResourceCPU}
		}

		orig := pod.DeepCopy()
		dec, err := Decide(in)
		if !apiequality.Semantic.DeepEqual(orig, pod) {
			t.Fatal("Decide modified the input pod")
		}
		if err != nil {
			return // malformed input is refused, which is fine
		}
		if (dec.Skipped == "") == (len(dec.Changes) == 0) || len(dec.Changes) > 0 && (len(dec.Patch) == 0 || dec.Annotation == "") {
			t.Fatalf("inconsistent decision: %+v", dec)
		}
		checkPatch(t, pod, dec)
		checkInPlace(t, in, dec)

		merged, _ := mergeLimitRanges(lrs, corev1.LimitTypeContainer)
		for _, ch := range dec.Changes {
			if ch.Name == "init" && !ch.Init || ch.Name == "norec" || ch.Name == "main" {
				t.Fatalf("container %q must not change", ch.Name)
			}
			if ch.Init && ch.Index == 0 {
				t.Fatal("regular init container changed")
			}
			for ki := range kinds {
				k := &kinds[ki]
				rq, hasRq := ch.After.Requests[k.name]
				lm, hasLm := ch.After.Limits[k.name]
				if !changedValue(ch.Before.Requests, ch.After.Requests, k.name) && !changedValue(ch.Before.Limits, ch.After.Limits, k.name) {
					continue
				}
				if k.name == corev1.ResourceCPU && flags&fzHoldCPU != 0 {
					t.Fatalf("held cpu changed: %v -> %v", ch.Before, ch.After)
				}
				if hasRq && rq.Sign() <= 0 {
					t.Fatalf("%s request %s not positive", k.name, rq.String())
				}
				if hasRq && hasLm && rq.Cmp(lm) > 0 {
					t.Fatalf("%s request %s > limit %s", k.name, rq.String(), lm.String())
				}
				if mx := merged[ki].max; mx.ok && hasRq && changedValue(ch.Before.Requests, ch.After.Requests, k.name) && k.raw(&rq) > mx.n {
					t.Fatalf("%s request %s above LimitRange max %s", k.name, rq.String(), mx.q.String())
				}
			}
		}
	})
}

// checkInPlace: Decide with InPlace gives the same patch and annotation
// and leaves the pod's containers with the resources the Changes say.
func checkInPlace(t *testing.T, in Input, want Decision) {
	t.Helper()
	after := in.Pod.DeepCopy()
	in.Pod, in.InPlace = in.Pod.DeepCopy(), true
	got, err := Decide(in)
	if err != nil {
		t.Fatalf("in place: %v", err)
	}
	if len(got.Changes) != 0 || got.Annotation != want.Annotation || got.Skipped != want.Skipped || !reflect.DeepEqual(got.Patch, want.Patch) {
		t.Fatalf("in place decided %+v, want %+v", got, want)
	}
	for _, ch := range want.Changes {
		c := &after.Spec.Containers
		if ch.Init {
			c = &after.Spec.InitContainers
		}
		(*c)[ch.Index].Resources = ch.After
	}
	if !apiequality.Semantic.DeepEqual(in.Pod.Spec, after.Spec) {
		t.Fatalf("in place pod %+v, want %+v", in.Pod.Spec, after.Spec)
	}
}

func roundTrip(t *testing.T, obj any) {
	t.Helper()
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, obj); err != nil {
		t.Fatal(err)
	}
}

func put(l corev1.ResourceList, name corev1.ResourceName, v string) {
	if v == "" {
		return
	}
	// parseQuantity: resource.ParseQuantity hangs on some exponents itself
	// (so does the API server that would send such a pod); out-of-range
	// ones are kept, Decide must refuse them.
	if q, err := parseQuantity(v); err == nil {
		l[name] = q
	}
}

func changedValue(before, after corev1.ResourceList, name corev1.ResourceName) bool {
	a, ok := after[name]
	if !ok {
		return false
	}
	b, had := before[name]
	return !had || a.Cmp(b) != 0
}
