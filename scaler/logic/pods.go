package logic

import (
	corev1 "k8s.io/api/core/v1"
	resourcehelpers "k8s.io/component-helpers/resource"
)

// PodFromCore extracts what the decision needs from a pod: phase, deletion,
// readiness, start time, the requests of its containers and of its
// restartable init (sidecar) containers, which run beside them, and its
// effective pod-level requests when it sets any.
func PodFromCore(p *corev1.Pod) Pod {
	out := Pod{Name: p.Name, Phase: p.Status.Phase, Deleting: p.DeletionTimestamp != nil}
	if p.Status.StartTime != nil {
		out.StartTime = p.Status.StartTime.Time
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			out.Ready = &ReadyCondition{Status: c.Status == corev1.ConditionTrue, LastTransitionTime: c.LastTransitionTime.Time}
			break
		}
	}
	add := func(c *corev1.Container) {
		req := make(map[corev1.ResourceName]int64, len(c.Resources.Requests))
		for name, q := range c.Resources.Requests {
			req[name] = q.MilliValue()
		}
		out.Containers = append(out.Containers, Container{Name: c.Name, Requests: req})
	}
	for i := range p.Spec.Containers {
		add(&p.Spec.Containers[i])
	}
	for i := range p.Spec.InitContainers {
		if c := &p.Spec.InitContainers[i]; c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			add(c)
		}
	}
	if resourcehelpers.IsPodLevelRequestsSet(p) {
		// What the scheduler and the HPA use: the pod-level requests over
		// the containers' aggregate, plus the pod overhead.
		reqs := resourcehelpers.PodRequests(p, resourcehelpers.PodResourcesOptions{})
		out.PodRequests = make(map[corev1.ResourceName]int64, len(reqs))
		for name, q := range reqs {
			out.PodRequests[name] = q.MilliValue()
		}
	}
	return out
}
