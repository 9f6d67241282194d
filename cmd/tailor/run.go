package main

import (
	"context"
	"crypto/tls"
	goflag "flag"
	"fmt"
	"net"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/spf13/cobra"
	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/tailor-dev/tailor/certs"
	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/scope"
	recommender "github.com/tailor-dev/tailor/recommender/controller"
	"github.com/tailor-dev/tailor/recommender/promsource"
	scalerv1 "github.com/tailor-dev/tailor/scaler/api/v1alpha1"
	scaler "github.com/tailor-dev/tailor/scaler/controller"
	"github.com/tailor-dev/tailor/scaler/coordination"
	"github.com/tailor-dev/tailor/scaler/scale"
	"github.com/tailor-dev/tailor/scaler/updater"
	"github.com/tailor-dev/tailor/webhook"
)

// runOptions are the flags of "tailor run"; README.md documents each.
type runOptions struct {
	kubeconfig              string
	metricsAddr             string
	metricsSecure           bool
	enableHTTP2             bool
	probeAddr               string
	pprofAddr               string
	webhookPort             int
	webhookHost             string
	certDir                 string
	leaderElect             bool
	leaderElectionID        string
	leaderElectionNamespace string
	leaseDuration           time.Duration
	renewDeadline           time.Duration
	retryPeriod             time.Duration
	shutdownTimeout         time.Duration
	components              []string
	zap                     zap.Options

	certBootstrap          bool
	certSecretName         string
	webhookService         string
	certExtraSANs          []string
	certValidity           time.Duration
	webhookConfigName      string
	certManagerCertificate string

	namespace string // Tailor's own: $POD_NAMESPACE, else tailor-system

	namespaceSelector string
	scope             coordination.Scope // Tailor's namespace and --namespace-selector
	nodePoolSelector  string
	pools             scope.Pools // --nodepool-selector

	kubeAPIQPS   float32
	kubeAPIBurst int

	recommender recommender.Options
	updater     updater.Options
	prometheus  promsource.Config
	scaler      scaler.Options
	provisioner provisionerOptions
	// placement: the pod webhook pins pods to a NodePool.
	placement bool
}

// component is one switchable part of Tailor. Webhook handlers run on every
// replica; background loops are manager runnables that run on the leader.
type component struct {
	help string
	// optIn components run only when --components names them.
	optIn bool
	// everyReplica components serve on every replica; the others are loops
	// that run on the elected leader.
	everyReplica bool
	setup        func(ctx context.Context, mgr manager.Manager, o *runOptions, sh *shared) error
}

// shared are the clients built once in run and handed to every loop.
type shared struct {
	scales *scale.Scales
	// prom is nil without --prometheus-address.
	prom *promsource.Source
}

// promQuerier is sh.prom for the scaler, nil (not a nil pointer in an
// interface) when there is none.
func (sh *shared) promQuerier() scaler.PrometheusQuerier {
	if sh.prom == nil {
		return nil
	}
	return sh.prom
}

// components are the production components; the sandbox's "load" registers
// itself from sandbox_load.go, which the release build leaves out.
var components = map[string]component{
	"webhook": {
		help:         "the admission webhook server: pod sizing and NodePool placement, validation of VPAs, ReplicaAutoscalers, NodePools and AWSNodeClasses (every replica)",
		everyReplica: true,
		setup: func(ctx context.Context, mgr manager.Manager, o *runOptions, _ *shared) error {
			wo := webhook.Options{Scope: o.scope, Pools: o.pools}
			if o.placement {
				placer, err := newNodePoolPlacer(ctx, mgr, o.pools)
				if err != nil {
					return err
				}
				wo.Placer = placer
			}
			return webhook.Setup(ctx, mgr, wo)
		},
	},
	"recommender": {
		help: "VPA recommendations from metrics.k8s.io usage and OOM kills, written to VPA status (leader only)",
		setup: func(ctx context.Context, mgr manager.Manager, o *runOptions, sh *shared) error {
			return recommender.Setup(mgr, o.recommender, sh.scales, sh.prom)
		},
	},
	"updater": {
		help: "in-place resize (pods/resize) of running pods whose requests leave their VPA's bounds, eviction where that cannot work (leader only)",
		setup: func(ctx context.Context, mgr manager.Manager, o *runOptions, sh *shared) error {
			return updater.Setup(mgr, o.updater, sh.scales)
		},
	},
	"provisioner": {
		help:  "NodeClaims for unschedulable pods from NodePools through the --cloud backend, their launch, registration, emptiness and termination (leader only; opt-in)",
		optIn: true,
		setup: func(ctx context.Context, mgr manager.Manager, o *runOptions, _ *shared) error {
			return setupProvisioner(ctx, mgr, o)
		},
	},
	"scaler": {
		help: "ReplicaAutoscalers: replica counts by the HPA algorithm through the scale subresource (leader only)",
		setup: func(ctx context.Context, mgr manager.Manager, o *runOptions, sh *shared) error {
			return scaler.Setup(mgr, o.scaler, sh.scales, sh.promQuerier())
		},
	},
}

