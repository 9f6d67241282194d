package logic

import (
	"errors"
	"fmt"
	"math"
	"time"

	corev1 "k8s.io/api/core/v1"
)

var errNoPods = errors.New("no pods returned by selector while calculating replica count")

// tolerances is the band of usage ratios within which the replica count is
// left alone.
type tolerances struct{ down, up float64 }

func (t tolerances) within(ratio float64) bool {
	return 1-t.down <= ratio && ratio <= 1+t.up
}

// ceilReplicas is int32(math.Ceil(f)), saturated: absurd metric values must
// not wrap around to a negative count.
func ceilReplicas(f float64) int32 {
	c := math.Ceil(f)
	switch {
	case math.IsNaN(c) || c <= 0:
		return 0
	case c >= math.MaxInt32:
		return math.MaxInt32
	}
	return int32(c)
}

// podGroups sorts the target's pods the way the HPA does before it trusts
// their samples.
type podGroups struct {
	ready   int
	unready map[string]bool // pending, or (CPU) not yet trustworthy
	missing map[string]bool // running but without a sample
	ignored map[string]bool // being deleted or failed
}

func groupPods(pods []Pod, samples map[string]Sample, cpu bool, now time.Time, cfg Config) podGroups {
	g := podGroups{}
	add := func(m *map[string]bool, name string) {
		if *m == nil {
			*m = map[string]bool{}
		}
		(*m)[name] = true
	}
	for i := range pods {
		p := &pods[i]
		if p.Deleting || p.Phase == corev1.PodFailed {
			add(&g.ignored, p.Name)
			continue
		}
		if p.Phase == corev1.PodPending {
			add(&g.unready, p.Name)
			continue
		}
		s, ok := samples[p.Name]
		if !ok {
			add(&g.missing, p.Name)
			continue
		}
		// Only CPU is distrusted around start-up: it spikes while a process
		// initialises, which would scale up for nothing.
		if cpu && cpuUnready(p, s, now, cfg) {
			add(&g.unready, p.Name)
			continue
		}
		g.ready++
	}
	return g
}

func cpuUnready(p *Pod, s Sample, now time.Time, cfg Config) bool {
	if p.Ready == nil || p.StartTime.IsZero() {
		return true
	}
	if p.StartTime.Add(cfg.CPUInitializationPeriod).After(now) {
		// Still initialising: trust the sample only from a ready pod, and
		// only once a whole sample window has passed since it became ready.
		return !p.Ready.Status || s.Timestamp.Before(p.Ready.LastTransitionTime.Add(s.Window))
	}
	// Past initialisation: ignore a pod that is unready and never was ready
	// (it went unready within the initial readiness delay of its start).
	return !p.Ready.Status && p.StartTime.Add(cfg.InitialReadinessDelay).After(p.Ready.LastTransitionTime)
}

// podRequests sums each pod's requests of res (of one container when
// container is set), in milli-units. Without a container, pod-level requests
// win when the pod sets any; a pod that lacks the named container is an
// error, as upstream.
func podRequests(pods []Pod, container string, res corev1.ResourceName) (map[string]int64, error) {
	out := make(map[string]int64, len(pods))
	for i := range pods {
		if container == "" && pods[i].PodRequests != nil {
			r, ok := pods[i].PodRequests[res]
			if !ok {
				return nil, fmt.Errorf("missing pod-level request for %s in Pod %s", res, pods[i].Name)
			}
			out[pods[i].Name] = r
			continue
		}
		var sum int64
		found := false
		for _, c := range pods[i].Containers {
			if container != "" && c.Name != container {
				continue
			}
			found = true
			r, ok := c.Requests[res]
			if !ok {
				return nil, fmt.Errorf("missing request for %s in container %s of Pod %s", res, c.Name, pods[i].Name)
			}
			sum += r
		}
		if container != "" && !found {
			return nil, fmt.Errorf("container %s not found in Pod %s", container, pods[i].Name)
		}
		out[pods[i].Name] = sum
	}
	return out, nil
}

