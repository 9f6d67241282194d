package promsource

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"github.com/tailor-dev/tailor/recommender/input"
)

// Labels names the labels that identify a container in the series.
type Labels struct{ Namespace, Pod, Container string }

// LabelsOf returns the label names configured in c.
func LabelsOf(c Config) Labels {
	return Labels{Namespace: c.NamespaceLabel, Pod: c.PodLabel, Container: c.ContainerLabel}
}

// Key identifies one container of one pod.
type Key struct{ Namespace, Pod, Container string }

func (k Key) compare(o Key) int {
	return cmp.Or(cmp.Compare(k.Namespace, o.Namespace), cmp.Compare(k.Pod, o.Pod), cmp.Compare(k.Container, o.Container))
}

// Dropped counts the samples a conversion did not use, by why. A sample is
// one value of one series at one time.
type Dropped struct {
	// NotFinite: NaN or ±Inf (a rate over a counter reset, 0/0), or a
	// native histogram where a float was expected.
	NotFinite int
	// Negative: below zero.
	Negative int
	// Absurd: above input.MaxMillicores or input.MaxBytes, a throttling
	// ratio above 1, or a sample time before 1970.
	Absurd int
	// Unlabeled: no namespace or pod label (see Config's label names).
	Unlabeled int
	// Aggregate: container label empty or "POD": cAdvisor's pod-level
	// cgroup and pause-container series, not a container's own usage.
	Aggregate int
	// Duplicate: another series gave the same (container, time) (several
	// jobs scraping one kubelet, or a restarted container's old series
	// within the rate window); the highest value is kept.
	Duplicate int
}

// Invalid is the count of bad data: not finite, negative, absurd and
// unlabeled samples. Aggregates and duplicates are normal in real clusters.
func (d Dropped) Invalid() int { return d.NotFinite + d.Negative + d.Absurd + d.Unlabeled }

// Total is every sample dropped.
func (d Dropped) Total() int { return d.Invalid() + d.Aggregate + d.Duplicate }

// Add adds o's counts to d.
func (d *Dropped) Add(o Dropped) {
	d.NotFinite += o.NotFinite
	d.Negative += o.Negative
	d.Absurd += o.Absurd
	d.Unlabeled += o.Unlabeled
	d.Aggregate += o.Aggregate
	d.Duplicate += o.Duplicate
}

// unit says how a series' values are checked and converted.
type unit int

const (
	unitCores   unit = iota // float cores → int64 millicores, ≤ input.MaxMillicores
	unitBytes               // float bytes → int64 bytes, ≤ input.MaxBytes
	unitRatio               // float in [0, 1]
	unitSeconds             // Unix time in seconds (timestamp()) → milliseconds
)

// check validates v and converts it to the unit's integer or, for ratios,
// leaves it as is; ok is false when the sample is dropped (and counted).
func check(v float64, u unit, d *Dropped) (float64, bool) {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		d.NotFinite++
		return 0, false
	case v < 0:
		if u == unitSeconds {
			d.Absurd++ // before 1970
		} else {
			d.Negative++
		}
		return 0, false
	}
	switch u {
	case unitCores:
		if v*1000 > float64(input.MaxMillicores) {
			d.Absurd++
			return 0, false
		}
		return math.Round(v * 1000), true
	case unitBytes:
		if v > float64(input.MaxBytes) {
			d.Absurd++
			return 0, false
		}
		return math.Round(v), true
	case unitRatio:
		if v > 1 {
			d.Absurd++
			return 0, false
		}
		return v, true
	default: // unitSeconds
		if v > 1e13 { // year 318857: a broken clock, and beyond int64 milliseconds' comfort
			d.Absurd++
			return 0, false
		}
		return math.Round(v * 1000), true
	}
}

// keyOf reads a series' container; ok is false (and the n samples are
// counted) when it lacks a label or is a cgroup aggregate.
func keyOf(m model.Metric, l Labels, n int, d *Dropped) (Key, bool) {
	k := Key{Namespace: string(m[model.LabelName(l.Namespace)]), Pod: string(m[model.LabelName(l.Pod)]), Container: string(m[model.LabelName(l.Container)])}
	switch {
	case k.Namespace == "" || k.Pod == "":
		d.Unlabeled += n
		return k, false
	case k.Container == "" || k.Container == "POD":
		d.Aggregate += n
		return k, false
	}
	return k, true
}

