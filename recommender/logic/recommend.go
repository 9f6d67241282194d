package logic

import (
	"math"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"

	"github.com/tailor-dev/tailor/recommender/model"
)

// Confidence multipliers of the bounds (upstream's fixed values): the upper
// bound is scaled by (1 + upperMul/confidence)^upperExp, the lower bound by
// (1 + lowerMul/confidence)^lowerExp.
const (
	upperMul, upperExp = 1.0, 1.0
	lowerMul, lowerExp = 0.001, -2.0
	// maxAmount caps every amount (upstream MaxResourceAmount).
	maxAmount = int64(1e14)
)

// Resource indexes in Amounts.
const (
	CPU    = 0 // millicores
	Memory = 1 // bytes
)

// Amounts is a (CPU millicores, memory bytes) pair.
type Amounts [2]int64

// Estimate is the uncapped recommendation for one container.
type Estimate struct {
	Target, LowerBound, UpperBound Amounts
}

// Recommender computes recommendations with a fixed Config.
type Recommender struct {
	cfg Config
}

// New returns a recommender; cfg must pass Validate.
func New(cfg Config) (*Recommender, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Recommender{cfg: cfg}, nil
}

// Config returns the recommender's settings.
func (r *Recommender) Config() Config { return r.cfg }

// PodMinimums returns the per-container share of the pod minimums for a pod
// of n recommended containers.
func (r *Recommender) PodMinimums(n int) Amounts {
	if n <= 0 {
		return Amounts{}
	}
	f := 1 / float64(n)
	return Amounts{
		amount(float64(amount(r.cfg.PodMinCPUMillicores*0.001*1000)) * f),
		amount(float64(amount(r.cfg.PodMinMemoryMb*1024*1024)) * f),
	}
}

// Estimate computes target and bounds for one aggregate, given the
// container's share of the pod minimums.
func (r *Recommender) Estimate(a *model.Aggregate, min Amounts) Estimate {
	c := &r.cfg
	confCPU := confidence(a, c.ConfidenceIntervalCPU.Minutes(), float64(c.ConfidenceIntervalCPU))
	confMem := confidence(a, c.ConfidenceIntervalMemory.Minutes(), float64(c.ConfidenceIntervalMemory))
	cpu := func(p float64) int64 { return r.margin(amount(a.CPUPercentile(p) * 1000)) }
	mem := func(p float64) int64 { return r.margin(amount(a.MemoryPercentile(p))) }
	var e Estimate
	e.Target = Amounts{cpu(c.TargetCPUPercentile), mem(c.TargetMemoryPercentile)}
	e.LowerBound = Amounts{
		scale(cpu(c.LowerBoundCPUPercentile), math.Pow(1+lowerMul/confCPU, lowerExp)),
		scale(mem(c.LowerBoundMemoryPercentile), math.Pow(1+lowerMul/confMem, lowerExp)),
	}
	e.UpperBound = Amounts{
		scale(cpu(c.UpperBoundCPUPercentile), math.Pow(1+upperMul/confCPU, upperExp)),
		scale(mem(c.UpperBoundMemoryPercentile), math.Pow(1+upperMul/confMem, upperExp)),
	}
	for i := range 2 {
		e.Target[i] = max(e.Target[i], min[i])
		e.LowerBound[i] = max(e.LowerBound[i], min[i])
		e.UpperBound[i] = max(e.UpperBound[i], min[i])
	}
	return e
}

func (r *Recommender) margin(v int64) int64 {
	return min(v+scale(v, r.cfg.SafetyMarginFraction), maxAmount)
}

// confidence grows with the history length (in intervals) and the sample
// count (in samples per interval-minute), whichever is smaller.
func confidence(a *model.Aggregate, minutes, interval float64) float64 {
	life := float64(a.Lifespan()) / interval
	n := float64(a.TotalSamples()) / minutes
	return math.Min(life, n)
}

// Container names one aggregate of a VPA.
type Container struct {
	Name      string
	Aggregate *model.Aggregate
}

