// Package hpacompare runs one table of cases through the upstream HPA
// controller's ReplicaCalculator (k8s.io/kubernetes
// pkg/controller/podautoscaler, the version pinned in go.mod) and through
// Tailor's scaler/logic, and asserts that both propose the same replica count
// and report the same current value (utilisation, average or value).
//
// Upstream is imported, not copied: it is fed by an in-memory metrics client
// and a pod lister over a client-go indexer. Tailor gets the same pods through
// logic.PodFromCore and the same samples, and its per-metric proposal
// (Decision.Proposals[0], before min/max clamps and behavior) is compared.
package hpacompare

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"
	"unsafe"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/kubernetes/pkg/controller/podautoscaler"
	metricsclient "k8s.io/kubernetes/pkg/controller/podautoscaler/metrics"

	scalerv1 "github.com/tailor-dev/tailor/scaler/api/v1alpha1"
	"github.com/tailor-dev/tailor/scaler/logic"
)

const namespace = "default"

// window is the metrics-server sample window the samples claim.
const window = 30 * time.Second

// fakeMetrics is upstream's MetricsClient over fixed values. The calculator
// mutates the PodMetricsInfo it gets, so each call returns a fresh copy.
type fakeMetrics struct {
	pods  metricsclient.PodMetricsInfo
	value int64 // Object metric, or the single series of an External metric
	err   error
}

func (f *fakeMetrics) copyPods() metricsclient.PodMetricsInfo {
	out := make(metricsclient.PodMetricsInfo, len(f.pods))
	for k, v := range f.pods {
		out[k] = v
	}
	return out
}

func (f *fakeMetrics) GetResourceMetric(_ context.Context, _ corev1.ResourceName, _ string, _ labels.Selector, _ string) (metricsclient.PodMetricsInfo, time.Time, error) {
	return f.copyPods(), time.Now(), f.err
}

func (f *fakeMetrics) GetRawMetric(string, string, labels.Selector, labels.Selector) (metricsclient.PodMetricsInfo, time.Time, error) {
	return f.copyPods(), time.Now(), f.err
}

func (f *fakeMetrics) GetObjectMetric(string, string, *autoscalingv2.CrossVersionObjectReference, labels.Selector) (int64, time.Time, error) {
	return f.value, time.Now(), f.err
}

func (f *fakeMetrics) GetExternalMetric(string, string, labels.Selector) ([]int64, time.Time, error) {
	return []int64{f.value}, time.Now(), f.err
}

// tolerances builds upstream's Tolerances, whose fields are unexported and
// which has no constructor outside the package (the controller fills it from
// its flag and the HPA's behavior). The fields are set by name, so a rename
// upstream fails here loudly rather than silently comparing at 0%.
func tolerances(t *testing.T, down, up float64) podautoscaler.Tolerances {
	t.Helper()
	var tol podautoscaler.Tolerances
	v := reflect.ValueOf(&tol).Elem()
	for name, x := range map[string]float64{"scaleDown": down, "scaleUp": up} {
		f := v.FieldByName(name)
		if !f.IsValid() || f.Kind() != reflect.Float64 {
			t.Fatalf("podautoscaler.Tolerances has no float64 field %s any more: %#v", name, tol)
		}
		reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().SetFloat(x)
	}
	if got, want := tol.String(), fmt.Sprintf("[down:%.1f%%, up:%.1f%%]", down*100, up*100); got != want {
		t.Fatalf("tolerances %s, want %s", got, want)
	}
	return tol
}

// --- pods -----------------------------------------------------------------

// podOpt adjusts a pod relative to now.
type podOpt func(p *corev1.Pod, now time.Time)

// mkPods returns n running pods p0…p(n-1), started an hour ago and ready
// since, each with one container "app" requesting cpu (millicores) and 1Gi of
// memory.
func mkPods(n int, cpuMilli int64, opts map[int][]podOpt) func(now time.Time) []*corev1.Pod {
	return func(now time.Time) []*corev1.Pod {
		out := make([]*corev1.Pod, n)
		for i := range out {
			start := metav1.NewTime(now.Add(-time.Hour))
			p := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%d", i), Namespace: namespace, Labels: map[string]string{"app": "php-apache"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU:    *resource.NewMilliQuantity(cpuMilli, resource.DecimalSI),
					corev1.ResourceMemory: resource.MustParse("1Gi"),
				}}}}},
				Status: corev1.PodStatus{
					Phase:      corev1.PodRunning,
					StartTime:  &start,
					Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(start.Add(20 * time.Second))}},
				},
			}
			for _, o := range opts[i] {
				o(p, now)
			}
			out[i] = p
		}
		return out
	}
}

