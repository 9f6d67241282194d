package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"gomodules.xyz/jsonpatch/v2"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
)

// Bootstrap keeps a self-managed webhook serving certificate where
// cert-manager is absent. The serving pair and a trust bundle live in one
// Secret that every replica shares (the first to create it wins, the others
// adopt it); the pair is written to the webhook server's cert dir (its
// certwatcher reloads it) and the bundle goes into the caBundle of Tailor's
// webhook configurations, which are watched and re-patched when they lose it.
//
// No CA private key is kept anywhere: each issue creates a fresh CA, signs
// the serving pair and forgets the CA's key, so whoever reads the Secret
// cannot mint other certificates the API server trusts. Renewal overlaps:
// the bundle holds the new CA and the one that signed the previous pair, and
// it reaches the API server before any replica serves the new pair.
type Bootstrap struct {
	Client     kubernetes.Interface
	Namespace  string
	SecretName string
	// DNSNames and IPs the serving certificate names, e.g. the webhook
	// Service's tailor-webhook.tailor-system.svc.
	DNSNames []string
	IPs      []net.IP
	CertDir  string
	// WebhookConfigs are the names of the Mutating- and
	// ValidatingWebhookConfigurations whose caBundle is kept filled.
	WebhookConfigs []string
	// CertValidity defaults to 1 year; the pair is renewed when less than
	// a third of its life is left.
	CertValidity time.Duration
	Log          logr.Logger

	bundle atomic.Pointer[[]byte] // the caBundle the configurations should hold
}

// Secret keys: the serving pair (tls.crt, tls.key) and the trust bundle.
const (
	caCertKey = "ca.crt"
	// caKeyKey is where releases before 0.2 kept the CA key; a Secret that
	// still has it is reissued without it.
	caKeyKey = "ca.key"
)

func (b *Bootstrap) defaults() {
	if b.CertValidity == 0 {
		b.CertValidity = 365 * 24 * time.Hour
	}
}

// Ensure makes the Secret hold a valid pair, fills the caBundles and then
// writes the pair to CertDir (in that order, so the API server trusts a
// pair before this replica serves it). It returns when the pair should next
// be renewed.
func (b *Bootstrap) Ensure(ctx context.Context) (time.Time, error) {
	b.defaults()
	secret, err := b.reconcileSecret(ctx)
	if err != nil {
		return time.Time{}, err
	}
	bundle := secret.Data[caCertKey]
	b.bundle.Store(&bundle)
	if err := b.patchCABundles(ctx, bundle); err != nil {
		return time.Time{}, err
	}
	if err := b.writeFiles(secret); err != nil {
		return time.Time{}, err
	}
	cert, err := parseCert(secret.Data[corev1.TLSCertKey])
	if err != nil {
		return time.Time{}, err
	}
	return renewAt(cert), nil
}

// Start keeps the certificate fresh and the caBundles filled until ctx ends;
// it runs on every replica (each serves the webhook), so it is not
// leader-elected. A webhook configuration created, re-applied or edited
// without Tailor's bundle is re-patched within a second or two.
func (b *Bootstrap) Start(ctx context.Context) error {
	drift := make(chan struct{}, 1)
	if err := b.watchConfigs(ctx, drift); err != nil {
		return err
	}
	backoff := wait.Backoff{Duration: time.Second, Factor: 2, Steps: math.MaxInt32, Cap: 30 * time.Second}
	for {
		next, err := b.Ensure(ctx)
		delay := time.Until(next)
		if err != nil {
			delay = backoff.Step()
			b.Log.Error(err, "webhook certificate bootstrap failed; retrying", "secret", b.Namespace+"/"+b.SecretName, "in", delay)
		} else {
			backoff.Duration, backoff.Steps = time.Second, math.MaxInt32
		}
		select {
		case <-ctx.Done():
			return nil
		case <-drift:
		case <-time.After(max(delay, time.Second)):
		}
	}
}

// NeedLeaderElection: every replica needs the files and may renew.
func (b *Bootstrap) NeedLeaderElection() bool { return false }

