package simulate

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tailor-dev/tailor/provisioner/scheduling"
	rlogic "github.com/tailor-dev/tailor/recommender/logic"
	"github.com/tailor-dev/tailor/recommender/model"
	slogic "github.com/tailor-dev/tailor/scaler/logic"
)

var t0 = time.Date(2013, 7, 1, 0, 0, 0, 0, time.UTC).Unix()

// genUsage is a usage trace of n containers sampled every 5 minutes for
// the given days: a daily cycle, noise, bursts and a slow memory drift,
// with gaps (a container absent for a while) as in the Bitbrains trace.
func genUsage(n, days int, seed uint64) *Usage {
	r := rand.New(rand.NewPCG(seed, 1))
	u := &Usage{}
	for c := range n {
		base := 0.05 * math.Pow(40, r.Float64())
		mem := 2e8 * math.Pow(20, r.Float64())
		s := &Series{Name: fmt.Sprintf("c%03d", c)}
		gapFrom := int64(r.IntN(days*288)) * 300
		for t := int64(0); t < int64(days)*86400; t += 300 {
			if t >= gapFrom && t < gapFrom+2*86400 && c%5 == 0 {
				continue
			}
			day := 0.5 + 0.5*math.Sin(2*math.Pi*float64(t)/86400)
			cpu := base * (0.3 + day) * math.Exp(0.3*r.NormFloat64())
			if r.Float64() < 0.01 {
				cpu *= 5
			}
			m := mem * (1 + 0.3*day + 0.2*float64(t)/float64(days*86400)) * (1 + 0.05*r.Float64())
			s.Samples = append(s.Samples, Sample{T: t0 + t, CPU: math.Round(cpu*1e4) / 1e4, Mem: math.Round(m), ProvCPU: 4, ProvMem: 8 << 30})
		}
		u.Series = append(u.Series, s)
	}
	return u
}

// genLoad is a load trace: a daily cycle with noise and short spikes.
func genLoad(seconds int, seed uint64) *Load {
	r := rand.New(rand.NewPCG(seed, 2))
	l := &Load{Start: t0, RPS: make([]float64, seconds)}
	spike := 0
	for t := range l.RPS {
		if spike == 0 && r.Float64() < 1.0/7200 {
			spike = 120
		}
		v := 300 + 200*math.Sin(2*math.Pi*float64(t)/86400) + 20*r.NormFloat64()
		if spike > 0 {
			v *= 2
			spike--
		}
		l.RPS[t] = math.Max(0, math.Round(v))
	}
	return l
}

// genArrivals is n pods arriving over a day, some in bursts, living
// minutes to hours.
func genArrivals(n int, seed uint64) *Arrivals {
	r := rand.New(rand.NewPCG(seed, 3))
	a := &Arrivals{}
	t := int64(0)
	for i := range n {
		if r.Float64() < 0.7 {
			t += int64(r.IntN(120))
		}
		p := Pod{Name: "p" + strconv.Itoa(i), CPUMilli: int64(250 * (1 + r.IntN(16))), MemMiB: int64(256 * (1 + r.IntN(32))), Create: t}
		if r.Float64() < 0.05 {
			p.GPUs = 1
		}
		p.Delete = t + 300 + int64(r.IntN(6*3600))
		a.Pods = append(a.Pods, p)
	}
	return a
}

// recordingPolicy wraps the vpa policy and keeps every target it returned,
// with the samples each container had been fed by then.
type recordingPolicy struct {
	*Upstream
	targets []recorded
}

type recorded struct {
	fed      []Sample
	now      time.Time
	cpu, mem int64
	ok       bool
}

type recordingSizer struct {
	p     *recordingPolicy
	inner ContainerSizer
	fed   []Sample
}

func (r *recordingPolicy) New(start time.Time) ContainerSizer {
	return &recordingSizer{p: r, inner: r.Upstream.New(start)}
}

func (s *recordingSizer) Add(x Sample) { s.fed = append(s.fed, x); s.inner.Add(x) }

func (s *recordingSizer) Target(now time.Time) (int64, int64, bool) {
	c, m, ok := s.inner.Target(now)
	s.p.targets = append(s.p.targets, recorded{fed: append([]Sample(nil), s.fed...), now: now, cpu: c, mem: m, ok: ok})
	return c, m, ok
}

