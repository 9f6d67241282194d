// Package validation checks ReplicaAutoscalers for Tailor's validating
// webhook, like webhook/validation does for VPAs: pure logic, a decoded
// object in, a field.ErrorList out whose messages name the field path.
//
// It applies the HPA's API validation (autoscaling/v2) to the shared fields
// and checks the Prometheus source, and it covers what the CRD's CEL rules
// cannot afford, such as the behavior policies.
package validation

import (
	"fmt"
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	scalerv1 "github.com/tailor-dev/tailor/scaler/api/v1alpha1"
	"github.com/tailor-dev/tailor/scaler/promql"
)

// Limits, matching the HPA's and the CRD's.
const (
	MaxMetrics             = 16
	MaxStabilizationWindow = 3600 // seconds
	MaxPolicyPeriod        = 1800 // seconds
	MaxQueryLength         = 8192
	MaxScaleToZeroCooldown = 86400 // seconds
)

// ActivationMetric reports whether a metric of type t can wake a target at
// zero replicas: one whose value does not come from the target's pods.
func ActivationMetric(t autoscalingv2.MetricSourceType) bool {
	return t == autoscalingv2.ObjectMetricSourceType || t == autoscalingv2.ExternalMetricSourceType || t == scalerv1.PrometheusMetricSourceType
}

func hasActivationMetric(ms []scalerv1.MetricSpec) bool {
	for i := range ms {
		if ActivationMetric(ms[i].Type) {
			return true
		}
	}
	return false
}

// ReplicaAutoscaler validates a ReplicaAutoscaler on CREATE and UPDATE. An
// empty list means the object is accepted.
func ReplicaAutoscaler(ra *scalerv1.ReplicaAutoscaler) field.ErrorList {
	if ra == nil {
		return field.ErrorList{field.Required(field.NewPath("object"), "a ReplicaAutoscaler is required")}
	}
	return Spec(&ra.Spec, field.NewPath("spec"))
}

// Spec validates a ReplicaAutoscalerSpec found at p.
func Spec(s *scalerv1.ReplicaAutoscalerSpec, p *field.Path) field.ErrorList {
	errs := objectRef(s.ScaleTargetRef, p.Child("scaleTargetRef"))
	minReplicas := int32(1)
	if s.MinReplicas != nil {
		minReplicas = *s.MinReplicas
		switch {
		case minReplicas < 0:
			errs = append(errs, field.Invalid(p.Child("minReplicas"), minReplicas, "must be at least 0"))
		case minReplicas == 0 && !hasActivationMetric(s.Metrics):
			errs = append(errs, field.Invalid(p.Child("minReplicas"), minReplicas,
				"0 needs at least one Object, External or Prometheus metric: at zero replicas there are no pods whose Resource or Pods metrics could bring the target back"))
		}
	}
	if c := s.ScaleToZeroCooldownSeconds; c != nil && (*c < 0 || *c > MaxScaleToZeroCooldown) {
		errs = append(errs, field.Invalid(p.Child("scaleToZeroCooldownSeconds"), *c, fmt.Sprintf("must be between 0 and %d", MaxScaleToZeroCooldown)))
	}
	switch {
	case s.MaxReplicas < 1:
		errs = append(errs, field.Invalid(p.Child("maxReplicas"), s.MaxReplicas, "must be at least 1"))
	case s.MaxReplicas < minReplicas:
		errs = append(errs, field.Invalid(p.Child("maxReplicas"), s.MaxReplicas, "must be greater than or equal to minReplicas"))
	}
	mp := p.Child("metrics")
	if len(s.Metrics) > MaxMetrics {
		errs = append(errs, field.TooMany(mp, len(s.Metrics), MaxMetrics))
	}
	for i := range s.Metrics {
		errs = append(errs, metric(&s.Metrics[i], mp.Index(i))...)
	}
	if b := s.Behavior; b != nil {
		bp := p.Child("behavior")
		errs = append(errs, scalingRules(b.ScaleUp, bp.Child("scaleUp"))...)
		errs = append(errs, scalingRules(b.ScaleDown, bp.Child("scaleDown"))...)
	}
	switch s.Policy {
	case "", scalerv1.PolicyUpstream:
	case scalerv1.PolicyPredictive:
		if s.Behavior != nil {
			errs = append(errs, field.Forbidden(p.Child("behavior"), "policy Predictive decides its own scale-up and scale-down windows; leave behavior unset"))
		}
	default:
		errs = append(errs, field.NotSupported(p.Child("policy"), s.Policy, []string{string(scalerv1.PolicyUpstream), string(scalerv1.PolicyPredictive)}))
	}
	return errs
}