// utilizationRatio is the ratio of the pods' usage to target utilisation.
// Utilisation is truncated to a whole percent before the ratio is taken, as
// upstream does: the tolerance edges depend on it.
func utilizationRatio(samples map[string]Sample, requests map[string]int64, target int32) (ratio float64, utilization int32, rawAverage int64, err error) {
	var used, requested, n int64
	for name, s := range samples {
		r, ok := requests[name]
		if !ok { // a sample of a pod not selected: ignored
			continue
		}
		used += s.Value
		requested += r
		n++
	}
	if requested == 0 {
		return 0, 0, 0, errors.New("no metrics returned matched known pods")
	}
	utilization = int32(used * 100 / requested)
	return float64(utilization) / float64(target), utilization, used / n, nil
}

// exactDemand is the replicas the measured pods' usage needs at exactly
// target percent of their requests (not truncated, no tolerance).
func exactDemand(samples map[string]Sample, requests map[string]int64, target int32) float64 {
	var used, requested int64
	n := 0
	for name, s := range samples {
		if r, ok := requests[name]; ok {
			used += s.Value
			requested += r
			n++
		}
	}
	if requested == 0 || target <= 0 {
		return 0
	}
	return float64(used) * 100 / float64(requested) / float64(target) * float64(n)
}

func averageRatio(samples map[string]Sample, target int64) (float64, int64) {
	var sum int64
	for _, s := range samples {
		sum += s.Value
	}
	avg := sum / int64(len(samples))
	return float64(avg) / float64(target), avg
}

// resourceReplicas is the HPA's GetResourceReplicas: a Resource or
// ContainerResource metric with a Utilization target.
func resourceReplicas(in *Input, tol tolerances, current int32, target int32, res corev1.ResourceName, container string, given map[string]Sample) (replicas int32, utilization int32, rawAverage int64, demand float64, err error) {
	if len(in.Pods) == 0 {
		return 0, 0, 0, 0, errNoPods
	}
	samples := cloneSamples(given)
	g := groupPods(in.Pods, samples, res == corev1.ResourceCPU, in.Now, in.Config)
	drop(samples, g.ignored)
	requests, reqErr := podRequests(in.Pods, container, res)
	if reqErr == nil {
		demand = exactDemand(samples, requests, target) // every sample of a pod not ignored
	}
	drop(samples, g.unready)
	if len(samples) == 0 {
		return 0, 0, 0, 0, errors.New("did not receive metrics for targeted pods (pods might be unready)")
	}
	if reqErr != nil {
		return 0, 0, 0, 0, reqErr
	}
	ratio, utilization, rawAverage, err := utilizationRatio(samples, requests, target)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	upWithUnready := len(g.unready) > 0 && ratio > 1
	if !upWithUnready && len(g.missing) == 0 {
		if tol.within(ratio) {
			return current, utilization, rawAverage, demand, nil
		}
		return ceilReplicas(ratio * float64(g.ready)), utilization, rawAverage, demand, nil
	}
	// Assume the worst for the direction we are going: missing pods use
	// their full request (or the target, when above 100%) on a scale-down,
	// nothing on a scale-up; unready pods use nothing on a scale-up.
	if len(g.missing) > 0 && ratio != 1 {
		fallback := int64(max(100, target))
		for name := range g.missing {
			v := int64(0)
			if ratio < 1 {
				v = requests[name] * fallback / 100
			}
			samples[name] = Sample{Value: v}
		}
	}
	if upWithUnready {
		for name := range g.unready {
			samples[name] = Sample{}
		}
	}
	newRatio, _, _, err := utilizationRatio(samples, requests, target)
	if err != nil {
		return 0, utilization, rawAverage, 0, err
	}
	return settle(current, ratio, newRatio, len(samples), tol), utilization, rawAverage, demand, nil
}

