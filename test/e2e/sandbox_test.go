package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/tailor-dev/tailor/cmd/tailor/sandbox/cluster"
)

// sandboxUp runs "tailor sandbox up" and returns the exported variables.
func sandboxUp(t *testing.T, dir string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tailorBin, "sandbox", "up", "--dir", dir, "--nodes", "2")
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sandbox up: %v\n%s", err, stderr.String())
	}
	t.Logf("sandbox up said:\n%s", stderr.String())
	exports := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "export ")
		if !ok {
			t.Fatalf("stdout line %q is not an export: eval would break", sc.Text())
		}
		k, v, _ := strings.Cut(line, "=")
		exports[k] = v
	}
	return exports
}

func sandboxDown(t *testing.T, dir string) {
	t.Helper()
	if code, out := runTailor(t, 2*time.Minute, "sandbox", "down", "--dir", dir); code != 0 {
		t.Fatalf("sandbox down: exit %d\n%s", code, out)
	}
}

func TestSandboxUpDown(t *testing.T) {
	t.Parallel() // a control plane of its own
	dir := filepath.Join(t.TempDir(), "sandbox")
	t.Cleanup(func() {
		// Whatever happened, leave no daemon behind.
		if c, err := cluster.Attach(dir); err == nil {
			c.Stop()
		}
	})
	start := time.Now()
	exports := sandboxUp(t, dir)
	t.Logf("first sandbox up took %s", time.Since(start).Round(100*time.Millisecond))
	kubeconfig := exports["KUBECONFIG"]
	path := strings.TrimSuffix(exports["PATH"], ":$PATH")
	if kubeconfig == "" || path == "" {
		t.Fatalf("exports %v lack KUBECONFIG or PATH", exports)
	}

	// The kubectl the sandbox puts first on PATH matches the cluster.
	kubectl := exec.Command(filepath.Join(path, "kubectl"), "create", "deployment", "hello", "--image=registry.k8s.io/pause:3.10", "--replicas=2")
	kubectl.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	if out, err := kubectl.CombinedOutput(); err != nil {
		t.Fatalf("kubectl create deployment: %v\n%s", err, out)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(cfg)
	eventually(t, 60*time.Second, func(ctx context.Context) (bool, string) {
		pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=hello"})
		if err != nil {
			return false, err.Error()
		}
		running := 0
		for _, p := range pods.Items {
			if p.Status.Phase == "Running" {
				running++
			}
		}
		return running == 2, fmt.Sprintf("%d of %d pods running", running, len(pods.Items))
	})
	code, status := runTailor(t, 30*time.Second, "sandbox", "status", "--dir", dir)
	if code != 0 || !strings.Contains(status, "tailor") || strings.Contains(status, "stopped") {
		t.Fatalf("sandbox status: exit %d\n%s", code, status)
	}

	c, err := cluster.Attach(dir)
	if err != nil {
		t.Fatal(err)
	}
	sandboxDown(t, dir)
	for _, p := range c.Processes {
		if p.Alive() {
			t.Errorf("%s (pid %d) still runs after down", p.Name, p.PID)
		}
	}
	for _, addr := range []string{strings.TrimPrefix(c.Server, "https://"), fmt.Sprintf("127.0.0.1:%d", c.KubeletPort)} {
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			t.Errorf("%s still listens after down", addr)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("sandbox folder %s left behind: %v", dir, err)
	}

	// Binaries are cached: a second up takes seconds, not a build.
	start = time.Now()
	sandboxUp(t, dir)
	t.Logf("second sandbox up took %s", time.Since(start).Round(100*time.Millisecond))
	sandboxDown(t, dir)
}