func objectRef(ref autoscalingv2.CrossVersionObjectReference, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if ref.Kind == "" {
		errs = append(errs, field.Required(p.Child("kind"), "e.g. Deployment"))
	} else if msgs := utilvalidation.IsDNS1035Label(strings.ToLower(ref.Kind)); len(msgs) > 0 {
		errs = append(errs, field.Invalid(p.Child("kind"), ref.Kind, "must be a resource kind such as Deployment"))
	}
	if ref.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), "name of the object"))
	} else if msgs := utilvalidation.IsDNS1123Subdomain(ref.Name); len(msgs) > 0 {
		errs = append(errs, field.Invalid(p.Child("name"), ref.Name, strings.Join(msgs, "; ")))
	}
	if ref.APIVersion != "" {
		if _, err := schema.ParseGroupVersion(ref.APIVersion); err != nil {
			errs = append(errs, field.Invalid(p.Child("apiVersion"), ref.APIVersion, "must be group/version or version, e.g. apps/v1"))
		}
	}
	return errs
}

var sourceTypes = []string{
	string(autoscalingv2.ObjectMetricSourceType), string(autoscalingv2.PodsMetricSourceType),
	string(autoscalingv2.ResourceMetricSourceType), string(autoscalingv2.ContainerResourceMetricSourceType),
	string(autoscalingv2.ExternalMetricSourceType), string(scalerv1.PrometheusMetricSourceType),
}

