package logic

import (
	"errors"
	"fmt"
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	scalerv1 "github.com/tailor-dev/tailor/scaler/api/v1alpha1"
)

// DefaultCPUUtilization is the target of the metric an autoscaler without
// metrics gets, as for the HPA.
const DefaultCPUUtilization int32 = 80

// EffectiveMetrics returns spec.metrics, or the HPA's default (80% average
// CPU utilisation) when there are none. Input.Metrics follows its order.
func EffectiveMetrics(spec *scalerv1.ReplicaAutoscalerSpec) []scalerv1.MetricSpec {
	if len(spec.Metrics) > 0 {
		return spec.Metrics
	}
	return []scalerv1.MetricSpec{{
		Type: autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricSource{
			Name:   corev1.ResourceCPU,
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr(DefaultCPUUtilization)},
		},
	}}
}

// Decide is one pass of the HPA's reconcile over in: the replica count to
// set, and the status, conditions and events that explain it.
func Decide(in Input) Decision {
	d := Decision{History: cloneHistory(in.History)}
	if in.Spec == nil {
		d.Err = errors.New("no spec")
		d.DesiredReplicas = in.SpecReplicas
		return d
	}
	spec := in.Spec
	minReplicas := int32(1)
	if spec.MinReplicas != nil {
		minReplicas = *spec.MinReplicas
	}
	// With minReplicas 0 the HPA algorithm runs with a floor of one
	// replica; zero is decideAtZero's and towardZero's.
	toZero := minReplicas == 0
	minReplicas = max(minReplicas, 1)
	current := in.SpecReplicas
	d.condition(autoscalingv2.AbleToScale, corev1.ConditionTrue, "SucceededGetScale", "the HPA controller was able to get the target's current scale")

	var desired int32
	switch {
	case current == 0 && toZero:
		d.decideAtZero(&in, tolerancesOf(Behavior(spec, in.Config), in.Config))
		return d
	case current == 0:
		// Someone scaled the target to zero: autoscaling is off until they scale it back.
		d.condition(autoscalingv2.ScalingActive, corev1.ConditionFalse, "ScalingDisabled", "scaling is disabled since the replica count of the target is zero")
		d.DesiredReplicas = 0
		return d
	case current > spec.MaxReplicas:
		d.RescaleReason = "Current number of replicas above Spec.MaxReplicas"
		desired = spec.MaxReplicas
	case current < minReplicas:
		d.RescaleReason = "Current number of replicas below Spec.MinReplicas"
		desired = minReplicas
	default:
		b := Behavior(spec, in.Config)
		proposed, metric, err := d.computeForMetrics(&in, tolerancesOf(b, in.Config))
		if err != nil && proposed < 0 {
			d.Err = err
			d.DesiredReplicas = current
			d.event(corev1.EventTypeWarning, "FailedComputeMetricsReplicas", err.Error())
			return d
		}
		d.Err = err // some metrics invalid, yet the others scale up or hold
		rescaleMetric := ""
		if proposed > desired {
			desired, rescaleMetric = proposed, metric
		}
		if desired > current {
			d.RescaleReason = rescaleMetric + " above target"
		}
		if desired < current {
			d.RescaleReason = "All metrics below target"
		}
		switch {
		case spec.Policy == scalerv1.PolicyPredictive:
			desired = d.normalizePredictive(&in, current, desired, minReplicas)
		case b == nil:
			desired = d.normalizeLegacy(&in, current, desired, minReplicas)
		default:
			desired = d.normalizeWithBehavior(&in, b, current, desired, minReplicas)
		}
		if toZero {
			desired = d.towardZero(&in, desired)
		}
	}
	d.DesiredReplicas = desired
	d.Rescale = desired != current
	return d
}

// RescaleMessage is the text of the SuccessfulRescale event: the HPA's,
// followed by the metric values that led to it.
func (d *Decision) RescaleMessage() string {
	msg := fmt.Sprintf("New size: %d; reason: %s", d.DesiredReplicas, d.RescaleReason)
	var vals []string
	for _, p := range d.Proposals {
		if p.Err == nil && p.Value != "" {
			vals = append(vals, p.Value)
		}
	}
	if len(vals) > 0 {
		msg += "; metrics: " + strings.Join(vals, ", ")
	}
	return msg
}