// watchConfigs signals drift whenever one of Tailor's webhook configurations
// is added or changed and some webhook's caBundle differs from the bundle in
// force. Each informer lists and watches one object by name (the field
// selector lets RBAC restrict it with resourceNames).
func (b *Bootstrap) watchConfigs(ctx context.Context, drift chan<- struct{}) error {
	check := func(bundles []([]byte)) {
		want := b.bundle.Load()
		if want == nil {
			return
		}
		for _, got := range bundles {
			if !bytes.Equal(got, *want) {
				select {
				case drift <- struct{}{}:
				default:
				}
				return
			}
		}
	}
	handler := func(bundlesOf func(obj any) [][]byte) cache.ResourceEventHandlerFuncs {
		return cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { check(bundlesOf(obj)) },
			UpdateFunc: func(_, obj any) { check(bundlesOf(obj)) },
		}
	}
	mutating := func(obj any) [][]byte {
		m, ok := obj.(*admissionregistrationv1.MutatingWebhookConfiguration)
		if !ok {
			return nil
		}
		out := make([][]byte, len(m.Webhooks))
		for i := range m.Webhooks {
			out[i] = m.Webhooks[i].ClientConfig.CABundle
		}
		return out
	}
	validating := func(obj any) [][]byte {
		v, ok := obj.(*admissionregistrationv1.ValidatingWebhookConfiguration)
		if !ok {
			return nil
		}
		out := make([][]byte, len(v.Webhooks))
		for i := range v.Webhooks {
			out[i] = v.Webhooks[i].ClientConfig.CABundle
		}
		return out
	}
	for _, name := range b.WebhookConfigs {
		factory := informers.NewSharedInformerFactoryWithOptions(b.Client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", name).String()
		}))
		reg := factory.Admissionregistration().V1()
		if _, err := reg.MutatingWebhookConfigurations().Informer().AddEventHandler(handler(mutating)); err != nil {
			return err
		}
		if _, err := reg.ValidatingWebhookConfigurations().Informer().AddEventHandler(handler(validating)); err != nil {
			return err
		}
		factory.Start(ctx.Done())
	}
	return nil
}

// reconcileSecret returns a Secret holding a usable pair, creating or
// renewing it. Concurrent replicas converge: a lost create or update race
// re-reads and adopts the winner's Secret.
func (b *Bootstrap) reconcileSecret(ctx context.Context) (*corev1.Secret, error) {
	secrets := b.Client.CoreV1().Secrets(b.Namespace)
	var out *corev1.Secret
	race := func(err error) bool { return apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err) }
	err := retry.OnError(retry.DefaultRetry, race, func() error {
		secret, err := secrets.Get(ctx, b.SecretName, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			data, err := b.issue(nil)
			if err != nil {
				return err
			}
			secret = &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Name: b.SecretName, Namespace: b.Namespace,
					Labels: map[string]string{"app.kubernetes.io/managed-by": "tailor"}},
				Type: corev1.SecretTypeTLS,
				Data: data,
			}
			if out, err = secrets.Create(ctx, secret, metav1.CreateOptions{}); err != nil {
				return err // AlreadyExists: another replica won; adopt its Secret
			}
			b.Log.Info("created webhook certificate", "secret", b.Namespace+"/"+b.SecretName)
			return nil
		case err != nil:
			return err
		}
		if b.usable(secret) {
			out = secret
			return nil
		}
		data, err := b.issue(secret.Data)
		if err != nil {
			return err
		}
		secret.Data = data
		if out, err = secrets.Update(ctx, secret, metav1.UpdateOptions{}); err != nil {
			return err // Conflict: another replica renewed first
		}
		b.Log.Info("renewed webhook certificate", "secret", b.Namespace+"/"+b.SecretName)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("Secret %s/%s: %w", b.Namespace, b.SecretName, err)
	}
	return out, nil
}

// usable: the pair parses, chains to the CA, names every host asked for,
// and is not yet due for renewal.
func (b *Bootstrap) usable(s *corev1.Secret) bool {
	if _, ok := s.Data[caKeyKey]; ok {
		return false
	}
	pair, err := tls.X509KeyPair(s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey])
	if err != nil {
		return false
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil || time.Now().After(renewAt(cert)) {
		return false
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.Data[caCertKey]) {
		return false
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool}); err != nil {
		return false
	}
	for _, name := range b.DNSNames {
		if cert.VerifyHostname(name) != nil {
			return false
		}
	}
	for _, ip := range b.IPs {
		if cert.VerifyHostname(ip.String()) != nil {
			return false
		}
	}
	return true
}

