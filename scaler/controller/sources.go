package controller

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"
	"k8s.io/metrics/pkg/client/custom_metrics"
	"k8s.io/metrics/pkg/client/external_metrics"

	scalerv1 "github.com/tailor-dev/tailor/scaler/api/v1alpha1"
	"github.com/tailor-dev/tailor/scaler/logic"
	"github.com/tailor-dev/tailor/scaler/promql"
)

// defaultWindow is the sample window assumed when a metrics API does not
// say, as the HPA does (metrics-server's default resolution).
const defaultWindow = time.Minute

// Sources reads the values of the metrics of a ReplicaAutoscaler from the
// APIs the HPA reads (metrics.k8s.io, custom.metrics.k8s.io,
// external.metrics.k8s.io) and from Prometheus.
type Sources struct {
	resource  metricsclient.Interface
	custom    custom_metrics.CustomMetricsClient
	apis      custom_metrics.AvailableAPIsGetter
	external  external_metrics.ExternalMetricsClient
	discovery discovery.DiscoveryInterface
	// prom is nil when no Prometheus address is configured.
	prom PrometheusQuerier
	// scopeLabel, when set, confines each query to its object's namespace
	// (scaler/promql.Scope).
	scopeLabel string
	// prefetched holds this pass's query results, by namespace and query.
	prefetched map[promKey]promResult
}

type promKey struct{ namespace, query string }

type promResult struct {
	milli int64
	err   error
}

// PrometheusQuerier evaluates a Prometheus instant query: all the scaler
// needs of a Prometheus client (cmd/tailor passes the recommender/promsource
// client it builds once for every loop).
type PrometheusQuerier interface {
	Query(ctx context.Context, query string, t time.Time) (model.Value, error)
}

// NewSources connects to the metrics APIs of cfg; prom (may be nil) serves
// the Prometheus metric sources.
func NewSources(cfg *rest.Config, mapper meta.RESTMapper, prom PrometheusQuerier) (*Sources, error) {
	rc, err := metricsclient.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	apis := custom_metrics.NewAvailableAPIsGetter(dc)
	ec, err := external_metrics.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Sources{resource: rc, custom: custom_metrics.NewForConfig(cfg, mapper, apis), apis: apis, external: ec, discovery: dc, prom: prom}, nil
}

// Read returns the values of each metric, in order; an error reading one
// metric is carried in its MetricValues and does not stop the others.
func (s *Sources) Read(ctx context.Context, namespace string, sel labels.Selector, metrics []scalerv1.MetricSpec) []logic.MetricValues {
	out := make([]logic.MetricValues, len(metrics))
	var podMetrics []metricsv1beta1.PodMetrics
	var podMetricsErr error
	podMetricsRead := false
	for i := range metrics {
		m := &metrics[i]
		v := &out[i]
		switch {
		case m.Resource != nil || m.ContainerResource != nil:
			if !podMetricsRead {
				podMetrics, podMetricsErr = s.podMetrics(ctx, namespace, sel)
				podMetricsRead = true
			}
			if podMetricsErr != nil {
				v.Err = podMetricsErr
				continue
			}
			if m.Resource != nil {
				v.Pods = ResourceSamples(podMetrics, m.Resource.Name, "")
			} else {
				v.Pods = ResourceSamples(podMetrics, m.ContainerResource.Name, m.ContainerResource.Container)
			}
		case m.Pods != nil:
			v.Pods, v.Err = s.podsMetric(namespace, sel, m.Pods.Metric)
		case m.Object != nil:
			v.Value, v.Err = s.objectMetric(namespace, m.Object)
		case m.External != nil:
			v.Value, v.Err = s.externalMetric(ctx, namespace, m.External.Metric)
		case m.Prometheus != nil:
			v.Value, v.Err = s.Query(ctx, namespace, m.Prometheus.Query)
		}
	}
	return out
}

func (s *Sources) podMetrics(ctx context.Context, namespace string, sel labels.Selector) ([]metricsv1beta1.PodMetrics, error) {
	l, err := s.resource.MetricsV1beta1().PodMetricses(namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		if apierrors.IsNotFound(err) && !s.served(metricsv1beta1.SchemeGroupVersion) {
			return nil, fmt.Errorf("the metrics.k8s.io API is not served (is metrics-server installed?): %w", err)
		}
		return nil, err
	}
	return l.Items, nil
}

