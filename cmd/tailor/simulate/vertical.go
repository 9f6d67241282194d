package simulate

import (
	"math"
	"slices"
	"time"

	"github.com/tailor-dev/tailor/recommender/logic"
	"github.com/tailor-dev/tailor/recommender/model"
)

// Hour is the walk-forward step of the vertical replay: a target is
// computed at every hour boundary and scored against the next hour.
const Hour = int64(3600)

// VerticalPolicy sizes one container from its usage so far.
type VerticalPolicy interface {
	Name() string
	// New returns the policy's state for one container whose first sample
	// is at start.
	New(start time.Time) ContainerSizer
}

// ContainerSizer is a policy's state for one container.
type ContainerSizer interface {
	// Add takes one usage sample, in time order.
	Add(s Sample)
	// Target is the request (millicores, bytes) the container gets at now;
	// ok is false while the policy has nothing to say (no history).
	Target(now time.Time) (cpuMilli, memBytes int64, ok bool)
}

// Upstream is the recommender as the controller runs it: samples go into a
// model.Aggregate through a model.Container, and the target is
// logic.Recommender.Recommend's for a VPA with one container and no
// resource policy. With model.Default and logic.Default it is upstream
// VPA's recommender.
type Upstream struct {
	name   string
	params *model.Params
	rec    *logic.Recommender
}

// NewUpstream returns the policy for the given settings.
func NewUpstream(name string, mc model.Config, lc logic.Config) (*Upstream, error) {
	p, err := model.NewParams(mc)
	if err != nil {
		return nil, err
	}
	r, err := logic.New(lc)
	if err != nil {
		return nil, err
	}
	return &Upstream{name: name, params: p, rec: r}, nil
}

// Name of the policy.
func (u *Upstream) Name() string { return u.name }

// New starts a container.
func (u *Upstream) New(start time.Time) ContainerSizer {
	a := model.NewAggregate(u.params, start)
	return &upstreamState{p: u, start: start, agg: a, c: model.NewContainer(a)}
}

// Recommender is the logic the policy calls.
func (u *Upstream) Recommender() *logic.Recommender { return u.rec }

type upstreamState struct {
	p       *Upstream
	start   time.Time
	agg     *model.Aggregate
	c       *model.Container
	request int64 // CPU request the pod has now, as the controller passes it
}

// Add feeds a sample as the controller's ingest does: CPU rounded to
// millicores (as the Prometheus source rounds), memory in bytes.
func (s *upstreamState) Add(x Sample) {
	ts := time.Unix(x.T, 0)
	s.c.AddCPU(ts, int64(math.Round(x.CPU*1000)), s.request)
	s.c.AddMemory(ts, int64(math.Round(x.Mem)))
}

// Target drops an expired history first, as the controller's gc does.
func (s *upstreamState) Target(now time.Time) (int64, int64, bool) {
	if s.agg.Expired(now) {
		s.agg = model.NewAggregate(s.p.params, now)
		s.c = model.NewContainer(s.agg)
	}
	if s.agg.Empty() {
		return 0, 0, false
	}
	cpu, mem := targetOf(s.p.rec, s.agg)
	s.request = cpu
	return cpu, mem, true
}

// Aggregate exposes the history (for tests comparing with the controller).
func (s *upstreamState) Aggregate() *model.Aggregate { return s.agg }

// targetOf is the target the controller writes for a one-container VPA.
func targetOf(r *logic.Recommender, a *model.Aggregate) (int64, int64) {
	rec := r.Recommend([]logic.Container{{Name: "c", Aggregate: a}}, nil, nil)
	t := rec.ContainerRecommendations[0].Target
	return t.Cpu().MilliValue(), t.Memory().Value()
}

// Static is the naive baseline: what the trace says was provisioned.
type Static struct{}

// Name of the policy.
func (Static) Name() string { return "static" }

// New starts a container.
func (Static) New(time.Time) ContainerSizer { return &staticState{} }

type staticState struct{ cpu, mem float64 }

func (s *staticState) Add(x Sample) { s.cpu, s.mem = x.ProvCPU, x.ProvMem }

func (s *staticState) Target(time.Time) (int64, int64, bool) {
	if s.cpu <= 0 || s.mem <= 0 {
		return 0, 0, false
	}
	return int64(math.Round(s.cpu * 1000)), int64(math.Round(s.mem)), true
}

// VerticalScore is one policy's result over a usage trace. Only
// container-hours with history before and samples within are scored, and
// only where every policy of the replay had a target, so that all policies
// are scored on the same samples.
type VerticalScore struct {
	Policy string
	// ContainerHours and Samples scored.
	ContainerHours, Samples int
	// ReservedPerUsed is Σ target ÷ Σ used over the scored samples, per
	// resource (index logic.CPU, logic.Memory).
	ReservedPerUsed [2]float64
	// Above is the share of scored samples whose usage exceeds the target.
	Above [2]float64
	// Deficit is Σ max(0, used − target) ÷ Σ used.
	Deficit [2]float64
	// Hourly totals over the containers scored in each hour from Start:
	// the targets and the mean usage (cores, bytes).
	Start              int64
	Reserved, Used     [2][]float64
	sumT, sumU, sumDef [2]float64
	above              [2]int
}

