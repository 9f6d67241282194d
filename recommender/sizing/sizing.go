// Package sizing decides the resources a new pod's containers get from the
// recommendation in a VerticalPodAutoscaler's status. It is pure logic: the
// caller supplies the pod, the VPA and the namespace's LimitRanges from its
// caches, and gets back the per-container changes, a JSON patch against the
// original pod and a one-line summary for the pod annotation.
//
// Semantics follow the upstream VPA admission controller (v1.8.1, see
// pkg/utils/vpa/capping.go and limit_and_request_scaling.go) with these
// deliberate differences, all in the direction of producing a pod the API
// server will accept:
//   - LimitRange bounds are applied after minAllowed/maxAllowed, so a request
//     never exceeds a LimitRange max (upstream lets the policy win);
//   - a container LimitRange max also caps requests of containers without a
//     limit, and maxLimitRequestRatio is honoured (upstream ignores both);
//   - RequestsOnly keeps a request under the LimitRange default limit when
//     the container has no limit (LimitRanger will set that limit);
//   - containers the VPA does not size (no recommendation, mode Off, held
//     resources) are never changed by the pod-level LimitRange scaling; they
//     only count towards the pod totals, as do sized native sidecars;
//   - a limit is read rounded down to whole units (millicores, bytes) and a
//     request rounded up, so a request never exceeds its limit; a sub-unit
//     limit (memory 1u) counts as zero;
//   - a resource with an explicit zero limit is left alone (no positive
//     request fits under it);
//   - mode Off and controlledResources are re-checked here although the
//     upstream recommender already omits them from the status;
//   - current resources are read from the pod spec only: a pod being created
//     has no container statuses (upstream prefers those for in-place resize).
//
// Init containers are covered in decider.collect.
package sizing

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"

	jsonpatch "gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
)

// Input is everything a sizing decision needs; the caller fills it from informer caches.
type Input struct {
	// Pod is the pod being created. Decide does not modify it, unless InPlace.
	Pod *corev1.Pod
	// VPA is the VPA whose targetRef controls the pod (the caller picks it); nil means none.
	VPA *vpav1.VerticalPodAutoscaler
	// LimitRanges are the LimitRanges of the pod's namespace.
	LimitRanges []corev1.LimitRange
	// Hold lists resources the vertical side must not control for this pod,
	// e.g. "cpu" while a horizontal autoscaler scales the workload on cpu.
	Hold []corev1.ResourceName
	// InPlace is for a caller that owns Pod (the admission path: its own
	// decoded copy): Decide writes the new requests and limits into Pod's
	// containers themselves, reusing their maps, and leaves
	// Decision.Changes empty. Patch, Annotation and Skipped are the same
	// either way.
	InPlace bool
}

// ContainerChange describes one container whose resources change.
type ContainerChange struct {
	Name string
	// Init is true for an init container (only native sidecars are ever sized).
	Init bool
	// Index is the position in spec.containers or spec.initContainers.
	Index int
	// Before is the container's resources as submitted; it shares the
	// input pod's maps, so treat it as read-only.
	Before corev1.ResourceRequirements
	// After is the container's new resources. A map (or the claims) that
	// does not change is shared with Before, so treat After as read-only too.
	After   corev1.ResourceRequirements
	Reasons []string // why a value differs from the plain recommendation, e.g. "cpu capped to maxAllowed"
}

// Decision is the outcome of Decide.
type Decision struct {
	// Changes lists only the containers that change, containers first, then sidecars.
	Changes []ContainerChange
	// Skipped says why nothing was done, when nothing was.
	Skipped string
	// Patch is a JSON patch against the original pod.
	Patch []jsonpatch.JsonPatchOperation
	// Annotation is a compact summary for the pod annotation AnnotationKey.
	Annotation string
}

// AnnotationKey is the pod annotation the webhook writes Decision.Annotation to.
const AnnotationKey = "tailor.dev/sizing"

// Reasons for Decision.Skipped.
const (
	SkipNoVPA            = "no VPA"
	SkipUpdateModeOff    = "updateMode Off"
	SkipNoRecommendation = "no recommendation"
	SkipNothingToSize    = "no container to size" // none recommended, or all Off, held or uncontrolled
	SkipNoChange         = "no change"            // the pod already has the decided resources
)

