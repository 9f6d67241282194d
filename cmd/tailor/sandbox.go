//go:build !nosandbox

// The sandbox links the test harness (test/cluster) and envtest: the
// release build (-tags nosandbox, deploy/Dockerfile) leaves these files out.

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/tailor-dev/tailor/cmd/tailor/sandbox/cluster"
	"github.com/tailor-dev/tailor/deploy/base"
	"github.com/tailor-dev/tailor/deploy/crds"
)

func init() { subcommands = append(subcommands, newSandboxCommand) }

type sandboxOptions struct {
	dir        string
	nodes      int
	nodeCPU    string
	nodeMemory string
}

func defaultSandboxDir() string {
	base := os.Getenv("XDG_STATE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return filepath.Join(os.TempDir(), "tailor-sandbox")
		}
		base = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(base, "tailor", "sandbox")
}

func newSandboxCommand() *cobra.Command {
	o := &sandboxOptions{}
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "A local control plane (etcd, apiserver, scheduler, controller-manager, kwok nodes, metrics-server) with Tailor running",
		Long: `sandbox up starts a real Kubernetes control plane on 127.0.0.1 with simulated
(kwok) nodes and metrics-server, runs Tailor against it, and returns while it
keeps running. Its stdout is shell: eval "$(tailor sandbox up)" sets KUBECONFIG
and puts a matching kubectl first on PATH. The binaries are built from the Go
module proxy on first use (about 10 minutes on 2 cores) and cached.`,
		Args: requireSubcommand,
		RunE: requireSubcommand,
	}
	cmd.PersistentFlags().StringVar(&o.dir, "dir", defaultSandboxDir(), "Folder for the sandbox's state: kubeconfig, certificates, logs, etcd data.")
	up := &cobra.Command{
		Use:   "up",
		Short: "Start the sandbox (prints export lines for eval)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return sandboxUp(ctx, o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	up.Flags().IntVar(&o.nodes, "nodes", 3, "Number of kwok nodes (untainted).")
	up.Flags().StringVar(&o.nodeCPU, "node-cpu", "8", "CPU capacity of each node.")
	up.Flags().StringVar(&o.nodeMemory, "node-memory", "32Gi", "Memory capacity of each node.")
	down := &cobra.Command{
		Use:   "down",
		Short: "Stop every sandbox process and remove its state",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return sandboxDown(o, cmd.ErrOrStderr()) },
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "Say what the sandbox runs",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return sandboxStatus(o, cmd.OutOrStdout()) },
	}
	cmd.AddCommand(up, down, status, newSandboxLoadCommand(o), newSandboxDemoCommand(o))
	return cmd
}

func printExports(out io.Writer, c *cluster.Cluster) {
	fmt.Fprintf(out, "export KUBECONFIG=%s\n", c.Kubeconfig)
	fmt.Fprintf(out, "export PATH=%s:$PATH\n", c.BinDir)
}