// ReplayVertical replays u through each policy, walking forward hour by
// hour, and returns one score per policy in the given order.
func ReplayVertical(u *Usage, policies []VerticalPolicy) []*VerticalScore {
	scores, _ := ReplayVerticalSplit(u, policies, math.MaxInt64)
	return scores
}

// SplitTime is the first second of a trace's held-out part: frac of the
// way from first to last, on a step boundary (an hour for usage traces).
func SplitTime(first, last int64, frac float64, step int64) int64 {
	return floorDiv(first+int64(frac*float64(last-first)), step) * step
}

// Span is the first and last sample time of the trace.
func (u *Usage) Span() (first, last int64) {
	first, last = math.MaxInt64, math.MinInt64
	for _, s := range u.Series {
		if len(s.Samples) > 0 {
			first = min(first, s.Samples[0].T)
			last = max(last, s.Samples[len(s.Samples)-1].T)
		}
	}
	return first, last
}

// ReplayVerticalSplit is ReplayVertical with the scores split at split
// (Unix seconds): train scores the hours before it, held the hours from it
// on. The histories run through both: the held-out hours are forecast
// from everything before them, as they would be live. The hourly series
// (plots) are all in train.
func ReplayVerticalSplit(u *Usage, policies []VerticalPolicy, split int64) (train, held []*VerticalScore) {
	first, last := u.Span()
	scores := make([]*VerticalScore, len(policies))
	held = make([]*VerticalScore, len(policies))
	for i, p := range policies {
		held[i] = &VerticalScore{Policy: p.Name()}
	}
	if first > last {
		for i, p := range policies {
			scores[i] = &VerticalScore{Policy: p.Name()}
		}
		return scores, held
	}
	start := floorDiv(first, Hour) * Hour
	hours := int((last-start)/Hour) + 1
	for i, p := range policies {
		sc := &VerticalScore{Policy: p.Name(), Start: start}
		for r := range 2 {
			sc.Reserved[r] = make([]float64, hours)
			sc.Used[r] = make([]float64, hours)
		}
		scores[i] = sc
	}
	for _, s := range u.Series {
		replayContainer(s.Samples, policies, scores, held, start, split)
	}
	for _, sc := range append(slices.Clone(scores), held...) {
		for r := range 2 {
			sc.ReservedPerUsed[r] = ratio(sc.sumT[r], sc.sumU[r])
			sc.Deficit[r] = ratio(sc.sumDef[r], sc.sumU[r])
			sc.Above[r] = ratio(float64(sc.above[r]), float64(sc.Samples))
		}
	}
	return scores, held
}

func replayContainer(samples []Sample, policies []VerticalPolicy, series, held []*VerticalScore, start, split int64) {
	if len(samples) == 0 {
		return
	}
	states := make([]ContainerSizer, len(policies))
	for i, p := range policies {
		states[i] = p.New(time.Unix(samples[0].T, 0))
	}
	targets := make([][2]float64, len(policies))
	i := 0
	for i < len(samples) {
		// The next hour boundary after the samples fed so far; hours
		// without samples are skipped (nothing to score).
		h := (floorDiv(samples[i].T, Hour)) * Hour
		if i == 0 {
			h += Hour // no history yet at the first sample's hour
			for i < len(samples) && samples[i].T < h {
				for _, st := range states {
					st.Add(samples[i])
				}
				i++
			}
			continue
		}
		now := time.Unix(h, 0)
		all := true
		for k, st := range states {
			c, m, ok := st.Target(now)
			all = all && ok
			targets[k] = [2]float64{float64(c) / 1000, float64(m)}
		}
		j := i
		for j < len(samples) && samples[j].T < h+Hour {
			j++
		}
		if all {
			hour := samples[i:j]
			slot := int((h - start) / Hour)
			scores := series
			if h >= split {
				scores = held
			}
			for k, sc := range scores {
				sc.ContainerHours++
				sc.Samples += len(hour)
				t := targets[k]
				var mean [2]float64
				for _, x := range hour {
					used := [2]float64{x.CPU, x.Mem}
					for r := range 2 {
						sc.sumT[r] += t[r]
						sc.sumU[r] += used[r]
						mean[r] += used[r]
						if used[r] > t[r] {
							sc.above[r]++
							sc.sumDef[r] += used[r] - t[r]
						}
					}
				}
				for r := range 2 {
					series[k].Reserved[r][slot] += t[r]
					series[k].Used[r][slot] += mean[r] / float64(len(hour))
				}
			}
		}
		for ; i < j; i++ {
			for _, st := range states {
				st.Add(samples[i])
			}
		}
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

// VerticalPolicies are the selectable vertical policies by name.
func VerticalPolicies() map[string]func() (VerticalPolicy, error) {
	return map[string]func() (VerticalPolicy, error){
		"vpa":      func() (VerticalPolicy, error) { return NewUpstream("vpa", model.Default(), logic.Default()) },
		"static":   func() (VerticalPolicy, error) { return Static{}, nil },
		"adaptive": func() (VerticalPolicy, error) { return DefaultAdaptive(), nil },
	}
}

// DefaultVerticalPolicies is what a replay runs when none are named.
var DefaultVerticalPolicies = []string{"static", "vpa", "adaptive"}

// PickVertical returns the named policies.
func PickVertical(names []string) ([]VerticalPolicy, error) {
	return pick("vertical", VerticalPolicies(), names)
}
