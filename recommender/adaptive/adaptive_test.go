package adaptive

import (
	"math"
	"testing"
	"time"
)

var t0 = time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC)

// feed adds one sample every 5 minutes from hour `from` to `to` (exclusive)
// with usage f(hour, minute), asking for a forecast at every hour; it
// returns the forecast for hour `to`.
func feed(cfg *Config, s *State, from, to int, f func(h, m int) (float64, float64)) Forecast {
	var last Forecast
	for h := from; h < to; h++ {
		if fc, ok := s.Recommend(cfg, t0.Add(time.Duration(h)*time.Hour)); ok {
			last = fc
		}
		for m := 0; m < 60; m += 5 {
			c, mem := f(h, m)
			s.Add(t0.Add(time.Duration(h)*time.Hour+time.Duration(m)*time.Minute), c, mem)
		}
	}
	if fc, ok := s.Recommend(cfg, t0.Add(time.Duration(to)*time.Hour)); ok {
		last = fc
	}
	return last
}

func TestRecommend(t *testing.T) {
	const gi = 1 << 30
	cases := []struct {
		name  string
		hours int
		use   func(h, m int) (float64, float64)
		check func(t *testing.T, f Forecast)
	}{{
		name: "steady usage gets a target close to it", hours: 96,
		use: func(h, m int) (float64, float64) { return 0.5, 2 * gi },
		check: func(t *testing.T, f Forecast) {
			if f.Target[CPU] < 0.5 || f.Target[CPU] > 0.5*1.25 || f.Target[Memory] < 2*gi || f.Target[Memory] > 2*gi*1.06 {
				t.Errorf("target %v, want within 25%% (cpu) and 6%% (memory) of usage", f.Target)
			}
		},
	}, {
		name: "memory never goes below the last hour's peak", hours: 96,
		use: func(h, m int) (float64, float64) {
			if h == 95 && m == 30 {
				return 0.1, 8 * gi
			}
			return 0.1, gi
		},
		check: func(t *testing.T, f Forecast) {
			if f.Target[Memory] < 8*gi {
				t.Errorf("memory target %v below the recent peak 8Gi", f.Target[Memory])
			}
		},
	}, {
		name: "a daily spike is forecast at its hour", hours: 24*14 + 1,
		// 01:00–02:00 every day memory jumps to 6Gi; the forecast is for 01:00.
		use: func(h, m int) (float64, float64) {
			if h%24 == 1 {
				return 0.1, 6 * gi
			}
			return 0.1, gi
		},
		check: func(t *testing.T, f Forecast) {
			if f.Target[Memory] < 6*gi {
				t.Errorf("memory target %v below the daily spike", f.Target[Memory])
			}
		},
	}, {
		name: "a daily spike's hour is not held all day", hours: 24*14 + 13,
		use: func(h, m int) (float64, float64) {
			if h%24 == 1 {
				return 0.1, 6 * gi
			}
			return 0.1, gi
		},
		check: func(t *testing.T, f Forecast) {
			if f.Target[Memory] > 3*gi {
				t.Errorf("memory target %v at 13:00 holds the 01:00 spike", f.Target[Memory])
			}
		},
	}, {
		name: "noisy cpu can be sized below its peak", hours: 24 * 5,
		// One sample an hour at 4 cores, the rest at 0.2: the peak is rare,
		// so throttling it is cheaper than reserving it.
		use: func(h, m int) (float64, float64) {
			if m == 0 && h%8 == 0 {
				return 4, gi
			}
			return 0.2, gi
		},
		check: func(t *testing.T, f Forecast) {
			if f.Target[CPU] >= 4 {
				t.Errorf("cpu target %v holds a rare peak", f.Target[CPU])
			}
		},
	}, {
		name: "a rare memory spike of a large container is not held all week", hours: 24*14 + 12,
		// 20Gi, and 30Gi for one sample every 84 hours (the last at hour
		// 336): half a day later the target is back near 20Gi, where the
		// 168-hour peak would hold 30Gi for a week. (A miss priced in
		// samples at the container's mean usage would hold it: that price
		// grows with the container, an OOM kill's does not.)
		use: func(h, m int) (float64, float64) {
			if h%84 == 0 && m == 30 {
				return 0.1, 30 * gi
			}
			return 0.1, 20 * gi
		},
		check: func(t *testing.T, f Forecast) {
			if f.Target[Memory] > 25*gi {
				t.Errorf("memory target %v (window %d h, rank %d) holds a rare spike", f.Target[Memory], f.Window[Memory], f.Rank[Memory])
			}
		},
	}, {
		name: "memory spikes every few hours are held", hours: 24 * 10,
		use: func(h, m int) (float64, float64) {
			if h%6 == 0 && m == 30 {
				return 0.1, 8 * gi
			}
			return 0.1, gi
		},
		check: func(t *testing.T, f Forecast) {
			if f.Target[Memory] < 8*gi {
				t.Errorf("memory target %v below a spike that comes every 6 hours", f.Target[Memory])
			}
		},
	}, {
		name: "minimums hold for idle containers", hours: 72,
		use: func(h, m int) (float64, float64) { return 0, 0 },
		check: func(t *testing.T, f Forecast) {
			if f.Target != [2]float64{0.025, 250 << 20} {
				t.Errorf("target %v, want the minimums", f.Target)
			}
		},
	}, {
		name: "short history uses the most conservative candidate", hours: 10,
		use: func(h, m int) (float64, float64) { return float64(h), gi },
		check: func(t *testing.T, f Forecast) {
			if f.Scored[CPU] || f.Window[CPU] != 168 || !f.Seasonal[CPU] || f.Factor[CPU] != 1.25 || f.Target[CPU] != 9*1.25 {
				t.Errorf("forecast %+v, want 168 h seasonal ×1.25 of the peak 9 (hour 9's usage)", f)
			}
		},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := Default()
			s := New(&cfg)
			f := feed(&cfg, s, 0, c.hours, c.use)
			c.check(t, f)
		})
	}
}

