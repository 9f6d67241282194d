package logic

import (
	"fmt"
	"math"
	"slices"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
)

// Predictive is the predictive policy's settings (a ReplicaAutoscaler
// with spec.policy: Predictive). The HPA reacts to load it saw up to a
// metric window ago, through a ±10 % dead band, and adds pods that serve
// only a pod start later; upstream's 5-minute scale-down window then holds
// the peak long after it passed. The predictive policy instead sizes for
// the demand (Proposal.Demand: the replicas the measured usage needs at
// exactly the target, unrounded, summed over every measured pod):
//
//   - the forecast is a robust (Theil–Sen) line through the demands of
//     the last Fit — the median of the slopes between every two demands,
//     through the median of the residuals — at now, raised by its slope
//     Lead ahead when rising (a falling trend is not extrapolated:
//     scale-down waits for measurements). A least-squares line through a
//     step (a burst) tilts up and overshoots the new level by about half
//     the step for a whole Fit; the medians settle on the new level once
//     it holds most (about 70 %) of the demands, and one outlier (an idle
//     window) does not move them;
//   - every decision compares the demand it measures with the forecast
//     made Lead earlier for it; the relative errors of the last ErrWindow
//     (signed: demand ÷ forecast − 1) size the margin (their Quantile) and
//     the surprise threshold (the earlier ones' ReactQuantile, at least
//     0): a measured demand above forecast × (1 + that) is followed at
//     once, as a step the trend has not caught up with. Above every earlier error of the
//     window (StepQuantile) it is a step still entering the metric
//     window, whose level is estimated from the window mean's last rise
//     (stepLevel);
//   - the count is ceil(base × (1 + margin)): a margin below zero when the
//     forecasts ran high more often than not (e.g. a falling trend, which
//     is not extrapolated), so the bias is corrected from the workload's
//     own errors instead of always rounding toward more pods;
//   - it scales down no further than the measured demand needs (a dip
//     of a noisy demand pulls the line down; the pods would come back a
//     start later, and a minute over target meanwhile), and
//     only on a measurement of the current pods: when the
//     metric window began after the last rescale (a removed pod's usage is
//     missing from the samples, so an earlier window would understate the
//     demand and scale down again) and every ready pod has a sample (one
//     without is not counted yet). A pod that became ready during the
//     window is in it for the part it served, which is what the sum of
//     usage needs: no waiting for pods to settle.
//
// Until there is a forecast (fewer than three demands) or when no metric
// gives a demand, it follows the HPA's proposal. Both directions keep the
// HPA's scale-up rate limit (double or +4) and min/max.
type Predictive struct {
	// Lead is how far ahead a rising trend is extrapolated (45 s).
	Lead time.Duration
	// Fit is the span of demands the trend is fitted over (5 min).
	Fit time.Duration
	// ErrWindow is the span of forecast errors kept (1 h); Quantile the
	// quantile of them that is the margin (0.5), ReactQuantile the one
	// above which a measured demand is followed at once (0.8).
	ErrWindow     time.Duration
	Quantile      float64
	ReactQuantile float64
	// StepQuantile is the quantile of the errors above which a measured
	// demand is a step still entering the metric window (1: above every
	// error of the window).
	StepQuantile float64
}

// DefaultPredictive returns the policy's defaults.
func DefaultPredictive() Predictive {
	return Predictive{Lead: 45 * time.Second, Fit: 5 * time.Minute, ErrWindow: time.Hour, Quantile: 0.5, ReactQuantile: 0.8, StepQuantile: 1}
}

// Forecast is the Theil–Sen line through the finite demands recorded in
// [now − fit, now] (slope: the median of the slopes between every two
// at different times, 0 when all are at one instant; value at now: the
// median of demand − slope × age), plus its slope × lead when the slope
// is positive; ok is false with fewer than three demands.
func Forecast(recs []Recommendation, now time.Time, fit, lead time.Duration) (float64, bool) {
	from := now.Add(-fit)
	xs, ys := make([]float64, 0, len(recs)), make([]float64, 0, len(recs))
	for _, r := range recs {
		if r.Time.Before(from) || r.Time.After(now) || math.IsNaN(r.Demand) || math.IsInf(r.Demand, 0) {
			continue
		}
		xs, ys = append(xs, r.Time.Sub(now).Seconds()), append(ys, r.Demand)
	}
	n := len(xs)
	if n < 3 {
		return 0, false
	}
	slopes := make([]float64, 0, n*(n-1)/2)
	for i := range n {
		for j := i + 1; j < n; j++ {
			if dx := xs[j] - xs[i]; dx != 0 {
				slopes = append(slopes, (ys[j]-ys[i])/dx)
			}
		}
	}
	slope := 0.0
	if len(slopes) > 0 {
		slope = median(slopes)
	}
	for i := range ys {
		ys[i] -= slope * xs[i]
	}
	v := median(ys) + max(slope, 0)*lead.Seconds()
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	return max(v, 0), true
}