// Recommend computes a VPA's recommendation from its containers'
// aggregates: containers whose policy mode is Off are left out (and do not
// take a share of the pod minimums), only controlled resources are output,
// and target and bounds are capped to the policy's minAllowed/maxAllowed
// (maxAllowed falling back to globalMax per resource); uncappedTarget is
// the target before capping. Containers come out sorted by name.
func (r *Recommender) Recommend(cs []Container, policy *vpav1.PodResourcePolicy, globalMax corev1.ResourceList) *vpav1.RecommendedPodResources {
	type item struct {
		c   Container
		pol *vpav1.ContainerResourcePolicy
	}
	items := make([]item, 0, len(cs))
	for _, c := range cs {
		if c.Aggregate == nil {
			continue
		}
		p := containerPolicy(policy, c.Name)
		if p != nil && p.Mode != nil && *p.Mode == vpav1.ContainerScalingModeOff {
			continue
		}
		items = append(items, item{c, p})
	}
	slices.SortFunc(items, func(a, b item) int { return strings.Compare(a.c.Name, b.c.Name) })
	out := &vpav1.RecommendedPodResources{ContainerRecommendations: make([]vpav1.RecommendedContainerResources, 0, len(items))}
	mins := r.PodMinimums(len(items))
	for _, it := range items {
		e := r.Estimate(it.c.Aggregate, mins)
		ctl := controlled(it.pol)
		lo, hi := limits(it.pol, globalMax)
		out.ContainerRecommendations = append(out.ContainerRecommendations, vpav1.RecommendedContainerResources{
			ContainerName:  it.c.Name,
			Target:         r.list(capTo(e.Target, lo, hi), ctl),
			LowerBound:     r.list(capTo(e.LowerBound, lo, hi), ctl),
			UpperBound:     r.list(capTo(e.UpperBound, lo, hi), ctl),
			UncappedTarget: r.list(e.Target, ctl),
		})
	}
	return out
}

// containerPolicy returns the policy for name, else the "*" one, else nil.
func containerPolicy(p *vpav1.PodResourcePolicy, name string) *vpav1.ContainerResourcePolicy {
	if p == nil {
		return nil
	}
	var def *vpav1.ContainerResourcePolicy
	for i := range p.ContainerPolicies {
		switch p.ContainerPolicies[i].ContainerName {
		case name:
			return &p.ContainerPolicies[i]
		case vpav1.DefaultContainerResourcePolicy:
			if def == nil {
				def = &p.ContainerPolicies[i]
			}
		}
	}
	return def
}

// controlled reports which of CPU and memory the policy controls.
func controlled(p *vpav1.ContainerResourcePolicy) [2]bool {
	if p == nil || p.ControlledResources == nil {
		return [2]bool{true, true}
	}
	var c [2]bool
	for _, n := range *p.ControlledResources {
		switch n {
		case corev1.ResourceCPU:
			c[CPU] = true
		case corev1.ResourceMemory:
			c[Memory] = true
		}
	}
	return c
}

// limits returns the minAllowed and maxAllowed amounts (0 = none).
func limits(p *vpav1.ContainerResourcePolicy, globalMax corev1.ResourceList) (lo, hi Amounts) {
	if p != nil {
		lo = amounts(p.MinAllowed)
		hi = amounts(p.MaxAllowed)
	}
	g := amounts(globalMax)
	for i := range 2 {
		if hi[i] == 0 {
			hi[i] = g[i]
		}
	}
	return lo, hi
}

func amounts(l corev1.ResourceList) Amounts {
	var a Amounts
	if q, ok := l[corev1.ResourceCPU]; ok {
		a[CPU] = max(q.MilliValue(), 0)
	}
	if q, ok := l[corev1.ResourceMemory]; ok {
		a[Memory] = max(q.Value(), 0)
	}
	return a
}

// capTo clamps v to [lo, hi], ignoring zero limits; the minimum is applied
// first, then the maximum wins.
func capTo(v, lo, hi Amounts) Amounts {
	for i := range 2 {
		if lo[i] > 0 && v[i] < lo[i] {
			v[i] = lo[i]
		}
		if hi[i] > 0 && v[i] > hi[i] {
			v[i] = hi[i]
		}
	}
	return v
}

// Round rounds a up to the configured multiples.
func (r *Recommender) Round(a Amounts) Amounts {
	return Amounts{roundUp(a[CPU], r.cfg.RoundCPUMillicores), roundUp(a[Memory], r.cfg.RoundMemoryBytes)}
}

func roundUp(v, m int64) int64 {
	if m <= 1 || v == 0 {
		return v
	}
	q := (v + m - 1) / m
	if q > maxAmount/m {
		return maxAmount / m * m
	}
	return q * m
}

func (r *Recommender) list(a Amounts, ctl [2]bool) corev1.ResourceList {
	a = r.Round(a)
	l := make(corev1.ResourceList, 2)
	if ctl[CPU] {
		l[corev1.ResourceCPU] = *resource.NewScaledQuantity(a[CPU], resource.Milli)
	}
	if ctl[Memory] {
		l[corev1.ResourceMemory] = *resource.NewQuantity(a[Memory], resource.DecimalSI)
	}
	return l
}

// amount converts a float to an amount in [0, maxAmount] (NaN is 0),
// truncating like upstream.
func amount(f float64) int64 {
	if !(f > 0) {
		return 0
	}
	if f > float64(maxAmount) {
		return maxAmount
	}
	return int64(f)
}

func scale(v int64, f float64) int64 { return amount(float64(v) * f) }
