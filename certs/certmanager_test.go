package certs

import (
	"strings"
	"testing"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
)

func TestCertificateStatus(t *testing.T) {
	cert := func(conds ...cmapi.CertificateCondition) *cmapi.Certificate {
		c := &cmapi.Certificate{}
		c.Spec.IssuerRef.Name = "tailor-selfsigned"
		c.Status.Conditions = conds
		return c
	}
	cases := []struct {
		name      string
		c         *cmapi.Certificate
		ready     bool
		wantInWhy string
	}{
		{"no conditions", cert(), false, "tailor-selfsigned"},
		{"ready", cert(cmapi.CertificateCondition{Type: "Ready", Status: cmmeta.ConditionTrue, Message: "Certificate is up to date"}), true, "up to date"},
		{"issuer missing", cert(
			cmapi.CertificateCondition{Type: "Ready", Status: cmmeta.ConditionFalse, Reason: "DoesNotExist", Message: "Issuer tailor-selfsigned not found"},
			cmapi.CertificateCondition{Type: "Issuing", Status: cmmeta.ConditionTrue, Reason: "Issuing", Message: "Issuing certificate as Secret does not exist"},
		), false, "Issuer tailor-selfsigned not found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ready, why := CertificateStatus(tc.c)
			if ready != tc.ready || !strings.Contains(why, tc.wantInWhy) {
				t.Fatalf("got (%v, %q), want (%v, …%q…)", ready, why, tc.ready, tc.wantInWhy)
			}
		})
	}
}

func TestParseKey(t *testing.T) {
	if k, err := ParseKey("tailor-system/tailor-webhook"); err != nil || k.Namespace != "tailor-system" || k.Name != "tailor-webhook" {
		t.Fatalf("got %v %v", k, err)
	}
	for _, bad := range []string{"", "name", "/name", "ns/", "a/b/c"} {
		if _, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) accepted", bad)
		}
	}
}
