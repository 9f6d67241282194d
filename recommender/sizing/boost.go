package sizing

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	jsonpatch "gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
)

// Startup CPU boost: a workload whose VPA sets upstream's startupBoost
// (spec.startupBoost.cpu, or containerPolicies[].startupBoost.cpu, which
// overrides it for its containers) has its new pods born with more CPU
// (requests, and limits in the same ratio) than the sizing decision gives
// them, until the pod has been Ready for the boost's durationSeconds; then
// the updater resizes them in place back to the values they would have
// been born with. The pod records both in PodBoostAnnotation, which is all
// the updater and the recommender read.

// PodBoostAnnotation is the pod annotation that records a boost, e.g.
// "app: cpu 500m->1, limit 1->2; until Ready+1m0s".
const PodBoostAnnotation = "tailor.dev/boosted"

// MaxBoostDuration bounds durationSeconds: a longer boost is a request
// size, not a start-up burst.
const MaxBoostDuration = 24 * time.Hour

// Boost is one container's boost, from the VPA's startupBoost.
type Boost struct {
	// Factor multiplies the CPU request (2 is twice); 0 when the boost is
	// to a quantity.
	Factor int64
	// Milli is the CPU request to raise the container to, in millicores;
	// 0 when the boost is a factor.
	Milli int64
	// Duration is how long after the pod is Ready the boost lasts.
	Duration time.Duration
}

// HasBoost reports whether the VPA sets a startup boost anywhere.
func HasBoost(vpa *vpav1.VerticalPodAutoscaler) bool {
	if sb := vpa.Spec.StartupBoost; sb != nil && sb.CPU != nil {
		return true
	}
	if p := vpa.Spec.ResourcePolicy; p != nil {
		for i := range p.ContainerPolicies {
			if sb := p.ContainerPolicies[i].StartupBoost; sb != nil && sb.CPU != nil {
				return true
			}
		}
	}
	return false
}

// boostOf is the boost of a container whose policy is pol (nil: none):
// the policy's startupBoost wins over the VPA's. ok is false for no boost,
// a factor of 1 or less, a quantity that is not positive, or a type the
// API does not know (upstream applies no boost for those either).
func boostOf(vpa *vpav1.VerticalPodAutoscaler, pol *vpav1.ContainerResourcePolicy) (Boost, bool) {
	sb := vpa.Spec.StartupBoost
	if pol != nil && pol.StartupBoost != nil {
		sb = pol.StartupBoost
	}
	if sb == nil || sb.CPU == nil {
		return Boost{}, false
	}
	g := sb.CPU
	var b Boost
	switch g.Type {
	case vpav1.FactorStartupBoostType:
		if g.Factor == nil || *g.Factor <= 1 {
			return Boost{}, false
		}
		b.Factor = int64(*g.Factor)
	case vpav1.QuantityStartupBoostType:
		if g.Quantity == nil || g.Quantity.Sign() <= 0 {
			return Boost{}, false
		}
		n, ok := kinds[cpuIdx].boundUnits(*g.Quantity)
		if !ok {
			return Boost{}, false
		}
		b.Milli = n
	default:
		return Boost{}, false
	}
	if g.DurationSeconds != nil && *g.DurationSeconds > 0 {
		b.Duration = min(time.Duration(*g.DurationSeconds)*time.Second, MaxBoostDuration)
	}
	return b, true
}

// BoostInput is what a boost decision needs; the caller fills it from caches.
type BoostInput struct {
	// Pod is the pod as it will be created, after sizing. Not modified.
	Pod *corev1.Pod
	// VPA is the pod's VPA: its container policies bound the boost.
	VPA *vpav1.VerticalPodAutoscaler
	// LimitRanges and Quotas are the namespace's.
	LimitRanges []corev1.LimitRange
	Quotas      []corev1.ResourceQuota
	// Hold lists resources scaled horizontally: cpu held means no boost.
	Hold []corev1.ResourceName
}

// BoostedContainer is one container's CPU before and after the boost, in
// millicores; the limits are 0 when the container has no CPU limit.
type BoostedContainer struct {
	Name                     string
	Index                    int
	Request, Limit           int64 // as sized: what the pod is resized back to
	BoostRequest, BoostLimit int64 // boosted
	Why                      string
}

