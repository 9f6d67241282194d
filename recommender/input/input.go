// Package input turns what the cluster reports — PodMetrics from
// metrics.k8s.io and pod status — into the recommender's samples. Pure
// functions: the controller fetches, this package converts and filters.
package input

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"github.com/tailor-dev/tailor/recommender/sizing"
)

// Absurd amounts are dropped rather than fed to the histograms: more than a
// million cores or a petabyte in one container is a broken source. Every
// usage source (metrics.k8s.io here, Prometheus in recommender/promsource)
// applies the same bounds.
const (
	MaxMillicores = int64(1e9)
	MaxBytes      = int64(1e15)
)

// Usage is one container's usage sample.
type Usage struct {
	Pod       types.UID
	Container string
	Time      time.Time
	// CPUMillicores and MemoryBytes are -1 when the sample lacks them.
	CPUMillicores, MemoryBytes int64
	// CPURequestMillicores is the container's CPU request (0 if none), used
	// to weight CPU samples when configured.
	CPURequestMillicores int64
}

// OOM is an OOM kill seen in a pod's status.
type OOM struct {
	Pod                types.UID
	Container          string
	Time               time.Time
	MemoryRequestBytes int64
}

// Dropped counts samples Usage refused, by why. StartupBoost counts CPU
// values left out (the sample's memory is kept) because the pod ran with
// a startup boost during the sample's window.
type Dropped struct {
	UnknownPod, Invalid, StartupBoost int
}

// UsageOf joins PodMetrics with the pods they belong to (by name) and
// returns one sample per container. Metrics of other pods, of containers the
// pod does not have, without a timestamp, or with negative or absurd values
// are dropped and counted. The CPU of a pod born with a startup boost
// (sizing.PodBoostAnnotation) is left out while it runs boosted and for
// every sample whose window began before the boost ended (Ready +
// duration): the burst the boost paid for is not the workload's usage.
// Memory is kept: a boost does not change it, and a start-up peak is
// memory the container needs.
func UsageOf(pods []*corev1.Pod, metrics []metricsv1beta1.PodMetrics) ([]Usage, Dropped) {
	byName := make(map[string]*corev1.Pod, len(pods))
	for _, p := range pods {
		byName[p.Name] = p
	}
	var out []Usage
	var d Dropped
	for i := range metrics {
		m := &metrics[i]
		p := byName[m.Name]
		if p == nil {
			d.UnknownPod++
			continue
		}
		if m.Timestamp.IsZero() {
			d.Invalid += len(m.Containers)
			continue
		}
		boost, hasBoost := sizing.BoostStateOf(p)
		inBoost := hasBoost && boost.ExcludesSample(m.Timestamp.Add(-m.Window.Duration))
		for _, c := range m.Containers {
			spec := SpecContainer(p, c.Name)
			if spec == nil {
				d.Invalid++
				continue
			}
			u := Usage{Pod: p.UID, Container: c.Name, Time: m.Timestamp.Time, CPUMillicores: -1, MemoryBytes: -1}
			if q, ok := c.Usage[corev1.ResourceCPU]; ok {
				if v := q.MilliValue(); v >= 0 && v <= MaxMillicores {
					u.CPUMillicores = v
				}
			}
			if q, ok := c.Usage[corev1.ResourceMemory]; ok {
				if v := q.Value(); v >= 0 && v <= MaxBytes {
					u.MemoryBytes = v
				}
			}
			if u.CPUMillicores < 0 && u.MemoryBytes < 0 {
				d.Invalid++
				continue
			}
			if inBoost && u.CPUMillicores >= 0 {
				u.CPUMillicores = -1
				d.StartupBoost++
				if u.MemoryBytes < 0 {
					continue
				}
			}
			if q, ok := spec.Resources.Requests[corev1.ResourceCPU]; ok {
				u.CPURequestMillicores = max(q.MilliValue(), 0)
			}
			out = append(out, u)
		}
	}
	return out, d
}

// OOMs returns the OOM kills in the pods' container statuses: containers
// whose last termination was OOMKilled (and the current one, for
// containers that are not restarted).
func OOMs(pods []*corev1.Pod) []OOM {
	var out []OOM
	for _, p := range pods {
		for _, s := range p.Status.ContainerStatuses {
			for _, t := range []*corev1.ContainerStateTerminated{s.LastTerminationState.Terminated, s.State.Terminated} {
				if t == nil || t.Reason != "OOMKilled" || t.FinishedAt.IsZero() {
					continue
				}
				o := OOM{Pod: p.UID, Container: s.Name, Time: t.FinishedAt.Time}
				if spec := SpecContainer(p, s.Name); spec != nil {
					if q, ok := spec.Resources.Requests[corev1.ResourceMemory]; ok {
						o.MemoryRequestBytes = max(q.Value(), 0)
					}
				}
				out = append(out, o)
			}
		}
	}
	return out
}

// SpecContainer returns the pod's container of that name, or nil.
func SpecContainer(p *corev1.Pod, name string) *corev1.Container {
	for i := range p.Spec.Containers {
		if p.Spec.Containers[i].Name == name {
			return &p.Spec.Containers[i]
		}
	}
	return nil
}
