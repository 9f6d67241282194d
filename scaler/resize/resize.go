// Package resize decides which running pods of a VPA's target get new
// requests, and how: in place through the pods/resize subresource, or, where
// that cannot work and the update mode allows recreation, by eviction. It is
// what upstream's VPA updater does, minus most evictions. Pure logic: the
// controller (scaler/updater) fills Input from its caches and acts on the
// Decision.
//
// The new resources are those the admission path would give the pod
// (recommender/sizing.Decide), so a resized pod and a recreated one agree; a pod
// is updated only when a request leaves the recommendation's
// [lowerBound, upperBound] (sizing.OutsideBounds).
package resize

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"

	"github.com/tailor-dev/tailor/recommender/sizing"
)

// Config bounds how fast running pods change.
type Config struct {
	// MaxPerWorkload is how many pods of one VPA's target may be updating at
	// once: resizes the kubelet has not finished count, plus this pass's
	// resizes and evictions.
	MaxPerWorkload int
	// Cooldown: a pod resized or evicted is not updated again for this long
	// (an eviction fallback after a failed resize does not wait).
	Cooldown time.Duration
	// MinReplicas: no eviction while fewer live pods than this remain (the
	// VPA's updatePolicy.minReplicas wins). Upstream's --min-replicas, 2.
	MinReplicas int32
	// DeferredTimeout: a resize the kubelet defers for longer falls back to
	// eviction (upstream: 5m).
	DeferredTimeout time.Duration
	// InProgressTimeout: a resize in progress for longer falls back to
	// eviction (upstream: 1h).
	InProgressTimeout time.Duration
}

// DefaultConfig returns the defaults of the updater's flags.
func DefaultConfig() Config {
	return Config{MaxPerWorkload: 1, Cooldown: 5 * time.Minute, MinReplicas: 2, DeferredTimeout: 5 * time.Minute, InProgressTimeout: time.Hour}
}

// Validate refuses settings that would stop the updater or let it loop.
func (c Config) Validate() error {
	var errs []error
	if c.MaxPerWorkload < 1 {
		errs = append(errs, fmt.Errorf("max pods per workload must be at least 1, got %d", c.MaxPerWorkload))
	}
	if c.MinReplicas < 1 {
		errs = append(errs, fmt.Errorf("min replicas must be at least 1, got %d", c.MinReplicas))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"pod cooldown", c.Cooldown}, {"resize deferred timeout", c.DeferredTimeout}, {"resize in-progress timeout", c.InProgressTimeout}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative, got %s", d.name, d.v))
		}
	}
	return errors.Join(errs...)
}

// Pod is one pod of the target with what the controller remembers of it.
type Pod struct {
	Pod *corev1.Pod
	// LastUpdate is when the updater last resized or evicted the pod; zero
	// when never (or not since the updater started).
	LastUpdate time.Time
	// Rejected, when set, is why the API server refused the last in-place
	// resize of this pod: in place is impossible for it.
	Rejected string
}

// Input is one VPA and its target's pods.
type Input struct {
	VPA         *vpav1.VerticalPodAutoscaler
	Pods        []Pod
	LimitRanges []corev1.LimitRange
	// Hold lists resources scaled horizontally (scaler/coordination): never changed.
	Hold []corev1.ResourceName
	// RollingOut, when set, says why the target is rolling out: its new pods
	// get the recommendation at admission, so running ones are left alone.
	RollingOut string
	Now        time.Time
}

// Action is what happens to a pod.
type Action string

const (
	Resize Action = "resize"
	Evict  Action = "evict"
)

// Update is one pod to change.
type Update struct {
	Pod    *corev1.Pod
	Action Action
	// Changes are the containers' new resources (for Resize).
	Changes []sizing.ContainerChange
	// Summary is old -> new, e.g. "hamster: cpu 100m->587m (vpa hamster-vpa)".
	Summary string
	// Why the pod is updated (the requests outside the bounds) and, for an
	// eviction, why not in place.
	Why string
}

// Reasons a pod that needs an update waits (Decision.Waiting keys).
const (
	WaitCooldown    = "cooldown"
	WaitBudget      = "budget"
	WaitResizing    = "resizing"
	WaitMinReplicas = "min_replicas"
	WaitNoRecreate  = "no_recreate" // in place impossible and the mode is InPlace
	// WaitEvictionRequirements: in place is impossible and the VPA's
	// updatePolicy.evictionRequirements do not allow this change's eviction.
	WaitEvictionRequirements = "eviction_requirements"
	// WaitStartupBoost: the pod runs with its startup boost, which the
	// updater's unboost controller undoes when it ends.
	WaitStartupBoost = "startup_boost"
)

// Decision is what to do with one VPA's pods.
type Decision struct {
	// Skipped says why no pod was considered, when none was.
	Skipped string
	Updates []Update
	// Waiting counts pods that need an update but do not get one now, by reason.
	Waiting map[string]int
}