// BoostDecision is the outcome of DecideBoost.
type BoostDecision struct {
	// Containers are the boosted containers; empty when Skipped says why not.
	Containers []BoostedContainer
	Skipped    string
	// Patch applies the boost to the sized pod (replace operations only).
	Patch []jsonpatch.JsonPatchOperation
	// Annotation is the PodBoostAnnotation value.
	Annotation string
	// ExtraMilli is the CPU request the boost adds to the pod, in millicores.
	ExtraMilli int64
}

// Reasons for BoostDecision.Skipped.
const (
	BoostSkipNothing    = "no container to boost"       // no CPU request, policy Off, cpu uncontrolled or held, restart on resize
	BoostSkipCapped     = "capped to the current CPU"   // maxAllowed or LimitRange max leave no room
	BoostSkipPodLimit   = "over the pod LimitRange max" // a Pod LimitRange max on cpu would be exceeded
	BoostSkipQuotaLabel = "quota"                       // prefix of a ResourceQuota refusal
)

// DecideBoost raises the CPU of in.Pod's regular containers by their
// startupBoost (the container policy's, else the VPA's): a factor times the
// request, or the request raised to a quantity. Each is capped by the VPA's
// maxAllowed and the container LimitRange max (on the request and, keeping
// the limit/request ratio, on the limit); unlike upstream, a quantity
// boost does not set the limit to the quantity, it keeps the ratio, so the
// resize back restores exactly what the pod was born with and never has
// to remove a limit. A container is left out when it has no CPU request
// (raising one would change the pod's QoS class, which the resize back
// cannot undo), when the VPA does not control its cpu (mode Off,
// controlledResources, a ReplicaAutoscaler on cpu) or when its cpu
// resizePolicy restarts it. The VPA's updateMode does not matter: the boost
// is its own opt-in. The whole boost is dropped, the pod born unboosted,
// when the boosted pod would break a Pod LimitRange max or any
// ResourceQuota of the namespace (scopes are not evaluated: every quota
// counts, so a boost is never the reason a pod is refused). The pod's boost
// lasts the longest durationSeconds of its boosted containers: they go back
// in one resize.
func DecideBoost(in BoostInput) (BoostDecision, error) {
	if in.Pod == nil || in.VPA == nil {
		return BoostDecision{}, errors.New("sizing: boost: nil pod or VPA")
	}
	k := &kinds[cpuIdx]
	lr, _ := mergeLimitRanges(in.LimitRanges, corev1.LimitTypeContainer)
	cpuLR := &lr[cpuIdx]
	var out BoostDecision
	capped := false
	var dur time.Duration
	for i := range in.Pod.Spec.Containers {
		c := &in.Pod.Spec.Containers[i]
		pol := containerPolicy(in.VPA.Spec.ResourcePolicy, c.Name)
		if pol != nil && pol.Mode != nil && *pol.Mode == vpav1.ContainerScalingModeOff || !controlled(pol, corev1.ResourceCPU) || slices.Contains(in.Hold, corev1.ResourceCPU) || restartsOnCPUResize(c) {
			continue
		}
		boost, ok := boostOf(in.VPA, pol)
		if !ok {
			continue
		}
		rq, ok := c.Resources.Requests[corev1.ResourceCPU]
		if !ok || rq.Sign() <= 0 {
			continue
		}
		req, err := k.units(rq)
		if err != nil {
			return BoostDecision{}, fmt.Errorf("sizing: boost: container %q: request: %w", c.Name, err)
		}
		var lim int64
		if lq, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
			if lim, err = k.units(lq); err != nil {
				return BoostDecision{}, fmt.Errorf("sizing: boost: container %q: limit: %w", c.Name, err)
			}
			if lim < req {
				lim = 0 // an invalid pod the API server refuses anyway: no limit scaling
			}
		}
		t := boost.Milli
		if boost.Factor > 0 {
			t, _ = mulDiv(req, boost.Factor, 1, false)
		}
		t = min(t, k.maxN)
		why := ""
		if pol != nil {
			if b := newBound(k, pol.MaxAllowed); b.ok && t > b.n {
				t, why = b.n, "capped to maxAllowed"
			}
		}
		if cpuLR.max.ok {
			hi := cpuLR.max.n
			if lim > 0 && lim != req {
				hi, _ = mulDiv(cpuLR.max.n, req, lim, false)
			}
			if t > hi {
				t, why = hi, "capped to LimitRange max"
			}
		}
		if t <= req {
			capped = true
			continue
		}
		bl := int64(0)
		if lim > 0 {
			bl = t
			if lim != req {
				bl, _ = mulDiv(t, lim, req, false)
			}
			bl = max(bl, t)
		}
		dur = max(dur, boost.Duration)
		out.Containers = append(out.Containers, BoostedContainer{Name: c.Name, Index: i, Request: req, Limit: lim, BoostRequest: t, BoostLimit: bl, Why: why})
		out.ExtraMilli += t - req
	}
	if len(out.Containers) == 0 {
		out.Skipped = BoostSkipNothing
		if capped {
			out.Skipped = BoostSkipCapped
		}
		return out, nil
	}
	if why := boostOverPodLimits(in, &out); why != "" {
		return BoostDecision{Skipped: why}, nil
	}
	out.Patch, out.Annotation = boostPatch(in.Pod, &out, dur)
	return out, nil
}