// ResourceSamples turns PodMetrics into per-pod samples of res in
// milli-units: the sum over the pod's containers, or the one named
// container. A pod lacking res in any counted container has no sample (it
// counts as missing), as in the HPA.
func ResourceSamples(metrics []metricsv1beta1.PodMetrics, res corev1.ResourceName, container string) map[string]logic.Sample {
	out := make(map[string]logic.Sample, len(metrics))
	for i := range metrics {
		m := &metrics[i]
		var sum int64
		found, missing := false, false
		for _, c := range m.Containers {
			if container != "" && c.Name != container {
				continue
			}
			q, ok := c.Usage[res]
			if !ok {
				missing = true
				break
			}
			sum += q.MilliValue()
			found = true
		}
		if !found || missing {
			continue
		}
		out[m.Name] = logic.Sample{Value: sum, Timestamp: m.Timestamp.Time, Window: m.Window.Duration}
	}
	return out
}

func selectorOf(id autoscalingv2.MetricIdentifier) (labels.Selector, error) {
	if id.Selector == nil {
		return labels.Everything(), nil
	}
	return metav1.LabelSelectorAsSelector(id.Selector)
}

func (s *Sources) podsMetric(namespace string, sel labels.Selector, id autoscalingv2.MetricIdentifier) (map[string]logic.Sample, error) {
	ms, err := selectorOf(id)
	if err != nil {
		return nil, err
	}
	l, err := s.custom.NamespacedMetrics(namespace).GetForObjects(schema.GroupKind{Kind: "Pod"}, sel, id.Name, ms)
	if err != nil {
		return nil, s.customErr(err)
	}
	if len(l.Items) == 0 {
		return nil, errors.New("no metrics returned from custom metrics API")
	}
	out := make(map[string]logic.Sample, len(l.Items))
	for _, v := range l.Items {
		w := defaultWindow
		if v.WindowSeconds != nil {
			w = time.Duration(*v.WindowSeconds) * time.Second
		}
		out[v.DescribedObject.Name] = logic.Sample{Value: v.Value.MilliValue(), Timestamp: v.Timestamp.Time, Window: w}
	}
	return out, nil
}

func (s *Sources) objectMetric(namespace string, o *autoscalingv2.ObjectMetricSource) (int64, error) {
	gv, err := schema.ParseGroupVersion(o.DescribedObject.APIVersion)
	if err != nil {
		return 0, fmt.Errorf("describedObject apiVersion %q: %w", o.DescribedObject.APIVersion, err)
	}
	ms, err := selectorOf(o.Metric)
	if err != nil {
		return 0, err
	}
	gk := schema.GroupKind{Group: gv.Group, Kind: o.DescribedObject.Kind}
	mv, err := s.custom.NamespacedMetrics(namespace).GetForObject(gk, o.DescribedObject.Name, o.Metric.Name, ms)
	if err != nil {
		return 0, s.customErr(err)
	}
	return mv.Value.MilliValue(), nil
}

// customErr says plainly when no custom metrics adapter is installed; the
// client's own error for that case names only the API group.
func (s *Sources) customErr(err error) error {
	if _, verr := s.apis.PreferredVersion(); verr != nil {
		return fmt.Errorf("the custom.metrics.k8s.io API is not served (no custom metrics adapter installed): %w", verr)
	}
	return err
}

func (s *Sources) externalMetric(ctx context.Context, namespace string, id autoscalingv2.MetricIdentifier) (int64, error) {
	ms, err := selectorOf(id)
	if err != nil {
		return 0, err
	}
	l, err := s.external.NamespacedMetrics(namespace).List(id.Name, ms)
	if err != nil {
		if apierrors.IsNotFound(err) && !s.served(schema.GroupVersion{Group: "external.metrics.k8s.io", Version: "v1beta1"}) {
			return 0, fmt.Errorf("the external.metrics.k8s.io API is not served (no external metrics adapter installed): %w", err)
		}
		return 0, err
	}
	if len(l.Items) == 0 {
		return 0, errors.New("no metrics returned from external metrics API")
	}
	var sum int64
	for _, v := range l.Items {
		sum += v.Value.MilliValue()
	}
	return sum, nil
}