func (d *Decision) condition(t autoscalingv2.HorizontalPodAutoscalerConditionType, s corev1.ConditionStatus, reason, msg string) {
	d.Conditions = append(d.Conditions, Condition{Type: t, Status: s, Reason: reason, Message: msg})
}

func (d *Decision) event(t, reason, msg string) {
	d.Events = append(d.Events, Event{Type: t, Reason: reason, Message: msg})
}

// computeForMetrics returns the largest proposal of the metrics, or -1 with
// an error when every metric is invalid, or when some are and the valid ones
// would scale down (a missing metric might have wanted more).
func (d *Decision) computeForMetrics(in *Input, tol tolerances) (int32, string, error) {
	metrics := EffectiveMetrics(in.Spec)
	d.MetricStatuses = make([]scalerv1.MetricStatus, len(metrics))
	d.Proposals = make([]Proposal, len(metrics))
	var replicas int32
	var metric string
	invalid := 0
	var first *Proposal
	for i := range metrics {
		var vals MetricValues
		if i < len(in.Metrics) {
			vals = in.Metrics[i]
		} else {
			vals.Err = errors.New("no values read for this metric")
		}
		p := &d.Proposals[i]
		*p = computeForMetric(in, tol, &metrics[i], vals, &d.MetricStatuses[i])
		if p.Err != nil {
			d.event(corev1.EventTypeWarning, p.Reason, p.Err.Error())
			if invalid == 0 {
				first = p
			}
			invalid++
			continue
		}
		if replicas == 0 || p.Replicas > replicas {
			replicas, metric = p.Replicas, p.Metric
		}
	}
	var err error
	if invalid > 0 {
		err = fmt.Errorf("invalid metrics (%d invalid out of %d), first error is: %w", invalid, len(metrics), first.Err)
	}
	if invalid >= len(metrics) || (invalid > 0 && replicas < in.SpecReplicas) {
		d.condition(autoscalingv2.ScalingActive, corev1.ConditionFalse, first.Reason, "the HPA was unable to compute the replica count: "+first.Err.Error())
		return -1, "", err
	}
	d.condition(autoscalingv2.ScalingActive, corev1.ConditionTrue, "ValidMetricFound", "the HPA was able to successfully calculate a replica count from "+metric)
	return replicas, metric, err
}

func milli(v int64) *resource.Quantity { return resource.NewMilliQuantity(v, resource.DecimalSI) }

