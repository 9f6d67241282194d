package webhook

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/tailor-dev/tailor/certs"
	"github.com/tailor-dev/tailor/cmd/tailor/sandbox/reviewload"
	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/scaler/coordination"
)

// floorVPA is the hamster VPA of a Deployment, with a recommendation for
// every container of reviewload's pods.
func floorVPA(namespace, deployment string) *vpav1.VerticalPodAutoscaler {
	var recs []vpav1.RecommendedContainerResources
	for _, n := range reviewload.ContainerNames {
		recs = append(recs, vpav1.RecommendedContainerResources{ContainerName: n,
			Target: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("587m"), corev1.ResourceMemory: resource.MustParse("262144k")}})
	}
	return &vpav1.VerticalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: deployment + "-vpa", Namespace: namespace},
		Spec:       vpav1.VerticalPodAutoscalerSpec{TargetRef: &autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: deployment}},
		Status:     vpav1.VerticalPodAutoscalerStatus{Recommendation: &vpav1.RecommendedPodResources{ContainerRecommendations: recs}},
	}
}

// floorLookup is the lookup `tailor run` uses (indexLookup), over client-go
// indexers holding what the informers would: the hamster Deployment, its
// ReplicaSet, its VPA and the namespace (metadata only); every other kind
// an empty indexer.
func floorLookup(vpa *vpav1.VerticalPodAutoscaler) *indexLookup {
	indexer := func(objs ...any) toolscache.Indexer {
		idx := toolscache.NewIndexer(toolscache.MetaNamespaceKeyFunc, toolscache.Indexers{toolscache.NamespaceIndex: toolscache.MetaNamespaceIndexFunc})
		for _, o := range objs {
			if err := idx.Add(o); err != nil {
				panic(err)
			}
		}
		return idx
	}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "hamster", Namespace: floorNamespace, UID: "d1"}}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: floorReplicaSet, Namespace: floorNamespace, UID: "0b7c1d6e-4f5a-4c3b-9e2d-8a1f0c6b5d4e",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "hamster", UID: "d1", Controller: ptr.To(true)}}}}
	ns := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: floorNamespace, Labels: map[string]string{"tailor.dev/enabled": "true"}}}
	l := &indexLookup{owners: map[schema.GroupKind]toolscache.Indexer{}, vpas: indexer(vpa),
		limitRanges: indexer(), quotas: indexer(), ras: indexer(), namespaces: indexer(ns)}
	for gk := range wellKnown {
		l.owners[gk] = indexer()
	}
	l.owners[schema.GroupKind{Group: "apps", Kind: "Deployment"}] = indexer(dep)
	l.owners[schema.GroupKind{Group: "apps", Kind: "ReplicaSet"}] = indexer(rs)
	return l
}

// noop admits everything: the floor a controller-runtime webhook costs.
type noop struct{}

func (noop) Handle(context.Context, admission.Request) admission.Response {
	return admission.Allowed("")
}

// noopPath serves noop beside Tailor's pod handler.
const noopPath = "/noop"

// floorNamespace and floorReplicaSet: the pods of the floor benchmark.
const floorNamespace, floorReplicaSet = "bench", "hamster-5d8f6c7b9"

// floorSizer is the pod handler as `tailor run` wires it, over plain maps
// instead of informers: the seed's hamster Deployment, its ReplicaSet, a
// VPA with a recommendation for every container of reviewload.Pod, and two
// NodePools (a tainted GPU pool of higher weight the pod is passed over
// for, then the default pool, with limits): sizing and placement both run.
func floorSizer() *PodSizer {
	lookup := floorLookup(floorVPA(floorNamespace, "hamster"))
	placer := &PoolPlacer{}
	placer.Set([]*provisionerv1.NodePool{
		{ObjectMeta: metav1.ObjectMeta{Name: "gpu"}, Spec: provisionerv1.NodePoolSpec{Weight: ptr.To[int32](50),
			Template: provisionerv1.NodeClaimTemplate{Spec: provisionerv1.NodeClaimTemplateSpec{
				Taints: []corev1.Taint{{Key: "nvidia.com/gpu", Effect: corev1.TaintEffectNoSchedule}}}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "default"}, Spec: provisionerv1.NodePoolSpec{
			Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1000")},
			Template: provisionerv1.NodeClaimTemplate{Spec: provisionerv1.NodeClaimTemplateSpec{Requirements: []provisionerv1.NodeSelectorRequirementWithMinValues{
				{Key: provisionerv1.LabelCapacityType, Operator: corev1.NodeSelectorOpIn, Values: []string{"spot", "on-demand"}},
				{Key: corev1.LabelArchStable, Operator: corev1.NodeSelectorOpIn, Values: []string{"amd64"}}}}}},
			Status: provisionerv1.NodePoolStatus{Resources: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("12")}}},
	})
	synced := &atomic.Bool{}
	synced.Store(true)
	return &PodSizer{Lookup: lookup, Horizontal: lookup, Synced: synced, Scope: coordination.Scope{TailorNamespace: "tailor-system"}, Placer: placer, Namespaces: lookup}
}