// neverReady: unready, having turned so within the initial readiness delay.
func neverReady(p *corev1.Pod, _ time.Time) {
	p.Status.Conditions[0].Status = corev1.ConditionFalse
	p.Status.Conditions[0].LastTransitionTime = metav1.NewTime(p.Status.StartTime.Add(10 * time.Second))
}

// unreadyAfterReady: unready now, long after it had been ready.
func unreadyAfterReady(p *corev1.Pod, now time.Time) {
	p.Status.Conditions[0].Status = corev1.ConditionFalse
	p.Status.Conditions[0].LastTransitionTime = metav1.NewTime(now.Add(-10 * time.Minute))
}

// hot: started a minute ago, ready 10s ago, so its 30s sample still covers
// start-up: within the CPU initialisation period and distrusted.
func hot(p *corev1.Pod, now time.Time) {
	start := metav1.NewTime(now.Add(-time.Minute))
	p.Status.StartTime = &start
	p.Status.Conditions[0].LastTransitionTime = metav1.NewTime(now.Add(-10 * time.Second))
}

// warm: started two minutes ago (still within the initialisation period),
// ready for more than a sample window: trusted.
func warm(p *corev1.Pod, now time.Time) {
	start := metav1.NewTime(now.Add(-2 * time.Minute))
	p.Status.StartTime = &start
	p.Status.Conditions[0].LastTransitionTime = metav1.NewTime(now.Add(-90 * time.Second))
}

func phase(ph corev1.PodPhase) podOpt {
	return func(p *corev1.Pod, _ time.Time) { p.Status.Phase = ph }
}

func deleting(p *corev1.Pod, now time.Time) {
	t := metav1.NewTime(now)
	p.DeletionTimestamp = &t
}

// sidecar adds a restartable init container requesting cpu millicores.
func sidecar(cpuMilli int64) podOpt {
	return func(p *corev1.Pod, _ time.Time) {
		always := corev1.ContainerRestartPolicyAlways
		p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: "proxy", RestartPolicy: &always,
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: *resource.NewMilliQuantity(cpuMilli, resource.DecimalSI)}}})
	}
}

// noCPURequest drops the cpu request of the app container.
func noCPURequest(p *corev1.Pod, _ time.Time) {
	delete(p.Spec.Containers[0].Resources.Requests, corev1.ResourceCPU)
}

// renamed renames the app container (a pod of another template revision).
func renamed(p *corev1.Pod, _ time.Time) { p.Spec.Containers[0].Name = "web" }

// podLevel sets pod-level cpu requests (KEP-2837).
func podLevel(cpuMilli int64) podOpt {
	return func(p *corev1.Pod, _ time.Time) {
		p.Spec.Resources = &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: *resource.NewMilliQuantity(cpuMilli, resource.DecimalSI)}}
	}
}

// podLevelMemory sets a pod-level memory request only.
func podLevelMemory(p *corev1.Pod, _ time.Time) {
	p.Spec.Resources = &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2Gi")}}
}

// overhead sets the pod overhead (RuntimeClass) in cpu millicores.
func overhead(cpuMilli int64) podOpt {
	return func(p *corev1.Pod, _ time.Time) {
		p.Spec.Overhead = corev1.ResourceList{corev1.ResourceCPU: *resource.NewMilliQuantity(cpuMilli, resource.DecimalSI)}
	}
}

func on(opt podOpt, idx ...int) map[int][]podOpt {
	m := map[int][]podOpt{}
	for _, i := range idx {
		m[i] = append(m[i], opt)
	}
	return m
}