func metric(m *scalerv1.MetricSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	set := map[autoscalingv2.MetricSourceType]bool{
		autoscalingv2.ObjectMetricSourceType:            m.Object != nil,
		autoscalingv2.PodsMetricSourceType:              m.Pods != nil,
		autoscalingv2.ResourceMetricSourceType:          m.Resource != nil,
		autoscalingv2.ContainerResourceMetricSourceType: m.ContainerResource != nil,
		autoscalingv2.ExternalMetricSourceType:          m.External != nil,
		scalerv1.PrometheusMetricSourceType:             m.Prometheus != nil,
	}
	if _, known := set[m.Type]; !known {
		if m.Type == "" {
			return append(errs, field.Required(p.Child("type"), "one of "+strings.Join(sourceTypes, ", ")))
		}
		return append(errs, field.NotSupported(p.Child("type"), m.Type, sourceTypes))
	}
	for _, name := range sourceTypes { // in a fixed order, for stable messages
		if t := autoscalingv2.MetricSourceType(name); set[t] && t != m.Type {
			errs = append(errs, field.Forbidden(p.Child(fieldName(t)), "must be unset when type is "+string(m.Type)))
		}
	}
	if !set[m.Type] {
		return append(errs, field.Required(p.Child(fieldName(m.Type)), "must be set when type is "+string(m.Type)))
	}
	if t := m.ActivationThreshold; t != nil {
		switch {
		case !ActivationMetric(m.Type):
			errs = append(errs, field.Forbidden(p.Child("activationThreshold"), "only Object, External and Prometheus metrics have one"))
		case t.Sign() < 0:
			errs = append(errs, field.Invalid(p.Child("activationThreshold"), t.String(), "must not be negative"))
		}
	}
	switch m.Type {
	case autoscalingv2.ResourceMetricSourceType:
		errs = append(errs, resourceTarget(string(m.Resource.Name), m.Resource.Target, p.Child("resource"))...)
	case autoscalingv2.ContainerResourceMetricSourceType:
		cp := p.Child("containerResource")
		errs = append(errs, resourceTarget(string(m.ContainerResource.Name), m.ContainerResource.Target, cp)...)
		if m.ContainerResource.Container == "" {
			errs = append(errs, field.Required(cp.Child("container"), "name of the container whose usage counts"))
		} else if msgs := utilvalidation.IsDNS1123Label(m.ContainerResource.Container); len(msgs) > 0 {
			errs = append(errs, field.Invalid(cp.Child("container"), m.ContainerResource.Container, strings.Join(msgs, "; ")))
		}
	case autoscalingv2.PodsMetricSourceType:
		pp := p.Child("pods")
		errs = append(errs, metricName(m.Pods.Metric, pp.Child("metric"))...)
		errs = append(errs, target(m.Pods.Target, pp.Child("target"), autoscalingv2.AverageValueMetricType)...)
	case autoscalingv2.ObjectMetricSourceType:
		op := p.Child("object")
		errs = append(errs, objectRef(m.Object.DescribedObject, op.Child("describedObject"))...)
		errs = append(errs, metricName(m.Object.Metric, op.Child("metric"))...)
		errs = append(errs, target(m.Object.Target, op.Child("target"), autoscalingv2.ValueMetricType, autoscalingv2.AverageValueMetricType)...)
	case autoscalingv2.ExternalMetricSourceType:
		ep := p.Child("external")
		errs = append(errs, metricName(m.External.Metric, ep.Child("metric"))...)
		errs = append(errs, target(m.External.Target, ep.Child("target"), autoscalingv2.ValueMetricType, autoscalingv2.AverageValueMetricType)...)
	case scalerv1.PrometheusMetricSourceType:
		pp := p.Child("prometheus")
		switch q := m.Prometheus.Query; {
		case strings.TrimSpace(q) == "":
			errs = append(errs, field.Required(pp.Child("query"), "a PromQL query returning one series, e.g. sum(rate(http_requests_total[1m]))"))
		case len(q) > MaxQueryLength:
			errs = append(errs, field.TooLong(pp.Child("query"), "", MaxQueryLength))
		default:
			if err := promql.Parse(q); err != nil {
				errs = append(errs, field.Invalid(pp.Child("query"), q, "not PromQL: "+err.Error()))
			}
		}
		errs = append(errs, target(m.Prometheus.Target, pp.Child("target"), autoscalingv2.ValueMetricType, autoscalingv2.AverageValueMetricType)...)
	}
	return errs
}

func fieldName(t autoscalingv2.MetricSourceType) string {
	s := string(t)
	return strings.ToLower(s[:1]) + s[1:]
}

func metricName(id autoscalingv2.MetricIdentifier, p *field.Path) field.ErrorList {
	if id.Name == "" {
		return field.ErrorList{field.Required(p.Child("name"), "name of the metric")}
	}
	return nil
}

func resourceTarget(name string, t autoscalingv2.MetricTarget, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if name == "" {
		errs = append(errs, field.Required(p.Child("name"), "e.g. cpu or memory"))
	}
	return append(errs, target(t, p.Child("target"), autoscalingv2.UtilizationMetricType, autoscalingv2.AverageValueMetricType)...)
}

