package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/tailor-dev/tailor/certs"
)

// noop admits everything: the baseline a controller-runtime webhook costs.
type noop struct{}

func (noop) Handle(context.Context, admission.Request) admission.Response {
	return admission.Allowed("")
}

// startHTTPS serves handlers on a controller-runtime webhook server on
// loopback with a fresh certificate and returns its address and a client.
func startHTTPS(b *testing.B, handlers map[string]admission.Handler) (string, *http.Client) {
	b.Helper()
	dir := b.TempDir()
	caPEM, _, err := certs.WriteLoopbackPair(dir, "bench", time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	srv := webhook.NewServer(webhook.Options{Host: "127.0.0.1", Port: port, CertDir: dir})
	for path, h := range handlers {
		srv.Register(path, &admission.Webhook{Handler: h})
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.Start(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	// Like the API server: keep-alive connections, TLS verified.
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, MaxIdleConnsPerHost: 64, ForceAttemptHTTP2: true,
	}}
	addr := fmt.Sprintf("https://127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Get(addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("webhook server not up: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return addr, client
}

// BenchmarkHTTPS sends pod-create AdmissionReviews over TLS on loopback from
// 16 concurrent clients, to Tailor's pod sizer and to a no-op handler in the
// same server, and reports reviews/s and latency percentiles for each.
func BenchmarkHTTPS(b *testing.B) {
	h, req := benchFixture(b)
	body := reviewOf(b, req)
	addr, client := startHTTPS(b, map[string]admission.Handler{PodPath: h, "/noop": noop{}})
	for _, path := range []string{"/noop", PodPath} {
		name := "tailor"
		if path == "/noop" {
			name = "noop"
		}
		b.Run(name, func(b *testing.B) {
			const workers = 16
			lat := make([]time.Duration, b.N)
			var next int64
			var mu sync.Mutex
			take := func() int {
				mu.Lock()
				defer mu.Unlock()
				if next >= int64(b.N) {
					return -1
				}
				next++
				return int(next - 1)
			}
			var wg sync.WaitGroup
			var failed error
			var failOnce sync.Once
			b.ResetTimer()
			start := time.Now()
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := take(); i >= 0; i = take() {
						t0 := time.Now()
						resp, err := client.Post(addr+path, "application/json", bytes.NewReader(body))
						if err == nil {
							_, _ = io.Copy(io.Discard, resp.Body)
							resp.Body.Close()
							if resp.StatusCode != http.StatusOK {
								err = fmt.Errorf("HTTP %d", resp.StatusCode)
							}
						}
						if err != nil {
							failOnce.Do(func() { failed = err })
							return
						}
						lat[i] = time.Since(t0)
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			if failed != nil {
				b.Fatal(failed)
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "reviews/s")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}