func merge(ms ...map[int][]podOpt) map[int][]podOpt {
	out := map[int][]podOpt{}
	for _, m := range ms {
		for i, o := range m {
			out[i] = append(out[i], o...)
		}
	}
	return out
}

// vals gives p0…p(n-1) their samples; a negative value leaves a pod without one.
func vals(v ...int64) []int64 { return v }

// spread divides total over n pods as evenly as whole millicores allow.
func spread(total int64, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = total / int64(n)
		if int64(i) < total%int64(n) {
			out[i]++
		}
	}
	return out
}

// --- metrics --------------------------------------------------------------

func util(res corev1.ResourceName, target int32) scalerv1.MetricSpec {
	return scalerv1.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
		Name: res, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &target}}}
}

func avgValue(res corev1.ResourceName, target string) scalerv1.MetricSpec {
	q := resource.MustParse(target)
	return scalerv1.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
		Name: res, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: &q}}}
}

func containerUtil(container string, target int32) scalerv1.MetricSpec {
	return scalerv1.MetricSpec{Type: autoscalingv2.ContainerResourceMetricSourceType, ContainerResource: &autoscalingv2.ContainerResourceMetricSource{
		Name: corev1.ResourceCPU, Container: container, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &target}}}
}

func containerAvg(container, target string) scalerv1.MetricSpec {
	q := resource.MustParse(target)
	return scalerv1.MetricSpec{Type: autoscalingv2.ContainerResourceMetricSourceType, ContainerResource: &autoscalingv2.ContainerResourceMetricSource{
		Name: corev1.ResourceCPU, Container: container, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: &q}}}
}

func podsMetric(target string) scalerv1.MetricSpec {
	q := resource.MustParse(target)
	return scalerv1.MetricSpec{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
		Metric: autoscalingv2.MetricIdentifier{Name: "qps"}, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: &q}}}
}

func target(typ autoscalingv2.MetricTargetType, v string) autoscalingv2.MetricTarget {
	q := resource.MustParse(v)
	if typ == autoscalingv2.ValueMetricType {
		return autoscalingv2.MetricTarget{Type: typ, Value: &q}
	}
	return autoscalingv2.MetricTarget{Type: typ, AverageValue: &q}
}

func objectMetric(typ autoscalingv2.MetricTargetType, v string) scalerv1.MetricSpec {
	return scalerv1.MetricSpec{Type: autoscalingv2.ObjectMetricSourceType, Object: &autoscalingv2.ObjectMetricSource{
		DescribedObject: autoscalingv2.CrossVersionObjectReference{APIVersion: "networking.k8s.io/v1", Kind: "Ingress", Name: "web"},
		Metric:          autoscalingv2.MetricIdentifier{Name: "requests"}, Target: target(typ, v)}}
}

func externalMetric(typ autoscalingv2.MetricTargetType, v string) scalerv1.MetricSpec {
	return scalerv1.MetricSpec{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{
		Metric: autoscalingv2.MetricIdentifier{Name: "queue"}, Target: target(typ, v)}}
}

// --- the comparison -------------------------------------------------------

type tcase struct {
	name    string
	metric  scalerv1.MetricSpec
	current int32
	pods    func(now time.Time) []*corev1.Pod
	samples []int64 // per pod, milli-units; negative: no sample
	value   int64   // Object / External metric, milli-units
	// tol is {down, up}; zero means the controller default of 10% both ways.
	tol [2]float64
	// want is the expected replica count (both must agree on it too); -1
	// expects both to fail.
	want int32
	// excluded, when set, explains an intended difference: the case is
	// computed and logged, then skipped.
	excluded string
}

type outcome struct {
	replicas int32
	usage    int64 // utilisation in percent for Utilization targets, else the (average) value in milli-units
	raw      int64 // raw average usage of a Utilization target
	err      error
}

func (o outcome) String() string {
	if o.err != nil {
		return "error: " + o.err.Error()
	}
	return fmt.Sprintf("%d replicas, current %d (raw %d)", o.replicas, o.usage, o.raw)
}

