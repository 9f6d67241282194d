// Package e2e runs Tailor against a real control plane (test/cluster):
// etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok nodes
// and metrics-server, all on 127.0.0.1.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/tailor-dev/tailor/cmd/tailor/sandbox/cluster"
	"github.com/tailor-dev/tailor/deploy/crds"
)

var (
	// env is the control plane shared by the tests of this package.
	env *cluster.Cluster
	// tailorBin is the tailor binary built from this checkout.
	tailorBin string
	// finished is set once m.Run returns, so a late signal does not race the
	// normal teardown.
	finished atomic.Bool
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(noopWebhookEnv); spec != "" {
		os.Exit(serveNoopWebhook(spec)) // this binary re-executed as the no-op webhook process
	}
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	// controller-runtime helpers (envtest's CRD installer) log through it.
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	work, err := os.MkdirTemp("", "tailor-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(work)

	tailorBin = filepath.Join(work, "tailor")
	build := exec.CommandContext(ctx, "go", "build", "-o", tailorBin, "github.com/tailor-dev/tailor/cmd/tailor")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build tailor:", err)
		return 1
	}

	start := time.Now()
	env, err = cluster.Start(ctx, cluster.Options{MetricsServer: true, Progress: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start control plane:", err)
		return 1
	}
	// Stop on every path out. An interrupt does not end m.Run, so tear down
	// from here and exit; SIGKILL is covered by the daemons' PDEATHSIG.
	defer env.Stop()
	go func() {
		<-ctx.Done()
		if ctx.Err() != nil && !finished.Load() {
			fmt.Fprintln(os.Stderr, "interrupted: stopping the control plane")
			env.Stop()
			os.RemoveAll(work)
			os.Exit(130)
		}
	}()
	defer finished.Store(true)
	for i := 1; i <= 2; i++ {
		if _, err := env.AddNode(ctx, cluster.NodeOptions{Name: fmt.Sprintf("worker-%d", i), CPU: "8", Memory: "32Gi"}); err != nil {
			fmt.Fprintln(os.Stderr, "add node:", err)
			return 1
		}
	}
	objs, err := crds.Objects()
	if err == nil {
		err = env.InstallCRDs(objs)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "install CRDs:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "control plane with 2 nodes ready in %s\n", time.Since(start).Round(10*time.Millisecond))
	return m.Run()
}