// settle finishes a calculation that had to fill in missing or unready pods:
// no change when the filled-in ratio is within tolerance or would reverse the
// direction the measured ratio pointed to.
func settle(current int32, ratio, newRatio float64, n int, tol tolerances) int32 {
	if tol.within(newRatio) || (ratio < 1 && newRatio > 1) || (ratio > 1 && newRatio < 1) {
		return current
	}
	r := ceilReplicas(newRatio * float64(n))
	if (newRatio < 1 && r > current) || (newRatio > 1 && r < current) {
		return current
	}
	return r
}

// plainReplicas is the HPA's calcPlainMetricReplicas: a Pods metric, or a
// Resource metric with an AverageValue target (res set: CPU readiness rules
// apply to cpu).
func plainReplicas(in *Input, tol tolerances, current int32, target int64, res corev1.ResourceName, given map[string]Sample) (replicas int32, average int64, err error) {
	if len(in.Pods) == 0 {
		return 0, 0, errNoPods
	}
	samples := cloneSamples(given)
	g := groupPods(in.Pods, samples, res == corev1.ResourceCPU, in.Now, in.Config)
	drop(samples, g.ignored)
	drop(samples, g.unready)
	if len(samples) == 0 {
		return 0, 0, errors.New("did not receive metrics for targeted pods (pods might be unready)")
	}
	ratio, average := averageRatio(samples, target)
	upWithUnready := len(g.unready) > 0 && ratio > 1
	if !upWithUnready && len(g.missing) == 0 {
		if tol.within(ratio) {
			return current, average, nil
		}
		return ceilReplicas(ratio * float64(g.ready)), average, nil
	}
	// Exactly at target, missing pods are left out (as for utilisation):
	// filling them in with 0 would turn a hold into a scale-down.
	if len(g.missing) > 0 && ratio != 1 {
		v := int64(0)
		if ratio < 1 { // on a scale-down, missing pods are exactly at target
			v = target
		}
		for name := range g.missing {
			samples[name] = Sample{Value: v}
		}
	}
	if upWithUnready {
		for name := range g.unready {
			samples[name] = Sample{}
		}
	}
	newRatio, _ := averageRatio(samples, target)
	return settle(current, ratio, newRatio, len(samples), tol), average, nil
}

// valueReplicas is the HPA's getUsageRatioReplicaCount, for Object and
// External (and Prometheus) metrics with a Value target.
func valueReplicas(in *Input, tol tolerances, current int32, ratio float64) (int32, error) {
	if current == 0 { // scale from zero: the ratio alone decides
		return ceilReplicas(ratio), nil
	}
	if tol.within(ratio) {
		return current, nil
	}
	if len(in.Pods) == 0 {
		return 0, fmt.Errorf("unable to calculate ready pods: %w", errNoPods)
	}
	ready := 0
	for i := range in.Pods {
		p := &in.Pods[i]
		if p.Phase == corev1.PodRunning && p.Ready != nil && p.Ready.Status {
			ready++
		}
	}
	return ceilReplicas(ratio * float64(ready)), nil
}

// perPodReplicas is the HPA's GetObjectPerPodMetricReplicas and
// GetExternalPerPodMetricReplicas: value / averageValue pods, unless within
// tolerance of the current count. It also returns the per-pod value reported
// in status.
func perPodReplicas(tol tolerances, current int32, value, target int64) (int32, int64) {
	replicas := current
	if ratio := float64(value) / (float64(target) * float64(current)); !tol.within(ratio) {
		replicas = ceilReplicas(float64(value) / float64(target))
	}
	perPod := value
	if current != 0 {
		perPod = int64(math.Ceil(float64(value) / float64(current)))
	}
	return replicas, perPod
}

func cloneSamples(in map[string]Sample) map[string]Sample {
	out := make(map[string]Sample, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}

func drop(samples map[string]Sample, names map[string]bool) {
	for n := range names {
		delete(samples, n)
	}
}
