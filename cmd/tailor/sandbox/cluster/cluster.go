// Package cluster runs a real, loopback-only Kubernetes control plane for
// Tailor's e2e tests and sandbox: etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, kwok (fake kubelets with simulated usage) and metrics-server,
// all built from pinned modules under test/tools (see EnsureBinaries).
package cluster

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Options shape a control plane.
type Options struct {
	// Dir holds PKI, kubeconfig, logs and etcd data. Empty: a temporary
	// folder that Stop removes.
	Dir string
	// Detach starts the daemons in their own sessions so they outlive this
	// process (the sandbox); Attach and Stop find them again by PID.
	Detach bool
	// MetricsServer also runs metrics-server behind the aggregation layer.
	MetricsServer bool
	// Progress receives one line per step (may be nil).
	Progress io.Writer
}

// Cluster is a running control plane.
type Cluster struct {
	Dir        string     `json:"dir"`
	Kubeconfig string     `json:"kubeconfig"`
	Server     string     `json:"server"`
	BinDir     string     `json:"binDir"`
	Processes  []*Process `json:"processes"`
	// KubeletPort is where kwok serves the kubelet API of every fake node.
	KubeletPort int  `json:"kubeletPort"`
	Detached    bool `json:"detached"`

	config    *rest.Config
	clientset *kubernetes.Clientset
	ownsDir   bool
}

const stateFile = "state.json"

