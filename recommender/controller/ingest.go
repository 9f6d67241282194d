package controller

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"github.com/tailor-dev/tailor/recommender/adaptive"
	"github.com/tailor-dev/tailor/recommender/input"
	"github.com/tailor-dev/tailor/recommender/model"
)

// container returns the live state of a pod container feeding vpa's
// aggregate for it, creating both if needed.
func (r *Recommender) container(vpa types.NamespacedName, pod types.UID, name string, now time.Time) *podContainer {
	k := pcKey{vpa, pod, name}
	pc := r.pods[k]
	if pc == nil {
		a := r.set.GetOrCreate(model.Key{Namespace: vpa.Namespace, VPA: vpa.Name, Container: name}, now)
		r.addContainer(vpa, name)
		pc = &podContainer{c: model.NewContainer(a)}
		r.pods[k] = pc
	}
	pc.seenPass = r.pass
	return pc
}

// addContainer records that vpa has an aggregate for the container name.
func (r *Recommender) addContainer(vpa types.NamespacedName, name string) {
	names := r.containers[vpa]
	if names == nil {
		names = map[string]struct{}{}
		r.containers[vpa] = names
	}
	names[name] = struct{}{}
}

func (r *Recommender) ingest(vpa types.NamespacedName, pods []*corev1.Pod, metrics []metricsv1beta1.PodMetrics, adaptivePolicy bool) {
	now := r.now()
	samples, dropped := input.UsageOf(pods, metrics)
	if dropped.Invalid > 0 {
		sourceErrorsTotal.WithLabelValues(SourceInvalid).Add(float64(dropped.Invalid))
		r.log.Info("dropped invalid usage samples", "vpa", vpa, "count", dropped.Invalid)
	}
	if dropped.StartupBoost > 0 {
		samplesExcludedTotal.WithLabelValues("startup_boost").Add(float64(dropped.StartupBoost))
		r.log.V(1).Info("CPU samples of boosted pods left out", "vpa", vpa, "count", dropped.StartupBoost)
	}
	var cpu, mem, ooms int
	for _, s := range samples {
		pc := r.container(vpa, s.Pod, s.Container, now)
		if !s.Time.After(pc.last) {
			continue // the same metrics-server window as last pass
		}
		pc.last = s.Time
		if s.CPUMillicores >= 0 && pc.c.AddCPU(s.Time, s.CPUMillicores, s.CPURequestMillicores) {
			cpu++
		}
		if s.MemoryBytes >= 0 && pc.c.AddMemory(s.Time, s.MemoryBytes) {
			mem++
		}
		if adaptivePolicy {
			r.adaptiveState(model.Key{Namespace: vpa.Namespace, VPA: vpa.Name, Container: s.Container}).
				Add(s.Time, float64(max(s.CPUMillicores, 0))/1000, float64(max(s.MemoryBytes, 0)))
		}
	}
	for _, o := range input.OOMs(pods) {
		pc := r.container(vpa, o.Pod, o.Container, now)
		if !o.Time.After(pc.lastOOM) {
			continue
		}
		pc.lastOOM = o.Time
		if err := pc.c.RecordOOM(o.Time, o.MemoryRequestBytes); err != nil {
			r.log.Info("OOM kill not recorded", "vpa", vpa, "container", o.Container, "reason", err.Error())
			continue
		}
		ooms++
		r.log.Info("OOM kill recorded", "vpa", vpa, "container", o.Container, "at", o.Time)
	}
	samplesTotal.WithLabelValues("cpu").Add(float64(cpu))
	samplesTotal.WithLabelValues("memory").Add(float64(mem))
	samplesTotal.WithLabelValues("oom").Add(float64(ooms))
}

// touch keeps the pod-container state of live pods when no samples were
// taken for them this pass.
func (r *Recommender) touch(vpa types.NamespacedName, pods []*corev1.Pod) {
	for _, p := range pods {
		for _, c := range p.Spec.Containers {
			if pc := r.pods[pcKey{vpa, p.UID, c.Name}]; pc != nil {
				pc.seenPass = r.pass
			}
		}
	}
}

// adaptiveState returns the adaptive policy's history of a container,
// creating it if needed.
func (r *Recommender) adaptiveState(k model.Key) *adaptive.State {
	st := r.adaptive[k]
	if st == nil {
		st = adaptive.New(&r.adaptiveCfg)
		r.adaptive[k] = st
	}
	return st
}