func TestNoHistory(t *testing.T) {
	cfg := Default()
	s := New(&cfg)
	if _, ok := s.Recommend(&cfg, t0); ok {
		t.Fatal("forecast without samples")
	}
	s.Add(t0, 1, 1)
	if _, ok := s.Recommend(&cfg, t0.Add(8*24*time.Hour)); ok {
		t.Fatal("forecast from samples older than a week")
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		edit func(c *Config)
		ok   bool
	}{
		{"default", func(*Config) {}, true},
		{"memory factor below 1", func(c *Config) { c.Factors[Memory] = []float64{0.9, 1} }, false},
		{"unsorted factors", func(c *Config) { c.Factors[CPU] = []float64{1, 0.5} }, false},
		{"no factors", func(c *Config) { c.Factors[CPU] = nil }, false},
		{"negative penalty", func(c *Config) { c.Penalty[CPU] = -1 }, false},
		{"NaN miss penalty", func(c *Config) { c.MissPenalty[Memory] = math.NaN() }, false},
		{"zero half-life", func(c *Config) { c.HalfLife = 0 }, false},
	}
	for _, c := range cases {
		cfg := Default()
		c.edit(&cfg)
		if err := cfg.Validate(); (err == nil) != c.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", c.name, err, c.ok)
		}
	}
}

func BenchmarkHour(b *testing.B) {
	// One container-hour: 60 one-minute samples and a forecast.
	cfg := Default()
	s := New(&cfg)
	feed(&cfg, s, 0, 48, func(h, m int) (float64, float64) { return float64(h%7) / 3, float64(h%5) * 1e9 })
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		h := 48 + i
		s.Recommend(&cfg, t0.Add(time.Duration(h)*time.Hour))
		for m := range 60 {
			s.Add(t0.Add(time.Duration(h)*time.Hour+time.Duration(m)*time.Minute), float64(m%7)/3, float64(m%5)*1e9)
		}
	}
}

