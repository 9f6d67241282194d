package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	_ "net/http/pprof" // the no-op webhook process's profiles
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	vpaclient "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/client/clientset/versioned"
	"k8s.io/utils/ptr"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/tailor-dev/tailor/cmd/tailor/sandbox/cluster"
	"github.com/tailor-dev/tailor/cmd/tailor/sandbox/reviewload"
	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
)

// TestAdmissionAtScale measures Tailor as installed answering pod-create
// AdmissionReviews over HTTPS: an admission replica (`tailor run
// --components webhook`, its informers running) while another process runs
// the loops over the same cluster (TAILOR_ADMISSION_LOOPS=same: one
// process with every default component, loops and webhook, instead), over
// a cluster filled with
// TAILOR_ADMISSION_SCALE_PODS pods and a VPA per 10 of them (10,000 pods
// and 1,000 VPAs in `make bench-admission-scale`), for HTTP/2 and HTTP/1.1
// × 1 and 3 containers × 1, 8 and 32 clients. The reviews are the seed's
// hamster's pods (reviewload), covered by a VPA with a recommendation and
// placed into a NodePool. Each cell alternates Tailor with a no-op
// controller-runtime webhook served with the same certificate from a
// process of its own (the floor on this machine at that moment), and
// reports the medians and each process's CPU time per review, with the
// part Tailor's loops burn without any review. TAILOR_PROFILE_DIR=dir
// writes CPU profiles there: of the measured tailor run for a minute
// without reviews, and of it and of the no-op under load.
// TAILOR_ADMISSION_ARGS adds flags to the measured tailor run.
// A measurement, not run by make test; it fails only when a review is not
// answered with the pod sized and placed.
func TestAdmissionAtScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("TAILOR_ADMISSION_SCALE_PODS"))
	if n <= 0 {
		t.Skip("set TAILOR_ADMISSION_SCALE_PODS (make bench-admission-scale) to measure")
	}
	reviews, rounds := 2000, 5
	if r, _ := strconv.Atoi(os.Getenv("TAILOR_BENCH_REVIEWS")); r > 0 {
		reviews = r
	}
	if r, _ := strconv.Atoi(os.Getenv("TAILOR_BENCH_ROUNDS")); r > 0 {
		rounds = r
	}
	ctx := context.Background()
	start := time.Now()
	namespaces, sets := fillCluster(t, n)

	// The measured workload: the hamster ReplicaSet with a VPA that has a
	// recommendation, in the first namespace, and a NodePool to place into.
	ns := namespaces[0]
	cs := env.Clientset()
	labels := map[string]string{"app": "hamster"}
	if _, err := cs.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "hamster"},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](0), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "hamster", Image: "registry.k8s.io/ubuntu-slim:0.14"}}}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	vc := vpaclient.NewForConfigOrDie(env.RESTConfig())
	initial := vpav1.UpdateModeInitial
	vpa, err := vc.AutoscalingV1().VerticalPodAutoscalers(ns).Create(ctx, &vpav1.VerticalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "hamster-vpa"},
		Spec: vpav1.VerticalPodAutoscalerSpec{TargetRef: &autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "hamster"},
			UpdatePolicy: &vpav1.PodUpdatePolicy{UpdateMode: &initial}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var recs []vpav1.RecommendedContainerResources
	for _, c := range reviewload.ContainerNames {
		recs = append(recs, vpav1.RecommendedContainerResources{ContainerName: c,
			Target: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("587m"), corev1.ResourceMemory: resource.MustParse("262144k")}})
	}
	vpa.Status.Recommendation = &vpav1.RecommendedPodResources{ContainerRecommendations: recs}
	if _, err := vc.AutoscalingV1().VerticalPodAutoscalers(ns).UpdateStatus(ctx, vpa, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	c := provClient(t)
	pool := &provisionerv1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: "e2e-admission-scale"},
		Spec: provisionerv1.NodePoolSpec{Template: provisionerv1.NodeClaimTemplate{Spec: provisionerv1.NodeClaimTemplateSpec{
			Requirements: []provisionerv1.NodeSelectorRequirementWithMinValues{{Key: provisionerv1.LabelArch, Operator: corev1.NodeSelectorOpIn, Values: []string{"amd64"}}},
			NodeClassRef: &provisionerv1.NodeClassReference{Group: "tailor.dev", Kind: "AWSNodeClass", Name: "e2e"}}},
			Disruption: provisionerv1.Disruption{ConsolidationPolicy: provisionerv1.ConsolidationPolicyWhenEmpty, ConsolidateAfter: "Never"}}}
	own(t, pool) // placed by this test's Tailor (--nodepool-selector)
	_ = c.Delete(ctx, pool.DeepCopy())
	ports, err := cluster.FreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	pprofPort, noopPort, noopPprofPort := ports[0], ports[1], ports[2]
	lease := leaseNamespace(t)
	args := []string{"--leader-election-namespace", lease, "--enable-http2", "--pprof-bind-address", fmt.Sprintf("127.0.0.1:%d", pprofPort)}
	var loops *instance
	switch mode := os.Getenv("TAILOR_ADMISSION_LOOPS"); mode {
	case "", "separate":
		// deploy/base's two Deployments: the loops' process serves no
		// webhook, the measured one nothing else.
		loops = startTailor(t, "--leader-election-namespace", lease, "--components", "recommender,scaler,updater")
		args = append(args, "--components", "webhook")
	case "same":
	default:
		t.Fatalf("TAILOR_ADMISSION_LOOPS=%q: want separate or same", mode)
	}
	inst := startTailor(t, append(args, strings.Fields(os.Getenv("TAILOR_ADMISSION_ARGS"))...)...)
	eventually(t, 5*time.Minute, func(context.Context) (bool, string) {
		code, body, err := get(inst.probe + "/readyz")
		return err == nil && code == 200, fmt.Sprintf("/readyz: %d %q %v", code, body, err)
	})
	// NodePools are validated by a webhook: created once Tailor serves.
	eventually(t, time.Minute, func(ctx context.Context) (bool, string) {
		err := c.Create(ctx, pool.DeepCopy())
		return err == nil, fmt.Sprint(err)
	})
	t.Cleanup(func() { _ = c.Delete(context.Background(), pool.DeepCopy()) })
	if loops != nil {
		eventually(t, 5*time.Minute, func(context.Context) (bool, string) {
			return strings.Contains(loops.out.String(), "elected leader"), "the loops' process is not the leader yet"
		})
	}
	t.Logf("%d pods, %d VPAs: Tailor ready %s after the cluster began to fill", sets*scalePodsPerSet, sets+1, time.Since(start).Round(time.Second))

	// The floor on this machine at this moment: a no-op controller-runtime
	// webhook server in its own process, with the same certificate,
	// measured in alternation with Tailor.
	noop, noopProc := startNoopWebhook(t, inst.certDir, noopPort, noopPprofPort)
	tailorURL, tailorPid := inst.webhook+"/mutate-v1-pod", inst.cmd.Process.Pid
	// TAILOR_ADMISSION_AA=1: a second no-op process takes Tailor's side of
	// every cell (Tailor keeps running beside it), so the table shows the
	// ratios two identical servers reach on this machine: the noise floor
	// of the comparison.
	aa := os.Getenv("TAILOR_ADMISSION_AA") == "1"
	if aa {
		ports, err := cluster.FreePorts(2)
		if err != nil {
			t.Fatal(err)
		}
		var twin *os.Process
		tailorURL, twin = startNoopWebhook(t, inst.certDir, ports[0], ports[1])
		tailorPid = twin.Pid
		t.Logf("A/A: a second no-op webhook process in Tailor's place")
	}
	// Measure the steady state: right after readiness Tailor's loops take
	// in the 10,000 pods turning Running and make their first passes (a
	// third of a core seen in the first cell). Wait, up to 3 minutes, for
	// its idle CPU to fall under 5 % of a core over 2 s.
	settle := time.Now()
	for idle := 1.0; idle > 0.05 && time.Since(settle) < 3*time.Minute; {
		c0 := procCPU(t, inst.cmd.Process.Pid)
		var l0 time.Duration
		if loops != nil {
			l0 = procCPU(t, loops.cmd.Process.Pid)
		}
		time.Sleep(2 * time.Second)
		idle = float64(procCPU(t, inst.cmd.Process.Pid)-c0) / float64(2*time.Second)
		if loops != nil {
			// The loops' own settling competes for the same cores.
			l := float64(procCPU(t, loops.cmd.Process.Pid)-l0) / float64(2*time.Second)
			t.Logf("Tailor idle: %.1f %% of a core, the loops' process %.1f %%", idle*100, l*100)
			idle = max(idle, l)
			continue
		}
		t.Logf("Tailor idle: %.1f %% of a core", idle*100)
	}
	if dir := os.Getenv("TAILOR_PROFILE_DIR"); dir != "" {
		// What the loops do over this cluster while no review arrives.
		saveProfile(t, fmt.Sprintf("http://127.0.0.1:%d", pprofPort), time.Minute, filepath.Join(dir, "tailor-run-idle.pprof"))
	}
	t.Logf("| proto | containers | clients | Tailor reviews/s | no-op reviews/s | ratio | Tailor p99 | no-op p99 | ratio | Tailor CPU/review | of which idle | no-op CPU/review | ratio | loops' process |")
	loopsCPU := func() time.Duration { // 0 when the loops run in the measured process
		if loops == nil {
			return 0
		}
		return procCPU(t, loops.cmd.Process.Pid)
	}
	for _, h2 := range []bool{true, false} {
		proto := "h1"
		if h2 {
			proto = "h2"
		}
		for _, containers := range []int{1, 3} {
			body, err := reviewload.Review(reviewload.Pod(ns, "hamster", containers))
			if err != nil {
				t.Fatal(err)
			}
			for _, clients := range []int{1, 8, 32} {
				client, err := reviewload.Client(inst.caPEM, h2, clients)
				if err != nil {
					t.Fatal(err)
				}
				// The caches may still be taking the VPA's status and the
				// pool in: wait for the answer the load is about.
				eventually(t, time.Minute, func(ctx context.Context) (bool, string) {
					resp, err := reviewload.Answer(ctx, client, tailorURL, body)
					if err != nil {
						return false, err.Error()
					}
					msg := ""
					if resp.Result != nil {
						msg = resp.Result.Message
					}
					return resp.Allowed && (aa || strings.Contains(msg, "cpu 100m->587m") && strings.Contains(msg, "nodepool "+pool.Name)), msg
				})
				// Tailor's CPU while no review arrives (its loops, informers, GC).
				idle0 := procCPU(t, tailorPid)
				time.Sleep(2 * time.Second)
				idleRate := float64(procCPU(t, tailorPid)-idle0) / float64(2*time.Second)
				var tRate, nRate, tP99, nP99, tCPU, nCPU []float64
				cellStart, loops0 := time.Now(), loopsCPU()
				run := func(side, n int) {
					url, pid := tailorURL, tailorPid
					if side == 1 {
						url, pid = noop, noopProc.Pid
					}
					cpu0 := procCPU(t, pid)
					res, err := reviewload.Run(ctx, client, url, body, clients, n)
					if err != nil {
						t.Fatal(err)
					}
					cpu := float64(procCPU(t, pid)-cpu0) / float64(n)
					if side == 0 {
						tRate, tP99, tCPU = append(tRate, res.PerSecond()), append(tP99, float64(res.Percentile(0.99))), append(tCPU, cpu)
					} else {
						nRate, nP99, nCPU = append(nRate, res.PerSecond()), append(nP99, float64(res.Percentile(0.99))), append(nCPU, cpu)
					}
				}
				run(0, reviews/4) // warm both sides: connections, pools, stacks
				run(1, reviews/4)
				tRate, nRate, tP99, nP99, tCPU, nCPU = nil, nil, nil, nil, nil, nil
				for round := range rounds {
					for _, side := range []int{round % 2, 1 - round%2} {
						run(side, reviews/2)
					}
				}
				tr, nr, tp, np, tc, nc := medianOf(tRate), medianOf(nRate), medianOf(tP99), medianOf(nP99), medianOf(tCPU), medianOf(nCPU)
				// The loops' process shares the machine's cores: its share
				// of a core over the cell.
				loopsShare := "in Tailor's"
				if loops != nil {
					loopsShare = fmt.Sprintf("%.1f %% of a core", float64(loopsCPU()-loops0)/float64(time.Since(cellStart))*100)
				}
				t.Logf("MEASURED | %s | %d | %d | %.0f | %.0f | %.2f× | %s | %s | %.2f× | %.0f µs | %.0f µs | %.0f µs | %.2f× | %s |", proto, containers, clients,
					tr, nr, tr/nr, time.Duration(tp).Round(time.Microsecond), time.Duration(np).Round(time.Microsecond), tp/np,
					tc/1e3, idleRate*1e6/tr, nc/1e3, tc/nc, loopsShare)
				client.CloseIdleConnections()
			}
		}
	}
	if dir := os.Getenv("TAILOR_PROFILE_DIR"); dir != "" {
		profileUnderLoad(t, fmt.Sprintf("http://127.0.0.1:%d", pprofPort), filepath.Join(dir, "tailor-run.pprof"), inst.caPEM, tailorURL, ns)
		profileUnderLoad(t, fmt.Sprintf("http://127.0.0.1:%d", noopPprofPort), filepath.Join(dir, "noop.pprof"), inst.caPEM, noop, ns)
	}
}

