package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestConvertKarpenterApplies: what `tailor convert karpenter` prints for
// Karpenter's documented NodePool and EC2NodeClass is accepted by the API
// server (the CRDs' schemas and CEL rules), and what it could not carry
// over is on stderr.
func TestConvertKarpenterApplies(t *testing.T) {
	// A server dry-run: nothing is written, and the provisioner tests'
	// NodePool webhooks judge only their own labelled pools.
	t.Parallel()
	in := filepath.Join("..", "..", "provisioner", "convert", "testdata", "karpenter-v1.yaml")
	cmd := exec.Command(tailorBin, "convert", "karpenter", "-f", in)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("convert: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "instance-hypervisor") {
		t.Errorf("stderr does not name the unmapped requirement:\n%s", stderr.String())
	}
	got := string(kubectl(t, out, "apply", "--dry-run=server", "-f", "-"))
	for _, want := range []string{"nodepool.tailor.dev/default", "awsnodeclass.tailor.dev/default"} {
		if !strings.Contains(got, want) {
			t.Errorf("server dry-run output lacks %s:\n%s", want, got)
		}
	}
}
