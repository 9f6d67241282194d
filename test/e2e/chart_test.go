package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tailor-dev/tailor/cmd/tailor/sandbox/cluster"
)

// helmCmd runs the pinned helm (test/tools/helm) against the test cluster,
// with Helm's own cache, config and data in a folder of the test.
func helmCmd(t *testing.T, bin, home string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, append(args, "--kubeconfig", env.Kubeconfig)...)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"))
	return cmd
}

// TestInstallChart installs deploy/chart with `helm install`
// (certificates.mode=self-signed: no cert-manager needed), checks that every
// object of the release exists in the cluster, then runs the self-signed
// install's checks on what helm created: a replica started from the
// installed Deployment's args as the installed ServiceAccount bootstraps
// the Secret and the caBundles, sizes the seed's hamster through the
// installed webhook, and no request it made was refused by the chart's
// RBAC. test/chart proves the chart renders what the overlays render; this
// proves helm installs it. Not parallel: the release owns the fixed names
// (tailor-system, the ClusterRole and webhook configurations "tailor")
// that the other install tests use too.
func TestInstallChart(t *testing.T) {
	ctx := context.Background()
	bin, err := cluster.EnsureTool(ctx, "helm", os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	start := time.Now()
	// The release record lives in "default"; the chart puts every object in
	// tailor-system, which it creates. The CRDs (crds/) are already
	// installed by TestMain from the same files: helm leaves them alone.
	install := helmCmd(t, bin, home, "install", "tailor", filepath.Join("..", "..", "deploy", "chart"),
		"--namespace", "default", "--set", "certificates.mode=self-signed")
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("helm install: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := helmCmd(t, bin, home, "uninstall", "tailor", "--namespace", "default").CombinedOutput(); err != nil {
			t.Errorf("helm uninstall: %v\n%s", err, out)
		}
		eventually(t, 60*time.Second, func(ctx context.Context) (bool, string) {
			_, err := env.Clientset().CoreV1().Namespaces().Get(ctx, "tailor-system", metav1.GetOptions{})
			return err != nil, "tailor-system still terminating"
		})
	})

	// Every object of the release is there (kubectl fails on a missing one).
	get := helmCmd(t, bin, home, "get", "manifest", "tailor", "--namespace", "default")
	var stderr bytes.Buffer
	get.Stderr = &stderr
	manifest, err := get.Output()
	if err != nil {
		t.Fatalf("helm get manifest: %v\n%s", err, stderr.String())
	}
	listed := strings.Fields(string(kubectl(t, manifest, "get", "-f", "-", "-o", "name")))
	for _, want := range []string{
		"namespace/tailor-system", "serviceaccount/tailor", "deployment.apps/tailor", "deployment.apps/tailor-admission",
		"clusterrole.rbac.authorization.k8s.io/tailor-cert-bootstrap",
		"mutatingwebhookconfiguration.admissionregistration.k8s.io/tailor",
		"validatingwebhookconfiguration.admissionregistration.k8s.io/tailor",
	} {
		if !strings.Contains(" "+strings.Join(listed, " ")+" ", " "+want+" ") {
			t.Errorf("%s not installed (release objects: %v)", want, listed)
		}
	}
	t.Logf("helm installed %d objects", len(listed))

	var ds []*appsv1.Deployment
	for _, name := range []string{"tailor", "tailor-admission"} {
		d, err := env.Clientset().AppsV1().Deployments("tailor-system").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Labels["app.kubernetes.io/managed-by"] != "Helm" {
			t.Errorf("Deployment %s labels %v: not helm's", name, d.Labels)
		}
		ds = append(ds, d)
	}
	replicas, _ := selfSignedServes(t, ds[1], 1)
	loopsServe(t, ds[0], replicas)
	hamsterThroughInstall(t)
	rbacSuffices(t, start)
}