// Reasons for Decision.Skipped.
const (
	SkipNoVPA            = "no VPA"
	SkipNoRecommendation = "no recommendation"
	SkipRollingOut       = "rolling out"
)

// candidate is a pod outside the bounds that may be updated.
type candidate struct {
	Update
	gaps     []sizing.Gap
	actual   *corev1.Pod // with the resources the kubelet reports
	fallback string      // why not in place, when known up front
	barred   bool        // evictionRequirements bar the eviction
	distance float64
	created  time.Time
}

// work decides the candidate's action and new resources. It returns false
// when there is nothing to do: the spec already holds what admission would
// give, or (Action Evict) in place is impossible and the mode does not
// allow recreation.
func (c *candidate) work(in Input, recreate bool) (bool, error) {
	c.Why = gapsText(c.gaps)
	if c.fallback == "" {
		dec, err := sizing.Decide(sizing.Input{Pod: c.Pod, VPA: in.VPA, LimitRanges: in.LimitRanges, Hold: in.Hold})
		if err != nil {
			return false, err
		}
		if len(dec.Changes) == 0 {
			// The kubelet has yet to apply the spec (or caps keep the
			// request outside the bounds): resizing again would change
			// nothing.
			return false, nil
		}
		before, after := qosClass(c.Pod, nil), qosClass(c.Pod, dec.Changes)
		if before == after {
			c.Action, c.Changes, c.Summary = Resize, dec.Changes, dec.Annotation
			return true, nil
		}
		c.fallback = fmt.Sprintf("the QoS class would change from %s to %s, which a resize cannot do", before, after)
	}
	c.Action, c.Why = Evict, c.Why+"; "+c.fallback
	if !recreate {
		return false, nil
	}
	// What the replacement gets, from what the pod runs with now.
	dec, err := sizing.Decide(sizing.Input{Pod: c.actual, VPA: in.VPA, LimitRanges: in.LimitRanges, Hold: in.Hold})
	if err != nil {
		return false, err
	}
	if why := EvictionBarred(in.VPA, dec.Changes); why != "" {
		c.barred, c.Why = true, c.Why+"; "+why
		return false, nil
	}
	c.Summary = dec.Annotation
	if c.Summary == "" {
		c.Summary = "recreated (vpa " + in.VPA.Name + ")"
	}
	return true, nil
}

// EvictionBarred says why the VPA's updatePolicy.evictionRequirements do
// not allow evicting a pod for changes, or "" when they do. As upstream's
// updater reads them: every requirement must hold, and one holds when the
// new request of any of its resources, in any container, is on its side of
// the current one (TargetHigherThanRequests: above).
func EvictionBarred(vpa *vpav1.VerticalPodAutoscaler, changes []sizing.ContainerChange) string {
	p := vpa.Spec.UpdatePolicy
	if p == nil {
		return ""
	}
	for _, er := range p.EvictionRequirements {
		if er == nil {
			continue
		}
		met := false
		for _, ch := range changes {
			for _, r := range er.Resources {
				after, ok := ch.After.Requests[r]
				if !ok {
					continue
				}
				before := ch.Before.Requests[r] // absent: zero
				switch c := after.Cmp(before); er.ChangeRequirement {
				case vpav1.TargetHigherThanRequests:
					met = met || c > 0
				case vpav1.TargetLowerThanRequests:
					met = met || c < 0
				}
			}
		}
		if !met {
			return fmt.Sprintf("evictionRequirements: no container's %v request would change as %s asks", er.Resources, er.ChangeRequirement)
		}
	}
	return ""
}

