package logic

import (
	"fmt"
	"math"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
)

// Predictive is the predictive policy's settings (a ReplicaAutoscaler
// with spec.policy: Predictive). The HPA reacts to load it saw up to a
// metric window ago and adds pods that serve only a pod start later;
// upstream's 5-minute scale-down window then holds the peak long after it
// passed. The predictive policy instead:
//
//   - scales up to the need forecast Lead ahead: a least-squares line
//     through the proposals (the HPA's unstabilised replica counts) of the
//     last Fit, extrapolated, never below the current proposal; and
//   - scales down only when the forecast and every proposal of the last
//     DownWindow are below the current count (a removed pod saves its
//     cost at once, while re-adding it costs a pod start of risk).
//
// Both directions keep the HPA's scale-up rate limit (double or +4) and
// min/max.
type Predictive struct {
	// Lead is how far ahead the forecast looks: a pod start plus the
	// metric's lag at most; 30 s, as the trend of proposals
	// already lags.
	Lead time.Duration
	// Fit is the span of proposals the trend is fitted over (10 min).
	Fit time.Duration
	// DownWindow is the scale-down stabilisation (90 s).
	DownWindow time.Duration
	// MaxStep caps the forecast's rise over the current proposal, as a
	// fraction of it (0.1): a noisy slope must not inflate a workload.
	MaxStep float64
}

// DefaultPredictive returns the policy's defaults.
func DefaultPredictive() Predictive {
	return Predictive{Lead: 30 * time.Second, Fit: 10 * time.Minute, DownWindow: 90 * time.Second, MaxStep: 0.1}
}

// forecast is the least-squares line through the proposals since
// now − fit, evaluated at now + lead; ok is false with fewer than three.
func forecast(recs []Recommendation, now time.Time, fit, lead time.Duration) (float64, bool) {
	var n, sx, sy, sxx, sxy float64
	from := now.Add(-fit)
	for _, r := range recs {
		if r.Time.Before(from) {
			continue
		}
		x, y := r.Time.Sub(now).Seconds(), float64(r.Replicas)
		n++
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
	}
	if n < 3 {
		return 0, false
	}
	den := n*sxx - sx*sx
	if den <= 0 {
		return sy / n, true
	}
	slope := (n*sxy - sx*sy) / den
	icept := (sy - slope*sx) / n
	return icept + slope*lead.Seconds(), true
}

// normalizePredictive is normalizeLegacy's counterpart for the predictive
// policy (behavior is ignored: validation refuses both).
func (d *Decision) normalizePredictive(in *Input, current, desired, minReplicas int32) int32 {
	p := in.Config.Predictive
	keep := max(p.Fit, p.DownWindow)
	cutoff := in.Now.Add(-keep)
	kept := d.History.Recommendations[:0:0]
	for _, r := range d.History.Recommendations {
		if !r.Time.Before(cutoff) {
			kept = append(kept, r)
		}
	}
	kept = append(kept, Recommendation{Replicas: desired, Time: in.Now})
	d.History.Recommendations = kept

	want := desired
	fc, ok := forecast(kept, in.Now, p.Fit, p.Lead)
	if ok {
		fc = min(fc, float64(desired)*(1+p.MaxStep))
		want = max(want, int32(min(math.Ceil(fc-1e-9), math.MaxInt32)))
	}
	reason := "ForecastScaleUp"
	msg := fmt.Sprintf("the forecast %s ahead needs %d replicas (proposal %d)", p.Lead, want, desired)
	if want < current {
		// Scale down only to the largest proposal of the window.
		downFrom := in.Now.Add(-p.DownWindow)
		for _, r := range kept {
			if !r.Time.Before(downFrom) {
				want = max(want, r.Replicas)
			}
		}
		reason, msg = "ScaleDownStabilized", fmt.Sprintf("scaling down to the largest proposal and forecast of the last %s: %d", p.DownWindow, want)
	}
	if want == current {
		reason, msg = "ReadyForNewScale", msgReadyForNewScale
	}
	d.condition(autoscalingv2.AbleToScale, corev1.ConditionTrue, reason, msg)
	return d.legacyLimits(in, current, want, minReplicas)
}