// target checks that t has one of the allowed types and exactly the field
// that type uses, with a positive value.
func target(t autoscalingv2.MetricTarget, p *field.Path, allowed ...autoscalingv2.MetricTargetType) field.ErrorList {
	var errs field.ErrorList
	ok := false
	names := make([]string, len(allowed))
	for i, a := range allowed {
		ok = ok || t.Type == a
		names[i] = string(a)
	}
	if !ok {
		if t.Type == "" {
			return append(errs, field.Required(p.Child("type"), "one of "+strings.Join(names, ", ")))
		}
		return append(errs, field.NotSupported(p.Child("type"), t.Type, names))
	}
	uses := func(f string) bool {
		return (f == "value" && t.Type == autoscalingv2.ValueMetricType) ||
			(f == "averageValue" && t.Type == autoscalingv2.AverageValueMetricType) ||
			(f == "averageUtilization" && t.Type == autoscalingv2.UtilizationMetricType)
	}
	checkQ := func(f string, q *resource.Quantity) {
		switch {
		case q == nil && uses(f):
			errs = append(errs, field.Required(p.Child(f), "must be set when type is "+string(t.Type)))
		case q != nil && !uses(f):
			errs = append(errs, field.Forbidden(p.Child(f), "must be unset when type is "+string(t.Type)))
		case q != nil && q.Sign() <= 0:
			errs = append(errs, field.Invalid(p.Child(f), q.String(), "must be positive"))
		}
	}
	checkQ("value", t.Value)
	checkQ("averageValue", t.AverageValue)
	switch u := t.AverageUtilization; {
	case u == nil && uses("averageUtilization"):
		errs = append(errs, field.Required(p.Child("averageUtilization"), "a percentage of the request, e.g. 50"))
	case u != nil && !uses("averageUtilization"):
		errs = append(errs, field.Forbidden(p.Child("averageUtilization"), "must be unset when type is "+string(t.Type)))
	case u != nil && *u <= 0:
		errs = append(errs, field.Invalid(p.Child("averageUtilization"), *u, "must be positive"))
	}
	return errs
}

var selectPolicies = []string{string(autoscalingv2.MaxChangePolicySelect), string(autoscalingv2.MinChangePolicySelect), string(autoscalingv2.DisabledPolicySelect)}

func scalingRules(r *autoscalingv2.HPAScalingRules, p *field.Path) field.ErrorList {
	if r == nil {
		return nil
	}
	var errs field.ErrorList
	if w := r.StabilizationWindowSeconds; w != nil && (*w < 0 || *w > MaxStabilizationWindow) {
		errs = append(errs, field.Invalid(p.Child("stabilizationWindowSeconds"), *w, "must be between 0 and 3600"))
	}
	if s := r.SelectPolicy; s != nil && *s != autoscalingv2.MaxChangePolicySelect && *s != autoscalingv2.MinChangePolicySelect && *s != autoscalingv2.DisabledPolicySelect {
		errs = append(errs, field.NotSupported(p.Child("selectPolicy"), *s, selectPolicies))
	}
	if r.Policies != nil && len(r.Policies) == 0 {
		errs = append(errs, field.Required(p.Child("policies"), "at least one policy, or omit policies for the default"))
	}
	for i, pol := range r.Policies {
		pp := p.Child("policies").Index(i)
		if pol.Type != autoscalingv2.PodsScalingPolicy && pol.Type != autoscalingv2.PercentScalingPolicy {
			errs = append(errs, field.NotSupported(pp.Child("type"), pol.Type, []string{string(autoscalingv2.PodsScalingPolicy), string(autoscalingv2.PercentScalingPolicy)}))
		}
		if pol.Value <= 0 {
			errs = append(errs, field.Invalid(pp.Child("value"), pol.Value, "must be greater than zero"))
		}
		if pol.PeriodSeconds <= 0 || pol.PeriodSeconds > MaxPolicyPeriod {
			errs = append(errs, field.Invalid(pp.Child("periodSeconds"), pol.PeriodSeconds, "must be between 1 and 1800"))
		}
	}
	if tol := r.Tolerance; tol != nil && tol.Sign() < 0 {
		errs = append(errs, field.Invalid(p.Child("tolerance"), tol.String(), "must be greater than or equal to zero"))
	}
	return errs
}