// TestVerticalMatchesRecommender: at every hour of the replay, the vpa
// policy's target equals what logic.Recommend (upstream defaults) says for
// a VPA whose aggregate was fed the same samples the way the recommender
// controller feeds them (model.Container AddCPU in millicores, AddMemory
// in bytes).
func TestVerticalMatchesRecommender(t *testing.T) {
	u := genUsage(3, 12, 7)
	up, err := NewUpstream("vpa", model.Default(), rlogic.Default())
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingPolicy{Upstream: up}
	ReplayVertical(u, []VerticalPolicy{rec})
	if len(rec.targets) < 100 {
		t.Fatalf("only %d targets computed", len(rec.targets))
	}
	r, _ := rlogic.New(rlogic.Default())
	params := model.DefaultParams()
	checked := 0
	for k, tg := range rec.targets {
		if k%7 != 0 { // every 7th: refeeding from scratch is quadratic
			continue
		}
		// Aggregates expire after 8 idle days; the generated gaps are 2.
		a := model.NewAggregate(params, time.Unix(tg.fed[0].T, 0))
		c := model.NewContainer(a)
		for _, x := range tg.fed {
			c.AddCPU(time.Unix(x.T, 0), int64(math.Round(x.CPU*1000)), 0)
			c.AddMemory(time.Unix(x.T, 0), int64(math.Round(x.Mem)))
		}
		got := r.Recommend([]rlogic.Container{{Name: "app", Aggregate: a}}, nil, nil).ContainerRecommendations[0].Target
		if !tg.ok || got.Cpu().MilliValue() != tg.cpu || got.Memory().Value() != tg.mem {
			t.Fatalf("at %s after %d samples: replay target %dm/%d (ok %v), logic.Recommend %s/%s",
				tg.now, len(tg.fed), tg.cpu, tg.mem, tg.ok, got.Cpu(), got.Memory())
		}
		checked++
	}
	t.Logf("%d targets checked", checked)
}

// recordingHPA wraps the hpa policy and keeps what each decision saw.
type recordingHPA struct {
	syncs []hpaSync
}

type hpaSync struct {
	st      ReplicaState
	history slogic.History
	got     int32
}

func (r *recordingHPA) Name() string { return "hpa" }

func (r *recordingHPA) New(svc Service) ReplicaDecider {
	return &recordingDecider{r: r, inner: HPA{PolicyName: "hpa", Config: slogic.DefaultConfig()}.New(svc).(*hpaState)}
}

type recordingDecider struct {
	r     *recordingHPA
	inner *hpaState
}

func (d *recordingDecider) Decide(st ReplicaState) int32 {
	h := d.inner.history
	st.Pods = append([]SimPod(nil), st.Pods...)
	st.PodUtilisation = append([]float64(nil), st.PodUtilisation...)
	got := d.inner.Decide(st)
	d.r.syncs = append(d.r.syncs, hpaSync{st: st, history: h, got: got})
	return got
}

// TestHorizontalMatchesScaler: every decision of the hpa policy equals
// logic.Decide on the input scaler/controller builds — pods converted by
// logic.PodFromCore from the Pods the replay stands for, per-pod CPU
// samples in millicores, the autoscaler's history — with the HPA's
// defaults.
func TestHorizontalMatchesScaler(t *testing.T) {
	l := genLoad(6*3600, 3)
	rec := &recordingHPA{}
	if _, err := ReplayHorizontal(l, DefaultService(), []HorizontalPolicy{rec}); err != nil {
		t.Fatal(err)
	}
	spec := HPASpec(DefaultService())
	changes := 0
	for i, s := range rec.syncs {
		pods := make([]slogic.Pod, len(s.st.Pods))
		samples := map[string]slogic.Sample{}
		for k, p := range s.st.Pods {
			pods[k] = slogic.PodFromCore(corePodOf(p, 30*time.Second))
			if p.Ready {
				samples[p.Name] = slogic.Sample{Value: int64(math.Round(s.st.PodUtilisation[k] * 1000)), Timestamp: s.st.MetricTime, Window: s.st.MetricWindow}
			}
		}
		n := int32(len(pods))
		d := slogic.Decide(slogic.Input{Now: s.st.Now, Config: slogic.DefaultConfig(), Spec: spec, SpecReplicas: n, StatusReplicas: n,
			Pods: pods, Metrics: []slogic.MetricValues{{Pods: samples}}, History: s.history})
		if d.DesiredReplicas != s.got {
			t.Fatalf("sync %d at %s: replay %d, logic.Decide %d (%s)", i, s.st.Now, s.got, d.DesiredReplicas, d.RescaleReason)
		}
		if d.Rescale {
			changes++
		}
	}
	if changes < 5 {
		t.Fatalf("only %d rescales: the trace does not exercise the HPA", changes)
	}
	t.Logf("%d syncs, %d rescales checked", len(rec.syncs), changes)
}