// leads reports whether any of names runs on the elected leader only: a
// process without one (an admission-only replica) must never hold the
// lease, or the replicas that run the loops would wait on it forever.
func leads(names []string) bool {
	return slices.ContainsFunc(names, func(n string) bool { return !components[n].everyReplica })
}

// defaultComponents are those that run unless --components says otherwise.
func defaultComponents() []string {
	var names []string
	for _, n := range componentNames() {
		if !components[n].optIn {
			names = append(names, n)
		}
	}
	return names
}

func componentNames() []string {
	names := make([]string, 0, len(components))
	for n := range components {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func newRunCommand() *cobra.Command {
	o := &runOptions{recommender: recommender.Options{Interval: time.Minute, HandleUnnamed: true, CheckpointInterval: 10 * time.Minute}}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the webhook server and, on the elected leader, the autoscaling loops",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(ctrl.SetupSignalHandler(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "Path to a kubeconfig; empty: in-cluster config, then $KUBECONFIG, then ~/.kube/config.")
	f.Float32Var(&o.kubeAPIQPS, "kube-api-qps", 50, "Client-side rate limit of requests to the API server (reads from the informer cache do not count); upstream VPA's default.")
	f.IntVar(&o.kubeAPIBurst, "kube-api-burst", 100, "Burst above --kube-api-qps.")
	f.StringVar(&o.metricsAddr, "metrics-bind-address", ":8443", "Address of the Prometheus /metrics endpoint; \"0\" disables it.")
	f.BoolVar(&o.metricsSecure, "metrics-secure", true, "Serve /metrics over HTTPS and admit only callers whose token the API server authenticates (TokenReview) and authorizes for GET /metrics (SubjectAccessReview); false: plain HTTP, no authentication.")
	f.BoolVar(&o.enableHTTP2, "enable-http2", false, "Offer HTTP/2 on the webhook and metrics servers; off by default (HTTP/2 stream-reset floods, CVE-2023-44487), as controller-runtime recommends.")
	f.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz endpoints.")
	f.StringVar(&o.pprofAddr, "pprof-bind-address", "", "Address of Go's /debug/pprof endpoints (profiles of the running process); empty: off.")
	f.IntVar(&o.webhookPort, "webhook-port", 9443, "Port of the admission webhook HTTPS server.")
	f.StringVar(&o.webhookHost, "webhook-bind-host", "", "Host the webhook server binds to; empty: all interfaces.")
	f.StringVar(&o.certDir, "cert-dir", "/tmp/k8s-webhook-server/serving-certs", "Folder holding the webhook serving pair tls.crt and tls.key; reloaded when they change.")
	f.BoolVar(&o.leaderElect, "leader-elect", true, "Elect one replica to run the background loops; webhooks are served by every replica. A replica whose --components are only webhook never takes part (an admission-only replica).")
	f.StringVar(&o.leaderElectionID, "leader-election-id", "tailor-leader", "Name of the Lease used for leader election.")
	f.StringVar(&o.leaderElectionNamespace, "leader-election-namespace", "", "Namespace of the leader-election Lease; empty: $POD_NAMESPACE, else tailor-system.")
	f.DurationVar(&o.leaseDuration, "leader-elect-lease-duration", 15*time.Second, "How long a non-leader waits before it may take an unrenewed lease.")
	f.DurationVar(&o.renewDeadline, "leader-elect-renew-deadline", 10*time.Second, "How long the leader keeps retrying to renew before it gives up leadership.")
	f.DurationVar(&o.retryPeriod, "leader-elect-retry-period", 2*time.Second, "How often candidates try to acquire or renew the lease.")
	f.DurationVar(&o.shutdownTimeout, "graceful-shutdown-timeout", 30*time.Second, "How long running loops get to stop after SIGTERM.")
	f.StringSliceVar(&o.components, "components", defaultComponents(), "Components to run, comma-separated, out of: "+strings.Join(componentNames(), ", ")+".")
	f.BoolVar(&o.certBootstrap, "cert-bootstrap", false, "Create and renew the webhook serving certificate without cert-manager: a CA and pair in the Secret --cert-secret-name, written to --cert-dir, CA patched into the webhook configurations.")
	f.StringVar(&o.certSecretName, "cert-secret-name", "tailor-webhook-cert", "Secret in Tailor's namespace that holds the bootstrapped CA and serving pair (shared by all replicas).")
	f.StringVar(&o.webhookService, "webhook-service", "tailor-webhook", "Service in front of the webhook; the bootstrapped certificate names <svc>.<namespace>.svc[.cluster.local].")
	f.StringSliceVar(&o.certExtraSANs, "cert-extra-sans", nil, "More DNS names or IPs for the bootstrapped certificate (e.g. 127.0.0.1 for a webhook registered by URL).")
	f.DurationVar(&o.certValidity, "cert-validity", 365*24*time.Hour, "Lifetime of each bootstrapped serving pair (and of the CA made for it alone); renewed at two thirds of it, with the old and new CA both trusted during the switch. At least 30s.")
	f.StringVar(&o.webhookConfigName, "webhook-config-name", "tailor", "Name of the Mutating- and ValidatingWebhookConfiguration whose caBundle --cert-bootstrap fills.")
	f.StringVar(&o.certManagerCertificate, "cert-manager-certificate", "", "namespace/name of the cert-manager Certificate of the serving pair; readiness waits until it is Ready and the log says why not.")
	recommenderFlags(f, &o.recommender)
	updaterFlags(f, &o.updater)
	prometheusFlags(f, &o.prometheus)
	scalerFlags(f, &o.scaler)
	provisionerFlags(f, &o.provisioner)
	f.StringVar(&o.namespaceSelector, "namespace-selector", "", "Label selector (e.g. team in (a,b)) a namespace must also match for this installation to act in it — sizing, placement, recommendations, updates, replica counts — so that several installations share a cluster, each with its own namespaces (a canary, one per team). Give the webhook configurations' namespaceSelector the same terms. Empty: every namespace (opted in, for all but replica counts).")
	f.StringVar(&o.nodePoolSelector, "nodepool-selector", "", "Label selector (e.g. tailor.dev/canary=true) a NodePool must match for this installation to act on it — placement at admission, provisioning, disruption, NodeClaim lifecycle and GC, NodePool status, validation — and an AWSNodeClass for it to resolve and validate it, so that several installations share a cluster's capacity (give each a selector of its own, none overlapping). A pending pod is the installation's whose pool placement chooses (or would choose) among every NodePool is selected; a NodeClaim is its pool's. Give the NodePool and AWSNodeClass webhooks' objectSelector the same terms. Empty: every NodePool.")
	f.BoolVar(&o.placement, "placement", true, "Pin each new pod of an opted-in namespace to the highest-weight NodePool it fits (nodeSelector tailor.dev/nodepool); a namespace labelled tailor.dev/placement=disabled is left out.")
	// --zap-log-level, --zap-encoder, --zap-devel, --zap-stacktrace-level, --zap-time-encoding.
	gofs := goflag.NewFlagSet("zap", goflag.ContinueOnError)
	o.zap.BindFlags(gofs)
	f.AddGoFlagSet(gofs)
	return cmd
}

func run(ctx context.Context, o *runOptions) error {
	for _, c := range o.components {
		if _, ok := components[c]; !ok {
			return fmt.Errorf("--components: unknown component %q (known: %s)", c, strings.Join(componentNames(), ", "))
		}
	}
	if !slices.Contains(o.components, "webhook") && (o.certBootstrap || o.certManagerCertificate != "") {
		return fmt.Errorf("--cert-bootstrap and --cert-manager-certificate are for the webhook's serving certificate: --components %s has no webhook", strings.Join(o.components, ","))
	}
	// One Prometheus client for every loop; New validates the flags and
	// does not connect.
	sh := &shared{}
	if o.prometheus.Address != "" {
		prom, err := promsource.New(o.prometheus)
		if err != nil {
			return err
		}
		sh.prom = prom
	}
	sel, err := labels.Parse(o.namespaceSelector)
	if err != nil {
		return fmt.Errorf("--namespace-selector: %w", err)
	}
	if o.pools, err = scope.Parse(o.nodePoolSelector); err != nil {
		return fmt.Errorf("--nodepool-selector: %w", err)
	}
	o.provisioner.loop.Pools, o.provisioner.aws.Classes, o.provisioner.asg.Pools = o.pools, o.pools, o.pools
	if slices.Contains(o.components, "recommender") {
		if err := o.recommender.Validate(sh.prom != nil); err != nil {
			return err
		}
	}
	if slices.Contains(o.components, "scaler") {
		if err := o.scaler.Validate(); err != nil {
			return err
		}
	}
	if slices.Contains(o.components, "provisioner") {
		if err := o.provisioner.loop.Validate(); err != nil {
			return err
		}
		if err := o.provisioner.sim.Validate(); err != nil {
			return err
		}
		if o.provisioner.cloud == "aws" {
			if err := o.provisioner.aws.Validate(); err != nil {
				return err
			}
		}
	}
	if slices.Contains(o.components, "updater") {
		if err := o.updater.Validate(); err != nil {
			return err
		}
	}
	if o.zap.StacktraceLevel == nil {
		// Stack traces belong to panics, not to every error line.
		o.zap.StacktraceLevel = zapcore.DPanicLevel
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&o.zap)))
	log := ctrl.Log.WithName("setup")
	loops := leads(o.components)
	if o.leaderElect && !loops {
		o.leaderElect = false
		log.Info("no leader-only component in --components: this replica does not take part in leader election", "components", o.components)
	}

	cfg, err := loadConfig(o.kubeconfig)
	if err != nil {
		return err
	}
	if o.kubeAPIQPS <= 0 || o.kubeAPIBurst <= 0 {
		return fmt.Errorf("--kube-api-qps and --kube-api-burst must be positive, got %v and %d", o.kubeAPIQPS, o.kubeAPIBurst)
	}
	cfg.QPS, cfg.Burst = o.kubeAPIQPS, o.kubeAPIBurst
	// Fail fast with one clear line instead of retrying forever against a
	// cluster that is not there.
	if err := checkAPIServer(cfg); err != nil {
		return err
	}
	if err := checkAccess(ctx, cfg, o.components); err != nil {
		return err
	}
	ns := os.Getenv("POD_NAMESPACE")
	if ns == "" {
		ns = "tailor-system"
	}
	o.namespace = ns
	o.scope = coordination.Scope{TailorNamespace: ns, Selector: sel}
	o.recommender.Scope, o.updater.Scope, o.scaler.Scope = o.scope, o.scope, o.scope
	o.scaler.PrometheusNamespaceLabel = o.prometheus.NamespaceLabel
	if o.leaderElectionNamespace != "" {
		ns = o.leaderElectionNamespace
	}

	var certWatch *certs.CertificateWatch
	if o.certManagerCertificate != "" {
		key, err := certs.ParseKey(o.certManagerCertificate)
		if err != nil {
			return fmt.Errorf("--cert-manager-certificate: %w", err)
		}
		certWatch = &certs.CertificateWatch{Key: key, Log: ctrl.Log.WithName("certs")}
	}
	var bootstrap *certs.Bootstrap
	if o.certBootstrap {
		if o.certValidity < 30*time.Second {
			return fmt.Errorf("--cert-validity %s: must be at least 30s", o.certValidity)
		}
		if bootstrap, err = newBootstrap(cfg, o); err != nil {
			return err
		}
		// The webhook server reads the pair when it starts: have it first.
		if _, err := bootstrap.Ensure(ctx); err != nil {
			return fmt.Errorf("--cert-bootstrap: %w", err)
		}
	}

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := vpav1.AddToScheme(scheme); err != nil {
		return err
	}
	if err := cmapi.AddToScheme(scheme); err != nil {
		return err
	}
	if err := scalerv1.AddToScheme(scheme); err != nil {
		return err
	}
	if err := provisionerv1.AddToScheme(scheme); err != nil {
		return err
	}
	tlsOpts := []func(*tls.Config){func(c *tls.Config) {
		c.MinVersion = tls.VersionTLS12
		if !o.enableHTTP2 {
			c.NextProtos = []string{"http/1.1"}
		}
	}}
	metrics := metricsserver.Options{BindAddress: o.metricsAddr, SecureServing: o.metricsSecure, TLSOpts: tlsOpts}
	if o.metricsSecure {
		metrics.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  scheme,
		Metrics: metrics,
		// Memory follows the cluster's size, not its manifests' (cachetrim.go).
		Cache:                         cache.Options{DefaultTransform: trimForCache},
		HealthProbeBindAddress:        o.probeAddr,
		PprofBindAddress:              o.pprofAddr,
		WebhookServer:                 ctrlwebhook.NewServer(ctrlwebhook.Options{Port: o.webhookPort, Host: o.webhookHost, CertDir: o.certDir, TLSOpts: tlsOpts}),
		LeaderElection:                o.leaderElect,
		LeaderElectionID:              o.leaderElectionID,
		LeaderElectionNamespace:       ns,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 &o.leaseDuration,
		RenewDeadline:                 &o.renewDeadline,
		RetryPeriod:                   &o.retryPeriod,
		GracefulShutdownTimeout:       &o.shutdownTimeout,
	})
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if bootstrap != nil {
		if err := mgr.Add(bootstrap); err != nil {
			return err
		}
	}
	if certWatch != nil {
		certWatch.Reader = mgr.GetAPIReader()
		if err := mgr.Add(certWatch); err != nil {
			return err
		}
		if err := mgr.AddReadyzCheck("certificate", certWatch.Checker); err != nil {
			return err
		}
	}
	// One scale client for every loop.
	if sh.scales, err = scale.New(mgr.GetConfig(), mgr.GetRESTMapper()); err != nil {
		return err
	}
	for _, name := range componentNames() {
		if !slices.Contains(o.components, name) {
			continue
		}
		if err := components[name].setup(ctx, mgr, o, sh); err != nil {
			return fmt.Errorf("set up %s: %w", name, err)
		}
	}
	v, c, g := buildInfo()
	recordBuildInfo(v, c, g)
	// An admission-only replica runs no loops: it is nobody's leader, and
	// Elected closes at once without leader election.
	go func() {
		if !loops {
			return
		}
		select {
		case <-mgr.Elected():
			leaderGauge.Set(1)
			log.Info("elected leader: background loops start here", "lease", ns+"/"+o.leaderElectionID)
		case <-ctx.Done():
		}
	}()
	log.Info("starting tailor", "version", v, "commit", c, "components", o.components, "leaderElection", o.leaderElect)
	if err := mgr.Start(ctx); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// loadConfig follows kubectl's rules: an explicit --kubeconfig wins, then
