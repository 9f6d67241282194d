package certs

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Bootstrap keeps a self-managed webhook serving certificate where
// cert-manager is absent: a CA and serving pair live in one Secret that every
// replica shares (the first to create it wins, the others adopt it), the pair
// is written to the webhook server's cert dir (its certwatcher reloads it),
// and the CA goes into the caBundle of Tailor's webhook configurations.
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
	// CAValidity and CertValidity default to 10 years and 1 year; the serving
	// pair is renewed when less than a third of its life is left.
	CAValidity   time.Duration
	CertValidity time.Duration
	Log          logr.Logger
}

// Secret keys.
const (
	caCertKey = "ca.crt"
	caKeyKey  = "ca.key"
)

func (b *Bootstrap) defaults() {
	if b.CAValidity == 0 {
		b.CAValidity = 10 * 365 * 24 * time.Hour
	}
	if b.CertValidity == 0 {
		b.CertValidity = 365 * 24 * time.Hour
	}
}

// Ensure makes the Secret hold a valid pair, writes it to CertDir and fills
// the caBundles. It returns when the pair should next be renewed.
func (b *Bootstrap) Ensure(ctx context.Context) (time.Time, error) {
	b.defaults()
	secret, err := b.reconcileSecret(ctx)
	if err != nil {
		return time.Time{}, err
	}
	if err := b.writeFiles(secret); err != nil {
		return time.Time{}, err
	}
	if err := b.patchCABundles(ctx, secret.Data[caCertKey]); err != nil {
		return time.Time{}, err
	}
	cert, err := parseCert(secret.Data[corev1.TLSCertKey])
	if err != nil {
		return time.Time{}, err
	}
	return renewAt(cert), nil
}

// Start keeps the certificate fresh until ctx ends; it runs on every
// replica (each serves the webhook), so it is not leader-elected.
func (b *Bootstrap) Start(ctx context.Context) error {
	for {
		next, err := b.Ensure(ctx)
		wait := time.Until(next)
		if err != nil {
			b.Log.Error(err, "webhook certificate bootstrap failed; retrying", "secret", b.Namespace+"/"+b.SecretName)
			wait = 30 * time.Second
		}
		if wait < time.Second {
			wait = time.Second
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// NeedLeaderElection: every replica needs the files and may renew.
func (b *Bootstrap) NeedLeaderElection() bool { return false }

// reconcileSecret returns a Secret holding a usable pair, creating or
// renewing it. Concurrent replicas converge: a lost create or update race
// re-reads and adopts the winner's Secret.
func (b *Bootstrap) reconcileSecret(ctx context.Context) (*corev1.Secret, error) {
	secrets := b.Client.CoreV1().Secrets(b.Namespace)
	for attempt := 0; attempt < 5; attempt++ {
		secret, err := secrets.Get(ctx, b.SecretName, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			data, err := b.issue(nil)
			if err != nil {
				return nil, err
			}
			secret = &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Name: b.SecretName, Namespace: b.Namespace,
					Labels: map[string]string{"app.kubernetes.io/managed-by": "tailor"}},
				Type: corev1.SecretTypeTLS,
				Data: data,
			}
			created, err := secrets.Create(ctx, secret, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				continue // another replica won; adopt its Secret
			}
			if err != nil {
				return nil, fmt.Errorf("create Secret %s/%s: %w", b.Namespace, b.SecretName, err)
			}
			b.Log.Info("created webhook certificate", "secret", b.Namespace+"/"+b.SecretName)
			return created, nil
		case err != nil:
			return nil, fmt.Errorf("get Secret %s/%s: %w", b.Namespace, b.SecretName, err)
		}
		if b.usable(secret) {
			return secret, nil
		}
		ca, _ := loadCA(secret.Data)
		data, err := b.issue(ca)
		if err != nil {
			return nil, err
		}
		secret.Data = data
		updated, err := secrets.Update(ctx, secret, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			continue // another replica renewed first
		}
		if err != nil {
			return nil, fmt.Errorf("renew Secret %s/%s: %w", b.Namespace, b.SecretName, err)
		}
		b.Log.Info("renewed webhook certificate", "secret", b.Namespace+"/"+b.SecretName)
		return updated, nil
	}
	return nil, fmt.Errorf("Secret %s/%s keeps changing under us", b.Namespace, b.SecretName)
}

// usable: the pair parses, chains to the CA, names every host asked for,
// and is not yet due for renewal.
func (b *Bootstrap) usable(s *corev1.Secret) bool {
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

// issue signs a new serving pair with ca, or with a new CA when ca is nil
// or itself due for renewal.
func (b *Bootstrap) issue(ca *KeyPair) (map[string][]byte, error) {
	if ca == nil || time.Now().After(renewAt(ca.Cert)) {
		var err error
		if ca, err = NewCA("tailor-webhook-ca", b.CAValidity); err != nil {
			return nil, err
		}
	}
	leaf, err := ca.Issue(Request{CommonName: firstOr(b.DNSNames, "tailor-webhook"), DNSNames: b.DNSNames, IPs: b.IPs, Validity: b.CertValidity})
	if err != nil {
		return nil, err
	}
	return map[string][]byte{
		caCertKey:               ca.CertPEM,
		caKeyKey:                ca.KeyPEM,
		corev1.TLSCertKey:       leaf.CertPEM,
		corev1.TLSPrivateKeyKey: leaf.KeyPEM,
	}, nil
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
	type op struct {
		Op    string `json:"op"`
		Path  string `json:"path"`
		Value []byte `json:"value"` // base64 in JSON, as the API expects
	}
	var ops []op
	for i := 0; i < n; i++ {
		if !bytes.Equal(current(i), ca) {
			ops = append(ops, op{"add", fmt.Sprintf("/webhooks/%d/clientConfig/caBundle", i), ca})
		}
	}
	if len(ops) == 0 {
		return nil
	}
	patch, _ := json.Marshal(ops)
	return patch
}

func loadCA(data map[string][]byte) (*KeyPair, error) {
	pair, err := tls.X509KeyPair(data[caCertKey], data[caKeyKey])
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, err
	}
	key, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, errors.New("CA key cannot sign")
	}
	return &KeyPair{Cert: cert, Key: key, CertPEM: data[caCertKey], KeyPEM: data[caKeyKey]}, nil
}

func parseCert(pemData []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(pemData)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

// renewAt is two thirds into the certificate's life, as cert-manager does.
func renewAt(c *x509.Certificate) time.Time {
	life := c.NotAfter.Sub(c.NotBefore)
	return c.NotAfter.Add(-life / 3)
}

func firstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
}
