// Package adaptive is Tailor's adaptive vertical policy (a VPA annotated
// tailor.dev/policy: adaptive). It forecasts each container's next hour
// with the cheapest of a fixed set of simple forecasts that has kept its
// own misses within a risk budget lately, and does no I/O, so the
// recommender controller and `tailor simulate` run the same code.
//
// Every candidate forecast is a peak times a factor:
//   - the peak is the highest hourly peak of the last W hours (W = 1, 2,
//     4, … 168), or, for the seasonal candidates, the larger of that and
//     the second-highest of the last 7 days' peaks within ±1 hour of the
//     same time of day (a daily pattern seen on at least two days);
//   - the factor is one of Factors; CPU may go below 1 (CPU above the
//     request is throttled at worst, while it lasts), memory never does
//     (an OOM kill is not a slowdown).
//
// Each hour every candidate's forecast for that hour is recorded, and each
// sample of that hour scores it: a miss when usage exceeds it, the
// shortfall, and the forecast (its cost). Forecasts made for a later hour
// wait until it starts: the controller asks for the coming hour all
// through the current one, and the samples of the current hour are scored
// against the forecasts made for it, as `tailor simulate` scores them.
// These scores decay with HalfLife. The policy picks, per resource, the
// candidate with the lowest loss
//
//	Σ forecast + Penalty × Σ shortfall + MissPenalty × mean usage × misses
//
// (a newsvendor choice: reserving a unit costs 1, a unit short costs
// Penalty, a sample short MissPenalty samples' worth of the mean). Until
// MinHistory has been scored it uses the most conservative candidate
// (seasonal, 168 h, the largest factor). The settings are prices of risk
// and the candidate grid, nothing shaped to one trace; README says how
// they were chosen and how they do on data they were not chosen on.
package adaptive

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Resource indexes (the same as recommender/logic's).
const (
	CPU    = 0 // cores
	Memory = 1 // bytes
)

// Windows are the candidate look-backs, in hours.
var Windows = []int{1, 2, 4, 8, 16, 32, 64, 168}

// Ranks are the candidate order statistics of the last week's hourly
// peaks: the k-th highest (k = 2: a single spike is ignored; 16: about
// the 90th percentile of a week's hours).
var Ranks = []int{2, 4, 8, 16}

// maxRank is the largest rank Ranks may hold.
const maxRank = 16

// insertTop inserts v into the n highest values kept in t, descending
// (n < maxRank: t grows; otherwise v replaces the smallest if larger).
func insertTop(t *[maxRank]float32, n int, v float32) {
	if n == maxRank {
		if v <= t[maxRank-1] {
			return
		}
		n--
	}
	j := n
	for j > 0 && t[j-1] < v {
		t[j] = t[j-1]
		j--
	}
	t[j] = v
}

// stats is the number of peak statistics: the windows' maxima, then the
// ranks.
func stats() int { return len(Windows) + len(Ranks) }

// Config is the policy's settings, per resource where indexed.
type Config struct {
	// Factors are the candidate multipliers of the peak, ascending.
	Factors [2][]float64
	// Penalty is what one unit of shortfall (usage above the forecast)
	// costs, in units reserved: the policy picks the candidate with the
	// lowest Σ forecast + Penalty × Σ shortfall.
	Penalty [2]float64
	// MissPenalty is what one sample above the forecast costs, in samples
	// reserved at the container's mean usage.
	MissPenalty [2]float64
	// MissCost is what one sample above the forecast costs, in resource
	// units reserved for one sample (core·samples, byte·samples).
	MissCost [2]float64
	// HalfLife is the age at which a sample's score weighs half.
	HalfLife time.Duration
	// MinHistory is how much scored history the choice needs.
	MinHistory time.Duration
	// Min is the smallest target (cores, bytes): VPA's pod minimums.
	Min [2]float64
}

// Default is the policy as README documents it.
func Default() Config {
	return Config{
		Factors:     [2][]float64{{0.6, 0.8, 1, 1.25}, {1, 1.05, 1.1, 1.2, 1.5, 2}},
		Penalty:     [2]float64{20, 300},
		MissPenalty: [2]float64{5, 0},
		MissCost:    [2]float64{0, 500 << 30},
		HalfLife:    7 * 24 * time.Hour,
		MinHistory:  24 * time.Hour,
		Min:         [2]float64{0.025, 250 << 20},
	}
}

// Validate reports settings the policy cannot work with.
func (c *Config) Validate() error {
	for r := range 2 {
		f := c.Factors[r]
		if len(f) == 0 || len(f) > 8 || !slices.IsSorted(f) || !(f[0] > 0) || f[len(f)-1] > 10 {
			return fmt.Errorf("factors must be 1 to 8 ascending values within (0, 10], got %v", f)
		}
		if r == Memory && f[0] < 1 {
			return fmt.Errorf("memory factors must be >= 1, got %v", f)
		}
		if !(c.Penalty[r] >= 0 && c.Penalty[r] <= 1e6) || !(c.MissPenalty[r] >= 0 && c.MissPenalty[r] <= 1e6) {
			return fmt.Errorf("penalties must be within [0, 1e6], got %v, %v", c.Penalty[r], c.MissPenalty[r])
		}
		if !(c.MissCost[r] >= 0 && c.MissCost[r] <= 1e15) {
			return fmt.Errorf("miss cost must be within [0, 1e15], got %v", c.MissCost[r])
		}
		if !(c.Min[r] >= 0) {
			return fmt.Errorf("minimum must be >= 0, got %v", c.Min[r])
		}
	}
	if c.HalfLife <= 0 || c.MinHistory < 0 {
		return fmt.Errorf("half-life must be positive and min history not negative")
	}
	return nil
}

const (
	hour = int64(3600)
	// slots is one week of hourly peaks.
	slots = 168
)

// candidate scores, decayed to State.scoredAt.
type score struct {
	miss, short, cost float32
}

// State is one container's history; New makes one.
type State struct {
	// peak[i] is the peak of hour hourOf[i] (i = that hour mod slots), per
	// resource; hourOf -1 = no sample in that slot.
	peak   [slots][2]float32
	hourOf [slots]int32
	// fc are the candidates' forecasts for hour fcHour (-1: none), the
	// one being scored; next those for hour nextHour (-1: none), which
	// are in force from its start. sc are the scores; used and n the
	// decayed Σ usage and sample count of the scored samples.
	fc       [2][]float32
	fcHour   int64
	next     [2][]float32
	nextHour int64
	sc       [2][]score
	used     [2]float32
	n        float32
	scoredAt int64 // time the scores were last decayed to
	scoredN  int64 // seconds of history scored
	first    int64
	last     int64
	samples  int64
	// halfLife is the configuration's, in seconds.
	halfLife float64
}

// New returns an empty history for cfg's candidates.
func New(cfg *Config) *State {
	s := &State{fcHour: -1, nextHour: -1, halfLife: cfg.HalfLife.Seconds()}
	for r := range 2 {
		k := 2 * stats() * len(cfg.Factors[r])
		s.fc[r] = make([]float32, k)
		s.next[r] = make([]float32, k)
		s.sc[r] = make([]score, k)
	}
	for i := range s.hourOf {
		s.hourOf[i] = -1
	}
	return s
}

// Samples is the number of samples taken.
func (s *State) Samples() int64 { return s.samples }

// FirstSample and LastSample are the times of the first and last sample.
func (s *State) FirstSample() time.Time { return time.Unix(s.first, 0) }

// LastSample is the time of the newest sample.
func (s *State) LastSample() time.Time { return time.Unix(s.last, 0) }

// Add takes one usage sample (cores, bytes) at t.
func (s *State) Add(t time.Time, cpu, mem float64) {
	ts := t.Unix()
	if s.samples == 0 {
		s.first = ts
	}
	s.samples++
	s.last = max(s.last, ts)
	h := floorDiv(ts, hour)
	i := int(mod(h, slots))
	if int64(s.hourOf[i]) != h {
		s.hourOf[i] = int32(h)
		s.peak[i] = [2]float32{}
	}
	used := [2]float32{float32(cpu), float32(mem)}
	if s.nextHour >= 0 && h >= s.nextHour {
		s.promote()
	}
	scored := s.fcHour == h
	if scored {
		s.n++
	}
	for r := range 2 {
		s.peak[i][r] = max(s.peak[i][r], used[r])
		if !scored {
			continue
		}
		s.used[r] += used[r]
		for k, f := range s.fc[r] {
			c := &s.sc[r][k]
			c.cost += f
			if used[r] > f {
				c.miss++
				c.short += used[r] - f
			}
		}
	}
}

// Forecast is the policy's decision for the hour starting at a time.
type Forecast struct {
	// Target per resource (cores, bytes): max(Peak × Factor, Min).
	Target [2]float64
	// The chosen candidate: its look-back in hours, whether it is
	// seasonal, its peak and factor.
	Window [2]int
	// Rank is k when the peak is the k-th highest hourly peak of the
	// window (0: the highest).
	Rank     [2]int
	Seasonal [2]bool
	Peak     [2]float64
	Factor   [2]float64
	// MissRate and Deficit the chosen candidate had lately (decayed);
	// Scored is false while the history is shorter than MinHistory (the
	// most conservative candidate is used).
	MissRate, Deficit [2]float64
	Scored            [2]bool
}

// promote puts the forecasts made for hour nextHour in force: the scores
// are decayed to its start and its samples score them.
func (s *State) promote() {
	ts := s.nextHour * hour
	if s.fcHour >= 0 && ts > s.scoredAt {
		s.scoredN += ts - s.scoredAt
	}
	s.decayTo(ts)
	s.fc, s.next = s.next, s.fc
	s.fcHour, s.nextHour = s.nextHour, -1
}

// Recommend forecasts the hour that holds now (the controller: the hour
// after the current one) from the history before now, and keeps every
// candidate's forecast to score it against that hour's samples once the
// hour starts; ok is false without a sample in the last week. Call it at
// least once per hour, in time order; calls for the same hour replace its
// forecasts.
func (s *State) Recommend(cfg *Config, now time.Time) (f Forecast, ok bool) {
	ts := now.Unix()
	cur := floorDiv(ts, hour)
	if s.nextHour >= 0 && s.nextHour < cur {
		s.promote() // no sample of that hour came before this call
	}
	// peaks[w] = highest hourly peak of the last Windows[w] hours, then
	// the Ranks' order statistics of the week's.
	var peaks [2][16]float64
	// top[r] holds the week's highest maxRank hourly peaks, descending.
	var top [2][maxRank]float32
	nw := 0
	for i := range slots {
		h := int64(s.hourOf[i])
		if h < 0 || h >= cur || h < cur-slots {
			continue
		}
		age := int(cur - h) // 1..168
		for w, wh := range Windows {
			if age <= wh {
				for r := range 2 {
					peaks[r][w] = max(peaks[r][w], float64(s.peak[i][r]))
				}
			}
		}
		for r := range 2 {
			insertTop(&top[r], min(nw, maxRank), s.peak[i][r])
		}
		nw++
	}
	if nw == 0 {
		return Forecast{}, false
	}
	for r := range 2 {
		for j, k := range Ranks {
			peaks[r][len(Windows)+j] = float64(top[r][min(k, nw)-1])
		}
	}
	// Seconds of history scored: to the start of the hour being scored,
	// and the part of it that has passed.
	scoredN := s.scoredN
	if s.fcHour >= 0 && ts > s.scoredAt {
		scoredN += ts - s.scoredAt
	}
	for r := range 2 {
		season := s.seasonal(cur, r)
		nf := len(cfg.Factors[r])
		best, bestLoss := 0, math.Inf(1)
		mean := 0.0
		if s.n > 0 {
			mean = float64(s.used[r]) / float64(s.n)
		}
		for k := range s.sc[r] {
			c := s.sc[r][k]
			l := float64(c.cost) + cfg.Penalty[r]*float64(c.short) + (cfg.MissPenalty[r]*mean+cfg.MissCost[r])*float64(c.miss)
			if l < bestLoss {
				best, bestLoss = k, l
			}
		}
		qualified := scoredN >= int64(cfg.MinHistory/time.Second)
		if !qualified {
			best = (len(Windows)-1)*2*nf + 2*nf - 1 // 168 h, seasonal, largest factor
		}
		for k := range s.next[r] {
			w, seas, fi := k/(2*nf), (k/nf)%2 == 1, k%nf
			win, rank := 168, 0
			if w < len(Windows) {
				win = Windows[w]
			} else {
				rank = Ranks[w-len(Windows)]
			}
			p := peaks[r][w]
			if seas {
				p = max(p, season)
			}
			v := max(p*cfg.Factors[r][fi], cfg.Min[r])
			s.next[r][k] = float32(v)
			if k == best {
				c := s.sc[r][k]
				f.Target[r], f.Window[r], f.Rank[r], f.Seasonal[r], f.Peak[r], f.Factor[r] = v, win, rank, seas, p, cfg.Factors[r][fi]
				f.Scored[r] = qualified
				if s.n > 0 {
					f.MissRate[r] = float64(c.miss) / float64(s.n)
				}
				if s.used[r] > 0 {
					f.Deficit[r] = float64(c.short) / float64(s.used[r])
				}
			}
		}
	}
	s.nextHour = cur
	return f, true
}

// decayTo ages the scores to ts.
func (s *State) decayTo(ts int64) {
	if s.scoredAt != 0 && ts > s.scoredAt {
		f := float32(math.Exp2(-float64(ts-s.scoredAt) / s.halfLife))
		s.n *= f
		for r := range 2 {
			s.used[r] *= f
			for k := range s.sc[r] {
				c := &s.sc[r][k]
				c.miss, c.short, c.cost = c.miss*f, c.short*f, c.cost*f
			}
		}
	}
	s.scoredAt = max(s.scoredAt, ts)
}

// seasonal is the second-highest of the last 7 days' peaks within ±1 hour
// of the time of day of hour cur (0 if fewer than 2 days have one).
func (s *State) seasonal(cur int64, r int) float64 {
	var first, second float64
	n := 0
	for d := int64(1); d <= 7; d++ {
		day, found := 0.0, false
		for o := int64(-1); o <= 1; o++ {
			h := cur - 24*d + o
			if h >= cur {
				continue
			}
			i := int(mod(h, slots))
			if int64(s.hourOf[i]) == h {
				day, found = max(day, float64(s.peak[i][r])), true
			}
		}
		if !found {
			continue
		}
		n++
		if day > first {
			first, second = day, first
		} else if day > second {
			second = day
		}
	}
	if n < 2 {
		return 0
	}
	return second
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func mod(a, b int64) int64 { return ((a % b) + b) % b }
