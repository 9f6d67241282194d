package certs

import (
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func bundleOf(t *testing.T, data []byte) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return out
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
}

func verifies(leafPEM []byte, bundle []*x509.Certificate) bool {
	leaf, err := parseCert(leafPEM)
	if err != nil {
		return false
	}
	pool := x509.NewCertPool()
	for _, c := range bundle {
		pool.AddCert(c)
	}
	_, err = leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "tailor-webhook.tailor-system.svc"})
	return err == nil
}

func TestIssueKeepsNoCAKeyAndOverlapsOnRenewal(t *testing.T) {
	b := &Bootstrap{DNSNames: []string{"tailor-webhook.tailor-system.svc"}, CertValidity: time.Hour}
	first, err := b.issue(nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range first {
		if k != corev1.TLSPrivateKeyKey && containsKey(v) {
			t.Errorf("Secret key %s holds a private key; only tls.key may", k)
		}
	}
	if _, ok := first[caKeyKey]; ok {
		t.Fatal("the CA key is stored")
	}
	if got := bundleOf(t, first[caCertKey]); len(got) != 1 || !verifies(first[corev1.TLSCertKey], got) {
		t.Fatalf("first bundle: %d certificates, verifies=%v", len(got), verifies(first[corev1.TLSCertKey], got))
	}

	second, err := b.issue(first)
	if err != nil {
		t.Fatal(err)
	}
	bundle := bundleOf(t, second[caCertKey])
	if len(bundle) != 2 {
		t.Fatalf("renewed bundle has %d certificates, want the new CA and the previous one", len(bundle))
	}
	if !verifies(second[corev1.TLSCertKey], bundle) || !verifies(first[corev1.TLSCertKey], bundle) {
		t.Error("the renewed bundle must trust both the new pair and the pair still served by other replicas")
	}
	if verifies(second[corev1.TLSCertKey], bundleOf(t, first[caCertKey])) {
		t.Error("a new pair signed by the old CA: the CA key was reused")
	}

	third, err := b.issue(second)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(bundleOf(t, third[caCertKey])); n != 2 {
		t.Errorf("bundle grows: %d certificates after two renewals, want 2", n)
	}
}

func TestIssueDropsTheCAOfAnExpiredPair(t *testing.T) {
	b := &Bootstrap{DNSNames: []string{"x"}, CertValidity: time.Hour}
	old := map[string][]byte{}
	ca, err := NewCA("old", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(Request{CommonName: "x", Validity: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Millisecond)
	old[caCertKey], old[corev1.TLSCertKey] = ca.CertPEM, leaf.CertPEM
	data, err := b.issue(old)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(bundleOf(t, data[caCertKey])); n != 1 {
		t.Errorf("bundle has %d certificates, want only the new CA (the old pair expired)", n)
	}
}

func TestRenewAtTwoThirdsFromIssue(t *testing.T) {
	b := &Bootstrap{DNSNames: []string{"x"}, CertValidity: 90 * time.Second}
	data, err := b.issue(nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseCert(data[corev1.TLSCertKey])
	if err != nil {
		t.Fatal(err)
	}
	// NotBefore is backdated by the clock-skew allowance; renewal must not
	// count it, or a short-lived pair would be due as soon as it is made.
	if d := time.Until(renewAt(c)); d < 55*time.Second || d > 61*time.Second {
		t.Errorf("renewal in %s, want about 60s (two thirds of 90s)", d)
	}
}

func containsKey(b []byte) bool {
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return false
		}
		if block.Type != "CERTIFICATE" {
			return true
		}
	}
}