// restartsOnCPUResize: a container whose cpu resizePolicy is
// RestartContainer would be restarted by the resize back.
func restartsOnCPUResize(c *corev1.Container) bool {
	for _, p := range c.ResizePolicy {
		if p.ResourceName == corev1.ResourceCPU {
			return p.RestartPolicy == corev1.RestartContainer
		}
	}
	return false
}

// boostOverPodLimits says why the boosted pod breaks a Pod LimitRange max
// or a ResourceQuota, or "".
func boostOverPodLimits(in BoostInput, d *BoostDecision) string {
	req, lim, allLimits := podCPU(in.Pod, d)
	if podLR, ok := mergeLimitRanges(in.LimitRanges, corev1.LimitTypePod); ok {
		if m := podLR[cpuIdx].max; m.ok && (req > m.n || allLimits && lim > m.n) {
			return BoostSkipPodLimit
		}
	}
	for i := range in.Quotas {
		q := &in.Quotas[i]
		hard := q.Status.Hard
		if len(hard) == 0 {
			hard = q.Spec.Hard // not yet reconciled by the quota controller
		}
		for _, name := range [...]corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceRequestsCPU, corev1.ResourceLimitsCPU} {
			h, ok := hard[name]
			if !ok {
				continue
			}
			pod := req
			if name == corev1.ResourceLimitsCPU {
				if !allLimits {
					continue // the quota refuses the pod anyway, boosted or not
				}
				pod = lim
			}
			used := q.Status.Used[name]
			if satAdd(used.MilliValue(), pod) > h.MilliValue() {
				return fmt.Sprintf("%s: would exceed ResourceQuota %s (%s: used %s + boosted pod %s > hard %s)", BoostSkipQuotaLabel, q.Name, name,
					used.String(), resource.NewMilliQuantity(pod, resource.DecimalSI).String(), h.String())
			}
		}
	}
	return ""
}

// podCPU returns the boosted pod's CPU requests and limits as quota and
// Pod LimitRanges count them, rounded up: the regular containers and
// native sidecars together, or the largest regular init container with
// every sidecar if that is more, plus the pod overhead; allLimits is false
// when a container has no CPU limit.
func podCPU(pod *corev1.Pod, d *BoostDecision) (req, lim int64, allLimits bool) {
	allLimits = true
	get := func(c *corev1.Container, boosted *BoostedContainer) (int64, int64) {
		if boosted != nil {
			return boosted.BoostRequest, boosted.BoostLimit
		}
		r := c.Resources.Requests[corev1.ResourceCPU]
		l, hasL := c.Resources.Limits[corev1.ResourceCPU]
		if !hasL {
			allLimits = false
		}
		if _, hasR := c.Resources.Requests[corev1.ResourceCPU]; !hasR && hasL {
			r = l
		}
		return r.MilliValue(), l.MilliValue()
	}
	var sidecarReq, sidecarLim, initReq, initLim int64
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		r, l := get(c, nil)
		if isSidecar(c) {
			sidecarReq, sidecarLim = satAdd(sidecarReq, r), satAdd(sidecarLim, l)
			continue
		}
		initReq, initLim = max(initReq, r), max(initLim, l)
	}
	req, lim = sidecarReq, sidecarLim
	next := 0
	for i := range pod.Spec.Containers {
		var b *BoostedContainer
		if next < len(d.Containers) && d.Containers[next].Index == i {
			b = &d.Containers[next]
			next++
			if b.BoostLimit == 0 {
				allLimits = false
			}
		}
		r, l := get(&pod.Spec.Containers[i], b)
		req, lim = satAdd(req, r), satAdd(lim, l)
	}
	req, lim = max(req, satAdd(initReq, sidecarReq)), max(lim, satAdd(initLim, sidecarLim))
	if o, ok := pod.Spec.Overhead[corev1.ResourceCPU]; ok {
		req, lim = satAdd(req, o.MilliValue()), satAdd(lim, o.MilliValue())
	}
	return req, lim, allLimits
}

