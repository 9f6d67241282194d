package logic

import (
	"math"
	"slices"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"

	scalerv1 "github.com/tailor-dev/tailor/scaler/api/v1alpha1"
)

// Condition reasons and messages of the HPA's normalisation step.
const (
	msgScaleUpStabilized   = "recent recommendations were lower than current one, applying the lowest recent recommendation"
	msgScaleDownStabilized = "recent recommendations were higher than current one, applying the highest recent recommendation"
	msgReadyForNewScale    = "recommended size matches current size"
	msgScaleUpLimit        = "the desired replica count is increasing faster than the maximum scale rate"
	msgScaleDownLimit      = "the desired replica count is decreasing faster than the maximum scale rate"
	msgTooManyReplicas     = "the desired replica count is more than the maximum replica count"
	msgTooFewReplicas      = "the desired replica count is less than the minimum replica count"
	msgDesiredWithinRange  = "the desired count is within the acceptable range"
)

// The legacy scale-up limit (no behavior): at most max(2 × current, 4) in one step.
const (
	legacyScaleUpFactor  = 2.0
	legacyScaleUpMinimum = 4.0
)

// Behavior returns spec.behavior with the API's defaults filled in, as the
// API server's defaulting does for an HPA, or nil when spec.behavior is
// unset (the HPA then uses its legacy normalisation). A scale-down window
// left unset is the controller's cfg.DownscaleStabilizationWindow.
//
// Defaults: scaleUp selects the larger of +4 pods and +100% per 15s with no
// stabilisation; scaleDown allows −100% per 15s after a 300s window.
func Behavior(spec *scalerv1.ReplicaAutoscalerSpec, cfg Config) *autoscalingv2.HorizontalPodAutoscalerBehavior {
	if spec == nil || spec.Behavior == nil {
		return nil
	}
	maxPolicy := autoscalingv2.MaxChangePolicySelect
	up := &autoscalingv2.HPAScalingRules{
		StabilizationWindowSeconds: ptr(int32(0)),
		SelectPolicy:               &maxPolicy,
		Policies: []autoscalingv2.HPAScalingPolicy{
			{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15},
			{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
		},
	}
	down := &autoscalingv2.HPAScalingRules{
		StabilizationWindowSeconds: ptr(int32(cfg.DownscaleStabilizationWindow / time.Second)),
		SelectPolicy:               &maxPolicy,
		Policies: []autoscalingv2.HPAScalingPolicy{
			{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
		},
	}
	overlay(up, spec.Behavior.ScaleUp)
	overlay(down, spec.Behavior.ScaleDown)
	return &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: up, ScaleDown: down}
}

func overlay(dst, src *autoscalingv2.HPAScalingRules) {
	if src == nil {
		return
	}
	if src.StabilizationWindowSeconds != nil {
		dst.StabilizationWindowSeconds = ptr(*src.StabilizationWindowSeconds)
	}
	if src.SelectPolicy != nil {
		dst.SelectPolicy = ptr(*src.SelectPolicy)
	}
	if src.Policies != nil {
		dst.Policies = slices.Clone(src.Policies)
	}
	if src.Tolerance != nil {
		t := src.Tolerance.DeepCopy()
		dst.Tolerance = &t
	}
}

func ptr[T any](v T) *T { return &v }

func tolerancesOf(b *autoscalingv2.HorizontalPodAutoscalerBehavior, cfg Config) tolerances {
	t := tolerances{down: cfg.Tolerance, up: cfg.Tolerance}
	if b != nil {
		if b.ScaleDown.Tolerance != nil {
			t.down = b.ScaleDown.Tolerance.AsApproximateFloat64()
		}
		if b.ScaleUp.Tolerance != nil {
			t.up = b.ScaleUp.Tolerance.AsApproximateFloat64()
		}
	}
	return t
}

// normalizeLegacy is the HPA's normalisation without behavior: the highest
// recommendation of the downscale window, then min, max and a scale-up of at
// most max(2 × current, 4).
func (d *Decision) normalizeLegacy(in *Input, current, desired, minReplicas int32) int32 {
	cutoff := in.Now.Add(-in.Config.DownscaleStabilizationWindow)
	stabilized := desired
	kept := d.History.Recommendations[:0:0]
	for _, r := range d.History.Recommendations {
		if r.Time.Before(cutoff) {
			continue
		}
		kept = append(kept, r)
		stabilized = max(stabilized, r.Replicas)
	}
	d.History.Recommendations = append(kept, Recommendation{Replicas: desired, Time: in.Now})
	if stabilized != desired {
		d.condition(autoscalingv2.AbleToScale, corev1.ConditionTrue, "ScaleDownStabilized", msgScaleDownStabilized)
	} else {
		d.condition(autoscalingv2.AbleToScale, corev1.ConditionTrue, "ReadyForNewScale", msgReadyForNewScale)
	}
	return d.legacyLimits(in, current, stabilized, minReplicas)
}

// legacyLimits clamps want to [minReplicas, maxReplicas] and to a
// scale-up of at most max(2 × current, 4), the HPA's limits without
// behavior, and says which held (ScalingLimited).
func (d *Decision) legacyLimits(in *Input, current, want, minReplicas int32) int32 {
	upper, reason, msg := in.Spec.MaxReplicas, "TooManyReplicas", msgTooManyReplicas
	if limit := int32(math.Min(math.Max(legacyScaleUpFactor*float64(current), legacyScaleUpMinimum), math.MaxInt32)); upper > limit {
		upper, reason, msg = limit, "ScaleUpLimit", msgScaleUpLimit
	}
	out := want
	switch {
	case want < minReplicas:
		out, reason, msg = minReplicas, "TooFewReplicas", msgTooFewReplicas
	case want > upper:
		out = upper
	default:
		reason, msg = "DesiredWithinRange", msgDesiredWithinRange
	}
	d.limited(out != want, reason, msg)
	return out
}

// normalizeWithBehavior is the HPA's normalisation with behavior: the
// recommendation is kept between the lowest of the scale-up window and the
// highest of the scale-down window, then limited by the policies' rates
// over the recent scale events, and by min and max.
func (d *Decision) normalizeWithBehavior(in *Input, b *autoscalingv2.HorizontalPodAutoscalerBehavior, current, desired, minReplicas int32) int32 {
	upCutoff := in.Now.Add(-time.Duration(*b.ScaleUp.StabilizationWindowSeconds) * time.Second)
	downCutoff := in.Now.Add(-time.Duration(*b.ScaleDown.StabilizationWindowSeconds) * time.Second)
	upRec, downRec := desired, desired
	kept := d.History.Recommendations[:0:0]
	for _, r := range d.History.Recommendations {
		inUp, inDown := r.Time.After(upCutoff), r.Time.After(downCutoff)
		if inUp {
			upRec = min(upRec, r.Replicas)
		}
		if inDown {
			downRec = max(downRec, r.Replicas)
		}
		if !r.Time.Before(upCutoff) || !r.Time.Before(downCutoff) { // still inside a window, or on its edge
			kept = append(kept, r)
		}
	}
	d.History.Recommendations = append(kept, Recommendation{Replicas: desired, Time: in.Now})
	stabilized := min(max(current, upRec), downRec)
	if stabilized != desired {
		if desired >= current {
			d.condition(autoscalingv2.AbleToScale, corev1.ConditionTrue, "ScaleUpStabilized", msgScaleUpStabilized)
		} else {
			d.condition(autoscalingv2.AbleToScale, corev1.ConditionTrue, "ScaleDownStabilized", msgScaleDownStabilized)
		}
	} else {
		d.condition(autoscalingv2.AbleToScale, corev1.ConditionTrue, "ReadyForNewScale", msgReadyForNewScale)
	}

	out, reason, msg := stabilized, "DesiredWithinRange", msgDesiredWithinRange
	switch {
	case stabilized > current:
		limit := max(scaleUpLimit(current, in.Now, d.History, b.ScaleUp), current)
		upper := in.Spec.MaxReplicas
		reason, msg = "TooManyReplicas", msgTooManyReplicas
		if upper > limit {
			upper, reason, msg = limit, "ScaleUpLimit", msgScaleUpLimit
		}
		if stabilized > upper {
			out = upper
		} else {
			reason, msg = "DesiredWithinRange", msgDesiredWithinRange
		}
	case stabilized < current:
		limit := min(scaleDownLimit(current, in.Now, d.History, b.ScaleDown), current)
		lower := minReplicas
		reason, msg = "TooFewReplicas", msgTooFewReplicas
		if lower < limit {
			lower, reason, msg = limit, "ScaleDownLimit", msgScaleDownLimit
		}
		if stabilized < lower {
			out = lower
		} else {
			reason, msg = "DesiredWithinRange", msgDesiredWithinRange
		}
	}
	d.limited(out != stabilized, reason, msg)
	return out
}

func (d *Decision) limited(limited bool, reason, msg string) {
	status := corev1.ConditionFalse
	if limited {
		status = corev1.ConditionTrue
	}
	d.condition(autoscalingv2.ScalingLimited, status, reason, msg)
}

// changeSince sums the replica changes of events within the last period.
func changeSince(events []ScaleEvent, now time.Time, periodSeconds int32) int32 {
	cutoff := now.Add(-time.Duration(periodSeconds) * time.Second)
	var n int32
	for _, e := range events {
		if e.Time.After(cutoff) {
			n += e.Change
		}
	}
	return n
}

// scaleUpLimit is the most replicas the scale-up policies allow now: each
// policy measures its rate from the replica count at the start of its period.
func scaleUpLimit(current int32, now time.Time, h History, rules *autoscalingv2.HPAScalingRules) int32 {
	sel := *rules.SelectPolicy
	if sel == autoscalingv2.DisabledPolicySelect {
		return current
	}
	result := int32(math.MinInt32)
	if sel == autoscalingv2.MinChangePolicySelect {
		result = math.MaxInt32
	}
	for _, p := range rules.Policies {
		start := int64(current) - int64(changeSince(h.ScaleUps, now, p.PeriodSeconds)) + int64(changeSince(h.ScaleDowns, now, p.PeriodSeconds))
		var proposed int32
		switch p.Type {
		case autoscalingv2.PodsScalingPolicy:
			proposed = clamp32(start + int64(p.Value))
		case autoscalingv2.PercentScalingPolicy:
			// Rounded up, or a small percentage would never add a pod.
			proposed = ceilReplicas(float64(start) * (1 + float64(p.Value)/100))
		default:
			continue
		}
		if sel == autoscalingv2.MinChangePolicySelect {
			result = min(result, proposed)
		} else {
			result = max(result, proposed)
		}
	}
	return result
}

// scaleDownLimit is the fewest replicas the scale-down policies allow now.
func scaleDownLimit(current int32, now time.Time, h History, rules *autoscalingv2.HPAScalingRules) int32 {
	sel := *rules.SelectPolicy
	if sel == autoscalingv2.DisabledPolicySelect {
		return current
	}
	result := int32(math.MaxInt32)
	if sel == autoscalingv2.MinChangePolicySelect {
		result = math.MinInt32
	}
	for _, p := range rules.Policies {
		start := int64(current) - int64(changeSince(h.ScaleUps, now, p.PeriodSeconds)) + int64(changeSince(h.ScaleDowns, now, p.PeriodSeconds))
		var proposed int32
		switch p.Type {
		case autoscalingv2.PodsScalingPolicy:
			proposed = clamp32(start - int64(p.Value))
		case autoscalingv2.PercentScalingPolicy:
			// Truncated, as upstream: the removal is rounded up.
			proposed = clamp32(int64(float64(start) * (1 - float64(p.Value)/100)))
		default:
			continue
		}
		if sel == autoscalingv2.MinChangePolicySelect {
			result = max(result, proposed)
		} else {
			result = min(result, proposed)
		}
	}
	return result
}

func clamp32(v int64) int32 {
	return int32(min(max(v, math.MinInt32), math.MaxInt32))
}

// RecordScale returns h with a rescale from → to recorded, for the
// behavior's rate limits; events older than the longest policy period of
// their direction are dropped. Without behavior the HPA keeps no events.
// Call it only after the scale was written.
func RecordScale(h History, spec *scalerv1.ReplicaAutoscalerSpec, cfg Config, from, to int32, now time.Time) History {
	b := Behavior(spec, cfg)
	if b == nil || from == to {
		return h
	}
	add := func(events []ScaleEvent, rules *autoscalingv2.HPAScalingRules, change int32) []ScaleEvent {
		var longest int32
		for _, p := range rules.Policies {
			longest = max(longest, p.PeriodSeconds)
		}
		cutoff := now.Add(-time.Duration(longest) * time.Second)
		out := make([]ScaleEvent, 0, len(events)+1)
		for _, e := range events {
			if !e.Time.Before(cutoff) {
				out = append(out, e)
			}
		}
		return append(out, ScaleEvent{Change: change, Time: now})
	}
	if to > from {
		h.ScaleUps = add(h.ScaleUps, b.ScaleUp, to-from)
	} else {
		h.ScaleDowns = add(h.ScaleDowns, b.ScaleDown, from-to)
	}
	return h
}
