package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tailor-dev/tailor/certs"
	"github.com/tailor-dev/tailor/cmd/tailor/sandbox/cluster"
)

// instance is one "tailor run" process against the test control plane.
type instance struct {
	cmd     *exec.Cmd
	out     *lockedBuffer
	metrics string        // base URL
	probe   string        // base URL
	webhook string        // base URL of the admission webhook server
	caPEM   []byte        // CA of its serving certificate
	certDir string        // where its serving pair lives
	done    chan struct{} // closed when the process has exited
}

// servingCerts writes a webhook serving pair for 127.0.0.1 into a temp dir
// and returns the dir and the CA.
func servingCerts(t *testing.T) (string, []byte) {
	t.Helper()
	dir := t.TempDir()
	caPEM, _, err := certs.WriteLoopbackPair(dir, "tailor", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return dir, caPEM
}

// newInstance picks free loopback ports for an instance's metrics, probes
// and webhook; loopbackArgs passes them to tailor run.
func newInstance(t *testing.T) *instance {
	t.Helper()
	ports, err := cluster.FreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	return &instance{
		out:     &lockedBuffer{},
		metrics: "http://127.0.0.1:" + strconv.Itoa(ports[0]),
		probe:   "http://127.0.0.1:" + strconv.Itoa(ports[1]),
		webhook: "https://127.0.0.1:" + strconv.Itoa(ports[2]),
		done:    make(chan struct{}),
	}
}

func (i *instance) loopbackArgs() []string {
	return []string{
		"--metrics-bind-address", i.metrics[strings.Index(i.metrics, "://")+3:],
		"--health-probe-bind-address", strings.TrimPrefix(i.probe, "http://"),
		"--webhook-bind-host", "127.0.0.1", "--webhook-port", i.webhook[strings.LastIndex(i.webhook, ":")+1:],
	}
}

// startTailor runs tailor with free loopback ports; extra flags are appended.
func startTailor(t *testing.T, extra ...string) *instance {
	t.Helper()
	inst := newInstance(t)
	inst.certDir, inst.caPEM = servingCerts(t)
	args := append([]string{"run", "--kubeconfig", env.Kubeconfig, "--cert-dir", inst.certDir, "--metrics-secure=false"}, inst.loopbackArgs()...)
	if !slices.ContainsFunc(extra, func(a string) bool { return strings.HasPrefix(a, "--namespace-selector") }) {
		args = append(args, scopeArgs(t)...)
	}
	args = append(args, extra...)
	inst.cmd = exec.Command(tailorBin, args...)
	startInstance(t, inst)
	return inst
}

// startInstance starts inst.cmd, collecting its output, and stops it when
// the test ends (printing the output if the test failed).
func startInstance(t *testing.T, inst *instance) {
	t.Helper()
	inst.cmd.Stdout, inst.cmd.Stderr = inst.out, inst.out
	inst.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := inst.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = inst.cmd.Wait(); close(inst.done) }()
	t.Cleanup(func() {
		inst.stop()
		if t.Failed() {
			t.Logf("tailor output:\n%s", inst.out.String())
		}
	})
}

func (i *instance) stop() {
	select {
	case <-i.done:
		return
	default:
	}
	_ = i.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-i.done:
	case <-time.After(20 * time.Second):
		_ = i.cmd.Process.Kill()
		<-i.done
	}
}

// lockedBuffer collects a process's stdout and stderr while tests read it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func get(url string) (int, string, error) { return getAs(url, "") }