func sandboxUp(ctx context.Context, o *sandboxOptions, out, progress io.Writer) (err error) {
	// controller-runtime helpers (the CRD installer) log through it.
	ctrl.SetLogger(zap.New(zap.WriteTo(progress), zap.Level(zapcore.ErrorLevel)))
	if o.nodes < 0 || o.nodes > 100 {
		return fmt.Errorf("--nodes %d: want 0 to 100", o.nodes)
	}
	if existing, err := cluster.Attach(o.dir); err == nil {
		if len(existing.Running()) == len(existing.Processes) {
			fmt.Fprintf(progress, "sandbox already running in %s\n", o.dir)
			printExports(out, existing)
			return nil
		}
		fmt.Fprintf(progress, "cleaning up a stopped sandbox in %s\n", o.dir)
		existing.Stop()
		if err := os.RemoveAll(o.dir); err != nil {
			return err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("sandbox state in %s: %w (remove the folder to start afresh)", o.dir, err)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	start := time.Now()
	c, err := cluster.Start(ctx, cluster.Options{Dir: o.dir, Detach: true, MetricsServer: true, Progress: progress})
	if err != nil {
		_ = os.RemoveAll(o.dir)
		return err
	}
	defer func() {
		if err != nil {
			c.Stop()
			_ = os.RemoveAll(o.dir)
		}
	}()
	cs := c.Clientset()
	for i := 1; i <= o.nodes; i++ {
		if _, err := c.AddNode(ctx, cluster.NodeOptions{Name: "sandbox-node-" + strconv.Itoa(i), CPU: o.nodeCPU, Memory: o.nodeMemory}); err != nil {
			return err
		}
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tailor-system"}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	objs, err := crds.Objects()
	if err != nil {
		return err
	}
	if err := c.InstallCRDs(objs); err != nil {
		return fmt.Errorf("install CRDs: %w", err)
	}
	if err := startSandboxTailor(ctx, c, self); err != nil {
		return err
	}
	fmt.Fprintf(progress, "sandbox up in %s: %d nodes, Tailor running; logs in %s\n",
		time.Since(start).Round(100*time.Millisecond), o.nodes, filepath.Join(o.dir, "logs"))
	printExports(out, c)
	return nil
}

// startSandboxTailor registers the shipped webhook configurations by URL and
// runs "tailor run" beside the control plane; Tailor bootstraps its own
// serving certificate and fills their caBundle, as the self-signed install
// does in a cluster.
func startSandboxTailor(ctx context.Context, c *cluster.Cluster, self string) error {
	ports, err := cluster.FreePorts(3)
	if err != nil {
		return err
	}
	webhookURL := "https://127.0.0.1:" + strconv.Itoa(ports[2])
	mutating, validating, err := base.Webhooks(webhookURL, nil)
	if err != nil {
		return err
	}
	reg := c.Clientset().AdmissionregistrationV1()
	if _, err := reg.MutatingWebhookConfigurations().Create(ctx, mutating, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	if _, err := reg.ValidatingWebhookConfigurations().Create(ctx, validating, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	probe := "127.0.0.1:" + strconv.Itoa(ports[1])
	p, err := c.Run("tailor", self, "run",
		"--kubeconfig", c.Kubeconfig,
		"--metrics-bind-address", "127.0.0.1:"+strconv.Itoa(ports[0]), "--metrics-secure=false", // loopback, for curl
		"--health-probe-bind-address", probe,
		"--webhook-bind-host", "127.0.0.1", "--webhook-port", strconv.Itoa(ports[2]),
		"--cert-dir", filepath.Join(c.Dir, "tailor-certs"),
		"--cert-bootstrap", "--cert-extra-sans", "127.0.0.1",
		// Quicker than the 1m default, so the walkthrough shows results soon.
		"--recommender-interval", "15s",
		// The provisioner with the sim cloud: NodePools make kwok nodes.
		"--cloud", "sim",
		// The sandbox's stand-in for a load generator (tailor sandbox load).
		"--components", strings.Join(append(defaultComponents(), "provisioner", "load"), ","))
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: 2 * time.Second}
	return cluster.WaitFor(ctx, 60*time.Second, p, func() error { return cluster.HTTPOK(hc, "http://"+probe+"/readyz") })
}

// attachSandbox finds the sandbox in dir; nil without error when there is
// none (and it says so).
func attachSandbox(dir string, out io.Writer) (*cluster.Cluster, error) {
	c, err := cluster.Attach(dir)
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(out, "no sandbox in %s\n", dir)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sandbox state in %s: %w", dir, err)
	}
	return c, nil
}

func sandboxDown(o *sandboxOptions, progress io.Writer) error {
	c, err := attachSandbox(o.dir, progress)
	if c == nil || err != nil {
		return err
	}
	c.Stop()
	if left := c.Running(); len(left) > 0 {
		return fmt.Errorf("%d sandbox processes did not stop (first: %s pid %d)", len(left), left[0].Name, left[0].PID)
	}
	if err := os.RemoveAll(o.dir); err != nil {
		return err
	}
	fmt.Fprintf(progress, "sandbox stopped; %s removed\n", o.dir)
	return nil
}

func sandboxStatus(o *sandboxOptions, out io.Writer) error {
	c, err := attachSandbox(o.dir, out)
	if c == nil || err != nil {
		return err
	}
	fmt.Fprintf(out, "sandbox in %s, API server %s\n", o.dir, c.Server)
	for _, p := range c.Processes {
		state := "stopped"
		if p.Alive() {
			state = "running"
		}
		fmt.Fprintf(out, "  %-24s pid %-8d %s\n", p.Name, p.PID, state)
	}
	if len(c.Running()) != len(c.Processes) {
		fmt.Fprintln(out, "degraded: run 'tailor sandbox down' then 'tailor sandbox up'")
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	nodes, err := c.Clientset().CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		fmt.Fprintf(out, "API server not answering: %v\n", err)
		return nil
	}
	ready := 0
	for i := range nodes.Items {
		if cluster.NodeSchedulable(&nodes.Items[i]) {
			ready++
		}
	}
	fmt.Fprintf(out, "nodes: %d, ready: %d\n", len(nodes.Items), ready)
	return nil
}
