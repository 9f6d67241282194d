// Command cainjector is cert-manager's CA injector for Tailor's e2e tests: a
// controller-runtime manager running cert-manager's injectors, which copy a
// CA into the caBundle of webhook configurations, APIServices and CRDs
// annotated with cert-manager.io/inject-ca-from (a Certificate) or
// cert-manager.io/inject-ca-from-secret (a Secret).
//
// It is wired the way cert-manager's own cmd/cainjector wires
// RegisterAllInjectors. No leader election; metrics and health probes are off
// unless --metrics-listen-address or --healthz-listen-address name a loopback
// address.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	corev1 "k8s.io/api/core/v1"
	apiext "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	kscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/klog/v2"
	apireg "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/cert-manager/cert-manager/internal/kube"
	cmscheme "github.com/cert-manager/cert-manager/pkg/client/clientset/versioned/scheme"
	"github.com/cert-manager/cert-manager/pkg/controller/cainjector"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/pkg/util"
)

func main() {
	// An own FlagSet: controller-runtime registers its own --kubeconfig on
	// flag.CommandLine when its config package is linked in.
	fs := flag.NewFlagSet(os.Args[0], flag.ExitOnError)
	var (
		kubeconfig  = fs.String("kubeconfig", "", "kubeconfig of the cluster (required)")
		namespace   = fs.String("namespace", "", "inject only into objects of (and from Secrets in) this namespace (empty: all)")
		leaderElect = fs.Bool("leader-elect", false, "accepted for compatibility; only false is supported")
		metricsAddr = fs.String("metrics-listen-address", "", "serve Prometheus /metrics here (loopback host:port; empty: off)")
		healthzAddr = fs.String("healthz-listen-address", "", "serve /healthz and /readyz here (loopback host:port; empty: off)")
	)
	klog.InitFlags(fs)
	_ = fs.Parse(os.Args[1:])

	if err := run(*kubeconfig, *namespace, *leaderElect, *metricsAddr, *healthzAddr); err != nil {
		klog.ErrorS(err, "cert-manager cainjector failed")
		klog.Flush()
		os.Exit(1)
	}
	klog.Flush()
}

func run(kubeconfig, namespace string, leaderElect bool, metricsAddr, healthzAddr string) error {
	if kubeconfig == "" {
		return errors.New("--kubeconfig is required")
	}
	if leaderElect {
		return errors.New("--leader-elect=true is not supported by this build")
	}
	for what, addr := range map[string]string{"metrics": metricsAddr, "healthz": healthzAddr} {
		if err := loopbackOnly(what, addr); err != nil {
			return err
		}
	}
	if metricsAddr == "" {
		metricsAddr = "0" // controller-runtime: disabled
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := logf.Log.WithName("cainjector")
	ctx = logf.NewContext(ctx, log)
	ctrl.SetLogger(log)

	cfg, err := kube.BuildClientConfig("", kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	// The injectors use the user agent's prefix as their server-side apply
	// field manager: without one, every apply fails with
	// "fieldManager: Required value".
	cfg = util.RestConfigWithUserAgent(cfg, "cainjector")

	scheme := runtime.NewScheme()
	utilruntime.Must(kscheme.AddToScheme(scheme))
	utilruntime.Must(cmscheme.AddToScheme(scheme))
	utilruntime.Must(apiext.AddToScheme(scheme))
	utilruntime.Must(apireg.AddToScheme(scheme))

	cacheOpts := cache.Options{ReaderFailOnMissingInformer: true}
	if namespace != "" {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{namespace: {}}
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  cacheOpts,
		LeaderElection:         false,
		Metrics:                metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress: healthzAddr,
		// The injectors watch Secrets as metadata only and read the one
		// they need directly, as cert-manager's cainjector does.
		Client: client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}},
	})
	if err != nil {
		return fmt.Errorf("manager: %w", err)
	}
	if healthzAddr != "" {
		if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
			return err
		}
		if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
			return err
		}
	}
	if err := cainjector.RegisterAllInjectors(ctx, mgr, cainjector.SetupOptions{
		Namespace:                    namespace,
		EnableCertificatesDataSource: true,
		EnabledReconcilersFor: map[string]bool{
			cainjector.MutatingWebhookConfigurationName:   true,
			cainjector.ValidatingWebhookConfigurationName: true,
			cainjector.APIServiceName:                     true,
			cainjector.CustomResourceDefinitionName:       true,
		},
	}); err != nil {
		return fmt.Errorf("register injectors: %w", err)
	}
	log.Info("starting")
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("manager: %w", err)
	}
	log.Info("stopped")
	return nil
}

// loopbackOnly refuses a listen address whose host is not loopback.
func loopbackOnly(what, addr string) error {
	if addr == "" || addr == "0" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--%s-listen-address %q: %w", what, addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--%s-listen-address %q: only loopback addresses are allowed", what, addr)
	}
	return nil
}