// computeForMetric computes one metric's proposal and fills its status.
func computeForMetric(in *Input, tol tolerances, m *scalerv1.MetricSpec, vals MetricValues, st *scalerv1.MetricStatus) (p Proposal) {
	spec, status := in.SpecReplicas, in.StatusReplicas
	st.Type = m.Type
	fail := func(reason string, err error) Proposal { return Proposal{Reason: reason, Err: err} }
	switch {
	case m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil:
		r := m.Resource
		rp, cur, err := resourceProposal(in, tol, spec, r.Name, "", r.Target, vals, false)
		if err != nil {
			return fail("FailedGetResourceMetric", err)
		}
		st.Resource = &autoscalingv2.ResourceMetricStatus{Name: r.Name, Current: cur}
		return rp
	case m.Type == autoscalingv2.ContainerResourceMetricSourceType && m.ContainerResource != nil:
		r := m.ContainerResource
		rp, cur, err := resourceProposal(in, tol, spec, r.Name, r.Container, r.Target, vals, true)
		if err != nil {
			return fail("FailedGetContainerResourceMetric", err)
		}
		st.ContainerResource = &autoscalingv2.ContainerResourceMetricStatus{Name: r.Name, Container: r.Container, Current: cur}
		return rp
	case m.Type == autoscalingv2.PodsMetricSourceType && m.Pods != nil:
		t := m.Pods.Target.AverageValue
		if vals.Err != nil {
			return fail("FailedGetPodsMetric", fmt.Errorf("failed to get pods metric value: unable to get metric %s: %w", m.Pods.Metric.Name, vals.Err))
		}
		if t == nil || t.MilliValue() <= 0 {
			return fail("FailedGetPodsMetric", errors.New("failed to get pods metric value: target.averageValue must be positive"))
		}
		n, avg, err := plainReplicas(in, tol, spec, t.MilliValue(), "", vals.Pods)
		if err != nil {
			return fail("FailedGetPodsMetric", fmt.Errorf("failed to get pods metric value: %w", err))
		}
		st.Pods = &autoscalingv2.PodsMetricStatus{Metric: m.Pods.Metric, Current: autoscalingv2.MetricValueStatus{AverageValue: milli(avg)}}
		return Proposal{Replicas: n, Metric: "pods metric " + m.Pods.Metric.Name,
			Value: fmt.Sprintf("%s %s/%s", m.Pods.Metric.Name, milli(avg), t)}
	case m.Type == autoscalingv2.ObjectMetricSourceType && m.Object != nil:
		o := m.Object
		name := fmt.Sprintf("%s metric %s", o.DescribedObject.Kind, o.Metric.Name)
		if vals.Err != nil {
			return fail("FailedGetObjectMetric", fmt.Errorf("failed to get object metric value: unable to get metric %s: %w", o.Metric.Name, vals.Err))
		}
		st.Object = &autoscalingv2.ObjectMetricStatus{Metric: o.Metric, DescribedObject: o.DescribedObject}
		switch t := o.Target; {
		case t.Type == autoscalingv2.ValueMetricType && positive(t.Value):
			n, err := valueReplicas(in, tol, spec, float64(vals.Value)/float64(t.Value.MilliValue()))
			if err != nil {
				st.Object = nil
				return fail("FailedGetObjectMetric", fmt.Errorf("failed to get object metric value: %w", err))
			}
			st.Object.Current.Value = milli(vals.Value)
			return Proposal{Replicas: n, Metric: name, Value: fmt.Sprintf("%s %s/%s", o.Metric.Name, milli(vals.Value), t.Value)}
		case t.Type == autoscalingv2.AverageValueMetricType && positive(t.AverageValue):
			n, perPod := perPodReplicas(tol, status, vals.Value, t.AverageValue.MilliValue())
			st.Object.Current.AverageValue = milli(perPod)
			return Proposal{Replicas: n, Metric: name, Value: fmt.Sprintf("%s %s/%s (avg)", o.Metric.Name, milli(perPod), t.AverageValue)}
		}
		st.Object = nil
		return fail("FailedGetObjectMetric", errors.New("invalid object metric source: neither a value target nor an average value target was set"))
	case m.Type == autoscalingv2.ExternalMetricSourceType && m.External != nil:
		e := m.External
		name := fmt.Sprintf("external metric %s(%s)", e.Metric.Name, selectorString(e.Metric))
		if vals.Err != nil {
			return fail("FailedGetExternalMetric", fmt.Errorf("failed to get external metric value: unable to get external metric %s: %w", e.Metric.Name, vals.Err))
		}
		rp, cur, err := externalProposal(in, tol, e.Target, vals.Value, e.Metric.Name)
		if err != nil {
			return fail("FailedGetExternalMetric", fmt.Errorf("failed to get external metric value: %w", err))
		}
		st.External = &autoscalingv2.ExternalMetricStatus{Metric: e.Metric, Current: cur}
		rp.Metric = name
		return rp
	case m.Type == scalerv1.PrometheusMetricSourceType && m.Prometheus != nil:
		q := m.Prometheus
		name := "prometheus query " + q.Query
		if vals.Err != nil {
			return fail("FailedGetPrometheusMetric", fmt.Errorf("failed to get prometheus metric value: %w", vals.Err))
		}
		rp, cur, err := externalProposal(in, tol, q.Target, vals.Value, "prometheus")
		if err != nil {
			return fail("FailedGetPrometheusMetric", fmt.Errorf("failed to get prometheus metric value: %w", err))
		}
		st.Prometheus = &scalerv1.PrometheusMetricStatus{Query: q.Query, Current: cur}
		rp.Metric = name
		return rp
	}
	return fail("InvalidMetricSourceType", fmt.Errorf("unknown metric source type %q, or its source field is unset", m.Type))
}

func positive(q *resource.Quantity) bool { return q != nil && q.MilliValue() > 0 }