// Decide computes the new resources of in.Pod's containers. It returns an error
// only for malformed input (nil pod, negative or absurdly large quantities);
// the caller should then admit the pod unchanged.
func Decide(in Input) (Decision, error) {
	if in.Pod == nil {
		return Decision{}, errors.New("sizing: nil pod")
	}
	vpa := in.VPA
	if vpa == nil {
		return Decision{Skipped: SkipNoVPA}, nil
	}
	if reason := modeSkip(vpa); reason != "" {
		return Decision{Skipped: reason}, nil
	}
	rec := vpa.Status.Recommendation
	if rec == nil || len(rec.ContainerRecommendations) == 0 {
		return Decision{Skipped: SkipNoRecommendation}, nil
	}

	items := itemPool.Get().(*[]item)
	defer putItems(items)
	d := decider{
		items:     (*items)[:0],
		pod:       in.Pod,
		vpa:       vpa,
		hold:      in.Hold,
		patchOnly: in.InPlace,
		inPlace:   in.InPlace,
	}
	d.lr, _ = mergeLimitRanges(in.LimitRanges, corev1.LimitTypeContainer)
	podLR, hasPodLR := mergeLimitRanges(in.LimitRanges, corev1.LimitTypePod)

	err := d.collect()
	*items = d.items
	if err != nil {
		return Decision{}, err
	}
	if !d.anyActive {
		return Decision{Skipped: SkipNothingToSize}, nil
	}
	for i := range d.items {
		d.decideAll(&d.items[i])
	}
	if hasPodLR {
		for k := range kinds {
			if err := d.applyPodLimitRange(k, &podLR[k]); err != nil {
				return Decision{}, err
			}
		}
	}
	return d.build(), nil
}

// itemPool keeps the items of earlier decisions (≈ 750 bytes a container):
// admission decides for every pod created, and nothing of a Decision
// points into them.
var itemPool = sync.Pool{New: func() any { return new([]item) }}

func putItems(items *[]item) {
	if cap(*items) > 64 {
		return
	}
	clear((*items)[:cap(*items)]) // drop the pod's and the VPA's pointers
	itemPool.Put(items)
}

// modeSkip returns why the VPA's update mode forbids sizing, or "".
func modeSkip(vpa *vpav1.VerticalPodAutoscaler) string {
	// A nil policy or mode means the default (Recreate), which sizes new pods
	// like every mode but Off. Unknown modes are refused rather than guessed
	// at; the CRD enum makes them unlikely.
	if vpa.Spec.UpdatePolicy == nil || vpa.Spec.UpdatePolicy.UpdateMode == nil {
		return ""
	}
	switch m := *vpa.Spec.UpdatePolicy.UpdateMode; m {
	case "", vpav1.UpdateModeInitial, vpav1.UpdateModeAuto, vpav1.UpdateModeRecreate,
		vpav1.UpdateModeInPlaceOrRecreate, vpav1.UpdateModeInPlace:
		return ""
	case vpav1.UpdateModeOff:
		return SkipUpdateModeOff
	default:
		return fmt.Sprintf("unknown updateMode %q", m)
	}
}

// kind is one of the two resources a VPA can control.
type kind struct {
	name  corev1.ResourceName
	milli bool              // cpu is handled in millicores, memory in bytes
	max   resource.Quantity // anything above is treated as absurd
	maxN  int64             // max in units
}

const (
	cpuIdx = iota
	memIdx
	numKinds
)

// The ceilings keep every product of two values inside 128 bits and every
// pod-wide sum inside int64 (8192 containers at the memory ceiling).
var kinds = [numKinds]kind{
	{name: corev1.ResourceCPU, milli: true, max: *resource.NewQuantity(10_000_000, resource.DecimalSI), maxN: 10_000_000_000},
	{name: corev1.ResourceMemory, max: *resource.NewQuantity(1<<50, resource.BinarySI), maxN: 1 << 50},
}

// ErrOutOfRange: a quantity beyond any resource amount (InRange).
var ErrOutOfRange = errors.New("beyond any resource amount")