// issue signs a new serving pair with a new CA whose key is then dropped.
// The bundle is the new CA plus, while the previous pair (in old) is still
// valid, the CA that signed it: replicas still serving that pair stay
// trusted until they adopt the new one.
func (b *Bootstrap) issue(old map[string][]byte) (map[string][]byte, error) {
	// The CA outlives the pair by the clock skew allowance only: it signs
	// this one pair and nothing else.
	ca, err := NewCA("tailor-webhook-ca", b.CertValidity+time.Minute)
	if err != nil {
		return nil, err
	}
	leaf, err := ca.Issue(Request{CommonName: firstOr(b.DNSNames, "tailor-webhook"), DNSNames: b.DNSNames, IPs: b.IPs, Validity: b.CertValidity})
	if err != nil {
		return nil, err
	}
	bundle := append([]byte(nil), ca.CertPEM...)
	if prev := previousCA(old); prev != nil {
		bundle = append(bundle, prev...)
	}
	return map[string][]byte{
		caCertKey:               bundle,
		corev1.TLSCertKey:       leaf.CertPEM,
		corev1.TLSPrivateKeyKey: leaf.KeyPEM,
	}, nil
}

// previousCA returns the PEM of the CA in old's bundle that signed old's
// serving certificate, if that certificate has not expired.
func previousCA(old map[string][]byte) []byte {
	leaf, err := parseCert(old[corev1.TLSCertKey])
	if err != nil || time.Now().After(leaf.NotAfter) {
		return nil
	}
	rest := old[caCertKey]
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil
		}
		ca, err := x509.ParseCertificate(block.Bytes)
		if err != nil || !ca.IsCA || leaf.CheckSignatureFrom(ca) != nil {
			continue
		}
		return pem.EncodeToMemory(block)
	}
}

// writeFiles replaces the pair in CertDir only when it differs, each file
// through a rename so the certwatcher never reads half a file.
func (b *Bootstrap) writeFiles(s *corev1.Secret) error {
	if err := os.MkdirAll(b.CertDir, 0o700); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{corev1.TLSPrivateKeyKey, s.Data[corev1.TLSPrivateKeyKey]}, {corev1.TLSCertKey, s.Data[corev1.TLSCertKey]}, {caCertKey, s.Data[caCertKey]}} {
		path := filepath.Join(b.CertDir, f.name)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, f.data) {
			continue
		}
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, f.data, 0o600); err != nil {
			return err
		}
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
	}
	return nil
}

// patchCABundles sets the caBundle of every webhook in the named
// configurations; a configuration that does not exist is skipped (the
// manifests may not be applied yet, the next renewal tries again).
func (b *Bootstrap) patchCABundles(ctx context.Context, ca []byte) error {
	reg := b.Client.AdmissionregistrationV1()
	for _, name := range b.WebhookConfigs {
		if m, err := reg.MutatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{}); err == nil {
			if patch := caBundlePatch(len(m.Webhooks), func(i int) []byte { return m.Webhooks[i].ClientConfig.CABundle }, ca); patch != nil {
				if _, err := reg.MutatingWebhookConfigurations().Patch(ctx, name, types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
					return fmt.Errorf("patch caBundle of MutatingWebhookConfiguration %s: %w", name, err)
				}
			}
		} else if !apierrors.IsNotFound(err) {
			return err
		}
		if v, err := reg.ValidatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{}); err == nil {
			if patch := caBundlePatch(len(v.Webhooks), func(i int) []byte { return v.Webhooks[i].ClientConfig.CABundle }, ca); patch != nil {
				if _, err := reg.ValidatingWebhookConfigurations().Patch(ctx, name, types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
					return fmt.Errorf("patch caBundle of ValidatingWebhookConfiguration %s: %w", name, err)
				}
			}
		} else if !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// caBundlePatch is a JSON patch setting every webhook's caBundle, or nil
// when all already hold ca.
func caBundlePatch(n int, current func(int) []byte, ca []byte) []byte {
	var ops []jsonpatch.Operation
	for i := 0; i < n; i++ {
		if !bytes.Equal(current(i), ca) {
			// []byte marshals as base64, as the API expects.
			ops = append(ops, jsonpatch.NewOperation("add", fmt.Sprintf("/webhooks/%d/clientConfig/caBundle", i), ca))
		}
	}
	if len(ops) == 0 {
		return nil
	}
	patch, _ := json.Marshal(ops)
	return patch
}

func parseCert(pemData []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(pemData)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

// renewAt is two thirds into the certificate's life, as cert-manager does;
// the life counts from issue, not from the backdated NotBefore (which would
// make a short-lived pair due at once).
func renewAt(c *x509.Certificate) time.Time {
	life := c.NotAfter.Sub(c.NotBefore.Add(clockSkew))
	return c.NotAfter.Add(-life / 3)
}

func firstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
}
