package demo

import (
	"context"
	"fmt"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
)

// HamsterVPA is the seed's hamster-vpa with the update mode (the demo's:
// InPlaceOrRecreate).
func HamsterVPA(mode vpav1.UpdateMode) *vpav1.VerticalPodAutoscaler {
	return &vpav1.VerticalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "hamster-vpa"},
		Spec: vpav1.VerticalPodAutoscalerSpec{
			TargetRef:    &autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "hamster"},
			UpdatePolicy: &vpav1.PodUpdatePolicy{UpdateMode: &mode},
			ResourcePolicy: &vpav1.PodResourcePolicy{ContainerPolicies: []vpav1.ContainerResourcePolicy{{
				ContainerName:       "*",
				MinAllowed:          corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("50Mi")},
				MaxAllowed:          corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("500Mi")},
				ControlledResources: &[]corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory},
			}}},
		},
	}
}

func podStates(pods []corev1.Pod) []PodState {
	out := make([]PodState, 0, len(pods))
	for _, p := range pods {
		s := PodState{UID: string(p.UID), Name: p.Name}
		if len(p.Spec.Containers) > 0 {
			req := p.Spec.Containers[0].Resources.Requests
			s.CPUMilli, s.MemoryBytes = req.Cpu().MilliValue(), req.Memory().Value()
		}
		for _, cs := range p.Status.ContainerStatuses {
			s.Restarts += cs.RestartCount
		}
		out = append(out, s)
	}
	return out
}

func (r *Runner) vpa(ctx context.Context) Result {
	const name = "vpa"
	ns, cleanup, err := r.namespace(ctx, name, false)
	if err != nil {
		return Result{Failures: []string{err.Error()}}
	}
	defer cleanup()
	fail := func(step string, err error) Result { return failed(ns, "", step, err) }
	v := HamsterVPA(vpav1.UpdateModeInPlaceOrRecreate)
	v.Namespace = ns
	if err := r.c.Create(ctx, v); err != nil {
		return fail("create hamster-vpa", err)
	}
	// kwok's usage annotations stand in for the hamster's busy loop.
	pod := corev1.PodSpec{Containers: []corev1.Container{{Name: "hamster", Image: "registry.k8s.io/ubuntu-slim:0.1",
		Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("50Mi")}}}}}
	usage := map[string]string{"kwok.x-k8s.io/usage-cpu": "500m", "kwok.x-k8s.io/usage-memory": "200Mi"}
	if _, err := r.cs.AppsV1().Deployments(ns).Create(ctx, deployment("hamster", 2, pod, usage), metav1.CreateOptions{}); err != nil {
		return fail("create hamster", err)
	}
	r.say(name, "hamster: 2 pods requesting 100m / 50Mi, using 500m / 200Mi; hamster-vpa updateMode InPlaceOrRecreate")

	var before []PodState
	if err := r.poll(ctx, 2*time.Minute, func(ctx context.Context) (bool, error) {
		pods, all, err := r.runningPods(ctx, ns, "hamster")
		before = podStates(pods)
		return err == nil && len(pods) == 2 && all == 2, err
	}); err != nil {
		return fail("waiting for the hamster pods", err)
	}
	for _, p := range before {
		r.rec.Add("hamster CPU request", time.Since(r.start), float64(p.CPUMilli))
		break
	}

	// The recommendation, then both pods resized to it.
	var target corev1.ResourceList
	var after []PodState
	lastSaid := ""
	if err := r.poll(ctx, 5*time.Minute, func(ctx context.Context) (bool, error) {
		cur := &vpav1.VerticalPodAutoscaler{}
		if err := r.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "hamster-vpa"}, cur); err != nil {
			return false, err
		}
		if rec := cur.Status.Recommendation; rec != nil && len(rec.ContainerRecommendations) > 0 {
			target = rec.ContainerRecommendations[0].Target
		}
		pods, _, err := r.runningPods(ctx, ns, "hamster")
		if err != nil {
			return false, err
		}
		after = podStates(pods)
		resized := 0
		for _, p := range after {
			if target != nil && p.CPUMilli == target.Cpu().MilliValue() && p.MemoryBytes == target.Memory().Value() {
				resized++
			}
		}
		at := time.Since(r.start)
		if len(after) > 0 {
			r.rec.Add("hamster CPU request", at, float64(after[0].CPUMilli))
		}
		say := fmt.Sprintf("recommendation %s, %d of %d pods at it", quantities(target), resized, len(after))
		if say != lastSaid {
			r.say(name, "%s", say)
			lastSaid = say
		}
		return target != nil && resized == len(before) && len(after) == len(before), fmt.Errorf("%s", say)
	}); err != nil {
		return fail("waiting for the in-place resize", err)
	}
	r.table(ctx, name, resVPA, ns)
	r.table(ctx, name, resPods, ns)
	// The updater's Events follow its resizes.
	var evs map[string]int
	if err := r.poll(ctx, 30*time.Second, func(ctx context.Context) (bool, error) {
		var err error
		evs, err = r.events(ctx, ns)
		return err == nil && evs["InPlaceResizedByVPA"] >= len(before), err
	}); err != nil {
		r.say(name, "no InPlaceResizedByVPA Event for every pod: %v", err)
	}
	obs := VPAObservation{TargetCPUMilli: target.Cpu().MilliValue(), TargetMemoryBytes: target.Memory().Value(),
		Before: before, After: after, Resizes: evs["InPlaceResizedByVPA"], Evictions: evs["EvictedByVPA"]}
	for _, p := range after {
		r.say(name, "pod %s uid %s: requests %dm / %s, restarts %d", p.Name, p.UID, p.CPUMilli, memory(p.MemoryBytes), p.Restarts)
	}
	what, fails := CheckVPA(obs, SeedVPA)
	return Result{Namespace: ns, What: what, Failures: fails}
}

func quantities(l corev1.ResourceList) string {
	if l == nil {
		return "none yet"
	}
	return l.Cpu().String() + " / " + l.Memory().String()
}