func upstream(t *testing.T, c *tcase, now time.Time, pods []*corev1.Pod, tol podautoscaler.Tolerances) outcome {
	t.Helper()
	fm := &fakeMetrics{pods: metricsclient.PodMetricsInfo{}, value: c.value}
	for i, v := range c.samples {
		if v >= 0 {
			fm.pods[fmt.Sprintf("p%d", i)] = metricsclient.PodMetric{Value: v, Timestamp: now, Window: window}
		}
	}
	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, p := range pods {
		if err := indexer.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	cfg := logic.DefaultConfig()
	calc := podautoscaler.NewReplicaCalculator(fm, corelisters.NewPodLister(indexer), cfg.CPUInitializationPeriod, cfg.InitialReadinessDelay)
	sel := labels.SelectorFromSet(labels.Set{"app": "php-apache"})
	ctx := context.Background()

	var o outcome
	m := c.metric
	resourceCalc := func(res corev1.ResourceName, container string, tgt autoscalingv2.MetricTarget) {
		if tgt.Type == autoscalingv2.UtilizationMetricType {
			var u int32
			o.replicas, u, o.raw, _, o.err = calc.GetResourceReplicas(ctx, c.current, *tgt.AverageUtilization, res, tol, namespace, sel, container)
			o.usage = int64(u)
			return
		}
		o.replicas, o.usage, _, o.err = calc.GetRawResourceReplicas(ctx, c.current, tgt.AverageValue.MilliValue(), res, tol, namespace, sel, container)
	}
	switch m.Type {
	case autoscalingv2.ResourceMetricSourceType:
		resourceCalc(m.Resource.Name, "", m.Resource.Target)
	case autoscalingv2.ContainerResourceMetricSourceType:
		resourceCalc(m.ContainerResource.Name, m.ContainerResource.Container, m.ContainerResource.Target)
	case autoscalingv2.PodsMetricSourceType:
		o.replicas, o.usage, _, o.err = calc.GetMetricReplicas(c.current, m.Pods.Target.AverageValue.MilliValue(), m.Pods.Metric.Name, tol, namespace, sel, labels.Everything())
	case autoscalingv2.ObjectMetricSourceType:
		if m.Object.Target.Type == autoscalingv2.ValueMetricType {
			o.replicas, o.usage, _, o.err = calc.GetObjectMetricReplicas(c.current, m.Object.Target.Value.MilliValue(), m.Object.Metric.Name, tol, namespace, &m.Object.DescribedObject, sel, labels.Everything())
		} else {
			o.replicas, o.usage, _, o.err = calc.GetObjectPerPodMetricReplicas(c.current, m.Object.Target.AverageValue.MilliValue(), m.Object.Metric.Name, tol, namespace, &m.Object.DescribedObject, labels.Everything())
		}
	case autoscalingv2.ExternalMetricSourceType:
		if m.External.Target.Type == autoscalingv2.ValueMetricType {
			o.replicas, o.usage, _, o.err = calc.GetExternalMetricReplicas(c.current, m.External.Target.Value.MilliValue(), m.External.Metric.Name, tol, namespace, m.External.Metric.Selector, sel)
		} else {
			o.replicas, o.usage, _, o.err = calc.GetExternalPerPodMetricReplicas(c.current, m.External.Target.AverageValue.MilliValue(), m.External.Metric.Name, tol, namespace, m.External.Metric.Selector)
		}
	default:
		t.Fatalf("no upstream call for metric type %s", m.Type)
	}
	return o
}

func tailor(t *testing.T, c *tcase, now time.Time, pods []*corev1.Pod, down, up float64) outcome {
	t.Helper()
	cfg := logic.DefaultConfig()
	cfg.Tolerance = 0.1
	spec := &scalerv1.ReplicaAutoscalerSpec{
		ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "php-apache"},
		MinReplicas:    ptr(int32(1)), MaxReplicas: 1000, Metrics: []scalerv1.MetricSpec{c.metric},
	}
	if down != 0.1 || up != 0.1 {
		spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{
			ScaleUp:   &autoscalingv2.HPAScalingRules{Tolerance: resource.NewMilliQuantity(int64(up*1000), resource.DecimalSI)},
			ScaleDown: &autoscalingv2.HPAScalingRules{Tolerance: resource.NewMilliQuantity(int64(down*1000), resource.DecimalSI)},
		}
	}
	mv := logic.MetricValues{Pods: map[string]logic.Sample{}, Value: c.value}
	for i, v := range c.samples {
		if v >= 0 {
			mv.Pods[fmt.Sprintf("p%d", i)] = logic.Sample{Value: v, Timestamp: now, Window: window}
		}
	}
	in := logic.Input{Now: now, Config: cfg, Spec: spec, SpecReplicas: c.current, StatusReplicas: c.current, Metrics: []logic.MetricValues{mv}}
	for _, p := range pods {
		in.Pods = append(in.Pods, logic.PodFromCore(p))
	}
	d := logic.Decide(in)
	if len(d.Proposals) != 1 {
		t.Fatalf("tailor: %d proposals, want 1 (err %v)", len(d.Proposals), d.Err)
	}
	p := d.Proposals[0]
	if p.Err != nil {
		return outcome{err: p.Err}
	}
	o := outcome{replicas: p.Replicas}
	st := d.MetricStatuses[0]
	var cur autoscalingv2.MetricValueStatus
	switch {
	case st.Resource != nil:
		cur = st.Resource.Current
	case st.ContainerResource != nil:
		cur = st.ContainerResource.Current
	case st.Pods != nil:
		cur = st.Pods.Current
	case st.Object != nil:
		cur = st.Object.Current
	case st.External != nil:
		cur = st.External.Current
	}
	switch {
	case cur.AverageUtilization != nil:
		o.usage = int64(*cur.AverageUtilization)
		o.raw = cur.AverageValue.MilliValue()
	case cur.AverageValue != nil:
		o.usage = cur.AverageValue.MilliValue()
	case cur.Value != nil:
		o.usage = cur.Value.MilliValue()
	}
	return o
}