// ParseQuantity parses a quantity from an object Tailor reads, refusing
// (ErrOutOfRange) what no resource amount needs and what would take hours
// to parse or compare: a decimal exponent of more than three digits is
// refused before parsing (resource.ParseQuantity raises 10 to it in big
// integers: 2000E2010100000000010 took hours), and the result must be
// InRange.
func ParseQuantity(s string) (resource.Quantity, error) {
	q, err := parseQuantity(s)
	if err == nil && !InRange(&q) {
		err = fmt.Errorf("quantity %q: %w", s, ErrOutOfRange)
	}
	return q, err
}

// parseQuantity is ParseQuantity without the range check.
func parseQuantity(s string) (resource.Quantity, error) {
	if i := strings.LastIndexAny(s, "eE"); i >= 0 {
		exp := strings.TrimLeft(s[i+1:], "+-")
		if len(exp) > 3 && strings.Trim(exp, "0123456789") == "" {
			return resource.Quantity{}, fmt.Errorf("quantity %q: exponent %w", s, ErrOutOfRange)
		}
	}
	return resource.ParseQuantity(s)
}

// InRange reports whether q is a magnitude Tailor computes with: zero, or
// between 10⁻⁹ and 2⁶³ units (8Ei). The parser keeps any decimal exponent it is
// given (2000020E0100000000011 becomes 20000200e1215752202), and comparing,
// adding or converting such a quantity rescales it through 10^scale in big
// integers: hours of CPU for one pod. Only its float approximation is cheap,
// so that is what this reads; no request or limit is beyond these bounds.
func InRange(q *resource.Quantity) bool {
	if q.Sign() == 0 {
		return true
	}
	f := math.Abs(q.AsApproximateFloat64())
	return f >= 1e-9 && f <= 0x1p63 // false for NaN too
}

// units converts a quantity strictly: negative or absurd values are errors.
// CPU rounds up to whole millicores and memory to whole bytes, as upstream.
func (k *kind) units(q resource.Quantity) (int64, error) {
	if q.Sign() < 0 {
		return 0, fmt.Errorf("negative %s %s", k.name, q.String())
	}
	if !InRange(&q) || q.Cmp(k.max) > 0 {
		return 0, fmt.Errorf("%s %s out of range (max %s)", k.name, q.String(), k.max.String())
	}
	return k.raw(&q), nil
}

// raw converts a quantity already known to be in range.
func (k *kind) raw(q *resource.Quantity) int64 {
	if k.milli {
		return q.MilliValue()
	}
	return q.Value()
}

// boundUnits converts a policy or LimitRange bound leniently: zero and
// negative bounds are ignored (as upstream ignores zero), absurd ones saturate.
func (k *kind) boundUnits(q resource.Quantity) (int64, bool) {
	if q.Sign() <= 0 {
		return 0, false
	}
	if !InRange(&q) {
		if q.AsApproximateFloat64() < 1 {
			return 0, false // below a nano-unit: as zero
		}
		return k.maxN, true
	}
	if q.Cmp(k.max) > 0 {
		return k.maxN, true
	}
	return k.raw(&q), true
}

// quantity renders n units, reusing the first candidate that holds exactly n
// so that values keep the spelling they came with (587m, 262144k, 1Gi).
func (k *kind) quantity(n int64, candidates ...*resource.Quantity) resource.Quantity {
	format := resource.BinarySI
	if k.milli {
		format = resource.DecimalSI
	}
	for i, c := range candidates {
		if c == nil {
			continue
		}
		if i == 0 && !k.milli {
			format = c.Format
		}
		if c.Sign() > 0 && InRange(c) && c.Cmp(k.max) <= 0 && k.exact(c) && k.raw(c) == n {
			return c.DeepCopy()
		}
	}
	if k.milli {
		return *resource.NewMilliQuantity(n, format)
	}
	return *resource.NewQuantity(n, format)
}

// exact reports whether q needs no rounding to be expressed in units.
func (k *kind) exact(q *resource.Quantity) bool {
	scale := resource.Scale(0)
	if k.milli {
		scale = resource.Milli
	}
	c := q.DeepCopy()
	return c.RoundUp(scale)
}