// FuzzRecommend drives arbitrary sample streams and forecast requests (any
// order, any magnitude) and checks that nothing panics, every target is
// finite and at least the minimums, and the history restores from its
// checkpoint.
func FuzzRecommend(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add(make([]byte, 64))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := Default()
		s := New(&cfg)
		ts := t0
		for len(data) >= 4 {
			op, dt, v := data[0]%3, time.Duration(int8(data[1]))*17*time.Minute, float64(data[2])*math.Pow(2, float64(data[3]%64))
			data = data[4:]
			ts = ts.Add(dt)
			if op == 0 {
				fc, ok := s.Recommend(&cfg, ts)
				for r := range 2 {
					if ok && (math.IsNaN(fc.Target[r]) || math.IsInf(fc.Target[r], 0) || fc.Target[r] < cfg.Min[r]) {
						t.Fatalf("target %v", fc.Target)
					}
				}
				continue
			}
			s.Add(ts, v/1e6, v)
		}
		// Whatever the order of the calls, the history checkpoints.
		if _, err := Unmarshal(&cfg, s.Marshal()); err != nil {
			t.Fatalf("the history does not restore: %v", err)
		}
	})
}

func TestInsertTop(t *testing.T) {
	cases := []struct {
		name string
		in   []float32
		want []float32 // the first min(len(in), maxRank) of the kept values
	}{
		{"fewer than kept: all, descending", []float32{3, 1, 2}, []float32{3, 2, 1}},
		{"more than kept: the highest", []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 0}, []float32{18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3}},
		{"ties are kept", []float32{2, 2, 1}, []float32{2, 2, 1}},
	}
	for _, c := range cases {
		var top [maxRank]float32
		for i, v := range c.in {
			insertTop(&top, min(i, maxRank), v)
		}
		for i, w := range c.want {
			if top[i] != w {
				t.Errorf("%s: top %v, want %v first", c.name, top, c.want)
				break
			}
		}
	}
	for _, k := range Ranks {
		if k < 1 || k > maxRank {
			t.Errorf("rank %d outside 1..%d", k, maxRank)
		}
	}
}

// TestControllerCadence checks that the controller's way of asking (after
// every sample, for the hour after the current one, its history including
// the current hour so far) decides as the simulator's (once, at the start
// of each hour): the samples of an hour are scored against the forecasts
// made for that hour, not against the ones the next hour gets while they
// are being made.
func TestControllerCadence(t *testing.T) {
	const gi = 1 << 30
	cfg := Default()
	// Spiky, shifting usage, so that the candidates' scores differ.
	use := func(h, m int) (float64, float64) {
		c := 0.2 + 0.1*float64((h*7+m)%5)
		mem := gi * (1 + float64((h*13+m*3)%11)/4)
		if (h/9)%3 == 0 && m >= 40 {
			mem *= 2
		}
		return c, mem
	}
	sim, ctl := New(&cfg), New(&cfg)
	for h := range 24 * 9 {
		at := t0.Add(time.Duration(h) * time.Hour)
		want, wok := sim.Recommend(&cfg, at)
		// The controller's last forecast for hour h was made in hour h-1,
		// after its last sample.
		if h > 0 {
			got, gok := ctl.Recommend(&cfg, at)
			if wok != gok || want != got {
				t.Fatalf("hour %d: controller cadence %v %+v, simulator cadence %v %+v", h, gok, got, wok, want)
			}
		}
		for m := 0; m < 60; m += 5 {
			c, mem := use(h, m)
			ts := at.Add(time.Duration(m) * time.Minute)
			sim.Add(ts, c, mem)
			ctl.Add(ts, c, mem)
			ctl.Recommend(&cfg, at.Add(time.Hour))
		}
	}
}