// Decide picks the pods to update. It returns an error for malformed input
// (a quantity that cannot be read); nothing should then be changed.
func Decide(in Input, cfg Config) (Decision, error) {
	var d Decision
	vpa := in.VPA
	if vpa == nil {
		d.Skipped = SkipNoVPA
		return d, nil
	}
	recreate, skip := Mode(vpa)
	if skip != "" {
		d.Skipped = skip
		return d, nil
	}
	if r := vpa.Status.Recommendation; r == nil || len(r.ContainerRecommendations) == 0 {
		d.Skipped = SkipNoRecommendation
		return d, nil
	}
	if in.RollingOut != "" {
		d.Skipped = SkipRollingOut + ": " + in.RollingOut
		return d, nil
	}
	minReplicas := cfg.MinReplicas
	if p := vpa.Spec.UpdatePolicy; p != nil && p.MinReplicas != nil {
		minReplicas = *p.MinReplicas
	}
	wait := func(reason string) {
		if d.Waiting == nil {
			d.Waiting = map[string]int{}
		}
		d.Waiting[reason]++
	}

	live, inFlight := 0, 0
	var cands []candidate
	for _, p := range in.Pods {
		pod := p.Pod
		if pod == nil || pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		live++
		if pod.Status.Phase != corev1.PodRunning {
			continue // a pending pod is recreated or started soon enough
		}
		actual := actualPod(pod)
		gaps, err := sizing.OutsideBounds(sizing.Input{Pod: actual, VPA: vpa, Hold: in.Hold})
		if err != nil {
			return Decision{}, fmt.Errorf("pod %s: %w", pod.Name, err)
		}
		rs := resizeStateOf(pod, in.Now, cfg)
		if rs.ongoing {
			inFlight++
			if len(gaps) > 0 {
				wait(WaitResizing)
			}
			continue
		}
		if len(gaps) == 0 {
			continue
		}
		if st, ok := sizing.BoostStateOf(pod); ok && st.Active() {
			wait(WaitStartupBoost)
			continue
		}
		c := candidate{Update: Update{Pod: pod}, gaps: gaps, actual: actual, created: pod.CreationTimestamp.Time, fallback: rs.fallback}
		for _, g := range gaps {
			c.distance = max(c.distance, g.Distance)
		}
		if c.fallback == "" && p.Rejected != "" {
			c.fallback = "the API server refused the resize: " + p.Rejected
		}
		if c.fallback == "" && !p.LastUpdate.IsZero() && in.Now.Sub(p.LastUpdate) < cfg.Cooldown {
			wait(WaitCooldown)
			continue
		}
		cands = append(cands, c)
	}
	// Farthest from the target first, then the oldest, then by name: the
	// order does not depend on the cache's. Candidates are only worked out
	// (sizing.Decide) while the budget lasts.
	slices.SortFunc(cands, func(a, b candidate) int {
		if c := cmp.Compare(b.distance, a.distance); c != 0 {
			return c
		}
		if c := a.created.Compare(b.created); c != 0 {
			return c
		}
		return cmp.Compare(a.Pod.Name, b.Pod.Name)
	})
	budget := cfg.MaxPerWorkload - inFlight
	for i := range cands {
		c := &cands[i]
		if budget <= 0 {
			wait(WaitBudget)
			continue
		}
		ok, err := c.work(in, recreate)
		if err != nil {
			return Decision{}, fmt.Errorf("pod %s: %w", c.Pod.Name, err)
		}
		switch {
		case !ok:
			switch {
			case c.barred:
				wait(WaitEvictionRequirements)
			case c.Action == Evict:
				wait(WaitNoRecreate)
			}
		case c.Action == Evict && live < int(minReplicas):
			wait(WaitMinReplicas)
		default:
			d.Updates = append(d.Updates, c.Update)
			budget--
		}
	}
	return d, nil
}

// Mode says whether the VPA's mode lets running pods be recreated, or why
// running pods are not touched at all. No mode is Recreate, the API's default.
func Mode(vpa *vpav1.VerticalPodAutoscaler) (recreate bool, skip string) {
	if vpa.Spec.UpdatePolicy == nil || vpa.Spec.UpdatePolicy.UpdateMode == nil {
		return true, ""
	}
	switch m := *vpa.Spec.UpdatePolicy.UpdateMode; m {
	case "", vpav1.UpdateModeAuto, vpav1.UpdateModeRecreate, vpav1.UpdateModeInPlaceOrRecreate:
		return true, ""
	case vpav1.UpdateModeInPlace:
		return false, ""
	case vpav1.UpdateModeOff, vpav1.UpdateModeInitial:
		return false, "updateMode " + string(m)
	default:
		return false, fmt.Sprintf("unknown updateMode %q", m)
	}
}

func gapsText(gaps []sizing.Gap) string {
	s := ""
	for i, g := range gaps {
		if i > 0 {
			s += ", "
		}
		s += g.String()
	}
	return s
}

// actualPod returns pod with each container's resources replaced by those
// the kubelet reports in its status, where it reports any: during a resize
// the spec says what is asked, the status what runs.
func actualPod(pod *corev1.Pod) *corev1.Pod {
	reported := func(statuses []corev1.ContainerStatus) map[string]*corev1.ResourceRequirements {
		var m map[string]*corev1.ResourceRequirements
		for i := range statuses {
			if r := statuses[i].Resources; r != nil {
				if m == nil {
					m = map[string]*corev1.ResourceRequirements{}
				}
				m[statuses[i].Name] = r
			}
		}
		return m
	}
	rc, ri := reported(pod.Status.ContainerStatuses), reported(pod.Status.InitContainerStatuses)
	if rc == nil && ri == nil {
		return pod
	}
	out := *pod
	out.Spec.Containers = withReported(pod.Spec.Containers, rc)
	out.Spec.InitContainers = withReported(pod.Spec.InitContainers, ri)
	return &out
}

func withReported(cs []corev1.Container, rep map[string]*corev1.ResourceRequirements) []corev1.Container {
	if rep == nil {
		return cs
	}
	out := slices.Clone(cs)
	for i := range out {
		if r := rep[out[i].Name]; r != nil {
			out[i].Resources = corev1.ResourceRequirements{Requests: r.Requests, Limits: r.Limits, Claims: out[i].Resources.Claims}
		}
	}
	return out
}