// corePodOf is the Pod a simulated pod stands for: Pending while
// starting, Running and Ready after, one container requesting 1 CPU.
func corePodOf(p SimPod, start time.Duration) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: p.Name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending, StartTime: &metav1.Time{Time: p.Created}},
	}
	if p.Ready {
		pod.Status.Phase = corev1.PodRunning
		pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Time{Time: p.Created.Add(start)}}}
	}
	return pod
}

// TestDeterministic: replaying the same trace twice prints byte-identical
// tables, for every kind.
func TestDeterministic(t *testing.T) {
	run := func() []byte {
		var b bytes.Buffer
		pols, err := PickVertical([]string{"static", "vpa", "adaptive"})
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteVertical(&b, ReplayVertical(genUsage(5, 10, 1), pols)); err != nil {
			t.Fatal(err)
		}
		hs, err := ReplayHorizontal(genLoad(4*3600, 1), DefaultService(), []HorizontalPolicy{HPA{PolicyName: "hpa", Config: slogic.DefaultConfig()}})
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteHorizontal(&b, hs); err != nil {
			t.Fatal(err)
		}
		cs, err := ReplayCapacity(genArrivals(150, 1), DefaultCluster(), []CapacityPolicy{Provisioner{}})
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteCapacity(&b, cs); err != nil {
			t.Fatal(err)
		}
		// The series behind the plots too.
		fmt.Fprint(&b, hs[0].Pods, cs[0].CostRate)
		return b.Bytes()
	}
	a, b := run(), run()
	if !bytes.Equal(a, b) {
		t.Fatalf("two replays differ:\n%s\n---\n%s", a, b)
	}
}

// TestCapacityAccounting checks the capacity replay on a hand-made trace:
// one pod needs one node for its life, so cost is the node's price over the
// node's life (start delay included), the bound is below it, and the pod
// waited for the batch and the node.
func TestCapacityAccounting(t *testing.T) {
	a := &Arrivals{Pods: []Pod{{Name: "a", CPUMilli: 1000, MemMiB: 1024, Create: 100, Delete: 100 + 3600}}}
	cl := DefaultCluster()
	s, err := ReplayCapacity(a, cl, []CapacityPolicy{Provisioner{}})
	if err != nil {
		t.Fatal(err)
	}
	sc := s[0]
	if sc.Nodes != 1 || sc.Solves != 1 || sc.PeakNodes != 1 {
		t.Fatalf("nodes %d, solves %d, peak %d; want 1, 1, 1", sc.Nodes, sc.Solves, sc.PeakNodes)
	}
	// Solved when the 1 s idle batch closes, running once the node is up.
	if want := float64(cl.BatchIdle + cl.NodeStart); sc.PendingPodSeconds != want {
		t.Errorf("pending pod-seconds %v, want %v", sc.PendingPodSeconds, want)
	}
	life := float64(3600-cl.BatchIdle) / 3600
	price := sc.NodeCost / life
	if price <= 0 || price > 0.1 {
		t.Errorf("node price %v $/h for a 1-CPU pod", price)
	}
	if !(sc.Bound > 0 && sc.Bound < sc.NodeCost) {
		t.Errorf("bound %v, cost %v: want 0 < bound < cost", sc.Bound, sc.NodeCost)
	}
	cl.SkipGPU = true
	a.Pods = append(a.Pods, Pod{Name: "g", CPUMilli: 1000, MemMiB: 1024, GPUs: 1, Create: 200, Delete: 300})
	s, _ = ReplayCapacity(a, cl, []CapacityPolicy{Provisioner{}})
	if s[0].SkippedGPU != 1 || s[0].Pods != 1 {
		t.Errorf("skip GPU: %d skipped, %d replayed; want 1, 1", s[0].SkippedGPU, s[0].Pods)
	}
}