// median sorts xs and returns its median (the mean of the middle two for
// an even count).
func median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return xs[n/2-1]/2 + xs[n/2]/2
}

// Margin is the q-quantile (nearest rank) of the finite forecast errors
// recorded since from; 0 without any. Signed: negative when more than q
// of the forecasts ran high.
func Margin(recs []Recommendation, from time.Time, q float64) float64 {
	return Margins(recs, from, q)[0]
}

// Margins is Margin for several quantiles, sorting the errors once.
func Margins(recs []Recommendation, from time.Time, qs ...float64) []float64 {
	errs := sortedErrors(recs, from)
	out := make([]float64, len(qs))
	for k, q := range qs {
		out[k] = quantile(errs, q)
	}
	return out
}

// sortedErrors are the finite forecast errors recorded since from, sorted.
func sortedErrors(recs []Recommendation, from time.Time) []float64 {
	errs := make([]float64, 0, len(recs)+1)
	for _, r := range recs {
		if !r.Time.Before(from) && !math.IsNaN(r.Error) && !math.IsInf(r.Error, 0) {
			errs = append(errs, r.Error)
		}
	}
	slices.Sort(errs)
	return errs
}

// quantile is the q-quantile (nearest rank) of the sorted errs; 0 without
// any or for a q that is not at least 0.
func quantile(errs []float64, q float64) float64 {
	if len(errs) == 0 || !(q >= 0) {
		return 0
	}
	i := int(math.Ceil(min(q, 1)*float64(len(errs)))) - 1
	return errs[min(max(i, 0), len(errs)-1)]
}

// errorOf is the relative error of the forecast made for now (by the
// newest record at least lead old, if within half a lead of it) against
// the demand measured now; NaN without one.
func errorOf(recs []Recommendation, now time.Time, lead time.Duration, demand float64) float64 {
	due := now.Add(-lead)
	for i := len(recs) - 1; i >= 0; i-- {
		r := recs[i]
		if r.Time.After(due) {
			continue
		}
		if due.Sub(r.Time) > lead/2 || !(r.Forecast > 0) {
			return math.NaN()
		}
		return demand/r.Forecast - 1
	}
	return math.NaN()
}

// stepLevel estimates the level of a step still entering the metric
// window. The window mean rises by (level − old) × dt ÷ window a decision
// while the step fills it, so the level is demand + the last rise ×
// (window − k) ÷ dt, k the time the step has been in the window: the time
// since the decision before the run of step decisions that ends with
// this one, less half the last interval (a step enters, on average,
// halfway between two decisions). ok is false when the window is already
// full of it (k ≥ window), or without an earlier, lower demand.
func stepLevel(in *Input, recs []Recommendation, demand float64) (float64, bool) {
	if len(recs) == 0 {
		return 0, false
	}
	prev := recs[len(recs)-1]
	before := len(recs) - 1 // the decision before the run of steps
	for before >= 0 && recs[before].Step {
		before--
	}
	if before < 0 {
		return 0, false
	}
	var w time.Duration
	for _, m := range in.Metrics {
		for _, s := range m.Pods {
			w = max(w, s.Window)
		}
	}
	dt := in.Now.Sub(prev.Time)
	k := in.Now.Sub(recs[before].Time) - dt/2
	if !(prev.Demand > 0) || !(demand > prev.Demand) || dt <= 0 || k >= w {
		return 0, false
	}
	lvl := demand + (demand-prev.Demand)*(w-k).Seconds()/dt.Seconds()
	if math.IsNaN(lvl) || math.IsInf(lvl, 0) {
		return 0, false
	}
	return lvl, true
}

// lastChange is when the replica count last changed to current as the
// records tell: the newest record that started from another count (the
// decision that rescaled; zero when none did).
func lastChange(recs []Recommendation, current int32) time.Time {
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].Current != current {
			return recs[i].Time
		}
	}
	return time.Time{}
}

// metricStart is the start of the oldest metric window among in's
// per-pod samples (zero without any).
func metricStart(in *Input) time.Time {
	var start time.Time
	for _, m := range in.Metrics {
		for _, s := range m.Pods {
			if w := s.Timestamp.Add(-s.Window); start.IsZero() || w.Before(start) {
				start = w
			}
		}
	}
	return start
}

// unmeasured is the first ready pod (not being deleted) that has no
// sample in a valid per-pod metric of in: its usage is missing from the
// demand. "" when every ready pod is measured.
func unmeasured(in *Input) string {
	for i := range in.Pods {
		p := &in.Pods[i]
		if p.Deleting || p.Phase == corev1.PodFailed || p.Phase == corev1.PodSucceeded || p.Ready == nil || !p.Ready.Status {
			continue
		}
		for _, m := range in.Metrics {
			if m.Err != nil || len(m.Pods) == 0 {
				continue
			}
			if _, ok := m.Pods[p.Name]; !ok {
				return p.Name
			}
		}
	}
	return ""
}

