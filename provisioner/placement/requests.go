package placement

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// podRequest is the pod's effective request of one resource, as
// k8s.io/component-helpers' PodRequests computes it with default options
// (containers summed; each init container on top of the native sidecars
// started before it, the largest of those kept when it exceeds the sum;
// a pod-level request replaces the containers'; overhead added), and
// whether the pod requests it at all. It builds no maps: placement runs in
// the admission path and checks one or two limited resources per pool.
// FuzzPodRequest holds it equal to PodRequests.
func podRequest(pod *corev1.Pod, name corev1.ResourceName) (resource.Quantity, bool) {
	var sum, sidecars, initMax resource.Quantity
	var has, hasSidecars, hasInit bool
	for i := range pod.Spec.Containers {
		if q, ok := pod.Spec.Containers[i].Resources.Requests[name]; ok {
			sum.Add(q)
			has = true
		}
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		q, ok := c.Resources.Requests[name]
		var use resource.Quantity
		var present bool
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			if ok {
				sum.Add(q)
				has = true
				sidecars.Add(q)
				hasSidecars = true
			}
			use, present = sidecars, hasSidecars
		} else {
			if ok {
				use.Add(q)
			}
			if hasSidecars {
				use.Add(sidecars)
			}
			present = ok || hasSidecars
		}
		if present && (!hasInit || use.Cmp(initMax) > 0) {
			initMax, hasInit = use, true
		}
	}
	if hasInit && (!has || initMax.Cmp(sum) > 0) {
		sum, has = initMax, true
	}
	if r := pod.Spec.Resources; r != nil && podLevelRequestsSet(r.Requests) && podLevelResource(name) {
		if q, ok := r.Requests[name]; ok {
			sum, has = q, true
		}
	}
	if q, ok := pod.Spec.Overhead[name]; ok {
		sum.Add(q)
		has = true
	}
	return sum, has
}

// podLevelResource: the resources pod-level requests may set (cpu, memory,
// hugepages), as component-helpers' IsSupportedPodLevelResource says.
func podLevelResource(name corev1.ResourceName) bool {
	return name == corev1.ResourceCPU || name == corev1.ResourceMemory || strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix)
}

func podLevelRequestsSet(l corev1.ResourceList) bool {
	for name := range l {
		if podLevelResource(name) {
			return true
		}
	}
	return false
}