// floorReview is the review of a floor pod with n containers.
func floorReview(tb testing.TB, n int) []byte {
	body, err := reviewload.Review(reviewload.Pod(floorNamespace, floorReplicaSet, n))
	if err != nil {
		tb.Fatal(err)
	}
	return body
}

// TestFloorServer is the server process of BenchmarkAdmissionFloor (the
// benchmark starts this test binary again with TAILOR_FLOOR_SERVER set to a
// certificate folder): one controller-runtime webhook server serving
// Tailor's pod handler and the no-op side by side. It prints its address,
// then answers each "stats" line on stdin with its CPU time and allocation
// count, and exits when stdin closes.
func TestFloorServer(t *testing.T) {
	dir := os.Getenv("TAILOR_FLOOR_SERVER")
	if dir == "" {
		t.Skip("the server process of BenchmarkAdmissionFloor")
	}
	// As `tailor run` logs (zap, info level), into the void: the
	// server's start-up lines would clutter the table.
	logf.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	srv := webhook.NewServer(webhook.Options{Host: "127.0.0.1", Port: port, CertDir: dir})
	srv.Register(PodPath, floorSizer())
	srv.Register(noopPath, &admission.Webhook{Handler: noop{}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = srv.Start(ctx) }()
	for deadline := time.Now().Add(time.Minute); srv.StartedChecker()(nil) != nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the webhook server did not start")
		}
	}
	fmt.Printf("ADDR https://127.0.0.1:%d\n", port)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Printf("STATS %d %d\n", ru.Utime.Nano()+ru.Stime.Nano(), ms.Mallocs)
	}
}

// floorServer is the running server process.
type floorServer struct {
	addr string
	in   io.WriteCloser
	out  *bufio.Scanner
}

func startFloorServer(b *testing.B, dir string) *floorServer {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	args := []string{"-test.run=^TestFloorServer$", "-test.timeout=0"}
	if p := os.Getenv("TAILOR_FLOOR_CPUPROFILE"); p != "" {
		args = append(args, "-test.cpuprofile="+p) // the server's profile, both sides
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), "TAILOR_FLOOR_SERVER="+dir)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { in.Close(); _ = cmd.Wait() })
	s := &floorServer{in: in, out: bufio.NewScanner(outPipe)}
	for s.out.Scan() {
		if a, ok := strings.CutPrefix(s.out.Text(), "ADDR "); ok {
			s.addr = a
			return s
		}
	}
	b.Fatal("the server process printed no address")
	return nil
}

// stats is the server's CPU time (ns) and allocation count so far.
func (s *floorServer) stats(b *testing.B) (cpu, mallocs int64) {
	if _, err := io.WriteString(s.in, "stats\n"); err != nil {
		b.Fatal(err)
	}
	for s.out.Scan() {
		if f := strings.Fields(s.out.Text()); len(f) == 3 && f[0] == "STATS" {
			cpu, _ = strconv.ParseInt(f[1], 10, 64)
			mallocs, _ = strconv.ParseInt(f[2], 10, 64)
			return cpu, mallocs
		}
	}
	b.Fatal("the server process stopped")
	return 0, 0
}