// served reports whether the API server serves gv; only asked after a
// failure, to explain it.
func (s *Sources) served(gv schema.GroupVersion) bool {
	_, err := s.discovery.ServerResourcesForGroupVersion(gv.String())
	return err == nil
}

// InvalidateDiscovery forgets which custom metrics API version is served, so
// an adapter installed or upgraded later is found (the HPA does this every
// sync period).
func (s *Sources) InvalidateDiscovery() { s.apis.Invalidate() }

// Prefetch evaluates the Prometheus queries of ras, at most concurrency at a
// time, until ctx ends; Query then answers from the results. Queries not
// done by then answer with ctx's error.
func (s *Sources) Prefetch(ctx context.Context, ras []scalerv1.ReplicaAutoscaler, concurrency int) {
	s.prefetched = nil
	if s.prom == nil {
		return
	}
	var keys []promKey
	seen := map[promKey]bool{}
	for i := range ras {
		for _, m := range ras[i].Spec.Metrics {
			if m.Prometheus == nil {
				continue
			}
			k := promKey{ras[i].Namespace, m.Prometheus.Query}
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	results := make([]promResult, len(keys))
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
				results[i].milli, results[i].err = s.query(ctx, k.namespace, k.query)
			case <-ctx.Done():
				results[i].err = fmt.Errorf("not run within the pass's time budget: %w", ctx.Err())
			}
		}()
	}
	wg.Wait()
	s.prefetched = make(map[promKey]promResult, len(keys))
	for i, k := range keys {
		s.prefetched[k] = results[i]
	}
}

// Query evaluates a Prometheus instant query of an object in namespace
// that must give one number: a scalar, or a vector or matrix of exactly one
// series. The result is in milli-units. A query prefetched this pass is
// answered from that.
func (s *Sources) Query(ctx context.Context, namespace, query string) (int64, error) {
	if r, ok := s.prefetched[promKey{namespace, query}]; ok {
		return r.milli, r.err
	}
	return s.query(ctx, namespace, query)
}

func (s *Sources) query(ctx context.Context, namespace, query string) (int64, error) {
	if s.prom == nil {
		return 0, errors.New("no Prometheus server configured (tailor run --prometheus-address)")
	}
	if s.scopeLabel != "" {
		scoped, err := promql.Scope(query, s.scopeLabel, namespace)
		if err != nil {
			return 0, err
		}
		query = scoped
	}
	val, err := s.prom.Query(ctx, query, time.Now())
	if err != nil {
		return 0, err // names the server, the query and why
	}
	return PrometheusValue(val)
}

// PrometheusValue is the one number of a query result, in milli-units.
func PrometheusValue(val model.Value) (int64, error) {
	var f float64
	switch v := val.(type) {
	case *model.Scalar:
		f = float64(v.Value)
	case model.Vector:
		if len(v) != 1 {
			return 0, fmt.Errorf("query returned %d series, want exactly one (aggregate it, e.g. sum(...))%s", len(v), seriesHint(len(v), func(i int) model.Metric { return v[i].Metric }))
		}
		f = float64(v[0].Value)
	case model.Matrix:
		if len(v) != 1 || len(v[0].Values) == 0 {
			return 0, fmt.Errorf("query returned a range vector of %d series, want an instant vector of exactly one", len(v))
		}
		f = float64(v[0].Values[len(v[0].Values)-1].Value)
	default:
		return 0, fmt.Errorf("query returned a %s, want a scalar or one series", val.Type())
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("query returned %v, not a finite number", f)
	}
	if math.Abs(f*1000) > math.MaxInt64/2 {
		return 0, fmt.Errorf("query returned %g, too large", f)
	}
	return int64(math.Round(f * 1000)), nil
}

// seriesHint names up to two of the series a query returned, to help fix it.
func seriesHint(n int, metric func(int) model.Metric) string {
	if n == 0 {
		return ""
	}
	hint := ": " + metric(0).String()
	if n > 1 {
		hint += ", " + metric(1).String()
	}
	if n > 2 {
		hint += ", …"
	}
	return hint
}