// getAs GETs url with a bearer token (none when empty); https URLs are
// Tailor's own loopback servers, whose certificates the test does not pin.
func getAs(url, token string) (int, string, error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // loopback
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

var leaderRe = regexp.MustCompile(`(?m)^tailor_leader (\d)`)

// isLeader reads tailor_leader from the instance's /metrics.
func (i *instance) isLeader() (bool, error) {
	code, body, err := get(i.metrics + "/metrics")
	if err != nil {
		return false, err
	}
	if code != http.StatusOK {
		return false, fmt.Errorf("/metrics: %d", code)
	}
	m := leaderRe.FindStringSubmatch(body)
	if m == nil {
		return false, fmt.Errorf("no tailor_leader in /metrics")
	}
	return m[1] == "1", nil
}

func leaseNamespace(t *testing.T) string {
	return namespace(t, nil)
}

func TestRunServesReadinessAndMetrics(t *testing.T) {
	t.Parallel() // own namespaces and Tailor (testLabel)
	ns := leaseNamespace(t)
	inst := startTailor(t, "--leader-election-namespace", ns)
	eventually(t, 30*time.Second, func(context.Context) (bool, string) {
		code, body, err := get(inst.probe + "/readyz")
		return err == nil && code == 200, fmt.Sprintf("/readyz: %d %q %v", code, body, err)
	})
	code, body, err := get(inst.metrics + "/metrics")
	if err != nil || code != 200 {
		t.Fatalf("/metrics: %d %v", code, err)
	}
	for _, want := range []string{"tailor_build_info{", "tailor_leader ", "controller_runtime_"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestLeaderElectionHandsOver(t *testing.T) {
	t.Parallel() // own namespaces and Tailor (testLabel)
	ns := leaseNamespace(t)
	a := startTailor(t, "--leader-election-namespace", ns)
	b := startTailor(t, "--leader-election-namespace", ns)
	insts := []*instance{a, b}

	var leader, follower *instance
	eventually(t, 60*time.Second, func(ctx context.Context) (bool, string) {
		var leaders []*instance
		var errs []string
		for _, i := range insts {
			ok, err := i.isLeader()
			if err != nil {
				errs = append(errs, err.Error())
			}
			if ok {
				leaders = append(leaders, i)
			}
		}
		if len(leaders) != 1 || len(errs) > 0 {
			return false, fmt.Sprintf("%d leaders, errors %v", len(leaders), errs)
		}
		leader = leaders[0]
		follower = a
		if leader == a {
			follower = b
		}
		return true, ""
	})
	// The Lease names exactly one holder, and it stays one while both run.
	lease, err := env.Clientset().CoordinationV1().Leases(ns).Get(context.Background(), "tailor-leader", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	holder := ""
	if lease.Spec.HolderIdentity != nil {
		holder = *lease.Spec.HolderIdentity
	}
	if holder == "" {
		t.Fatal("lease has no holder")
	}
	time.Sleep(3 * time.Second) // a few retry periods: the follower must not take over
	if ok, _ := follower.isLeader(); ok {
		t.Fatal("both instances lead")
	}

	stopped := time.Now()
	leader.stop()
	eventually(t, 15*time.Second, func(ctx context.Context) (bool, string) {
		ok, err := follower.isLeader()
		return ok, fmt.Sprintf("follower leads: %v (%v)", ok, err)
	})
	l2, err := env.Clientset().CoordinationV1().Leases(ns).Get(context.Background(), "tailor-leader", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l2.Spec.HolderIdentity == nil || *l2.Spec.HolderIdentity == holder {
		t.Fatalf("lease holder did not change from %q", holder)
	}
	t.Logf("leadership handed over %s after the leader got SIGTERM", time.Since(stopped).Round(100*time.Millisecond))
}

// runTailor runs the binary to completion and returns its exit code and output.
func runTailor(t *testing.T, timeout time.Duration, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, tailorBin, args...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("tailor %v did not exit within %s:\n%s", args, timeout, out)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, string(out)
}

func TestBadInputFailsWithOneLine(t *testing.T) {
	t.Parallel() // own namespaces and Tailor (testLabel)
	unreachable := filepath.Join(t.TempDir(), "kubeconfig")
	// Port 1 on loopback: nothing listens, the dial is refused at once.
	if err := os.WriteFile(unreachable, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600); err != nil {
		t.Fatal(err)
	}
	malformed := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(malformed, []byte("apiVersion: v1\nkind: Config\nclusters: {this is: [not, a, list\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	noRBAC := kubeconfigWithoutRights(t)
	certDir, _ := servingCerts(t)
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	ns := leaseNamespace(t)

	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no subcommand", nil, "subcommand is required"},
		{"unknown subcommand", []string{"frobnicate"}, "frobnicate"},
		{"unknown sandbox subcommand", []string{"sandbox", "sideways"}, "sideways"},
		{"unknown flag", []string{"run", "--no-such-flag"}, "unknown flag: --no-such-flag"},
		{"bad flag value", []string{"run", "--webhook-port", "many"}, "webhook-port"},
		{"unknown component", []string{"run", "--components", "webhook,teleporter"}, "teleporter"},
		{"malformed namespace selector", []string{"run", "--namespace-selector", "team in (a"}, "--namespace-selector"},
		{"malformed nodepool selector", []string{"run", "--nodepool-selector", "team in (a"}, "--nodepool-selector"},
		{"missing kubeconfig", []string{"run", "--kubeconfig", "/nonexistent/kubeconfig"}, "/nonexistent/kubeconfig"},
		{"malformed kubeconfig", []string{"run", "--kubeconfig", malformed}, malformed},
		{"credentials without RBAC", []string{"run", "--kubeconfig", noRBAC, "--leader-election-namespace", ns,
			"--metrics-bind-address", "0", "--health-probe-bind-address", "127.0.0.1:0",
			"--webhook-bind-host", "127.0.0.1", "--webhook-port", "0", "--cert-dir", certDir}, "cannot list pods"},
		{"unreachable API server", []string{"run", "--kubeconfig", unreachable}, "cannot reach the API server"},
		{"port in use", []string{"run", "--kubeconfig", env.Kubeconfig, "--leader-election-namespace", ns,
			"--metrics-bind-address", held.Addr().String(), "--health-probe-bind-address", "127.0.0.1:0",
			"--webhook-bind-host", "127.0.0.1", "--webhook-port", "0", "--cert-dir", certDir}, "address already in use"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out := runTailor(t, 30*time.Second, tc.args...)
			if code == 0 {
				t.Fatalf("exit 0, want non-zero; output:\n%s", out)
			}
			if strings.Contains(out, "goroutine ") || strings.Contains(out, "panic") {
				t.Fatalf("stack trace in output:\n%s", out)
			}
			// Logs may precede it, but the error itself is the last line, and only one.
			lines := strings.Split(strings.TrimSpace(out), "\n")
			last := lines[len(lines)-1]
			if !strings.HasPrefix(last, "tailor: ") || !strings.Contains(last, tc.want) {
				t.Fatalf("last line %q, want a 'tailor: ' error mentioning %q; output:\n%s", last, tc.want, out)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	t.Parallel() // own namespaces and Tailor (testLabel)
	code, out := runTailor(t, 10*time.Second, "version")
	if code != 0 || !regexp.MustCompile(`^tailor \S+ \(commit \S+, go1\.\d+`).MatchString(out) {
		t.Fatalf("exit %d, output %q", code, out)
	}
}

// TestLeaderLossByLeaseExpiry: a leader that stops renewing without exiting
// (frozen: SIGSTOP, as a partitioned or starved process) loses the lease to
// the follower once it expires; thawed, the old leader must not go on
// leading beside the new one (it exits, so that its loops stop at once).
func TestLeaderLossByLeaseExpiry(t *testing.T) {
	t.Parallel() // own namespaces and Tailor (testLabel)
	ns := leaseNamespace(t)
	fast := []string{"--leader-election-namespace", ns,
		"--leader-elect-lease-duration", "4s", "--leader-elect-renew-deadline", "3s", "--leader-elect-retry-period", "500ms"}
	a := startTailor(t, fast...)
	eventually(t, 30*time.Second, func(context.Context) (bool, string) {
		ok, err := a.isLeader()
		return ok, fmt.Sprintf("a leads: %v %v", ok, err)
	})
	b := startTailor(t, fast...)
	eventually(t, 30*time.Second, func(context.Context) (bool, string) {
		code, _, err := get(b.probe + "/readyz")
		return err == nil && code == 200, fmt.Sprintf("b ready: %d %v", code, err)
	})
	if ok, _ := b.isLeader(); ok {
		t.Fatal("both lead before the freeze")
	}
	if err := a.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	frozen := time.Now()
	eventually(t, 20*time.Second, func(context.Context) (bool, string) {
		ok, err := b.isLeader()
		return ok, fmt.Sprintf("b leads: %v %v", ok, err)
	})
	t.Logf("follower took the expired lease %s after the leader froze (lease 4s)", time.Since(frozen).Round(100*time.Millisecond))
	if err := a.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.done:
		t.Logf("the thawed leader exited: %s", grepLines(a.out.String(), "leader"))
	case <-time.After(20 * time.Second):
		if ok, _ := a.isLeader(); ok {
			t.Fatal("the thawed leader still leads beside the new one")
		}
	}
	if ok, err := b.isLeader(); !ok {
		t.Fatalf("the new leader lost the lease: %v", err)
	}
}

// kubeconfigWithoutRights authenticates as a fresh ServiceAccount bound to
// nothing: the API server accepts it and then refuses every read.
func kubeconfigWithoutRights(t *testing.T) string {
	t.Helper()
	ns := namespace(t, nil)
	if _, err := env.Clientset().CoreV1().ServiceAccounts(ns).Create(context.Background(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "nobody"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return tokenKubeconfig(t, ns, "nobody")
}