// Start builds (first use) and starts a control plane and waits until it
// schedules pods. On error everything started so far is stopped.
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
	progress := opts.Progress
	if progress == nil {
		progress = io.Discard
	}
	bins, err := EnsureBinaries(ctx, progress)
	if err != nil {
		return nil, err
	}
	c = &Cluster{Dir: opts.Dir, BinDir: bins.Dir, Detached: opts.Detach}
	if c.Dir == "" {
		if c.Dir, err = os.MkdirTemp("", "tailor-cluster-"); err != nil {
			return nil, err
		}
		c.ownsDir = true
	}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	for _, d := range []string{"pki", "logs", "etcd"} {
		if err := os.MkdirAll(filepath.Join(c.Dir, d), 0o755); err != nil {
			return c, err
		}
	}
	start := time.Now()
	pki, err := newPKI(filepath.Join(c.Dir, "pki"))
	if err != nil {
		return c, err
	}
	ports, err := FreePorts(7)
	if err != nil {
		return c, err
	}
	etcdPort, peerPort, apiPort, kcmPort, schedPort, kwokPort, msPort := ports[0], ports[1], ports[2], ports[3], ports[4], ports[5], ports[6]
	c.KubeletPort = kwokPort
	c.Server = "https://127.0.0.1:" + strconv.Itoa(apiPort)
	run := func(name string, args ...string) (*Process, error) { return c.Run(name, bins.Path(name), args...) }
	step := func(what string) {
		fmt.Fprintf(progress, "%-28s %s\n", what, time.Since(start).Round(10*time.Millisecond))
	}

	etcdURL := "http://127.0.0.1:" + strconv.Itoa(etcdPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	etcd, err := run("etcd",
		"--name", "tailor", "--data-dir", filepath.Join(c.Dir, "etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "tailor="+peerURL,
		"--unsafe-no-fsync", "--log-level", "warn")
	if err != nil {
		return c, err
	}
	plain := &http.Client{Timeout: 2 * time.Second}
	if err := WaitFor(ctx, 30*time.Second, etcd, func() error { return HTTPOK(plain, etcdURL+"/health") }); err != nil {
		return c, err
	}
	step("etcd healthy")

	auditPolicy := filepath.Join(c.Dir, "audit-policy.yaml")
	if err := os.WriteFile(auditPolicy, []byte(auditPolicyYAML), 0o644); err != nil {
		return c, err
	}
	api, err := run("kube-apiserver",
		"--etcd-servers", etcdURL,
		"--audit-policy-file", auditPolicy, "--audit-log-path", c.AuditLog(), "--audit-log-format", "json",
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(apiPort),
		"--tls-cert-file", pki.file("apiserver.crt"), "--tls-private-key-file", pki.file("apiserver.key"),
		"--client-ca-file", pki.file("ca.crt"),
		"--service-account-key-file", pki.file("sa.key"),
		"--service-account-signing-key-file", pki.file("sa.key"),
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-cluster-ip-range", "10.96.0.0/16",
		"--authorization-mode", "Node,RBAC",
		// No kube-proxy or real endpoints on loopback: without this the
		// endpoint reconciler logs an error every 10 s.
		"--endpoint-reconciler-type", "none",
		// The ServiceAccount plugin races the token controller for every
		// first pod in a namespace; tests do not mount tokens.
		"--disable-admission-plugins", "ServiceAccount",
		"--allow-privileged=true",
		// The aggregation layer (metrics.k8s.io) needs the front-proxy chain.
		"--requestheader-client-ca-file", pki.file("front-proxy-ca.crt"),
		"--requestheader-allowed-names", "front-proxy-client",
		"--requestheader-username-headers", "X-Remote-User",
		"--requestheader-group-headers", "X-Remote-Group",
		"--requestheader-extra-headers-prefix", "X-Remote-Extra-",
		"--proxy-client-cert-file", pki.file("front-proxy-client.crt"),
		"--proxy-client-key-file", pki.file("front-proxy-client.key"),
		"--profiling=false", "-v", "1")
	if err != nil {
		return c, err
	}
	adminTLS, err := pki.adminTLS()
	if err != nil {
		return c, err
	}
	secure := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: adminTLS}}
	if err := WaitFor(ctx, 60*time.Second, api, func() error { return HTTPOK(secure, c.Server+"/readyz") }); err != nil {
		return c, err
	}
	step("kube-apiserver ready")
	if c.Kubeconfig, err = writeKubeconfig(filepath.Join(c.Dir, "kubeconfig"), c.Server, pki); err != nil {
		return c, err
	}
	if err := c.connect(); err != nil {
		return c, err
	}

	kubeconfig := c.Kubeconfig
	kcm, err := run("kube-controller-manager",
		"--kubeconfig", kubeconfig, "--authentication-kubeconfig", kubeconfig, "--authorization-kubeconfig", kubeconfig,
		"--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(kcmPort),
		"--leader-elect=false",
		"--use-service-account-credentials=false",
		"--service-account-private-key-file", pki.file("sa.key"),
		"--root-ca-file", pki.file("ca.crt"),
		"--cluster-signing-cert-file", pki.file("ca.crt"), "--cluster-signing-key-file", pki.file("ca.key"),
		"-v", "1")
	if err != nil {
		return c, err
	}
	sched, err := run("kube-scheduler",
		"--kubeconfig", kubeconfig, "--authentication-kubeconfig", kubeconfig, "--authorization-kubeconfig", kubeconfig,
		"--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(schedPort),
		"--leader-elect=false", "-v", "1")
	if err != nil {
		return c, err
	}
	insecure := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // loopback health probe of a self-signed component
	for _, p := range []struct {
		proc *Process
		port int
	}{{kcm, kcmPort}, {sched, schedPort}} {
		url := "https://127.0.0.1:" + strconv.Itoa(p.port) + "/healthz"
		if err := WaitFor(ctx, 60*time.Second, p.proc, func() error { return HTTPOK(insecure, url) }); err != nil {
			return c, err
		}
	}
	step("controller-manager, scheduler")

	kwokConfig, err := writeKwokConfig(c.Dir, bins, kwokPort)
	if err != nil {
		return c, err
	}
	kwok, err := run("kwok",
		"--kubeconfig", kubeconfig, "--config", kwokConfig,
		"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector", "kwok.x-k8s.io/node=fake",
		"--node-ip", "127.0.0.1", "--node-port", strconv.Itoa(kwokPort),
		"--server-address", "127.0.0.1:"+strconv.Itoa(kwokPort),
		"--cidr", "10.244.0.0/16")
	if err != nil {
		return c, err
	}
	if err := WaitFor(ctx, 30*time.Second, kwok, func() error { return HTTPOK(insecure, "https://127.0.0.1:"+strconv.Itoa(kwokPort)+"/healthz") }); err != nil {
		return c, err
	}
	step("kwok")

	if opts.MetricsServer {
		ms, err := run("metrics-server",
			"--kubeconfig", kubeconfig, "--authentication-kubeconfig", kubeconfig, "--authorization-kubeconfig", kubeconfig,
			"--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(msPort),
			"--tls-cert-file", pki.file("metrics-server.crt"), "--tls-private-key-file", pki.file("metrics-server.key"),
			"--kubelet-insecure-tls", "--kubelet-use-node-status-port",
			"--kubelet-preferred-address-types", "InternalIP",
			// The resolution must exceed the request timeout or metrics-server panics.
			"--metric-resolution", "10s", "--kubelet-request-timeout", "5s")
		if err != nil {
			return c, err
		}
		if err := c.registerMetricsAPI(ctx, msPort, pki); err != nil {
			return c, err
		}
		if err := WaitFor(ctx, 60*time.Second, ms, func() error { return c.apiServiceAvailable(ctx, "v1beta1.metrics.k8s.io") }); err != nil {
			return c, err
		}
		step("metrics-server")
	}

	// The service-account controller creating "default" proves the
	// controller-manager's informers are synced and it is acting.
	if err := WaitFor(ctx, 60*time.Second, kcm, func() error {
		_, err := c.clientset.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err
	}); err != nil {
		return c, err
	}
	step("control plane ready")
	return c, c.saveState()
}