// boostPatch returns the replace operations and the pod annotation. The
// paths share one buffer and the annotation is written in place, to keep
// the admission path's allocations down.
func boostPatch(pod *corev1.Pod, d *BoostDecision, dur time.Duration) ([]jsonpatch.JsonPatchOperation, string) {
	ops := make([]jsonpatch.JsonPatchOperation, 0, 2*len(d.Containers)+1)
	ann := make([]byte, 0, 64*len(d.Containers)+24)
	paths := make([]byte, 0, 96*len(d.Containers))
	ends := make([][2]int, 0, 2*len(d.Containers)) // op index, path end offset
	appendPath := func(index int, field string) {
		paths = append(paths, "/spec/containers/"...)
		paths = strconv.AppendInt(paths, int64(index), 10)
		paths = append(paths, "/resources/"...)
		paths = append(paths, field...)
		ends = append(ends, [2]int{len(ops), len(paths)})
	}
	for i := range d.Containers {
		b := &d.Containers[i]
		appendPath(b.Index, "requests/cpu")
		ops = append(ops, jsonpatch.Operation{Operation: "replace", Value: milliString(b.BoostRequest)})
		if b.BoostLimit > 0 {
			appendPath(b.Index, "limits/cpu")
			ops = append(ops, jsonpatch.Operation{Operation: "replace", Value: milliString(b.BoostLimit)})
		}
		if i > 0 {
			ann = append(ann, "; "...)
		}
		ann = append(ann, b.Name...)
		ann = append(ann, ": cpu "...)
		ann = appendMilli(ann, b.Request)
		ann = append(ann, "->"...)
		ann = appendMilli(ann, b.BoostRequest)
		if b.BoostLimit > 0 {
			ann = append(ann, ", limit "...)
			ann = appendMilli(ann, b.Limit)
			ann = append(ann, "->"...)
			ann = appendMilli(ann, b.BoostLimit)
		}
	}
	all, from := string(paths), 0
	for _, e := range ends {
		ops[e[0]].Path = all[from:e[1]]
		from = e[1]
	}
	ann = append(ann, "; until Ready+"...)
	ann = append(ann, dur.String()...)
	return ops, string(ann)
}

// appendMilli appends millicores as a CPU quantity ("500m", "2").
func appendMilli(b []byte, n int64) []byte {
	if n%1000 == 0 {
		return strconv.AppendInt(b, n/1000, 10)
	}
	return append(strconv.AppendInt(b, n, 10), 'm')
}

// milliString renders millicores as a CPU quantity ("500m", "2") without
// the allocations of resource.Quantity.String.
func milliString(n int64) string {
	if n%1000 == 0 {
		return strconv.FormatInt(n/1000, 10)
	}
	return strconv.FormatInt(n, 10) + "m"
}

// PodBoost is a parsed PodBoostAnnotation.
type PodBoost struct {
	Containers []BoostedContainer // Index is unset
	Duration   time.Duration
}

// ParsePodBoost reads a PodBoostAnnotation value as boostPatch writes it.
func ParsePodBoost(s string) (PodBoost, error) {
	var pb PodBoost
	body, until, ok := cutLast(s, "; until Ready+")
	if !ok {
		return PodBoost{}, errors.New("no '; until Ready+<duration>'")
	}
	d, err := time.ParseDuration(until)
	if err != nil || d < 0 || d > MaxBoostDuration {
		return PodBoost{}, fmt.Errorf("bad duration %q", until)
	}
	pb.Duration = d
	for rest := body; ; {
		seg, tail, more := strings.Cut(rest, "; ")
		name, vals, ok := strings.Cut(seg, ": cpu ")
		if !ok || name == "" {
			return PodBoost{}, fmt.Errorf("segment %q: want '<container>: cpu <from>-><to>[, limit <from>-><to>]'", seg)
		}
		b := BoostedContainer{Name: name}
		reqPart, limPart, hasLim := strings.Cut(vals, ", limit ")
		if b.Request, b.BoostRequest, err = parseArrow(reqPart); err != nil {
			return PodBoost{}, fmt.Errorf("container %q: cpu: %w", name, err)
		}
		if hasLim {
			if b.Limit, b.BoostLimit, err = parseArrow(limPart); err != nil {
				return PodBoost{}, fmt.Errorf("container %q: limit: %w", name, err)
			}
		}
		pb.Containers = append(pb.Containers, b)
		if !more {
			break
		}
		rest = tail
	}
	return pb, nil
}