// TestHorizontalOracle: a constant load at exactly what the initial pods
// serve at target keeps the HPA still and matches the oracle.
func TestHorizontalOracle(t *testing.T) {
	l := &Load{RPS: make([]float64, 3600)}
	for i := range l.RPS {
		l.RPS[i] = 250 // peak 250: C = 250/25 = 10, oracle = 250/5 = 50 pods
	}
	s, err := ReplayHorizontal(l, DefaultService(), []HorizontalPolicy{HPA{PolicyName: "hpa", Config: slogic.DefaultConfig()}})
	if err != nil {
		t.Fatal(err)
	}
	h := s[0]
	if h.C != 10 || h.Rescales != 0 || h.PodHoursRatio() != 1 || h.SaturatedSeconds != 0 || h.OverWindows != 0 {
		t.Fatalf("C %v, rescales %d, ratio %v, saturated %d, over %v", h.C, h.Rescales, h.PodHoursRatio(), h.SaturatedSeconds, h.OverWindows)
	}
}

func BenchmarkReplayVertical(b *testing.B) {
	u := genUsage(50, 61, 42) // two months, 50 containers
	for _, name := range []string{"vpa", "adaptive"} {
		b.Run(name, func(b *testing.B) {
			pols, err := PickVertical([]string{name})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				ReplayVertical(u, pols)
			}
			b.ReportMetric(float64(u.Samples()*b.N)/time.Since(start).Seconds(), "samples/s")
		})
	}
}

func BenchmarkReplayHorizontal(b *testing.B) {
	l := genLoad(7*86400, 42) // a week of seconds
	for _, name := range []string{"hpa", "predictive"} {
		b.Run(name, func(b *testing.B) {
			pols, err := PickHorizontal([]string{name})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				if _, err := ReplayHorizontal(l, DefaultService(), pols); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(l.RPS)*b.N)/time.Since(start).Seconds(), "samples/s")
		})
	}
}

func BenchmarkReplayCapacity(b *testing.B) {
	a := genArrivals(1000, 42)
	cl := DefaultCluster()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := ReplayCapacity(a, cl, []CapacityPolicy{Provisioner{}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(a.Pods)*b.N)/time.Since(start).Seconds(), "pods/s")
}

// TestCapacityDisruption: the replay disrupts through
// provisioner/disruption.Decide. A big and a small pod share a node; once
// the big one leaves, consolidation replaces the node by a cheaper one
// (the small pod is evicted once) and, once the small one leaves, the
// empty node goes. With WhenEmpty only the emptiness happens, and costs
// more.
func TestCapacityDisruption(t *testing.T) {
	a := &Arrivals{Pods: []Pod{
		{Name: "big", CPUMilli: 7000, MemMiB: 8192, Create: 100, Delete: 3700},
		{Name: "small", CPUMilli: 250, MemMiB: 256, Create: 100, Delete: 4 * 3600},
	}}
	cl := DefaultCluster()
	s, err := ReplayCapacity(a, cl, []CapacityPolicy{Provisioner{}})
	if err != nil {
		t.Fatal(err)
	}
	under := s[0]
	if under.Disrupted != 1 || under.Commands["single_node_consolidation"] != 1 || under.Commands["emptiness"] != 1 || under.Nodes != 2 {
		t.Fatalf("disrupted %d, commands %v, nodes %d; want 1 pod, one consolidation and one emptiness, 2 nodes", under.Disrupted, under.Commands, under.Nodes)
	}
	cl.ConsolidationPolicy = "WhenEmpty"
	s, err = ReplayCapacity(a, cl, []CapacityPolicy{Provisioner{}})
	if err != nil {
		t.Fatal(err)
	}
	empty := s[0]
	if empty.Disrupted != 0 || empty.Commands["emptiness"] != 1 || len(empty.Commands) != 1 {
		t.Fatalf("WhenEmpty: disrupted %d, commands %v; want 0 and one emptiness", empty.Disrupted, empty.Commands)
	}
	if !(under.NodeCost < empty.NodeCost) {
		t.Errorf("consolidation cost %v, WhenEmpty %v: want less", under.NodeCost, empty.NodeCost)
	}
	// Both pods waited for their node; the evicted one was bound at once
	// to the ready replacement.
	if want := 2 * float64(cl.BatchIdle+cl.NodeStart); under.PendingPodSeconds != want {
		t.Errorf("pending pod-seconds %v, want %v", under.PendingPodSeconds, want)
	}
}