// in-cluster, then $KUBECONFIG and ~/.kube/config.
func loadConfig(path string) (*rest.Config, error) {
	if path != "" {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("--kubeconfig: %w", err)
		}
	} else if cfg, err := rest.InClusterConfig(); err == nil {
		return cfg, nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	return cfg, nil
}

// newBootstrap names the serving certificate after the webhook Service in
// Tailor's namespace, plus any extra names or IPs.
func newBootstrap(cfg *rest.Config, o *runOptions) (*certs.Bootstrap, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	svc := o.webhookService + "." + o.namespace
	b := &certs.Bootstrap{
		Client:         cs,
		Namespace:      o.namespace,
		SecretName:     o.certSecretName,
		DNSNames:       []string{svc + ".svc", svc + ".svc.cluster.local", svc, o.webhookService},
		CertDir:        o.certDir,
		CertValidity:   o.certValidity,
		WebhookConfigs: []string{o.webhookConfigName},
		Log:            ctrl.Log.WithName("certs"),
	}
	for _, san := range o.certExtraSANs {
		if ip := net.ParseIP(san); ip != nil {
			b.IPs = append(b.IPs, ip)
		} else {
			b.DNSNames = append(b.DNSNames, san)
		}
	}
	return b, nil
}

func checkAPIServer(cfg *rest.Config) error {
	probe := rest.CopyConfig(cfg)
	probe.Timeout = 10 * time.Second
	dc, err := discovery.NewDiscoveryClientForConfig(probe)
	if err != nil {
		return fmt.Errorf("API server client: %w", err)
	}
	if _, err := dc.ServerVersion(); err != nil {
		return fmt.Errorf("cannot reach the API server at %s: %w", cfg.Host, err)
	}
	return nil
}
