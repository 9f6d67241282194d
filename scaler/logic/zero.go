package logic

import (
	"fmt"
	"strings"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"

	scalerv1 "github.com/tailor-dev/tailor/scaler/api/v1alpha1"
	"github.com/tailor-dev/tailor/scaler/validation"
)

// Scale to and from zero (minReplicas 0), as KEDA does it on top of the
// HPA: the activation metrics — Object, External and Prometheus, whose
// values do not come from the target's pods — decide whether the workload
// is active. From zero, the first replica is created as soon as one of them
// is above its activationThreshold, without waiting for pods to report;
// the HPA algorithm then takes it from one replica (with a floor of one).
// To zero, once every activation metric has been at or below its threshold
// for scaleToZeroCooldownSeconds (status.idleSince says since when). A
// metric that cannot be read is never taken for idleness: it restarts the
// cooldown and keeps a target at zero where it is.

// Event reasons of the transitions, recorded by the controller once the
// scale is written.
const (
	ReasonScaledToZero   = "ScaledToZero"
	ReasonScaledFromZero = "ScaledFromZero"
)

// Reasons of the ScaledToZero condition.
const (
	reasonActive = "Active"
	reasonIdle   = "Idle"
)

// cooldown is the spec's scaleToZeroCooldownSeconds or its default.
func cooldown(spec *scalerv1.ReplicaAutoscalerSpec) time.Duration {
	s := int32(scalerv1.DefaultScaleToZeroCooldownSeconds)
	if spec.ScaleToZeroCooldownSeconds != nil && *spec.ScaleToZeroCooldownSeconds >= 0 {
		s = *spec.ScaleToZeroCooldownSeconds
	}
	return time.Duration(s) * time.Second
}

// activity is what the activation metrics say.
type activity struct {
	active  bool   // one is above its threshold
	unknown bool   // not active, and one could not be read
	what    string // the metric above its threshold, or every value against its threshold
}

// activityOf reads the activation metrics of in. An unreadable one makes
// the state unknown unless another is active.
func activityOf(in *Input) activity {
	var a activity
	var idle []string
	for i, m := range EffectiveMetrics(in.Spec) {
		if !validation.ActivationMetric(m.Type) {
			continue
		}
		var vals MetricValues
		if i < len(in.Metrics) {
			vals = in.Metrics[i]
		}
		name := activationName(&m)
		if vals.Err != nil {
			a.unknown = true
			idle = append(idle, name+" unreadable")
			continue
		}
		threshold := int64(0)
		if m.ActivationThreshold != nil {
			threshold = m.ActivationThreshold.MilliValue()
		}
		desc := fmt.Sprintf("%s %s, activation threshold %s", name, milli(vals.Value), milli(threshold))
		if vals.Value > threshold {
			return activity{active: true, what: desc}
		}
		idle = append(idle, desc)
	}
	a.what = strings.Join(idle, "; ")
	return a
}

func activationName(m *scalerv1.MetricSpec) string {
	switch {
	case m.Object != nil:
		return fmt.Sprintf("%s metric %s", m.Object.DescribedObject.Kind, m.Object.Metric.Name)
	case m.External != nil:
		return "external metric " + m.External.Metric.Name
	case m.Prometheus != nil:
		return "prometheus query " + m.Prometheus.Query
	}
	return string(m.Type)
}

// decideAtZero is a pass over a target at zero replicas whose autoscaler
// may keep it there: one replica when an activation metric is above its
// threshold, else zero. Pod metrics are not consulted (there are no pods).
func (d *Decision) decideAtZero(in *Input, tol tolerances) {
	metrics := EffectiveMetrics(in.Spec)
	d.MetricStatuses = make([]scalerv1.MetricStatus, len(metrics))
	d.Proposals = make([]Proposal, len(metrics))
	var failed *Proposal
	for i := range metrics {
		m := &metrics[i]
		d.MetricStatuses[i].Type = m.Type
		if !validation.ActivationMetric(m.Type) {
			continue
		}
		var vals MetricValues
		if i < len(in.Metrics) {
			vals = in.Metrics[i]
		} else {
			vals.Err = fmt.Errorf("no values read for this metric")
		}
		p := &d.Proposals[i]
		*p = computeForMetric(in, tol, m, vals, &d.MetricStatuses[i])
		if p.Err != nil {
			d.event(corev1.EventTypeWarning, p.Reason, p.Err.Error())
			if failed == nil {
				failed = p
			}
		}
	}
	a := activityOf(in)
	switch {
	case a.active:
		d.DesiredReplicas, d.Rescale = 1, true
		d.RescaleReason = a.what + ": scaled from zero"
		d.ZeroTransition = ReasonScaledFromZero
		d.condition(autoscalingv2.ScalingActive, corev1.ConditionTrue, "ValidMetricFound", "the HPA was able to successfully calculate a replica count from "+a.what)
		d.condition(scalerv1.ScaledToZero, corev1.ConditionFalse, reasonActive, "activated: "+a.what)
	case a.unknown:
		d.condition(autoscalingv2.ScalingActive, corev1.ConditionFalse, failed.Reason, "the target stays at zero replicas: "+failed.Err.Error())
		d.condition(scalerv1.ScaledToZero, corev1.ConditionTrue, ReasonScaledToZero, "at zero replicas; an activation metric cannot be read: "+a.what)
	default:
		d.IdleSince = in.IdleSince
		if d.IdleSince.IsZero() {
			d.IdleSince = in.Now
		}
		d.condition(autoscalingv2.ScalingActive, corev1.ConditionTrue, ReasonScaledToZero, "the target is at zero replicas until an activation metric rises above its threshold: "+a.what)
		d.condition(scalerv1.ScaledToZero, corev1.ConditionTrue, ReasonScaledToZero, "at zero replicas: "+a.what)
	}
}

// towardZero takes the HPA's decision for a target with replicas and scales
// it to zero once every activation metric has been idle for the cooldown.
func (d *Decision) towardZero(in *Input, desired int32) int32 {
	a := activityOf(in)
	if a.active || a.unknown {
		d.condition(scalerv1.ScaledToZero, corev1.ConditionFalse, reasonActive, a.what)
		return desired
	}
	d.IdleSince = in.IdleSince
	if d.IdleSince.IsZero() {
		d.IdleSince = in.Now
	}
	cd := cooldown(in.Spec)
	if in.Now.Sub(d.IdleSince) < cd {
		d.condition(scalerv1.ScaledToZero, corev1.ConditionFalse, reasonIdle,
			fmt.Sprintf("idle since %s (%s); to zero replicas after a %s cooldown", d.IdleSince.UTC().Format(time.RFC3339), a.what, cd))
		return desired
	}
	d.RescaleReason = fmt.Sprintf("every activation metric at or below its threshold for %s (%s): scaled to zero", cd, a.what)
	d.ZeroTransition = ReasonScaledToZero
	d.condition(scalerv1.ScaledToZero, corev1.ConditionTrue, ReasonScaledToZero, "scaling to zero replicas: "+a.what)
	return 0
}
