package webhook

import (
	"testing"

	"github.com/tailor-dev/tailor/deploy/base"
)

// The shipped configurations (deploy/base) point at the paths the server
// registers. It lives here because nothing imports webhook/.
func TestWebhooksMatchServerPaths(t *testing.T) {
	m, v, err := base.Webhooks("https://127.0.0.1:9443", []byte("ca"))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Webhooks) != 1 || *m.Webhooks[0].ClientConfig.URL != "https://127.0.0.1:9443"+PodPath {
		t.Errorf("mutating webhooks: %+v", m.Webhooks)
	}
	paths := []string{VPAPath, ReplicaAutoscalerPath, NodePoolPath, AWSNodeClassPath}
	if len(v.Webhooks) != len(paths) {
		t.Fatalf("%d validating webhooks, want %d", len(v.Webhooks), len(paths))
	}
	for i, p := range paths {
		if *v.Webhooks[i].ClientConfig.URL != "https://127.0.0.1:9443"+p {
			t.Errorf("validating webhook %s: URL %s, want path %s", v.Webhooks[i].Name, *v.Webhooks[i].ClientConfig.URL, p)
		}
	}
	for _, w := range v.Webhooks {
		if p := w.FailurePolicy; p == nil || *p != "Fail" {
			t.Errorf("%s failurePolicy %v, want Fail: invalid objects must not get in while Tailor is down", w.Name, p)
		}
	}
	if p := m.Webhooks[0].FailurePolicy; p == nil || *p != "Ignore" {
		t.Errorf("pod webhook failurePolicy %v, want Ignore: Tailor down must never block pods", p)
	}
	if s := m.Webhooks[0].TimeoutSeconds; s == nil || *s > 5 {
		t.Errorf("pod webhook timeoutSeconds %v, want at most 5", s)
	}
}