// floorRound is one side's measurement in one round.
type floorRound struct {
	perSecond            float64
	p50, p99             time.Duration
	cpuPerReview, allocs float64 // server CPU ns and allocations per review
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// BenchmarkAdmissionFloor compares Tailor's pod handler (sizing and
// placement of the seed's hamster) with a no-op controller-runtime webhook
// served by the same server process (same server code, certificate and
// instrumentation), over TLS on loopback, for HTTP/2 and HTTP/1.1 × 1 and 3
// containers × 1, 8 and 32 concurrent clients. Each cell runs rounds in
// which the two sides alternate (ABBA) with the same load, and prints the
// medians: reviews/s, p50 and p99 latency, and the server process's CPU
// time and allocations per review. It is a measurement for
// `make bench-admission` (TAILOR_BENCH_ADMISSION=1; TAILOR_BENCH_ROUNDS
// and TAILOR_BENCH_REVIEWS per side and round; TAILOR_FLOOR_CPUPROFILE=file
// profiles the server process), skipped otherwise.
func BenchmarkAdmissionFloor(b *testing.B) {
	if os.Getenv("TAILOR_BENCH_ADMISSION") == "" {
		b.Skip("set TAILOR_BENCH_ADMISSION=1 (make bench-admission) to measure")
	}
	rounds, reviews := envInt("TAILOR_BENCH_ROUNDS", 5), envInt("TAILOR_BENCH_REVIEWS", 2000)
	dir := b.TempDir()
	caPEM, _, err := certs.WriteLoopbackPair(dir, "bench", time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	srv := startFloorServer(b, dir)
	ctx := context.Background()
	fmt.Printf("BenchmarkAdmissionFloor: %d rounds of %d reviews per side and cell, medians; GOMAXPROCS %d, load average %s\n",
		rounds, reviews, runtime.GOMAXPROCS(0), loadAverage())
	fmt.Println("| proto | containers | clients | no-op reviews/s | Tailor reviews/s | ratio | no-op p99 | Tailor p99 | ratio | no-op CPU/review | Tailor CPU/review | ratio | allocs/review no-op, Tailor |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	worstRate, worstP99, worstCPU := 1e9, 0.0, 0.0
	for _, h2 := range []bool{true, false} {
		proto := "h1"
		if h2 {
			proto = "h2"
		}
		for _, containers := range []int{1, 3} {
			body := floorReview(b, containers)
			for _, clients := range []int{1, 8, 32} {
				client, err := reviewload.Client(caPEM, h2, clients)
				if err != nil {
					b.Fatal(err)
				}
				resp, err := reviewload.Answer(ctx, client, srv.addr+PodPath, body)
				if err != nil || !resp.Allowed || len(resp.Patch) == 0 || !strings.Contains(string(resp.Patch), "nodeSelector") {
					b.Fatalf("Tailor's answer %+v (%v): want the pod sized and placed", resp, err)
				}
				var sides [2][]floorRound // 0 no-op, 1 Tailor
				run := func(side, n int) floorRound {
					path := noopPath
					if side == 1 {
						path = PodPath
					}
					cpu0, m0 := srv.stats(b)
					res, err := reviewload.Run(ctx, client, srv.addr+path, body, clients, n)
					if err != nil {
						b.Fatal(err)
					}
					cpu1, m1 := srv.stats(b)
					return floorRound{perSecond: res.PerSecond(), p50: res.Percentile(0.5), p99: res.Percentile(0.99),
						cpuPerReview: float64(cpu1-cpu0) / float64(n), allocs: float64(m1-m0) / float64(n)}
				}
				run(0, reviews/4) // warm both sides: connections, pools, stacks
				run(1, reviews/4)
				for r := range rounds {
					order := [2]int{0, 1}
					if r%2 == 1 {
						order = [2]int{1, 0}
					}
					for _, side := range order {
						sides[side] = append(sides[side], run(side, reviews))
					}
				}
				var m [2]struct{ rate, p99, cpu, allocs float64 }
				for side := range sides {
					var rate, p99, cpu, allocs []float64
					for _, r := range sides[side] {
						rate, p99, cpu, allocs = append(rate, r.perSecond), append(p99, float64(r.p99)), append(cpu, r.cpuPerReview), append(allocs, r.allocs)
					}
					m[side].rate, m[side].p99, m[side].cpu, m[side].allocs = median(rate), median(p99), median(cpu), median(allocs)
				}
				rate, p99, cpu := m[1].rate/m[0].rate, m[1].p99/m[0].p99, m[1].cpu/m[0].cpu
				worstRate, worstP99, worstCPU = min(worstRate, rate), max(worstP99, p99), max(worstCPU, cpu)
				fmt.Printf("| %s | %d | %d | %.0f | %.0f | %.2f× | %s | %s | %.2f× | %.0f µs | %.0f µs | %.2f× | %.0f, %.0f |\n",
					proto, containers, clients, m[0].rate, m[1].rate, rate,
					time.Duration(m[0].p99).Round(time.Microsecond), time.Duration(m[1].p99).Round(time.Microsecond), p99,
					m[0].cpu/1e3, m[1].cpu/1e3, cpu, m[0].allocs, m[1].allocs)
				client.CloseIdleConnections()
			}
		}
	}
	b.ReportMetric(worstRate, "worst-rate-ratio")
	b.ReportMetric(worstP99, "worst-p99-ratio")
	b.ReportMetric(worstCPU, "worst-cpu-ratio")
}

func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(data))[:3], " ")
}
