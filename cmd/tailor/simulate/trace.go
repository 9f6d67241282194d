// Package simulate replays traces through Tailor's own decision functions
// on a simulated clock: usage traces through recommender/model and
// recommender/logic (vertical), load traces through scaler/logic
// (horizontal), pod arrivals through provisioner/scheduling (capacity). It
// does no I/O beyond the readers it is handed and imports only pure
// packages, so every replay is deterministic and fast.
package simulate

// Kind is a trace kind.
type Kind string

// Trace kinds.
const (
	KindUsage    Kind = "usage"
	KindLoad     Kind = "load"
	KindArrivals Kind = "arrivals"
)

// Usage is a usage trace: one series per container, sorted by name.
type Usage struct {
	Series []*Series
}

// Series is one container's samples in time order.
type Series struct {
	Name    string
	Samples []Sample
}

// Sample is one usage measurement of one container.
type Sample struct {
	// T is the sample time, Unix seconds.
	T int64
	// CPU is the CPU used, cores; Mem the memory used, bytes.
	CPU, Mem float64
	// ProvCPU and ProvMem are what the container had provisioned (cores,
	// bytes), 0 when the trace does not say: the static baseline.
	ProvCPU, ProvMem float64
}

// Samples is the number of samples across all series.
func (u *Usage) Samples() int {
	n := 0
	for _, s := range u.Series {
		n += len(s.Samples)
	}
	return n
}

// Load is a load trace: requests per second, one value per second.
type Load struct {
	// Start is the Unix time of RPS[0], 0 when the trace has no times.
	Start int64
	RPS   []float64
}

// Arrivals is a pod arrivals trace.
type Arrivals struct {
	Pods []Pod
}

// Pod is one pod of an arrivals trace.
type Pod struct {
	Name string
	// CPUMilli and MemMiB are the pod's requests.
	CPUMilli, MemMiB int64
	// GPUs is the number of GPUs requested (whole devices).
	GPUs int64
	// Create and Delete are seconds from the trace start; Delete <= Create
	// never happens in a valid trace.
	Create, Delete int64
}

// HasProvisioning reports whether every sample says what was provisioned
// (the static baseline needs it).
func (u *Usage) HasProvisioning() bool {
	for _, s := range u.Series {
		for _, x := range s.Samples {
			if x.ProvCPU <= 0 || x.ProvMem <= 0 {
				return false
			}
		}
	}
	return len(u.Series) > 0
}

// Span is the arrivals' first creation and last deletion, seconds.
func (a *Arrivals) Span() (first, last int64) {
	if len(a.Pods) == 0 {
		return 0, 0
	}
	first = a.Pods[0].Create
	for _, p := range a.Pods {
		first, last = min(first, p.Create), max(last, p.Delete)
	}
	return first, last
}

// Window is the sub-trace of the pods created in [from, to): times shift
// so that from is 0, and a pod that outlives to is deleted at to (a
// window is a trace of its own, scored alone).
func (a *Arrivals) Window(from, to int64) *Arrivals {
	out := &Arrivals{}
	for _, p := range a.Pods {
		if p.Create < from || p.Create >= to {
			continue
		}
		p.Create -= from
		p.Delete = min(p.Delete, to) - from
		out.Pods = append(out.Pods, p)
	}
	return out
}
