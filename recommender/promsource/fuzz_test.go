package promsource

import (
	"encoding/binary"
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/tailor-dev/tailor/recommender/input"
)

// fuzzResults decodes data into CPU and memory results, as a range query
// (matrices) and as instant queries (vectors) of the same samples. Each
// 11-byte record is one sample: byte 0 picks the resource, the pod (one
// may lack its label) and the container (including "", "POD" and a missing
// label), byte 1 the series (a "job" label: several series per
// container), byte 2 the time in minutes, bytes 3-10 the float64 bits.
func fuzzResults(data []byte) (cpuM, memM model.Matrix, cpuV, memV model.Vector, n int) {
	pods := []string{"p0", "p1", "p.2", "-"}
	containers := []string{"a", "b", "", "POD", "-", "a", "c", "d"}
	series := map[string]*model.SampleStream{}
	var order []string
	for ; len(data) >= 11; data = data[11:] {
		cpu := data[0]&1 == 0
		pod, c := pods[data[0]>>1&3], containers[data[0]>>3&7]
		job := string('0' + rune(data[1]%4))
		ts := model.TimeFromUnix(t0.Unix() + 60*int64(data[2]))
		v := model.SampleValue(math.Float64frombits(binary.BigEndian.Uint64(data[3:11])))
		m := metric("ns", pod, c, "job", job)
		id := m.String()
		if cpu {
			id = "cpu" + id
		}
		s := series[id]
		if s == nil {
			s = &model.SampleStream{Metric: m}
			series[id] = s
			order = append(order, id)
			if cpu {
				cpuM = append(cpuM, s)
			} else {
				memM = append(memM, s)
			}
		}
		s.Values = append(s.Values, model.SamplePair{Timestamp: ts, Value: v})
		sample := &model.Sample{Metric: m, Value: v, Timestamp: ts}
		if cpu {
			cpuV = append(cpuV, sample)
		} else {
			memV = append(memV, sample)
		}
		n++
	}
	return cpuM, memM, cpuV, memV, n
}

// reversed returns a copy of m with the series and their samples reversed.
func reversed(m model.Matrix) model.Matrix {
	out := make(model.Matrix, len(m))
	for i, s := range m {
		vs := slices.Clone(s.Values)
		slices.Reverse(vs)
		out[len(m)-1-i] = &model.SampleStream{Metric: s.Metric, Values: vs}
	}
	return out
}

func validKey(t *testing.T, k Key) {
	t.Helper()
	if k.Namespace == "" || k.Pod == "" || k.Container == "" || k.Container == "POD" {
		t.Fatalf("bad key %+v", k)
	}
}

func inBounds(t *testing.T, cpu, mem int64) int {
	t.Helper()
	if cpu < -1 || cpu > input.MaxMillicores || mem < -1 || mem > input.MaxBytes || cpu < 0 && mem < 0 {
		t.Fatalf("cpu %d memory %d out of bounds", cpu, mem)
	}
	n := 0
	if cpu >= 0 {
		n++
	}
	if mem >= 0 {
		n++
	}
	return n
}

// FuzzConvert feeds arbitrary samples (any value, labels, duplicates, order)
// to HistoryOf and LiveOf and checks: no panic; every kept value is within
// input's bounds and belongs to a labeled container; every sample is either
// kept or counted in Dropped; points ascend in time; series and containers
// are sorted; and reversing the input changes nothing.
func FuzzConvert(f *testing.F) {
	rec := func(b0, b1, b2 byte, v float64) []byte {
		r := []byte{b0, b1, b2, 0, 0, 0, 0, 0, 0, 0, 0}
		binary.BigEndian.PutUint64(r[3:], math.Float64bits(v))
		return r
	}
	f.Add(slices.Concat(rec(0, 0, 0, 0.5), rec(1, 0, 0, 200<<20), rec(0, 1, 0, 0.7), rec(0, 0, 1, 0.4)))
	f.Add(slices.Concat(rec(0, 0, 0, math.NaN()), rec(1, 0, 0, -1), rec(0, 0, 1, 1e30), rec(1, 2, 1, math.Inf(-1))))
	f.Add(slices.Concat(rec(2<<3, 0, 0, 1), rec(3<<3, 0, 0, 1), rec(4<<3, 0, 0, 1), rec(3<<1, 0, 0, 1)))
	f.Add(make([]byte, 110))
	f.Fuzz(func(t *testing.T, data []byte) {
		cpuM, memM, cpuV, memV, n := fuzzResults(data)

		hist, d := HistoryOf(cpuM, memM, labels)
		kept := 0
		for i, s := range hist {
			validKey(t, s.Key)
			if i > 0 && hist[i-1].compare(s.Key) >= 0 {
				t.Fatalf("series unsorted at %d: %+v then %+v", i, hist[i-1].Key, s.Key)
			}
			if len(s.Points) == 0 {
				t.Fatalf("empty series %+v", s.Key)
			}
			for j, p := range s.Points {
				if j > 0 && !s.Points[j-1].Time.Before(p.Time) {
					t.Fatalf("%+v: points not ascending at %d", s.Key, j)
				}
				kept += inBounds(t, p.CPUMillicores, p.MemoryBytes)
			}
		}
		if kept+d.Total() != n {
			t.Fatalf("history: %d samples, %d kept + %d dropped (%+v)", n, kept, d.Total(), d)
		}
		if hist2, d2 := HistoryOf(reversed(cpuM), reversed(memM), labels); !reflect.DeepEqual(hist2, hist) || d2 != d {
			t.Fatalf("history depends on the input order:\n%+v %+v\n%+v %+v", hist, d, hist2, d2)
		}

		// Vectors: each container's samples (over all times) compete for
		// one value; the evaluation time stands for all.
		live, d := LiveOf(LiveVectors{CPU: cpuV, Memory: memV}, labels, t0)
		kept = 0
		for i, u := range live {
			validKey(t, u.Key)
			if i > 0 && live[i-1].compare(u.Key) >= 0 {
				t.Fatalf("containers unsorted at %d", i)
			}
			if !u.Time.Equal(t0) || u.Throttled != -1 {
				t.Fatalf("time %v throttled %v without such samples", u.Time, u.Throttled)
			}
			kept += inBounds(t, u.CPUMillicores, u.MemoryBytes)
		}
		if kept+d.Total() != n {
			t.Fatalf("live: %d samples, %d kept + %d dropped (%+v)", n, kept, d.Total(), d)
		}
		slices.Reverse(cpuV)
		slices.Reverse(memV)
		if live2, d2 := LiveOf(LiveVectors{CPU: cpuV, Memory: memV}, labels, t0); !reflect.DeepEqual(live2, live) || d2 != d {
			t.Fatalf("live depends on the input order")
		}
		pms := PodMetricsOf(live, time.Minute)
		containers := 0
		for _, p := range pms {
			containers += len(p.Containers)
		}
		if containers != len(live) {
			t.Fatalf("%d PodMetrics containers for %d usages", containers, len(live))
		}
	})
}
