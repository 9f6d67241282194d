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
	"syscall"
	"testing"
	"time"

	"github.com/tailor-dev/tailor/test/cluster"
)

var (
	// env is the control plane shared by the tests of this package.
	env *cluster.Cluster
	// tailorBin is the tailor binary built from this checkout.
	tailorBin string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
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
	// Stop on every path out, interrupts included: signal.NotifyContext
	// turns SIGINT into a cancelled ctx and m.Run returns.
	defer env.Stop()
	for i := 1; i <= 2; i++ {
		if _, err := env.AddNode(ctx, cluster.NodeOptions{Name: fmt.Sprintf("worker-%d", i), CPU: "8", Memory: "32Gi"}); err != nil {
			fmt.Fprintln(os.Stderr, "add node:", err)
			return 1
		}
	}
	fmt.Fprintf(os.Stderr, "control plane with 2 nodes ready in %s\n", time.Since(start).Round(10*time.Millisecond))
	return m.Run()
}
