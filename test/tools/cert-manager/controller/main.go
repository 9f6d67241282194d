// Command controller is a cert-manager controller trimmed to what Tailor's
// e2e tests need: Issuers and ClusterIssuers of the SelfSigned and CA kinds,
// CertificateRequest approval and signing for them, and the Certificate
// controllers that turn a Certificate into a Secret. ACME, Vault, Venafi,
// the ingress/gateway shims and CertificateSigningRequests are left out.
//
// It is wired the way cert-manager's own cmd/controller wires the controller
// package: one ContextFactory, every registered controller constructed from
// it, then the shared informer factories started. No leader election; no
// listener unless --metrics-listen-address or --healthz-listen-address name a
// loopback address.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/klog/v2"

	controllerpkg "github.com/cert-manager/cert-manager/pkg/controller"
	logf "github.com/cert-manager/cert-manager/pkg/logs"

	// Certificate lifecycle: trigger → key → request → issue → ready.
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	// CertificateRequests: approval, then signing by the two issuer kinds.
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	// Issuer and ClusterIssuer readiness, and the issuer kinds they set up.
	_ "github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	_ "github.com/cert-manager/cert-manager/pkg/controller/issuers"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
)

func main() {
	// An own FlagSet: controller-runtime registers its own --kubeconfig on
	// flag.CommandLine when its config package is linked in.
	fs := flag.NewFlagSet(os.Args[0], flag.ExitOnError)
	var (
		kubeconfig       = fs.String("kubeconfig", "", "kubeconfig of the cluster (required)")
		clusterNamespace = fs.String("namespace-for-cluster-resources", "kube-system", "namespace holding the Secrets that ClusterIssuers refer to")
		namespace        = fs.String("namespace", "", "watch only this namespace (empty: all)")
		leaderElect      = fs.Bool("leader-elect", false, "accepted for compatibility; only false is supported")
		workers          = fs.Int("concurrent-workers", 5, "workers per controller")
		metricsAddr      = fs.String("metrics-listen-address", "", "serve Prometheus /metrics here (loopback host:port; empty: off)")
		healthzAddr      = fs.String("healthz-listen-address", "", "serve /healthz and /livez here (loopback host:port; empty: off)")
	)
	klog.InitFlags(fs)
	_ = fs.Parse(os.Args[1:])

	if err := run(*kubeconfig, *clusterNamespace, *namespace, *leaderElect, *workers, *metricsAddr, *healthzAddr); err != nil {
		klog.ErrorS(err, "cert-manager controller failed")
		klog.Flush()
		os.Exit(1)
	}
	klog.Flush()
}

func run(kubeconfig, clusterNamespace, namespace string, leaderElect bool, workers int, metricsAddr, healthzAddr string) error {
	if kubeconfig == "" {
		return errors.New("--kubeconfig is required")
	}
	if leaderElect {
		return errors.New("--leader-elect=true is not supported by this build")
	}
	metricsLn, err := listenLoopback("metrics", metricsAddr)
	if err != nil {
		return err
	}
	healthzLn, err := listenLoopback("healthz", healthzAddr)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := logf.Log.WithName("controller")
	ctx = logf.NewContext(ctx, log)

	// The defaults of cert-manager's ControllerConfiguration, less everything
	// the controllers built here do not read.
	factory, err := controllerpkg.NewContextFactory(ctx, controllerpkg.ContextOptions{
		Kubeconfig:         kubeconfig,
		KubernetesAPIQPS:   20,
		KubernetesAPIBurst: 50,
		Namespace:          namespace,
		IssuerOptions: controllerpkg.IssuerOptions{
			ClusterResourceNamespace:        clusterNamespace,
			ClusterIssuerAmbientCredentials: true,
		},
		CertificateOptions: controllerpkg.CertificateOptions{
			CopiedAnnotationPrefixes:                 []string{"*", "-kubectl.kubernetes.io/", "-fluxcd.io/", "-argocd.argoproj.io/"},
			CertificateRequestMinimumBackoffDuration: time.Hour,
			CertificateRequestMaximumBackoffDuration: 32 * time.Hour,
		},
	})
	if err != nil {
		return fmt.Errorf("controller context: %w", err)
	}
	base, err := factory.Build()
	if err != nil {
		return fmt.Errorf("controller context: %w", err)
	}

	known := controllerpkg.Known()
	names := make([]string, 0, len(known))
	for n := range known {
		names = append(names, n)
	}
	sort.Strings(names)
	// Construct every controller first: constructors register the informers
	// they need, and the factories only start informers registered by then.
	ifaces := make([]controllerpkg.Interface, len(names))
	for i, n := range names {
		if ifaces[i], err = known[n](factory); err != nil {
			return fmt.Errorf("controller %s: %w", n, err)
		}
	}
	log.Info("starting controllers", "controllers", strings.Join(names, ","))

	g, gctx := errgroup.WithContext(ctx)
	for i, iface := range ifaces {
		name := names[i]
		g.Go(func() error {
			if err := iface.Run(workers, gctx); err != nil {
				return fmt.Errorf("controller %s: %w", name, err)
			}
			return nil
		})
	}
	base.SharedInformerFactory.Start(gctx.Done())
	base.KubeSharedInformerFactory.Start(gctx.Done())
	base.HTTP01ResourceMetadataInformersFactory.Start(gctx.Done())

	if metricsLn != nil {
		serve(g, gctx, base.Metrics.NewServer(metricsLn), metricsLn)
	}
	if healthzLn != nil {
		mux := http.NewServeMux()
		ok := func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }
		mux.HandleFunc("/healthz", ok)
		mux.HandleFunc("/livez", ok)
		serve(g, gctx, &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, healthzLn)
	}

	err = g.Wait()
	log.Info("stopped")
	if ctx.Err() != nil {
		return nil // a signal asked us to stop
	}
	return err
}

// listenLoopback opens addr, refusing anything but a loopback host. Empty
// addr: no listener.
func listenLoopback(what, addr string) (net.Listener, error) {
	if addr == "" || addr == "0" {
		return nil, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--%s-listen-address %q: %w", what, addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("--%s-listen-address %q: only loopback addresses are allowed", what, addr)
	}
	return net.Listen("tcp", addr)
}

func serve(g *errgroup.Group, ctx context.Context, srv *http.Server, ln net.Listener) {
	g.Go(func() error {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(shutdown)
	})
}
