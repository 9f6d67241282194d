package promsource

import (
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

var (
	labels = Labels{Namespace: "namespace", Pod: "pod", Container: "container"}
	t0     = time.Unix(1_700_000_000, 0)
)

// metric returns cAdvisor-like labels for ns/pod/container; "-" leaves a
// label out.
func metric(ns, pod, container string, extra ...string) model.Metric {
	m := model.Metric{"__name__": "x", "job": "kubelet"}
	for name, v := range map[model.LabelName]string{"namespace": ns, "pod": pod, "container": container} {
		if v != "-" {
			m[name] = model.LabelValue(v)
		}
	}
	for i := 0; i+1 < len(extra); i += 2 {
		m[model.LabelName(extra[i])] = model.LabelValue(extra[i+1])
	}
	return m
}

func smp(m model.Metric, v float64) *model.Sample {
	return &model.Sample{Metric: m, Value: model.SampleValue(v), Timestamp: model.TimeFromUnixNano(t0.UnixNano())}
}

func key(pod, container string) Key { return Key{Namespace: "ns", Pod: pod, Container: container} }

func usage(pod, container string, at time.Time, cpu, mem int64, thr float64) ContainerUsage {
	return ContainerUsage{Key: key(pod, container), Time: at, CPUMillicores: cpu, MemoryBytes: mem, Throttled: thr}
}

func TestLiveOf(t *testing.T) {
	scraped := t0.Add(-1500 * time.Millisecond)
	ts := float64(scraped.UnixMilli()) / 1000
	a, b := metric("ns", "p1", "a"), metric("ns", "p1", "b")
	tests := []struct {
		name    string
		in      LiveVectors
		want    []ContainerUsage
		dropped Dropped
	}{
		{
			name: "cpu, memory, sample time and throttling joined",
			in: LiveVectors{
				CPU:        model.Vector{smp(a, 0.5), smp(b, 0.0004)},
				Memory:     model.Vector{smp(a, 200<<20), smp(b, 1)},
				SampleTime: model.Vector{smp(a, ts)},
				Throttled:  model.Vector{smp(a, 0.25)},
			},
			want: []ContainerUsage{usage("p1", "a", scraped, 500, 200<<20, 0.25), usage("p1", "b", t0, 0, 1, -1)},
		},
		{
			name: "NaN, infinities and histograms dropped, the other resource kept",
			in: LiveVectors{
				CPU:    model.Vector{smp(a, math.NaN()), smp(b, math.Inf(1)), smp(metric("ns", "p2", "c"), math.Inf(-1)), {Metric: metric("ns", "p3", "d"), Histogram: &model.SampleHistogram{}}},
				Memory: model.Vector{smp(a, 100), smp(b, math.NaN())},
			},
			want:    []ContainerUsage{usage("p1", "a", t0, -1, 100, -1)},
			dropped: Dropped{NotFinite: 5},
		},
		{
			name: "negative values dropped",
			in: LiveVectors{
				CPU:        model.Vector{smp(a, -0.001), smp(b, 0)},
				Memory:     model.Vector{smp(a, -1), smp(b, 0)},
				SampleTime: model.Vector{smp(b, -5)},
				Throttled:  model.Vector{smp(b, -0.5)},
			},
			want:    []ContainerUsage{usage("p1", "b", t0, 0, 0, -1)},
			dropped: Dropped{Negative: 3, Absurd: 1},
		},
		{
			name: "absurd values dropped at input's bounds",
			in: LiveVectors{
				CPU:       model.Vector{smp(a, 1e30), smp(b, 1e6)}, // 1e6 cores = input.MaxMillicores: kept
				Memory:    model.Vector{smp(a, 1e15+1), smp(b, 1e15)},
				Throttled: model.Vector{smp(b, 1.5)},
			},
			want:    []ContainerUsage{usage("p1", "b", t0, 1e9, 1e15, -1)},
			dropped: Dropped{Absurd: 3},
		},
		{
			name: "series without namespace or pod, and cgroup aggregates",
			in: LiveVectors{
				CPU: model.Vector{
					smp(metric("-", "p1", "a"), 1), smp(metric("ns", "-", "a"), 1), smp(metric("", "p1", "a"), 1),
					smp(metric("ns", "p1", "-"), 1), smp(metric("ns", "p1", ""), 1), smp(metric("ns", "p1", "POD"), 1),
					smp(a, 1),
				},
			},
			want:    []ContainerUsage{usage("p1", "a", t0, 1000, -1, -1)},
			dropped: Dropped{Unlabeled: 3, Aggregate: 3},
		},
		{
			name: "several series for one container: the maximum, whatever the order",
			in: LiveVectors{
				CPU:    model.Vector{smp(metric("ns", "p1", "a", "job", "j1"), 0.4), smp(metric("ns", "p1", "a", "job", "j2"), 0.6), smp(metric("ns", "p1", "a", "job", "j3"), 0.5)},
				Memory: model.Vector{smp(metric("ns", "p1", "a", "job", "j2"), 10), smp(metric("ns", "p1", "a", "job", "j1"), 30)},
				SampleTime: model.Vector{
					smp(metric("ns", "p1", "a", "job", "j1"), ts-1), smp(metric("ns", "p1", "a", "job", "j2"), ts),
				},
			},
			want:    []ContainerUsage{usage("p1", "a", scraped, 600, 30, -1)},
			dropped: Dropped{Duplicate: 4},
		},
		{
			name: "memory only, throttling only, sorted by pod then container",
			in: LiveVectors{
				Memory:    model.Vector{smp(metric("ns", "p2", "z"), 5), smp(metric("ns", "p10", "y"), 6), smp(b, 7), smp(a, 8)},
				Throttled: model.Vector{smp(metric("ns", "p9", "x"), 0.1)},
			},
			want: []ContainerUsage{
				usage("p1", "a", t0, -1, 8, -1), usage("p1", "b", t0, -1, 7, -1),
				usage("p10", "y", t0, -1, 6, -1), usage("p2", "z", t0, -1, 5, -1),
			},
		},
		{name: "nothing", in: LiveVectors{}, want: []ContainerUsage{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, d := LiveOf(tt.in, labels, t0)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if d != tt.dropped {
				t.Errorf("dropped %+v, want %+v", d, tt.dropped)
			}
			// Reversing every vector changes nothing.
			rev := LiveVectors{CPU: slices.Clone(tt.in.CPU), Memory: slices.Clone(tt.in.Memory), SampleTime: slices.Clone(tt.in.SampleTime), Throttled: slices.Clone(tt.in.Throttled)}
			for _, v := range []model.Vector{rev.CPU, rev.Memory, rev.SampleTime, rev.Throttled} {
				slices.Reverse(v)
			}
			if got2, d2 := LiveOf(rev, labels, t0); !reflect.DeepEqual(got2, got) || d2 != d {
				t.Errorf("order-dependent: %+v %+v", got2, d2)
			}
		})
	}
}

func TestPodMetricsOf(t *testing.T) {
	later := t0.Add(time.Second)
	got := PodMetricsOf([]ContainerUsage{
		usage("p1", "a", t0, 500, 200<<20, 0.1),
		usage("p1", "b", later, -1, 1<<20, -1),
		usage("p2", "a", t0, 250, -1, -1),
	}, 5*time.Minute)
	if len(got) != 2 {
		t.Fatalf("%d PodMetrics, want 2: %+v", len(got), got)
	}
	p1, p2 := got[0], got[1]
	if p1.Name != "p1" || p1.Namespace != "ns" || !p1.Timestamp.Time.Equal(later) || p1.Window.Duration != 5*time.Minute {
		t.Errorf("p1 = %+v", p1.ObjectMeta)
	}
	if p2.Name != "p2" || !p2.Timestamp.Time.Equal(t0) {
		t.Errorf("p2 = %+v %v", p2.ObjectMeta, p2.Timestamp)
	}
	want := func(c corev1.ResourceList, res corev1.ResourceName, q string) {
		t.Helper()
		got, ok := c[res]
		if q == "" {
			if ok {
				t.Errorf("%s = %s, want none", res, got.String())
			}
			return
		}
		if !ok || got.Cmp(resource.MustParse(q)) != 0 {
			t.Errorf("%s = %s, want %s", res, got.String(), q)
		}
	}
	if len(p1.Containers) != 2 || p1.Containers[0].Name != "a" || p1.Containers[1].Name != "b" {
		t.Fatalf("p1 containers %+v", p1.Containers)
	}
	want(p1.Containers[0].Usage, corev1.ResourceCPU, "500m")
	want(p1.Containers[0].Usage, corev1.ResourceMemory, "200Mi")
	want(p1.Containers[1].Usage, corev1.ResourceCPU, "")
	want(p1.Containers[1].Usage, corev1.ResourceMemory, "1Mi")
	want(p2.Containers[0].Usage, corev1.ResourceCPU, "250m")
	want(p2.Containers[0].Usage, corev1.ResourceMemory, "")
	if PodMetricsOf(nil, time.Minute) != nil {
		t.Error("PodMetricsOf(nil) is not empty")
	}
}

// series builds a range-query series with one value per (seconds offset
// from t0, value) pair.
func series(m model.Metric, pairs ...float64) *model.SampleStream {
	s := &model.SampleStream{Metric: m}
	for i := 0; i+1 < len(pairs); i += 2 {
		s.Values = append(s.Values, model.SamplePair{Timestamp: model.TimeFromUnix(t0.Unix() + int64(pairs[i])), Value: model.SampleValue(pairs[i+1])})
	}
	return s
}

func pt(sec int, cpu, mem int64) Point {
	return Point{Time: t0.Add(time.Duration(sec) * time.Second), CPUMillicores: cpu, MemoryBytes: mem}
}

func TestHistoryOf(t *testing.T) {
	a, b := metric("ns", "p1", "a"), metric("ns", "p1", "b")
	nan := math.NaN()
	tests := []struct {
		name     string
		cpu, mem model.Matrix
		want     []Series
		dropped  Dropped
	}{
		{
			name: "cpu and memory joined on time",
			cpu:  model.Matrix{series(a, 0, 0.5, 60, 0.25)},
			mem:  model.Matrix{series(a, 0, 100, 60, 200)},
			want: []Series{{key("p1", "a"), []Point{pt(0, 500, 100), pt(60, 250, 200)}}},
		},
		{
			name: "times only one resource has get the other as -1",
			cpu:  model.Matrix{series(a, 0, 0.5, 120, 0.5)},
			mem:  model.Matrix{series(a, 60, 100, 120, 100, 180, 100)},
			want: []Series{{key("p1", "a"), []Point{pt(0, 500, -1), pt(60, -1, 100), pt(120, 500, 100), pt(180, -1, 100)}}},
		},
		{
			name:    "bad samples dropped one by one",
			cpu:     model.Matrix{series(a, 0, nan, 60, -1, 120, 1e30, 180, 0.1, 240, math.Inf(1))},
			mem:     model.Matrix{series(a, 0, 5, 60, nan, 120, 1e16, 180, -3)},
			want:    []Series{{key("p1", "a"), []Point{pt(0, -1, 5), pt(180, 100, -1)}}},
			dropped: Dropped{NotFinite: 3, Negative: 2, Absurd: 2},
		},
		{
			name:    "a series with no valid sample is left out",
			cpu:     model.Matrix{series(a, 0, nan, 60, nan), series(b, 0, 0.1)},
			want:    []Series{{key("p1", "b"), []Point{pt(0, 100, -1)}}},
			dropped: Dropped{NotFinite: 2},
		},
		{
			name: "unlabeled and aggregate series count every sample",
			cpu: model.Matrix{
				series(metric("-", "p1", "a"), 0, 1, 60, 1), series(metric("ns", "-", "a"), 0, 1),
				series(metric("ns", "p1", ""), 0, 1, 60, 1, 120, 1), series(metric("ns", "p1", "POD"), 0, 1),
			},
			want:    []Series{},
			dropped: Dropped{Unlabeled: 3, Aggregate: 4},
		},
		{
			name: "several series for one container: the maximum per time",
			cpu: model.Matrix{
				series(metric("ns", "p1", "a", "job", "j1"), 0, 0.1, 60, 0.9),
				series(metric("ns", "p1", "a", "job", "j2"), 0, 0.3, 60, 0.2, 120, 0.4),
			},
			mem: model.Matrix{
				series(metric("ns", "p1", "a", "id", "old"), 0, 7),
				series(metric("ns", "p1", "a", "id", "new"), 60, 9),
			},
			want:    []Series{{key("p1", "a"), []Point{pt(0, 300, 7), pt(60, 900, 9), pt(120, 400, -1)}}},
			dropped: Dropped{Duplicate: 2},
		},
		{
			name: "unsorted samples sorted, series sorted by pod and container",
			cpu:  model.Matrix{series(metric("ns", "p2", "a"), 120, 0.3, 0, 0.1, 60, 0.2), series(b, 0, 0.1), series(a, 0, 0.1)},
			want: []Series{
				{key("p1", "a"), []Point{pt(0, 100, -1)}},
				{key("p1", "b"), []Point{pt(0, 100, -1)}},
				{key("p2", "a"), []Point{pt(0, 100, -1), pt(60, 200, -1), pt(120, 300, -1)}},
			},
		},
		{
			name:    "native histograms are not floats",
			cpu:     model.Matrix{{Metric: a, Histograms: []model.SampleHistogramPair{{Timestamp: 1}}}},
			want:    []Series{},
			dropped: Dropped{NotFinite: 1},
		},
		{name: "nothing", want: []Series{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, d := HistoryOf(tt.cpu, tt.mem, labels)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if d != tt.dropped {
				t.Errorf("dropped %+v, want %+v", d, tt.dropped)
			}
		})
	}
}

func TestDropped(t *testing.T) {
	d := Dropped{NotFinite: 1, Negative: 2, Absurd: 3, Unlabeled: 4, Aggregate: 5, Duplicate: 6}
	if d.Invalid() != 10 || d.Total() != 21 {
		t.Errorf("Invalid %d Total %d", d.Invalid(), d.Total())
	}
	d.Add(d)
	if d != (Dropped{2, 4, 6, 8, 10, 12}) {
		t.Errorf("Add: %+v", d)
	}
}