// profileUnderLoad takes a 20 s CPU profile of the process serving
// pprofURL (Tailor, then the no-op) while 32 HTTP/1.1 clients post
// 3-container reviews to url, into path (TAILOR_PROFILE_CLIENTS and
// TAILOR_PROFILE_H2=1 for another cell).
func profileUnderLoad(t *testing.T, pprofURL, path string, caPEM []byte, url, ns string) {
	body, err := reviewload.Review(reviewload.Pod(ns, "hamster", 3))
	if err != nil {
		t.Fatal(err)
	}
	clients := 32
	if n, _ := strconv.Atoi(os.Getenv("TAILOR_PROFILE_CLIENTS")); n > 0 {
		clients = n
	}
	client, err := reviewload.Client(caPEM, os.Getenv("TAILOR_PROFILE_H2") == "1", clients)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			_, _ = reviewload.Run(ctx, client, url, body, clients, 2000)
		}
	}()
	saveProfile(t, pprofURL, 20*time.Second, path)
	cancel()
	<-done
}

// saveProfile writes a CPU profile of d of the process serving pprofURL to
// path.
func saveProfile(t *testing.T, pprofURL string, d time.Duration, path string) {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", pprofURL, int(d.Seconds())))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		t.Fatal(err)
	}
	t.Logf("MEASURED CPU profile: %s", path)
}

