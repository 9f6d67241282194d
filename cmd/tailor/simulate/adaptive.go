package simulate

import (
	"math"
	"slices"
	"time"
)

// Adaptive is a candidate better vertical policy: the target is a recent
// usage percentile times a margin sized from the policy's own observed
// error. Every hour it takes the Percentile of the last Window of samples
// (the base) and multiplies it by the ErrorQuantile of used ÷ base over the
// samples of the last ErrorWindow (each sample against the base of its own
// hour): if the base undershot by 30 % in 1 % of recent samples, the margin
// at ErrorQuantile 0.99 is 1.3. A container whose usage is steady gets a
// margin near 1; a bursty one gets what its bursts took. Floors are VPA's
// pod minimums, so small containers are not sized below what VPA allows.
type Adaptive struct {
	PolicyName string
	// Per resource (logic.CPU, logic.Memory): the Window of samples behind
	// the base and the base's Percentile (0..1), the ErrorQuantile of the
	// ratios taken as margin, clamped to [1, MaxMargin].
	Window        [2]time.Duration
	Percentile    [2]float64
	ErrorQuantile [2]float64
	MaxMargin     [2]float64
	// ErrorWindow of (used ÷ base) ratios.
	ErrorWindow time.Duration
	// MinCPU (millicores) and MinMemory (bytes): floors.
	MinCPU, MinMemory int64
}

// DefaultAdaptive is the adaptive policy with the settings the README
// reports. They were chosen on the shared usage trace, so other traces
// will tell whether they generalise.
func DefaultAdaptive() *Adaptive {
	return &Adaptive{PolicyName: "adaptive",
		Window: [2]time.Duration{12 * time.Hour, 3 * 24 * time.Hour}, Percentile: [2]float64{1, 1},
		ErrorQuantile: [2]float64{0.98, 0.99}, MaxMargin: [2]float64{1.2, 1.1}, ErrorWindow: 3 * 24 * time.Hour,
		MinCPU: 25, MinMemory: 250 << 20}
}

// Name of the policy.
func (a *Adaptive) Name() string { return a.PolicyName }

// New starts a container.
func (a *Adaptive) New(time.Time) ContainerSizer { return &adaptiveState{p: a} }

type adaptiveState struct {
	p       *Adaptive
	samples []Sample // the last Window (and a bit)
	// ratios[r] are (time, used ÷ base) pairs of the last ErrorWindow.
	ratios  [2][]timedRatio
	base    [2]float64 // base of the current hour; 0 = none yet
	scratch []float64
}

type timedRatio struct {
	t int64
	r float64
}

func (s *adaptiveState) Add(x Sample) {
	s.samples = append(s.samples, x)
	used := [2]float64{x.CPU, x.Mem}
	for r := range 2 {
		if s.base[r] > 0 {
			s.ratios[r] = append(s.ratios[r], timedRatio{x.T, used[r] / s.base[r]})
		}
	}
}

func (s *adaptiveState) Target(now time.Time) (int64, int64, bool) {
	t := now.Unix()
	cut := t - int64(max(s.p.Window[0], s.p.Window[1])/time.Second)
	k := 0
	for k < len(s.samples) && s.samples[k].T < cut {
		k++
	}
	s.samples = append(s.samples[:0], s.samples[k:]...)
	if len(s.samples) == 0 {
		return 0, 0, false
	}
	ecut := t - int64(s.p.ErrorWindow/time.Second)
	var out [2]float64
	for r := range 2 {
		s.scratch = s.scratch[:0]
		wcut := t - int64(s.p.Window[r]/time.Second)
		for _, x := range s.samples {
			if x.T >= wcut {
				s.scratch = append(s.scratch, [2]float64{x.CPU, x.Mem}[r])
			}
		}
		if len(s.scratch) == 0 {
			return 0, 0, false
		}
		floor := [2]float64{float64(s.p.MinCPU) / 1000, float64(s.p.MinMemory)}[r]
		// A base below the floor would make ratios of noise.
		base := max(quantile(s.scratch, s.p.Percentile[r]), floor)
		rs := s.ratios[r]
		j := 0
		for j < len(rs) && rs[j].t < ecut {
			j++
		}
		rs = append(rs[:0], rs[j:]...)
		s.ratios[r] = rs
		margin := 1.0
		if len(rs) > 0 {
			s.scratch = s.scratch[:0]
			for _, x := range rs {
				s.scratch = append(s.scratch, x.r)
			}
			margin = min(max(margin, quantile(s.scratch, s.p.ErrorQuantile[r])), s.p.MaxMargin[r])
		}
		s.base[r] = base
		out[r] = base * margin
	}
	return int64(math.Ceil(out[0] * 1000)), int64(math.Ceil(out[1])), true
}

// quantile is the q-th quantile (nearest rank, 0..1) of v; v is reordered.
func quantile(v []float64, q float64) float64 {
	if q >= 1 {
		return slices.Max(v)
	}
	slices.Sort(v)
	i := int(math.Ceil(q*float64(len(v)))) - 1
	return v[min(max(i, 0), len(v)-1)]
}