// vectorValues converts an instant vector to one value per container. When
// several series name the same container the maximum is kept: it does not
// depend on the order Prometheus returns series in, and for a recommender
// the higher reading is the safe one (two jobs scraping one kubelet report
// nearly equal values; a restarted container's old series is stale).
func vectorValues(v model.Vector, l Labels, u unit, d *Dropped) map[Key]float64 {
	out := make(map[Key]float64, len(v))
	for _, s := range v {
		if s == nil {
			continue
		}
		k, ok := keyOf(s.Metric, l, 1, d)
		if !ok {
			continue
		}
		if s.Histogram != nil {
			d.NotFinite++
			continue
		}
		x, ok := check(float64(s.Value), u, d)
		if !ok {
			continue
		}
		if prev, dup := out[k]; dup {
			d.Duplicate++
			x = max(x, prev)
		}
		out[k] = x
	}
	return out
}

// ContainerUsage is one container's live usage.
type ContainerUsage struct {
	Key
	// Time is when the sample was scraped (the CPU counter's last sample;
	// the query's evaluation time when that is unknown).
	Time time.Time
	// CPUMillicores is the CPU rate over the rate window; MemoryBytes the
	// working set. Each is -1 when Prometheus has no valid sample (CPU also
	// while the container's series is younger than the rate window).
	CPUMillicores, MemoryBytes int64
	// Throttled is the fraction of CFS periods in the rate window in which
	// the container was throttled, in [0, 1]; -1 when unknown (no CPU
	// limit, an idle container, throttling off, or a source such as kwok
	// that has no CFS metrics).
	Throttled float64
}

// LiveVectors are the results of the live queries (nil when not run).
type LiveVectors struct {
	CPU, Memory, SampleTime, Throttled model.Vector
}

// LiveOf converts the live queries' results to one ContainerUsage per
// container that has a valid CPU or memory value, sorted by key. evalTime
// (the query's evaluation time) stands in for an unknown sample time.
func LiveOf(r LiveVectors, l Labels, evalTime time.Time) ([]ContainerUsage, Dropped) {
	var d Dropped
	cpu := vectorValues(r.CPU, l, unitCores, &d)
	mem := vectorValues(r.Memory, l, unitBytes, &d)
	times := vectorValues(r.SampleTime, l, unitSeconds, &d)
	thr := vectorValues(r.Throttled, l, unitRatio, &d)
	out := make([]ContainerUsage, 0, max(len(cpu), len(mem)))
	add := func(k Key) {
		u := ContainerUsage{Key: k, Time: evalTime, CPUMillicores: -1, MemoryBytes: -1, Throttled: -1}
		if v, ok := cpu[k]; ok {
			u.CPUMillicores = int64(v)
		}
		if v, ok := mem[k]; ok {
			u.MemoryBytes = int64(v)
		}
		if v, ok := times[k]; ok {
			u.Time = time.UnixMilli(int64(v))
		}
		if v, ok := thr[k]; ok {
			u.Throttled = v
		}
		out = append(out, u)
	}
	for k := range cpu {
		add(k)
	}
	for k := range mem {
		if _, done := cpu[k]; !done {
			add(k)
		}
	}
	slices.SortFunc(out, func(a, b ContainerUsage) int { return a.compare(b.Key) })
	return out, d
}

// PodMetricsOf groups live usage into metrics.k8s.io PodMetrics, one per pod
// (sorted by namespace and name), so a Source can stand in for
// metrics-server. A pod's Timestamp is its containers' latest sample time;
// Window is the rate window. A container's Usage has cpu and memory only
// when known; throttling has no place in PodMetrics (see ContainerUsage).
func PodMetricsOf(us []ContainerUsage, window time.Duration) []metricsv1beta1.PodMetrics {
	var out []metricsv1beta1.PodMetrics
	for _, u := range us {
		if n := len(out); n == 0 || out[n-1].Namespace != u.Namespace || out[n-1].Name != u.Pod {
			out = append(out, metricsv1beta1.PodMetrics{
				ObjectMeta: metav1.ObjectMeta{Namespace: u.Namespace, Name: u.Pod},
				Window:     metav1.Duration{Duration: window},
			})
		}
		p := &out[len(out)-1]
		if u.Time.After(p.Timestamp.Time) {
			p.Timestamp = metav1.NewTime(u.Time)
		}
		c := metricsv1beta1.ContainerMetrics{Name: u.Container, Usage: corev1.ResourceList{}}
		if u.CPUMillicores >= 0 {
			c.Usage[corev1.ResourceCPU] = *resource.NewMilliQuantity(u.CPUMillicores, resource.DecimalSI)
		}
		if u.MemoryBytes >= 0 {
			c.Usage[corev1.ResourceMemory] = *resource.NewQuantity(u.MemoryBytes, resource.BinarySI)
		}
		p.Containers = append(p.Containers, c)
	}
	return out
}

