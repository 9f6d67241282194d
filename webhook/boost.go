package webhook

import (
	"context"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/tailor-dev/tailor/recommender/sizing"
)

// Outcomes of tailor_startup_boost_pods_total.
const (
	boostBoosted  = "boosted"
	boostQuota    = "quota"          // would exceed a ResourceQuota: born unboosted
	boostPodLimit = "pod_limitrange" // would exceed a Pod LimitRange max: born unboosted
	boostCapped   = "capped"         // maxAllowed or LimitRange max leave no room
	boostNothing  = "nothing_to_boost"
)

// Event reasons of the boost, on the VPA.
const (
	ReasonStartupBoost        = "StartupBoost"
	ReasonStartupBoostSkipped = "StartupBoostSkipped"
)

// boostStep raises the CPU of a new pod whose VPA sets startupBoost
// (sizing.DecideBoost), after sizing and before
// placement, so that placement and the provisioner see the boosted
// requests. It reads the VPA, LimitRanges and ReplicaAutoscalers sizing
// read, and the namespace's ResourceQuotas from the cache.
type boostStep struct{ h *PodSizer }

func (s boostStep) apply(ctx context.Context, r *podReview) {
	if r.vpa == nil || !sizing.HasBoost(r.vpa) {
		return
	}
	h, vpa := s.h, r.vpa
	quotas, err := h.Lookup.ResourceQuotas(ctx, r.namespace)
	if err != nil {
		r.fail("list resourcequotas", err)
		return
	}
	pod := r.sized
	if pod == nil {
		pod = r.pod
	}
	pod = unboosted(pod)
	d, err := sizing.DecideBoost(sizing.BoostInput{Pod: pod, VPA: vpa, LimitRanges: r.limitRanges, Quotas: quotas, Hold: r.hold})
	if err != nil {
		r.fail("decide boost", err)
		return
	}
	if d.Skipped != "" {
		outcome := boostOutcome(d.Skipped)
		startupBoostPods.WithLabelValues(outcome).Inc()
		r.skipped = append(r.skipped, "startup_boost_"+outcome)
		if outcome == boostQuota || outcome == boostPodLimit {
			r.vpaEvent(vpa, ReasonStartupBoostSkipped, " born unboosted: ", d.Skipped)
		}
		return
	}
	startupBoostPods.WithLabelValues(boostBoosted).Inc()
	r.patch = append(r.patch, d.Patch...)
	r.annotations = append(r.annotations, annotation{sizing.PodBoostAnnotation, d.Annotation})
	r.summaries = append(r.summaries, "startup boost: "+d.Annotation)
	if h.Placer != nil {
		// Placement, the only step after this one, reads the requests the
		// pod will have; without it the copy is not worth its allocations.
		r.sized = boostedPod(pod, d.Containers)
	}
	r.vpaEvent(vpa, ReasonStartupBoost, " born boosted: ", d.Annotation)
	if log := podLog.V(1); log.Enabled() {
		name := podName(r.pod)
		r.admitted = append(r.admitted, func() {
			log.Info("pod boosted", "namespace", r.namespace, "pod", name, "vpa", vpa.Name, "boost", d.Annotation)
		})
	}
}

func boostOutcome(skipped string) string {
	switch skipped {
	case sizing.BoostSkipCapped:
		return boostCapped
	case sizing.BoostSkipPodLimit:
		return boostPodLimit
	}
	if strings.HasPrefix(skipped, sizing.BoostSkipQuotaLabel+":") {
		return boostQuota
	}
	return boostNothing
}

// unboosted is pod with the CPU of containers it records as boosted (the
// webhook reinvoked after another webhook's change) back at their recorded
// values, so a boost is never applied twice.
func unboosted(pod *corev1.Pod) *corev1.Pod {
	st, ok := sizing.BoostStateOf(pod)
	if !ok || !st.Active() {
		return pod
	}
	cs, _, _ := sizing.Unboost(pod, &st)
	out := *pod
	out.Spec.Containers = cs
	return &out
}

// boostedPod is pod with the boosted CPU of bs: a copy of the pod struct
// and its containers, sharing everything else.
func boostedPod(pod *corev1.Pod, bs []sizing.BoostedContainer) *corev1.Pod {
	out := *pod
	out.Spec.Containers = append([]corev1.Container(nil), pod.Spec.Containers...)
	for _, b := range bs {
		c := &out.Spec.Containers[b.Index]
		c.Resources.Requests = withCPU(c.Resources.Requests, b.BoostRequest)
		if b.BoostLimit > 0 {
			c.Resources.Limits = withCPU(c.Resources.Limits, b.BoostLimit)
		}
	}
	return &out
}

func withCPU(l corev1.ResourceList, milli int64) corev1.ResourceList {
	out := make(corev1.ResourceList, len(l))
	for k, v := range l {
		out[k] = v
	}
	out[corev1.ResourceCPU] = *resource.NewMilliQuantity(milli, resource.DecimalSI)
	return out
}