// demandOf is the largest demand of the valid proposals; ok is false
// when none gives one.
func (d *Decision) demandOf() (dem float64, ok bool) {
	for _, p := range d.Proposals {
		if p.Err == nil && p.HasDemand && p.Demand >= 0 && !math.IsInf(p.Demand, 0) {
			dem, ok = max(dem, p.Demand), true
		}
	}
	return dem, ok
}

// normalizePredictive is normalizeLegacy's counterpart for the predictive
// policy (behavior is ignored: validation refuses both).
func (d *Decision) normalizePredictive(in *Input, current, desired, minReplicas int32) int32 {
	p := in.Config.Predictive
	cutoff := in.Now.Add(-max(p.Fit, p.ErrWindow, p.Lead+p.Lead/2))
	// d.History is Decide's copy: filtered in place.
	kept := d.History.Recommendations[:0]
	for _, r := range d.History.Recommendations {
		if !r.Time.Before(cutoff) {
			kept = append(kept, r)
		}
	}
	demand, measured := d.demandOf()
	rec := Recommendation{Replicas: desired, Time: in.Now, Demand: demand, Error: math.NaN(), Current: current}
	want := desired
	reason, msg := "FollowingProposal", fmt.Sprintf("no demand forecast yet: following the proposal %d", desired)
	if measured {
		rec.Error = errorOf(kept, in.Now, p.Lead, rec.Demand)
		all := append(kept, rec)
		if fc, ok := Forecast(all, in.Now, p.Fit, p.Lead); ok {
			rec.Forecast = fc
			from := in.Now.Add(-p.ErrWindow)
			// A surprise or a step is measured against the earlier errors
			// (this one's would only measure the step itself); the margin
			// counts it.
			errs := sortedErrors(kept, from)
			react := max(quantile(errs, p.ReactQuantile), 0)
			step := max(react, quantile(errs, p.StepQuantile))
			if e := rec.Error; !math.IsNaN(e) && !math.IsInf(e, 0) {
				i, _ := slices.BinarySearch(errs, e)
				errs = slices.Insert(errs, i, e)
			}
			m := max(quantile(errs, p.Quantile), -1)
			base, how := fc, "forecast"
			if rec.Demand > fc*(1+react) {
				base, how = rec.Demand, "measured (above the forecast by more than its errors' "+quantileName(p.ReactQuantile)+")"
				m = max(m, 0) // the margin corrects the forecast's bias, not a measurement's
				if rec.Step = rec.Demand > fc*(1+step); rec.Step {
					if lvl, ok := stepLevel(in, kept, rec.Demand); ok {
						base, how = lvl, fmt.Sprintf("of a step (measured %.2f above the forecast by more than its errors' %s; the part of the metric window that saw it)", rec.Demand, quantileName(p.StepQuantile))
					}
				}
			}
			want = ceilReplicas(base*(1+m) - 1e-9)
			rec.Replicas = want
			reason, msg = "ForecastScaleUp", fmt.Sprintf("demand %s %.2f replicas %+.1f%% (the forecast errors' %s) needs %d (proposal %d)", how, base, 100*m, quantileName(p.Quantile), want, desired)
		}
	}
	kept = append(kept, rec)
	d.History.Recommendations = kept
	if want < current {
		reason, msg = "ScaleDown", fmt.Sprintf("scaling down to the forecast demand's %d", want)
		changed, start := lastChange(kept, current), metricStart(in)
		if need := ceilReplicas(demand - 1e-9); measured && need > want {
			// The forecast alone does not scale down: a dip in a noisy
			// demand would, and the pods come back a start later.
			want = min(need, current)
			reason, msg = "ScaleDown", fmt.Sprintf("scaling down to %d: the measured demand %.2f replicas needs them (the forecast %d)", want, demand, rec.Replicas)
			if want == current {
				reason, msg = "ScaleDownStabilized", fmt.Sprintf("holding %d: the measured demand %.2f replicas needs them (the forecast %d)", current, demand, rec.Replicas)
			}
		}
		if pod := unmeasured(in); pod != "" {
			want = current
			reason, msg = "ScaleDownStabilized", fmt.Sprintf("holding %d: the ready pod %s has no metric sample yet", current, pod)
		} else if !start.IsZero() && start.Before(changed) {
			want = current
			reason, msg = "ScaleDownStabilized", fmt.Sprintf("holding %d: the metric window began at %s, before the last rescale (%s)", current, start.UTC().Format(time.RFC3339), changed.UTC().Format(time.RFC3339))
		}
	}
	if want == current && reason != "ScaleDownStabilized" {
		reason, msg = "ReadyForNewScale", msgReadyForNewScale
	}
	d.condition(autoscalingv2.AbleToScale, corev1.ConditionTrue, reason, msg)
	return d.legacyLimits(in, current, want, minReplicas)
}

func quantileName(q float64) string { return fmt.Sprintf("%.0f%% quantile", 100*q) }
