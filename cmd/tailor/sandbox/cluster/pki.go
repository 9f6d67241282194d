package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/tailor-dev/tailor/certs"
)

// pki is the control plane's certificate set, written under dir.
type pki struct {
	dir       string
	metricsCA []byte
}

func (p *pki) file(name string) string { return filepath.Join(p.dir, name) }

func newPKI(dir string) (*pki, error) {
	const year = 365 * 24 * time.Hour
	ca, err := certs.NewCA("tailor-cluster-ca", year)
	if err != nil {
		return nil, err
	}
	frontCA, err := certs.NewCA("tailor-front-proxy-ca", year)
	if err != nil {
		return nil, err
	}
	client := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	issue := []struct {
		name string
		ca   *certs.KeyPair
		req  certs.Request
	}{
		{"apiserver", ca, certs.Request{CommonName: "kube-apiserver",
			DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
			IPs:      []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1")}}},
		{"admin", ca, certs.Request{CommonName: "tailor-admin", Organization: []string{"system:masters"}, Usages: client}},
		{"front-proxy-client", frontCA, certs.Request{CommonName: "front-proxy-client", Usages: client}},
		// The aggregator dials the ExternalName target but verifies the
		// service DNS name.
		{"metrics-server", ca, certs.Request{CommonName: "metrics-server",
			DNSNames: []string{"metrics-server.kube-system.svc", "localhost"}, IPs: []net.IP{net.ParseIP("127.0.0.1")}}},
		// Its key signs service-account tokens.
		{"sa", ca, certs.Request{CommonName: "service-accounts", Usages: client}},
	}
	p := &pki{dir: dir, metricsCA: ca.CertPEM}
	if err := ca.WriteFiles(p.file("ca.crt"), p.file("ca.key")); err != nil {
		return nil, err
	}
	if err := frontCA.WriteFiles(p.file("front-proxy-ca.crt"), p.file("front-proxy-ca.key")); err != nil {
		return nil, err
	}
	for _, i := range issue {
		kp, err := i.ca.Issue(certs.Request{CommonName: i.req.CommonName, Organization: i.req.Organization,
			DNSNames: i.req.DNSNames, IPs: i.req.IPs, Usages: i.req.Usages, Validity: year})
		if err != nil {
			return nil, err
		}
		if err := kp.WriteFiles(p.file(i.name+".crt"), p.file(i.name+".key")); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *pki) adminTLS() (*tls.Config, error) {
	pair, err := tls.LoadX509KeyPair(p.file("admin.crt"), p.file("admin.key"))
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(p.file("ca.crt"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("cluster: bad CA PEM")
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
