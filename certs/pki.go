// Package certs holds Tailor's certificate plumbing: a small PKI used to
// bootstrap webhook serving certificates where cert-manager is absent (the
// sandbox, tests, small clusters) and to stand up the test control plane.
package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// KeyPair is a certificate with its private key, in parsed and PEM form.
type KeyPair struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
	KeyPEM  []byte
}

// Request describes a certificate to issue from a CA.
type Request struct {
	CommonName   string
	Organization []string
	DNSNames     []string
	IPs          []net.IP
	// Usages defaults to server auth when empty.
	Usages   []x509.ExtKeyUsage
	Validity time.Duration
}

// clockSkew backdates NotBefore so that a peer whose clock is slightly behind
// still accepts a certificate issued a moment ago.
const clockSkew = 5 * time.Minute

// NewCA creates a self-signed certificate authority valid for validity.
func NewCA(commonName string, validity time.Duration) (*KeyPair, error) {
	if validity <= 0 {
		return nil, errors.New("certs: CA validity must be positive")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certs: generate CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	return sign(tmpl, tmpl, key, key)
}

// Issue signs a leaf certificate for r with this CA.
func (ca *KeyPair) Issue(r Request) (*KeyPair, error) {
	if r.Validity <= 0 {
		return nil, errors.New("certs: certificate validity must be positive")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certs: generate key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	usages := r.Usages
	if len(usages) == 0 {
		usages = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	now := time.Now()
	notAfter := now.Add(r.Validity)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: r.CommonName, Organization: r.Organization},
		DNSNames:     r.DNSNames,
		IPAddresses:  r.IPs,
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  usages,
	}
	return sign(tmpl, ca.Cert, key, ca.Key)
}

// WriteFiles writes the certificate and key as PEM, the key readable by the
// owner only. Missing parent directories are created.
func (kp *KeyPair) WriteFiles(certPath, keyPath string) error {
	for _, f := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{{certPath, kp.CertPEM, 0o644}, {keyPath, kp.KeyPEM, 0o600}} {
		if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
			return fmt.Errorf("certs: %w", err)
		}
		if err := os.WriteFile(f.path, f.data, f.mode); err != nil {
			return fmt.Errorf("certs: %w", err)
		}
	}
	return nil
}

func sign(tmpl, parent *x509.Certificate, key *ecdsa.PrivateKey, signer crypto.Signer) (*KeyPair, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		return nil, fmt.Errorf("certs: sign %q: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certs: parse %q: %w", tmpl.Subject.CommonName, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("certs: marshal key: %w", err)
	}
	return &KeyPair{
		Cert:    cert,
		Key:     key,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

func newSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("certs: serial: %w", err)
	}
	return serial, nil
}

// WriteLoopbackPair issues a serving pair for 127.0.0.1 from a fresh CA and
// writes it as tls.crt and tls.key into dir (what a webhook server's
// certwatcher reads): the setup of a webhook registered by URL on loopback,
// as in tests and benchmarks. It returns the CA's PEM and the pair.
func WriteLoopbackPair(dir, commonName string, validity time.Duration) ([]byte, *KeyPair, error) {
	ca, err := NewCA(commonName+"-ca", validity)
	if err != nil {
		return nil, nil, err
	}
	kp, err := ca.Issue(Request{CommonName: commonName, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Validity: validity})
	if err != nil {
		return nil, nil, err
	}
	if err := kp.WriteFiles(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")); err != nil {
		return nil, nil, err
	}
	return ca.CertPEM, kp, nil
}