// noopWebhookEnv, set to "certDir:port:pprofPort", makes this test binary
// serve the no-op webhook instead of running tests (see TestMain), and
// net/http/pprof on 127.0.0.1:pprofPort.
const noopWebhookEnv = "TAILOR_E2E_NOOP_WEBHOOK"

// startNoopWebhook starts a no-op controller-runtime webhook server, with
// the serving certificate in certDir on port, in a process of its own (this
// binary re-executed): the floor Tailor's process is compared with. In the
// test process, beside the load generator, its round trips would skip the
// wake-up of another process on every request, which a single client pays
// in full. It returns the URL and the process.
func startNoopWebhook(t *testing.T, certDir string, port, pprofPort int) (string, *os.Process) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s:%d:%d", noopWebhookEnv, certDir, port, pprofPort))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() })
	url := fmt.Sprintf("https://127.0.0.1:%d/noop", port)
	eventually(t, 30*time.Second, func(context.Context) (bool, string) {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			_ = conn.Close()
		}
		return err == nil, fmt.Sprint(err)
	})
	return url, cmd.Process
}

// serveNoopWebhook serves the no-op webhook of spec (noopWebhookEnv) until
// interrupted, answering every review with admission.Allowed("").
func serveNoopWebhook(spec string) int {
	f := strings.Split(spec, ":")
	if len(f) != 3 {
		fmt.Fprintf(os.Stderr, "%s=%q: want certDir:port:pprofPort\n", noopWebhookEnv, spec)
		return 2
	}
	port, err1 := strconv.Atoi(f[1])
	pprofPort, err2 := strconv.Atoi(f[2])
	if err := errors.Join(err1, err2); err != nil {
		fmt.Fprintf(os.Stderr, "%s=%q: %v\n", noopWebhookEnv, spec, err)
		return 2
	}
	go func() { _ = http.ListenAndServe(fmt.Sprintf("127.0.0.1:%d", pprofPort), nil) }() // net/http/pprof's handlers
	srv := ctrlwebhook.NewServer(ctrlwebhook.Options{Host: "127.0.0.1", Port: port, CertDir: f[0]})
	srv.Register("/noop", &admission.Webhook{Handler: admission.HandlerFunc(func(context.Context, admission.Request) admission.Response {
		return admission.Allowed("")
	})})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := srv.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "no-op webhook:", err)
		return 1
	}
	return 0
}

func medianOf(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

// procCPU is the user and system CPU time pid has used (all threads).
func procCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command (which may hold spaces) start at state.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticksPerSecond = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticksPerSecond
}
