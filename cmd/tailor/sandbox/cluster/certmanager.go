package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tailor-dev/tailor/certs"
)

// CertManagerNamespace is cert-manager's own namespace: StartCertManager
// creates it, and it holds the Secrets that ClusterIssuers refer to
// (cert-manager's --cluster-resource-namespace).
const CertManagerNamespace = "cert-manager"

// Names of the two cert-manager daemons, as executables in the cache and as
// processes of the cluster (logs/<name>.log).
const (
	CertManagerController = "cert-manager-controller"
	CertManagerCAInjector = "cert-manager-cainjector"
)

// StartCertManager installs cert-manager's CRDs, creates its namespace and
// runs its controller and CA injector beside the control plane (stopped by
// Stop), built from the pinned module under test/tools/cert-manager. The
// controller handles SelfSigned and CA Issuers and ClusterIssuers,
// CertificateRequest approval and Certificates; there is no cert-manager
// webhook (the CRDs are single-version and validated by their schemas) and
// no ACME, Vault or Venafi issuer.
//
// It returns once both daemons are proven to work: a throwaway selfSigned
// Issuer and Certificate in a temporary namespace become Ready, and the
// injector fills the caBundle of a throwaway ValidatingWebhookConfiguration
// annotated cert-manager.io/inject-ca-from; the probe objects are deleted.
// Calling it again while cert-manager runs does nothing. On error the daemons
// it started are stopped again.
func (c *Cluster) StartCertManager(ctx context.Context) (err error) {
	for _, p := range c.Running() {
		if p.Name == CertManagerController {
			return nil
		}
	}
	bins := Binaries{Dir: c.BinDir}
	crds, err := readCRDs(bins.CertManagerCRDsDir())
	if err != nil {
		return err
	}
	if err := c.InstallCRDs(crds); err != nil {
		return fmt.Errorf("cert-manager CRDs: %w", err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: CertManagerNamespace}}
	if _, err := c.Clientset().CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("namespace %s: %w", CertManagerNamespace, err)
	}

	var started []*Process
	defer func() {
		if err != nil {
			for i := len(started) - 1; i >= 0; i-- {
				started[i].Stop(10 * time.Second)
			}
		}
	}()
	controller, err := c.Run(CertManagerController, bins.Path(CertManagerController),
		"--kubeconfig", c.Kubeconfig,
		"--namespace-for-cluster-resources", CertManagerNamespace,
		"--leader-elect=false", "-v", "2")
	if err != nil {
		return err
	}
	started = append(started, controller)
	injector, err := c.Run(CertManagerCAInjector, bins.Path(CertManagerCAInjector),
		"--kubeconfig", c.Kubeconfig, "--leader-elect=false", "-v", "2")
	if err != nil {
		return err
	}
	started = append(started, injector)
	return c.probeCertManager(ctx, controller, injector)
}

// readCRDs decodes every CRD in the YAML files of dir (several documents per
// file allowed), in file-name order.
func readCRDs(dir string) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			if err := dec.Decode(crd); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			if crd.Name != "" {
				crds = append(crds, crd)
			}
		}
	}
	if len(crds) == 0 {
		return nil, fmt.Errorf("no cert-manager CRDs in %s", dir)
	}
	return crds, nil
}

// probeCertManager proves the controller issues and the injector injects.
func (c *Cluster) probeCertManager(ctx context.Context, controller, injector *Process) error {
	scheme := runtime.NewScheme()
	if err := cmapi.AddToScheme(scheme); err != nil {
		return err
	}
	cl, err := client.New(c.RESTConfig(), client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	cs := c.Clientset()
	ns, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "cert-manager-probe-"},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("cert-manager probe: %w", err)
	}
	var vwcName string
	defer func() {
		// Clean up even when ctx is done; the namespace takes the Issuer,
		// Certificate, CertificateRequest and Secret with it.
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if vwcName != "" {
			_ = cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(cleanup, vwcName, metav1.DeleteOptions{})
		}
		_ = cs.CoreV1().Namespaces().Delete(cleanup, ns.Name, metav1.DeleteOptions{})
	}()

	issuer := &cmapi.Issuer{
		ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: ns.Name},
		Spec:       cmapi.IssuerSpec{IssuerConfig: cmapi.IssuerConfig{SelfSigned: &cmapi.SelfSignedIssuer{}}},
	}
	if err := cl.Create(ctx, issuer); err != nil {
		return fmt.Errorf("cert-manager probe issuer: %w", err)
	}
	cert := &cmapi.Certificate{
		ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: ns.Name},
		Spec: cmapi.CertificateSpec{
			SecretName: "probe-tls",
			CommonName: "probe." + ns.Name + ".svc",
			DNSNames:   []string{"probe." + ns.Name + ".svc"},
			IsCA:       true,
			PrivateKey: &cmapi.CertificatePrivateKey{Algorithm: cmapi.ECDSAKeyAlgorithm, Size: 256},
			IssuerRef:  cmmeta.IssuerReference{Name: issuer.Name, Kind: cmapi.IssuerKind, Group: "cert-manager.io"},
		},
	}
	if err := cl.Create(ctx, cert); err != nil {
		return fmt.Errorf("cert-manager probe certificate: %w", err)
	}
	// A webhook that matches no resource, so it is never called: only its
	// caBundle matters.
	url := "https://127.0.0.1:1/cert-manager-probe"
	ignore, none := admissionregistrationv1.Ignore, admissionregistrationv1.SideEffectClassNone
	vwc, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "cert-manager-probe-",
			Annotations:  map[string]string{cmapi.WantInjectAnnotation: ns.Name + "/" + cert.Name},
		},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:         "probe.cert-manager.tailor.dev",
			ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &url},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{"probe.tailor.dev"}, APIVersions: []string{"v1"}, Resources: []string{"nothing"}},
			}},
			FailurePolicy:           &ignore,
			SideEffects:             &none,
			AdmissionReviewVersions: []string{"v1"},
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("cert-manager probe webhook configuration: %w", err)
	}
	vwcName = vwc.Name

	if err := WaitFor(ctx, 60*time.Second, controller, func() error {
		got := &cmapi.Certificate{}
		if err := cl.Get(ctx, client.ObjectKeyFromObject(cert), got); err != nil {
			return err
		}
		if ready, why := certs.CertificateStatus(got); !ready {
			return fmt.Errorf("probe Certificate %s/%s not ready: %s", ns.Name, cert.Name, why)
		}
		return nil
	}); err != nil {
		return err
	}
	return WaitFor(ctx, 30*time.Second, injector, func() error {
		got, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, vwcName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(got.Webhooks) == 0 || len(got.Webhooks[0].ClientConfig.CABundle) == 0 {
			return fmt.Errorf("probe ValidatingWebhookConfiguration %s: no caBundle injected yet", vwcName)
		}
		return nil
	})
}
