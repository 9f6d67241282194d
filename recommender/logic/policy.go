package logic

import (
	"math"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
)

// PolicyAnnotation on a VPA selects how Tailor computes its targets:
// PolicyUpstream (the default) as upstream VPA does, PolicyAdaptive by
// recommender/adaptive's forecast.
const PolicyAnnotation = "tailor.dev/policy"

// Vertical policies.
const (
	PolicyUpstream = "upstream"
	PolicyAdaptive = "adaptive"
)

// Policies are the values the annotation may have (the VPA webhook
// refuses others).
var Policies = []string{PolicyAdaptive, PolicyUpstream}

// PolicyOf is the vertical policy a VPA selects; an unknown value is
// upstream.
func PolicyOf(v *vpav1.VerticalPodAutoscaler) string {
	if v != nil && v.Annotations[PolicyAnnotation] == PolicyAdaptive {
		return PolicyAdaptive
	}
	return PolicyUpstream
}

// ApplyTarget sets c's target and uncapped target to target (cores,
// bytes) for the resources c already recommends, capped to the container
// policy's minAllowed/maxAllowed, and widens the bounds to hold it.
func ApplyTarget(c *vpav1.RecommendedContainerResources, policy *vpav1.PodResourcePolicy, target [2]float64) {
	lo, hi := limits(containerPolicy(policy, c.ContainerName), nil)
	raw := Amounts{amount(math.Ceil(target[CPU] * 1000)), amount(math.Ceil(target[Memory]))}
	capped := capTo(raw, lo, hi)
	for i, rn := range [2]corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Target[rn]; !ok {
			continue
		}
		c.Target[rn] = quantity(i, capped[i])
		if c.UncappedTarget != nil {
			c.UncappedTarget[rn] = quantity(i, raw[i])
		}
		if q, ok := c.LowerBound[rn]; ok && q.Cmp(c.Target[rn]) > 0 {
			c.LowerBound[rn] = c.Target[rn]
		}
		if q, ok := c.UpperBound[rn]; ok && q.Cmp(c.Target[rn]) < 0 {
			c.UpperBound[rn] = c.Target[rn]
		}
	}
}

func quantity(r int, v int64) resource.Quantity {
	if r == CPU {
		return *resource.NewScaledQuantity(v, resource.Milli)
	}
	return *resource.NewQuantity(v, resource.DecimalSI)
}