// TestSplit: a split replay scores every hour (second) once, in the part
// it belongs to; the parts add up to the whole replay, and the held-out
// part is forecast from the history before it (the same targets as the
// whole replay, so the same reserved totals).
func TestSplit(t *testing.T) {
	u := genUsage(4, 6, 3)
	pols, err := PickVertical([]string{"vpa", "adaptive"})
	if err != nil {
		t.Fatal(err)
	}
	whole := ReplayVertical(u, pols)
	first, last := u.Span()
	at := SplitTime(first, last, 0.5, Hour)
	train, held := ReplayVerticalSplit(u, pols, at)
	for k := range pols {
		if train[k].ContainerHours == 0 || held[k].ContainerHours == 0 {
			t.Fatalf("%s: %d and %d container-hours: want both parts scored", pols[k].Name(), train[k].ContainerHours, held[k].ContainerHours)
		}
		if train[k].ContainerHours+held[k].ContainerHours != whole[k].ContainerHours || train[k].Samples+held[k].Samples != whole[k].Samples {
			t.Errorf("%s: parts %d+%d hours, %d+%d samples; whole %d, %d", pols[k].Name(), train[k].ContainerHours, held[k].ContainerHours,
				train[k].Samples, held[k].Samples, whole[k].ContainerHours, whole[k].Samples)
		}
		for r := range 2 {
			if got, want := train[k].sumT[r]+held[k].sumT[r], whole[k].sumT[r]; math.Abs(got-want) > 1e-6*want {
				t.Errorf("%s resource %d: reserved %v + %v, whole %v", pols[k].Name(), r, train[k].sumT[r], held[k].sumT[r], want)
			}
		}
	}
	l := genLoad(3*3600, 2)
	hp := []HorizontalPolicy{HPA{PolicyName: "hpa", Config: slogic.DefaultConfig()}}
	hw, err := ReplayHorizontal(l, DefaultService(), hp)
	if err != nil {
		t.Fatal(err)
	}
	ht, hh, err := ReplayHorizontalSplit(l, DefaultService(), hp, 5400)
	if err != nil {
		t.Fatal(err)
	}
	if ht[0].podSec+hh[0].podSec != hw[0].podSec || ht[0].windows+hh[0].windows != hw[0].windows || ht[0].windows != 90 ||
		ht[0].Requests+hh[0].Requests != hw[0].Requests || ht[0].Rescales+hh[0].Rescales != hw[0].Rescales {
		t.Errorf("load parts do not add up: %+v / %+v / %+v", ht[0], hh[0], hw[0])
	}
}

// TestFFD: the largest pod goes first, onto the first node with room; a
// pod that fits no node opens the cheapest type that holds it.
func TestFFD(t *testing.T) {
	cl := DefaultCluster()
	pods := []*corev1.Pod{
		corePod(&Pod{Name: "small", CPUMilli: 500, MemMiB: 512}),
		corePod(&Pod{Name: "big", CPUMilli: 1500, MemMiB: 1024}),
		corePod(&Pod{Name: "huge", CPUMilli: 6000, MemMiB: 4096}),
	}
	node := scheduling.Node{Name: "n", Allocatable: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("1900m"), corev1.ResourceMemory: resource.MustParse("4Gi"), corev1.ResourcePods: resource.MustParse("10"),
	}}
	res, err := FFD{}.Solve(scheduling.Input{Pods: pods, Nodes: []scheduling.Node{node}, Pools: []scheduling.Pool{{NodePool: cl.Pool, InstanceTypes: cl.Types}}})
	if err != nil {
		t.Fatal(err)
	}
	pl := res.Placements
	// huge opens a node; big takes the existing one (first fit); small no
	// longer fits there (400m left) and joins huge's new node.
	if pl[2].Kind != scheduling.NewClaim || pl[1].Kind != scheduling.ExistingNode || pl[1].Node != "n" || pl[0].Kind != scheduling.NewClaim || pl[0].Claim != 0 || len(res.Claims) != 1 {
		t.Fatalf("placements %+v, claims %d", pl, len(res.Claims))
	}
	c := res.Claims[0]
	if cpu := c.InstanceTypes[0].Allocatable[corev1.ResourceCPU]; cpu.MilliValue() < 6000 || len(c.Pods) != 2 {
		t.Errorf("claim %s (%s CPU) with %d pods", c.InstanceTypes[0].Name, cpu.String(), len(c.Pods))
	}
	// A tainted (a disruption command's candidate) or cordoned node takes
	// no pod, as with the solver.
	for name, n := range map[string]scheduling.Node{
		"tainted":  {Name: "n", Allocatable: node.Allocatable, Taints: []corev1.Taint{disruptedTaint}},
		"cordoned": {Name: "n", Allocatable: node.Allocatable, Unschedulable: true},
	} {
		res, err := FFD{}.Solve(scheduling.Input{Pods: pods[1:2], Nodes: []scheduling.Node{n}, Pools: []scheduling.Pool{{NodePool: cl.Pool, InstanceTypes: cl.Types}}})
		if err != nil {
			t.Fatal(err)
		}
		if pl := res.Placements[0]; pl.Kind != scheduling.NewClaim {
			t.Errorf("%s node: big placed %v on %q, want a new claim", name, pl.Kind, pl.Node)
		}
	}
}