// Point is one step of a container's history.
type Point struct {
	Time time.Time
	// CPUMillicores is the CPU rate over the step (or the rate window, if
	// longer) ending at Time; MemoryBytes the peak working set within the
	// step. Each is -1 when Prometheus has no valid sample at that step (CPU
	// also when the series does not span the whole window: the container
	// started or ended within it).
	CPUMillicores, MemoryBytes int64
}

// Series is one container's history, oldest point first.
type Series struct {
	Key
	Points []Point
}

// tv is one checked sample: milliseconds since the epoch and value.
type tv struct {
	t int64
	v float64
}

// matrixValues converts a range-query result to one time-sorted sample list
// per container; samples of several series at the same time are merged
// into their maximum (see vectorValues for why).
func matrixValues(m model.Matrix, l Labels, u unit, d *Dropped) map[Key][]tv {
	out := make(map[Key][]tv, len(m))
	for _, s := range m {
		if s == nil {
			continue
		}
		k, ok := keyOf(s.Metric, l, len(s.Values)+len(s.Histograms), d)
		if !ok {
			continue
		}
		d.NotFinite += len(s.Histograms)
		vs := out[k]
		for _, p := range s.Values {
			if x, ok := check(float64(p.Value), u, d); ok {
				vs = append(vs, tv{int64(p.Timestamp), x})
			}
		}
		out[k] = vs
	}
	for k, vs := range out {
		if len(vs) == 0 {
			delete(out, k)
			continue
		}
		if !slices.IsSortedFunc(vs, func(a, b tv) int { return cmp.Compare(a.t, b.t) }) {
			slices.SortStableFunc(vs, func(a, b tv) int { return cmp.Compare(a.t, b.t) })
		}
		// Fold equal times into their maximum.
		w := 0
		for _, x := range vs[1:] {
			if x.t == vs[w].t {
				d.Duplicate++
				vs[w].v = max(vs[w].v, x.v)
				continue
			}
			w++
			vs[w] = x
		}
		out[k] = vs[:w+1]
	}
	return out
}

// HistoryOf joins the CPU and memory range-query results into one Series
// per container (sorted by key), one Point per time either has a valid
// sample at.
func HistoryOf(cpu, mem model.Matrix, l Labels) ([]Series, Dropped) {
	var d Dropped
	c := matrixValues(cpu, l, unitCores, &d)
	m := matrixValues(mem, l, unitBytes, &d)
	keys := make([]Key, 0, max(len(c), len(m)))
	for k := range c {
		keys = append(keys, k)
	}
	for k := range m {
		if _, ok := c[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, Key.compare)
	out := make([]Series, 0, len(keys))
	for _, k := range keys {
		cs, ms := c[k], m[k]
		pts := make([]Point, 0, max(len(cs), len(ms)))
		i, j := 0, 0
		for i < len(cs) || j < len(ms) {
			p := Point{CPUMillicores: -1, MemoryBytes: -1}
			var t int64
			switch {
			case j == len(ms) || i < len(cs) && cs[i].t < ms[j].t:
				t, p.CPUMillicores = cs[i].t, int64(cs[i].v)
				i++
			case i == len(cs) || ms[j].t < cs[i].t:
				t, p.MemoryBytes = ms[j].t, int64(ms[j].v)
				j++
			default: // same time
				t, p.CPUMillicores, p.MemoryBytes = cs[i].t, int64(cs[i].v), int64(ms[j].v)
				i++
				j++
			}
			p.Time = time.UnixMilli(t)
			pts = append(pts, p)
		}
		out = append(out, Series{Key: k, Points: pts})
	}
	return out, d
}