func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

func parseArrow(s string) (from, to int64, err error) {
	a, b, ok := strings.Cut(s, "->")
	if !ok {
		return 0, 0, fmt.Errorf("%q: want <from>-><to>", s)
	}
	k := &kinds[cpuIdx]
	for _, p := range [...]struct {
		s string
		n *int64
	}{{a, &from}, {b, &to}} {
		q, err := ParseQuantity(p.s)
		if err != nil {
			return 0, 0, fmt.Errorf("%q: %w", p.s, err)
		}
		if *p.n, err = k.units(q); err != nil || *p.n == 0 {
			return 0, 0, fmt.Errorf("%q: not a positive CPU quantity", p.s)
		}
	}
	return from, to, nil
}

// BoostState is where a pod stands in its boost.
type BoostState struct {
	// Boosted lists the containers still at their boosted request (the
	// spec's: what the updater asked last).
	Boosted []BoostedContainer
	// Ready is when the pod became Ready; zero while it is not.
	Ready time.Time
	// End is when the boost ends (Ready + duration); zero while not Ready.
	End time.Time
	// Err is set when the annotation cannot be read: the pod is then left
	// as it is and its samples are counted.
	Err error
}

// Active reports whether the pod still runs boosted.
func (s *BoostState) Active() bool { return len(s.Boosted) > 0 }

// BoostStateOf reads pod's boost; ok is false when it has none.
func BoostStateOf(pod *corev1.Pod) (st BoostState, ok bool) {
	v, has := pod.Annotations[PodBoostAnnotation]
	if !has {
		return BoostState{}, false
	}
	pb, err := ParsePodBoost(v)
	if err != nil {
		return BoostState{Err: err}, true
	}
	for _, b := range pb.Containers {
		c := specContainer(pod, b.Name)
		if c == nil {
			continue
		}
		q, ok := c.Resources.Requests[corev1.ResourceCPU]
		if ok && q.MilliValue() == b.BoostRequest {
			st.Boosted = append(st.Boosted, b)
		}
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			st.Ready = c.LastTransitionTime.Time
			st.End = st.Ready.Add(pb.Duration)
		}
	}
	return st, true
}

// ExcludesSample reports whether a CPU sample whose window starts at
// windowStart falls in the boost: while the pod runs boosted (or is not
// yet Ready) and for samples that began before the boost's end.
func (s *BoostState) ExcludesSample(windowStart time.Time) bool {
	if s.Err != nil {
		return false
	}
	return s.Active() || s.End.IsZero() || windowStart.Before(s.End)
}

func specContainer(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	return nil
}

// Unboost returns the pod's containers' resources with the boosted ones
// back at their recorded values, in spec order; changed is false when no
// container is still boosted.
func Unboost(pod *corev1.Pod, st *BoostState) (containers []corev1.Container, summary string, changed bool) {
	if !st.Active() {
		return nil, "", false
	}
	out := append([]corev1.Container(nil), pod.Spec.Containers...)
	var sb strings.Builder
	for _, b := range st.Boosted {
		for i := range out {
			c := &out[i]
			if c.Name != b.Name {
				continue
			}
			req := c.Resources.Requests.DeepCopy()
			req[corev1.ResourceCPU] = *resource.NewMilliQuantity(b.Request, resource.DecimalSI)
			c.Resources.Requests = req
			if sb.Len() > 0 {
				sb.WriteString("; ")
			}
			fmt.Fprintf(&sb, "%s: cpu %s->%s", b.Name, milliString(b.BoostRequest), milliString(b.Request))
			if q, ok := c.Resources.Limits[corev1.ResourceCPU]; ok && b.Limit > 0 && q.MilliValue() == b.BoostLimit {
				lim := c.Resources.Limits.DeepCopy()
				lim[corev1.ResourceCPU] = *resource.NewMilliQuantity(b.Limit, resource.DecimalSI)
				c.Resources.Limits = lim
				fmt.Fprintf(&sb, ", limit %s->%s", milliString(b.BoostLimit), milliString(b.Limit))
			}
		}
	}
	return out, sb.String(), true
}