// BenchmarkCapacityBound: the capacity replay's bounds over the
// catalogue (prepare, then an instant's: a pod arrives, both bounds are
// priced).
func BenchmarkCapacityBound(b *testing.B) {
	cl := DefaultCluster()
	b.Run("prepare", func(b *testing.B) {
		for range b.N {
			lowerBound(cl)
		}
	})
	bd := lowerBound(cl)
	b.Run("cost", func(b *testing.B) {
		for i := range b.N {
			bd.Add([]float64{float64(1 + i%16), float64(i%64) * (1 << 30), float64(i % 2)}, 1)
			bd.Costs()
		}
	})
}

// TestArrivalsWindow: a window keeps the pods created in it, shifted to
// start at 0 and deleted at its end at the latest.
func TestArrivalsWindow(t *testing.T) {
	a := &Arrivals{Pods: []Pod{
		{Name: "before", Create: 10, Delete: 500},
		{Name: "in", Create: 100, Delete: 150},
		{Name: "outlives", Create: 190, Delete: 900},
		{Name: "after", Create: 200, Delete: 300},
	}}
	w := a.Window(100, 200)
	got := fmt.Sprint(w.Pods)
	if want := "[{in 0 0 0 0 50} {outlives 0 0 0 90 100}]"; got != want {
		t.Fatalf("window %s, want %s", got, want)
	}
	if first, last := a.Span(); first != 10 || last != 900 {
		t.Fatalf("span %d–%d, want 10–900", first, last)
	}
}

// TestReplayPredictiveBurstAndGap replays a burst and a traffic gap
// through the predictive policy as the controller runs it: noisy load at
// 100 requests/s (~11 pods at the target), a 60 s gap with no traffic at
// minute 15, a burst to 400 requests/s (~44 pods) from minute 30 to 50.
// Once the burst has filled the trend's 5 minutes, the count stays at the
// burst's level (a least-squares line through the step overshot it for
// minutes), and the gap is one measurement among many (as "no demand" it
// followed the HPA's proposal to one replica).
func TestReplayPredictiveBurstAndGap(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 2))
	l := &Load{Start: t0, RPS: make([]float64, 70*60)}
	for s := range l.RPS {
		v := 100.0
		if s >= 30*60 && s < 50*60 {
			v = 400
		}
		if s >= 15*60+20 && s < 15*60+80 {
			v = 0
		}
		l.RPS[s] = math.Max(0, math.Round(v*(1+0.05*r.NormFloat64())))
	}
	pols, err := PickHorizontal([]string{"predictive"})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ReplayHorizontal(l, DefaultService(), pols)
	if err != nil {
		t.Fatal(err)
	}
	pods := sc[0].Pods // per-minute means
	level := slices.Min(pods[5:14])
	for m := 14; m <= 18; m++ {
		if pods[m] < level-1 {
			t.Errorf("minute %d (the gap at 15): %.1f pods, want the level's %.1f held (oracle %.1f)", m, pods[m], level, sc[0].Oracle[m])
		}
	}
	var burst, oracle float64
	for m := 31; m < 50; m++ {
		burst, oracle = burst+pods[m], oracle+sc[0].Oracle[m]
		if o := sc[0].Oracle[m]; m >= 36 && pods[m] > o+2 {
			t.Errorf("minute %d of the burst: %.1f pods for an oracle of %.1f", m, pods[m], o)
		}
	}
	if burst > 1.06*oracle {
		t.Errorf("the burst's minutes 31-49: %.0f pod-minutes, %.3f × the oracle's", burst, burst/oracle)
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("pods per minute: %.1f\noracle: %.1f\nburst %.3f × the oracle", pods, sc[0].Oracle, burst/oracle)
	}
}
