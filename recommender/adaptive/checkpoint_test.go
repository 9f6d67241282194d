package adaptive

import (
	"encoding/binary"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fed is a State fed three days of a daily pattern, asked every hour.
func fed(t testing.TB, cfg *Config) *State {
	t.Helper()
	s := New(cfg)
	start := time.Unix(1_700_000_000, 0).Truncate(time.Hour)
	for h := range 72 {
		now := start.Add(time.Duration(h) * time.Hour)
		s.Recommend(cfg, now)
		for m := 0; m < 60; m += 5 {
			x := float64((h%24)+m) / 100
			s.Add(now.Add(time.Duration(m)*time.Minute), 0.1+x, 200e6*(1+x))
		}
	}
	return s
}

// TestCheckpointRoundTrip: a restored history decides exactly as the
// original from then on.
func TestCheckpointRoundTrip(t *testing.T) {
	cfg := Default()
	s := fed(t, &cfg)
	data := s.Marshal()
	if len(data) > 7500 {
		t.Errorf("checkpoint %d bytes, want ~7 KB", len(data))
	}
	r, err := Unmarshal(&cfg, data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, r) {
		t.Fatal("restored state differs")
	}
	now := time.Unix(s.last, 0).Truncate(time.Hour).Add(time.Hour)
	for h := range 5 {
		at := now.Add(time.Duration(h) * time.Hour)
		f1, ok1 := s.Recommend(&cfg, at)
		f2, ok2 := r.Recommend(&cfg, at)
		if f1 != f2 || ok1 != ok2 {
			t.Fatalf("hour %d: original %+v, restored %+v", h, f1, f2)
		}
		s.Add(at.Add(time.Minute), 0.5, 300e6)
		r.Add(at.Add(time.Minute), 0.5, 300e6)
	}
}

func TestCheckpointRefused(t *testing.T) {
	cfg := Default()
	good := fed(t, &cfg).Marshal()
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	other := Default()
	other.Factors[CPU] = []float64{1, 2}
	nan := mutate(func(b []byte) []byte {
		binary.LittleEndian.PutUint32(b[10:], math.Float32bits(float32(math.NaN()))) // the first peak
		return b
	})
	tests := []struct {
		name string
		cfg  *Config
		data []byte
		want string
	}{
		{"empty", &cfg, nil, "not an adaptive policy checkpoint"},
		{"other bytes", &cfg, []byte("{\"cpuHistogram\":{}}"), "not an adaptive policy checkpoint"},
		{"version 1 (before the rank candidates)", &cfg, mutate(func(b []byte) []byte { b[4] = 1; return b }), "version 1, this Tailor reads 3"},
		{"version 2 (one set of forecasts)", &cfg, mutate(func(b []byte) []byte { b[4] = 2; return b }), "version 2, this Tailor reads 3"},
		{"forecast hour out of range", &cfg, mutate(func(b []byte) []byte {
			binary.LittleEndian.PutUint64(b[len(b)-8:], math.MaxUint64-5) // nextHour -6
			return b
		}), "forecast hours"},
		{"other candidates", &other, good, "candidates for resource 0, the configuration has"},
		{"truncated", &cfg, good[:len(good)-1], "truncated"},
		{"trailing", &cfg, append(append([]byte(nil), good...), 0), "1 bytes after the end"},
		{"NaN peak", &cfg, nan, "hour slot 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Unmarshal(tc.cfg, tc.data)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, %v; want an error containing %q", s, err, tc.want)
			}
		})
	}
}

// FuzzUnmarshal: any bytes either restore a history that Recommend and
// Add can use, or are refused; never a panic.
func FuzzUnmarshal(f *testing.F) {
	cfg := Default()
	f.Add(fed(f, &cfg).Marshal())
	f.Add(New(&cfg).Marshal())
	f.Add([]byte("tadp\x01\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Unmarshal(&cfg, data)
		if err != nil {
			return
		}
		s.Recommend(&cfg, time.Unix(s.last, 0).Add(time.Hour))
		s.Add(time.Unix(s.last, 0), 1, 1e9)
		if _, err := Unmarshal(&cfg, s.Marshal()); err != nil {
			t.Fatalf("a restored history does not restore again: %v", err)
		}
	})
}

func BenchmarkCheckpoint(b *testing.B) {
	cfg := Default()
	s := fed(b, &cfg)
	for range b.N {
		if _, err := Unmarshal(&cfg, s.Marshal()); err != nil {
			b.Fatal(err)
		}
	}
}