func ptr[T any](v T) *T { return &v }

func TestTolerancesHelper(t *testing.T) {
	tolerances(t, 0.05, 0.2)
}

func TestCompareWithUpstream(t *testing.T) {
	const cpu, mem = corev1.ResourceCPU, corev1.ResourceMemory
	const av, val = autoscalingv2.AverageValueMetricType, autoscalingv2.ValueMetricType
	cases := []tcase{
		// The seed and php-apache (request 200m, limit 500m, target 50%).
		{name: "seed: ceil(1 × 200/100) = 2", metric: util(cpu, 50), current: 1, pods: mkPods(1, 200, nil), samples: vals(200), want: 2},
		{name: "php-apache: 620m on 1 pod, uncapped (310%)", metric: util(cpu, 50), current: 1, pods: mkPods(1, 200, nil), samples: vals(620), want: 7},
		{name: "php-apache: 620m on 1 pod, capped at the 500m limit (250%)", metric: util(cpu, 50), current: 1, pods: mkPods(1, 200, nil), samples: vals(500), want: 5},
		{name: "php-apache: the seed's ~242% on 1 pod", metric: util(cpu, 50), current: 1, pods: mkPods(1, 200, nil), samples: vals(484), want: 5},
		{name: "php-apache: 620m over 5 pods (62%)", metric: util(cpu, 50), current: 5, pods: mkPods(5, 200, nil), samples: spread(620, 5), want: 7},
		{name: "php-apache: 620m over 7 pods (44%) stays", metric: util(cpu, 50), current: 7, pods: mkPods(7, 200, nil), samples: spread(620, 7), want: 7},
		{name: "php-apache: demand removed, 7 pods at 1m", metric: util(cpu, 50), current: 7, pods: mkPods(7, 200, nil), samples: spread(7, 7), want: 0}, // 0%: the proposal is 0, minReplicas clamps later,

		// Tolerance edges (10%): utilisation is truncated to a whole percent first.
		{name: "tolerance: 110% stays", metric: util(cpu, 50), current: 10, pods: mkPods(10, 1000, nil), samples: spread(5500, 10), want: 10},
		{name: "tolerance: 111.8% truncated to 110% stays", metric: util(cpu, 50), current: 10, pods: mkPods(10, 1000, nil), samples: spread(5590, 10), want: 10},
		{name: "tolerance: 112% scales up", metric: util(cpu, 50), current: 10, pods: mkPods(10, 1000, nil), samples: spread(5600, 10), want: 12},
		{name: "tolerance: 90% stays", metric: util(cpu, 50), current: 10, pods: mkPods(10, 1000, nil), samples: spread(4500, 10), want: 10},
		{name: "tolerance: 89.8% truncated to 88% scales down", metric: util(cpu, 50), current: 10, pods: mkPods(10, 1000, nil), samples: spread(4490, 10), want: 9},
		{name: "tolerance: asymmetric, 115% within 20% up", metric: util(cpu, 50), current: 20, pods: mkPods(20, 1000, nil), samples: spread(20*575, 20), tol: [2]float64{0.05, 0.2}, want: 20},
		{name: "tolerance: asymmetric, 92% outside 5% down", metric: util(cpu, 50), current: 20, pods: mkPods(20, 1000, nil), samples: spread(20*460, 20), tol: [2]float64{0.05, 0.2}, want: 19},
		{name: "tolerance: 0%, 102% scales up", metric: util(cpu, 50), current: 10, pods: mkPods(10, 1000, nil), samples: spread(5100, 10), tol: [2]float64{0.001, 0.001}, want: 11},

		// Several replica counts and utilisations.
		{name: "3 pods at 50% of 30% target", metric: util(cpu, 30), current: 3, pods: mkPods(3, 1000, nil), samples: vals(300, 500, 700), want: 5},
		{name: "10 pods at 90%, target 60%", metric: util(cpu, 60), current: 10, pods: mkPods(10, 500, nil), samples: spread(4500, 10), want: 15},
		{name: "3 pods at 20%, target 80%", metric: util(cpu, 80), current: 3, pods: mkPods(3, 1000, nil), samples: vals(200, 200, 200), want: 1},
		{name: "5 pods scale down to 3", metric: util(cpu, 50), current: 5, pods: mkPods(5, 1000, nil), samples: vals(100, 300, 500, 250, 250), want: 3},
		{name: "memory utilisation", metric: util(mem, 60), current: 4, pods: mkPods(4, 100, nil), samples: spread(4*1024*1024*1024*1000*9/10, 4), want: 6},

		// Unready, pending, deleted and failed pods.
		{name: "unready pod on scale up counts 0", metric: util(cpu, 30), current: 3, pods: mkPods(3, 1000, on(neverReady, 0)), samples: vals(300, 500, 700), want: 4},
		{name: "unready pods would reverse the scale up: no change", metric: util(cpu, 30), current: 3, pods: mkPods(3, 1000, on(neverReady, 1, 2)), samples: vals(400, 500, 700), want: 3},
		{name: "pending pod on scale up counts 0", metric: util(cpu, 30), current: 3, pods: mkPods(3, 1000, on(phase(corev1.PodPending), 0)), samples: vals(300, 500, 700), want: 4},
		{name: "unready pods ignored on scale down", metric: util(cpu, 50), current: 5, pods: mkPods(5, 1000, on(neverReady, 3, 4)), samples: vals(100, 300, 500, 250, 250), want: 2},
		{name: "unready after having been ready: sample trusted", metric: util(cpu, 30), current: 3, pods: mkPods(3, 1000, on(unreadyAfterReady, 0)), samples: vals(300, 500, 700), want: 5},
		{name: "deleted and failed pods ignored", metric: util(cpu, 50), current: 5, pods: mkPods(5, 1000, merge(on(deleting, 3), on(phase(corev1.PodFailed), 4))), samples: vals(100, 300, 500, 250, 250), want: 2},
		{name: "memory ignores readiness", metric: util(mem, 50), current: 2, pods: mkPods(2, 100, on(neverReady, 0)), samples: spread(2*1024*1024*1024*1000, 2), want: 4},

		// CPU initialisation period.
		{name: "cpu init: hot pod on scale up counts 0", metric: util(cpu, 30), current: 3, pods: mkPods(3, 1000, on(hot, 0)), samples: vals(300, 500, 700), want: 4},
		{name: "cpu init: ready for more than a window, trusted", metric: util(cpu, 30), current: 3, pods: mkPods(3, 1000, on(warm, 0)), samples: vals(300, 500, 700), want: 5},
		{name: "cpu init: hot pod ignored on scale down", metric: util(cpu, 50), current: 4, pods: mkPods(4, 1000, on(hot, 3)), samples: vals(100, 100, 100, 900), want: 1},
		{name: "cpu init: pods metric ignores it", metric: podsMetric("15"), current: 3, pods: mkPods(3, 1000, on(hot, 0)), samples: vals(20000, 10000, 30000), want: 4},

		// Missing metrics.
		{name: "missing on scale up counts 0", metric: util(cpu, 50), current: 2, pods: mkPods(2, 1000, nil), samples: vals(1500, -1), want: 3},
		{name: "missing on scale up would reverse it: no change", metric: util(cpu, 100), current: 2, pods: mkPods(2, 1000, nil), samples: vals(1400, -1), want: 2},
		{name: "missing on scale down counts 100% of request", metric: util(cpu, 50), current: 4, pods: mkPods(4, 1000, nil), samples: vals(100, 100, 100, -1), want: 3},
		{name: "missing on scale down, target above 100% counts the target", metric: util(cpu, 150), current: 4, pods: mkPods(4, 1000, nil), samples: vals(100, 100, 100, -1), want: 2},
		{name: "missing, utilisation exactly at target", metric: util(cpu, 100), current: 2, pods: mkPods(2, 1000, nil), samples: vals(1000, -1), want: 2},
		{name: "missing and unready on scale up", metric: util(cpu, 50), current: 4, pods: mkPods(4, 1000, on(neverReady, 3)), samples: vals(1500, 1500, -1, 1500), want: 6},

		// ContainerResource, sidecars and requests.
		{name: "container resource: app container only", metric: containerUtil("app", 50), current: 2, pods: mkPods(2, 500, on(sidecar(500), 0, 1)), samples: vals(500, 500), want: 4},
		{name: "container resource: average value", metric: containerAvg("app", "250m"), current: 2, pods: mkPods(2, 500, nil), samples: vals(500, 500), want: 4},
		{name: "resource: sidecar requests count", metric: util(cpu, 50), current: 2, pods: mkPods(2, 500, on(sidecar(500), 0, 1)), samples: vals(500, 500), want: 2},
		{name: "missing request fails", metric: util(cpu, 50), current: 2, pods: mkPods(2, 500, on(noCPURequest, 1)), samples: vals(500, 500), want: -1},
		{name: "container resource: container missing in a pod fails", metric: containerUtil("app", 50), current: 2, pods: mkPods(2, 500, on(renamed, 1)), samples: vals(500, -1), want: -1},
		{name: "pod-level memory request only: cpu from the containers", metric: util(cpu, 50), current: 2, pods: mkPods(2, 500, on(podLevelMemory, 0, 1)), samples: vals(500, 500), want: 4},
		{name: "pod-level cpu request plus overhead", metric: util(cpu, 50), current: 4, pods: mkPods(4, 100, merge(on(podLevel(900), 0, 1, 2, 3), on(overhead(100), 0, 1, 2, 3))), samples: spread(4*800, 4), want: 7},
		{name: "overhead without pod-level requests is not counted", metric: util(cpu, 50), current: 4, pods: mkPods(4, 900, on(overhead(100), 0, 1, 2, 3)), samples: spread(4*800, 4), want: 8},
		{name: "pod-level cpu request", metric: util(cpu, 50), current: 2, pods: mkPods(2, 100, on(podLevel(1000), 0, 1)), samples: vals(1000, 1000), want: 4},

		// AverageValue on a resource, and Pods metrics.
		{name: "cpu average value", metric: avgValue(cpu, "250m"), current: 2, pods: mkPods(2, 1000, nil), samples: vals(500, 500), want: 4},
		{name: "cpu average value, hot pod on scale up", metric: avgValue(cpu, "250m"), current: 3, pods: mkPods(3, 1000, on(hot, 2)), samples: vals(500, 500, 500), want: 4},
		{name: "memory average value scale down", metric: avgValue(mem, "1Gi"), current: 4, pods: mkPods(4, 100, nil), samples: spread(4*1024*1024*1024*1000/3, 4), want: 2},
		{name: "cpu average value, missing on scale down counts the target", metric: avgValue(cpu, "500m"), current: 4, pods: mkPods(4, 1000, nil), samples: vals(100, 100, 100, -1), want: 2},
		{name: "cpu average value, missing, exactly at target", metric: avgValue(cpu, "500m"), current: 2, pods: mkPods(2, 1000, nil), samples: vals(500, -1), want: 2},
		{name: "pods metric scale up", metric: podsMetric("15"), current: 3, pods: mkPods(3, 1000, nil), samples: vals(20000, 10000, 30000), want: 4},
		{name: "pods metric, missing on scale down counts the target", metric: podsMetric("10"), current: 4, pods: mkPods(4, 1000, nil), samples: vals(2000, 2000, 2000, -1), want: 2},
		{name: "pods metric, missing, exactly at target", metric: podsMetric("10"), current: 3, pods: mkPods(3, 1000, nil), samples: vals(10000, 10000, -1), want: 3},

		// Object and External metrics.
		{name: "object value", metric: objectMetric(val, "10"), current: 3, pods: mkPods(3, 1000, nil), value: 30000, want: 9},
		{name: "object value counts ready pods only", metric: objectMetric(val, "10"), current: 3, pods: mkPods(3, 1000, on(neverReady, 0)), value: 30000, want: 6},
		{name: "object value within tolerance", metric: objectMetric(val, "10"), current: 3, pods: mkPods(3, 1000, nil), value: 10500, want: 3},
		{name: "object average value", metric: objectMetric(av, "10"), current: 3, pods: mkPods(3, 1000, nil), value: 50000, want: 5},
		{name: "external value", metric: externalMetric(val, "4"), current: 2, pods: mkPods(2, 1000, nil), value: 8600, want: 5},
		{name: "external average value", metric: externalMetric(av, "2"), current: 1, pods: mkPods(1, 1000, nil), value: 8600, want: 5},
		{name: "external average value within tolerance", metric: externalMetric(av, "2"), current: 4, pods: mkPods(4, 1000, nil), value: 8600, want: 4},

		// Failures.
		{name: "no pods", metric: util(cpu, 50), current: 2, pods: mkPods(0, 1000, nil), samples: vals(100), want: -1},
		{name: "all pods unready", metric: util(cpu, 50), current: 2, pods: mkPods(2, 1000, on(neverReady, 0, 1)), samples: vals(100, 100), want: -1},
	}
	var compared, excluded int
	for i := range cases {
		c := &cases[i]
		t.Run(c.name, func(t *testing.T) {
			down, up := c.tol[0], c.tol[1]
			if down == 0 && up == 0 {
				down, up = 0.1, 0.1
			}
			now := time.Now()
			pods := c.pods(now)
			// Each side gets its own copies: neither may see the other's changes.
			copies := make([]*corev1.Pod, len(pods))
			for i, p := range pods {
				copies[i] = p.DeepCopy()
			}
			up0 := upstream(t, c, now, pods, tolerances(t, down, up))
			ta := tailor(t, c, now, copies, down, up)
			t.Logf("upstream: %v", up0)
			t.Logf("tailor:   %v", ta)
			if c.excluded != "" {
				excluded++
				t.Skip("intended difference: " + c.excluded)
			}
			compared++
			if (up0.err != nil) != (ta.err != nil) {
				t.Fatalf("upstream %v, tailor %v", up0, ta)
			}
			if c.want < 0 {
				if up0.err == nil {
					t.Fatalf("both succeeded, want both to fail: %v", up0)
				}
				return
			}
			if up0.err != nil {
				t.Fatalf("both failed: upstream %v; tailor %v", up0.err, ta.err)
			}
			if up0.replicas != ta.replicas || up0.usage != ta.usage || up0.raw != ta.raw {
				t.Errorf("upstream %v, tailor %v", up0, ta)
			}
			if up0.replicas != c.want {
				t.Errorf("upstream proposes %d, the case expects %d", up0.replicas, c.want)
			}
		})
	}
	t.Logf("%d cases compared, %d excluded", compared, excluded)
	if compared < 20 {
		t.Errorf("only %d cases compared", compared)
	}
}