// Run starts another daemon beside the control plane (Tailor itself, in the
// sandbox and tests), logged under the cluster's folder and stopped by Stop.
func (c *Cluster) Run(name, bin string, args ...string) (*Process, error) {
	p, err := startProcess(name, bin, args, filepath.Join(c.Dir, "logs"), c.Detached)
	if err != nil {
		return nil, err
	}
	c.Processes = append(c.Processes, p)
	return p, c.saveState()
}

// Attach finds a detached control plane (a running sandbox) by its folder.
func Attach(dir string) (*Cluster, error) {
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, err
	}
	c := &Cluster{}
	if err := json.Unmarshal(data, c); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, stateFile), err)
	}
	return c, nil
}

// RESTConfig returns an admin client configuration.
func (c *Cluster) RESTConfig() *rest.Config { return rest.CopyConfig(c.mustConnect().config) }

// Clientset returns an admin clientset.
func (c *Cluster) Clientset() *kubernetes.Clientset { return c.mustConnect().clientset }

func (c *Cluster) mustConnect() *Cluster {
	if c.config == nil {
		if err := c.connect(); err != nil {
			panic(fmt.Sprintf("cluster: kubeconfig %s: %v", c.Kubeconfig, err))
		}
	}
	return c
}

func (c *Cluster) connect() error {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return err
	}
	// Tests create many objects quickly; client-side throttling only slows them.
	cfg.QPS, cfg.Burst = 200, 400
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	c.config, c.clientset = cfg, cs
	return nil
}

// Stop stops every daemon (reverse start order) and removes the folder when
// Start created it. Safe to call more than once.
func (c *Cluster) Stop() {
	for i := len(c.Processes) - 1; i >= 0; i-- {
		c.Processes[i].Stop(10 * time.Second)
	}
	if c.ownsDir {
		_ = os.RemoveAll(c.Dir)
	}
}

// Running lists the daemons still alive.
func (c *Cluster) Running() []*Process {
	var alive []*Process
	for _, p := range c.Processes {
		if p.Alive() {
			alive = append(alive, p)
		}
	}
	return alive
}

func (c *Cluster) saveState() error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.Dir, stateFile), data, 0o644)
}

// InstallCRDs creates (or updates) CRDs and waits until they are served.
func (c *Cluster) InstallCRDs(crds []*apiextensionsv1.CustomResourceDefinition) error {
	_, err := envtest.InstallCRDs(c.RESTConfig(), envtest.CRDInstallOptions{CRDs: crds, ErrorIfPathMissing: true})
	return err
}