func selectorString(id autoscalingv2.MetricIdentifier) string {
	if id.Selector == nil {
		return "nil"
	}
	return id.Selector.String()
}

// resourceProposal handles Resource and ContainerResource metrics.
func resourceProposal(in *Input, tol tolerances, current int32, res corev1.ResourceName, container string, t autoscalingv2.MetricTarget, vals MetricValues, isContainer bool) (Proposal, autoscalingv2.MetricValueStatus, error) {
	kind := "resource"
	if isContainer {
		kind = "container resource"
	}
	if vals.Err != nil {
		return Proposal{}, autoscalingv2.MetricValueStatus{}, fmt.Errorf("failed to get %s utilization: unable to get metrics for resource %s: %w", res, res, vals.Err)
	}
	if t.AverageValue != nil {
		if t.AverageValue.MilliValue() <= 0 {
			return Proposal{}, autoscalingv2.MetricValueStatus{}, fmt.Errorf("failed to get %s usage: target.averageValue must be positive", res)
		}
		n, avg, err := plainReplicas(in, tol, current, t.AverageValue.MilliValue(), res, vals.Pods)
		if err != nil {
			return Proposal{}, autoscalingv2.MetricValueStatus{}, fmt.Errorf("failed to get %s usage: %w", res, err)
		}
		return Proposal{Replicas: n, Metric: fmt.Sprintf("%s %s", res, kind), Value: fmt.Sprintf("%s %s/%s (avg)", res, milli(avg), t.AverageValue)},
			autoscalingv2.MetricValueStatus{AverageValue: milli(avg)}, nil
	}
	if t.AverageUtilization == nil || *t.AverageUtilization <= 0 {
		return Proposal{}, autoscalingv2.MetricValueStatus{}, errors.New("invalid resource metric source: neither an average utilization target nor an average value (usage) target was set")
	}
	target := *t.AverageUtilization
	n, util, raw, demand, err := resourceReplicas(in, tol, current, target, res, container, vals.Pods)
	if err != nil {
		return Proposal{}, autoscalingv2.MetricValueStatus{}, fmt.Errorf("failed to get %s utilization: %w", res, err)
	}
	return Proposal{Replicas: n, Demand: demand, HasDemand: true, Metric: fmt.Sprintf("%s %s utilization (percentage of request)", res, kind), Value: fmt.Sprintf("%s %d%%/%d%%", res, util, target)},
		autoscalingv2.MetricValueStatus{AverageUtilization: ptr(util), AverageValue: milli(raw)}, nil
}

// externalProposal handles External and Prometheus metrics: a per-pod
// target divides the value among the replicas, a value target scales by the
// ratio. Like the HPA, an averageValue wins when both are set.
func externalProposal(in *Input, tol tolerances, t autoscalingv2.MetricTarget, value int64, label string) (Proposal, autoscalingv2.MetricValueStatus, error) {
	switch {
	case positive(t.AverageValue):
		n, perPod := perPodReplicas(tol, in.StatusReplicas, value, t.AverageValue.MilliValue())
		return Proposal{Replicas: n, Value: fmt.Sprintf("%s %s/%s (avg)", label, milli(perPod), t.AverageValue)},
			autoscalingv2.MetricValueStatus{AverageValue: milli(perPod)}, nil
	case positive(t.Value):
		n, err := valueReplicas(in, tol, in.SpecReplicas, float64(value)/float64(t.Value.MilliValue()))
		if err != nil {
			return Proposal{}, autoscalingv2.MetricValueStatus{}, err
		}
		return Proposal{Replicas: n, Value: fmt.Sprintf("%s %s/%s", label, milli(value), t.Value)},
			autoscalingv2.MetricValueStatus{Value: milli(value)}, nil
	}
	return Proposal{}, autoscalingv2.MetricValueStatus{}, errors.New("invalid external metric source: neither a value target nor an average value target was set")
}

func cloneHistory(h History) History {
	return History{
		Recommendations: append([]Recommendation(nil), h.Recommendations...),
		ScaleUps:        append([]ScaleEvent(nil), h.ScaleUps...),
		ScaleDowns:      append([]ScaleEvent(nil), h.ScaleDowns...),
	}
}
