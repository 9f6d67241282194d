package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	vpaclient "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/client/clientset/versioned"

	"github.com/tailor-dev/tailor/certs"
	"github.com/tailor-dev/tailor/cmd/tailor/sandbox/cluster"
)

// kubectl runs the control plane's own kubectl against the test cluster.
func kubectl(t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(filepath.Join(env.BinDir, "kubectl"), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+env.Kubeconfig)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// renderedObject is one document of kustomize output.
type renderedObject struct {
	Kind     string            `json:"kind"`
	Metadata metav1.ObjectMeta `json:"metadata"`
	raw      []byte
}

func render(t *testing.T, overlay string) []renderedObject {
	t.Helper()
	out := kubectl(t, nil, "kustomize", filepath.Join("..", "..", "deploy", "overlays", overlay))
	var objs []renderedObject
	for _, doc := range strings.Split(string(out), "\n---\n") {
		var o renderedObject
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("rendered %s: %v", overlay, err)
		}
		o.raw = []byte(doc)
		objs = append(objs, o)
	}
	return objs
}

// install applies the rendered overlay (CRDs are already installed and shared
// with the other tests, so they stay) and removes it afterwards. It returns
// the overlay's two Deployments: tailor (the loops) and tailor-admission
// (the webhooks).
func install(t *testing.T, objs []renderedObject) (loops, admission *appsv1.Deployment) {
	t.Helper()
	var docs []string
	for _, o := range objs {
		if o.Kind == "CustomResourceDefinition" {
			continue
		}
		docs = append(docs, string(o.raw))
	}
	manifest := []byte(strings.Join(docs, "\n---\n"))
	kubectl(t, manifest, "apply", "--server-side", "--field-manager=e2e", "-f", "-")
	t.Cleanup(func() {
		cmd := exec.Command(filepath.Join(env.BinDir, "kubectl"), "delete", "--ignore-not-found", "--wait=false", "-f", "-")
		cmd.Env = append(os.Environ(), "KUBECONFIG="+env.Kubeconfig)
		cmd.Stdin = bytes.NewReader(manifest)
		_ = cmd.Run()
		// The namespace must be gone before the next install reuses it.
		eventually(t, 60*time.Second, func(ctx context.Context) (bool, string) {
			_, err := env.Clientset().CoreV1().Namespaces().Get(ctx, "tailor-system", metav1.GetOptions{})
			return err != nil, "tailor-system still terminating"
		})
	})
	return renderedDeployments(t, objs)
}

// renderedDeployments picks the two Deployments out of rendered objects.
func renderedDeployments(t *testing.T, objs []renderedObject) (loops, admission *appsv1.Deployment) {
	t.Helper()
	byName := map[string]*appsv1.Deployment{}
	for _, o := range objs {
		if o.Kind == "Deployment" {
			d := &appsv1.Deployment{}
			if err := yaml.Unmarshal(o.raw, d); err != nil {
				t.Fatal(err)
			}
			byName[d.Name] = d
		}
	}
	if len(byName) != 2 || byName["tailor"] == nil || byName["tailor-admission"] == nil {
		t.Fatalf("rendered Deployments %v, want tailor and tailor-admission", slices.Collect(maps.Keys(byName)))
	}
	return byName["tailor"], byName["tailor-admission"]
}

// loopsServe runs one replica of the installed loops Deployment d (its
// args, as its ServiceAccount) and checks that it, and not an admission
// replica, holds the leader Lease: the admission replicas take no part.
func loopsServe(t *testing.T, d *appsv1.Deployment, admission []*instance) *instance {
	t.Helper()
	inst := runInstalled(t, d, 0, t.TempDir())
	waitReady(t, inst)
	eventually(t, 60*time.Second, func(context.Context) (bool, string) {
		return strings.Contains(inst.out.String(), "elected leader"), "the loops replica is not the leader yet"
	})
	for _, a := range admission {
		if out := a.out.String(); !strings.Contains(out, "does not take part in leader election") || strings.Contains(out, "elected leader") {
			t.Errorf("an admission replica took part in leader election:\n%s", out)
		}
	}
	return inst
}

// routeWebhookToLoopback makes the installed Service reachable without
// kube-proxy: an ExternalName Service for 127.0.0.1 on port, and the
// webhook configurations' service port set to it. Names, paths, TLS server
// name (tailor-webhook.tailor-system.svc) and caBundle stay as installed.
func routeWebhookToLoopback(t *testing.T, port int) {
	t.Helper()
	ctx := context.Background()
	cs := env.Clientset()
	if err := cs.CoreV1().Services("tailor-system").Delete(ctx, "tailor-webhook", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "tailor-webhook", Namespace: "tailor-system"},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "127.0.0.1", Ports: []corev1.ServicePort{{Name: "https", Port: int32(port)}}},
	}
	if _, err := cs.CoreV1().Services("tailor-system").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	patch := []byte(fmt.Sprintf(`[{"op":"replace","path":"/webhooks/0/clientConfig/service/port","value":%d}]`, port))
	if _, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Patch(ctx, "tailor", types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Patch(ctx, "tailor", types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	// kwok would only pretend to run the installed replicas; the real
	// servers are the processes the test starts from the same args.
	// A merge patch on the scale subresource: no resourceVersion, so the
	// Deployment controller's own status writes cannot make it conflict.
	for _, name := range []string{"tailor", "tailor-admission"} {
		if _, err := cs.AppsV1().Deployments("tailor-system").Patch(ctx, name, types.MergePatchType, []byte(`{"spec":{"replicas":0}}`), metav1.PatchOptions{}, "scale"); err != nil {
			t.Fatal(err)
		}
	}
}

// rbacSuffices reads the API server's audit log for every request Tailor
// made as each of its ServiceAccounts (tailor: the loops; tailor-admission:
// the webhooks) since start: none may have been refused (the shipped RBAC
// grants what the code uses), and each made some. The calls are logged,
// grouped, to set beside the rules.
func rbacSuffices(t *testing.T, since time.Time) {
	t.Helper()
	for _, sa := range []string{"tailor", "tailor-admission"} {
		user := cluster.ServiceAccountPrefix + "tailor-system:" + sa
		reqs, err := env.AuditRequests(user, since)
		if err != nil {
			t.Fatal(err)
		}
		if len(reqs) == 0 {
			t.Fatalf("no audited request from %s: is the audit policy in force, did its replica run?", user)
		}
		used := map[string]int{}
		for _, r := range reqs {
			res := r.Resource
			if r.Subresource != "" {
				res += "/" + r.Subresource
			}
			key := fmt.Sprintf("%s %s.%s", r.Verb, res, r.APIGroup)
			used[key]++
			// 403 is also NamespaceLifecycle's answer in a namespace being
			// deleted (another test's, cleaning up): not an RBAC refusal.
			if r.Code == http.StatusForbidden && !strings.Contains(r.Message, "being terminated") {
				t.Errorf("RBAC refused %s %s %s %s/%s (%s): the shipped rules miss a permission the code uses", sa, r.Verb, res, r.Namespace, r.Name, r.Message)
			}
		}
		keys := make([]string, 0, len(used))
		for k := range used {
			keys = append(keys, fmt.Sprintf("%s ×%d", k, used[k]))
		}
		slices.Sort(keys)
		t.Logf("%d requests as %s: %s", len(reqs), user, strings.Join(keys, "; "))
	}
}

// runInstalled starts tailor with the installed Deployment's args, as its
// ServiceAccount (so the process runs with exactly the shipped RBAC and the
// audit log records its requests under that name), with loopback ports and certDir overriding the in-cluster
// ones; extra args follow.
func runInstalled(t *testing.T, d *appsv1.Deployment, webhookPort int, certDir string, extra ...string) *instance {
	t.Helper()
	c := d.Spec.Template.Spec.Containers[0]
	inst := newInstance(t)
	inst.webhook = "https://127.0.0.1:" + strconv.Itoa(webhookPort)
	inst.metrics = "https" + strings.TrimPrefix(inst.metrics, "http") // the shipped --metrics-secure
	args := append(append([]string{}, c.Args...), "--kubeconfig", tokenKubeconfig(t, "tailor-system", d.Spec.Template.Spec.ServiceAccountName), "--cert-dir", certDir)
	args = append(args, inst.loopbackArgs()...)
	args = append(args, extra...)
	if args[0] != "run" {
		t.Fatalf("installed args %v do not start with run", c.Args)
	}
	inst.cmd = exec.Command(tailorBin, args...)
	inst.cmd.Env = append(os.Environ(), "POD_NAMESPACE=tailor-system")
	startInstance(t, inst)
	return inst
}

func waitCABundles(t *testing.T) {
	t.Helper()
	eventually(t, 60*time.Second, func(ctx context.Context) (bool, string) {
		m, err := env.Clientset().AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "tailor", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		v, err := env.Clientset().AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "tailor", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return len(m.Webhooks[0].ClientConfig.CABundle) > 0 && len(v.Webhooks[0].ClientConfig.CABundle) > 0, "caBundle empty"
	})
}

// hamsterThroughInstall proves the installed configuration sizes pods.
func hamsterThroughInstall(t *testing.T) {
	t.Helper()
	ns := namespace(t, map[string]string{enabledLabel: "true"})
	createVPAWithTarget(t, ns, hamsterVPA(vpav1.UpdateModeRecreate), "587m", "262144k")
	assertResources(t, hamster(t, ns, nil), corev1.ResourceRequirements{Requests: rl("587m", "262144k")})
}

func TestInstallSelfSigned(t *testing.T) {
	start := time.Now()
	loops, d := install(t, render(t, "self-signed"))
	// Two admission replicas at once agree on one bootstrapped Secret.
	// Pairs live 45 s, so the test sees a renewal (at 30 s) too.
	replicas, secret := selfSignedServes(t, d, 2, "--cert-validity=45s")
	loopsServe(t, loops, replicas)
	hamsterThroughInstall(t)
	metricsNeedAuthorization(t, replicas[0])
	rotationRefusesNothing(t, secret.Data["tls.crt"], strings.TrimPrefix(replicas[0].webhook, "https://"))
	caBundleRestored(t)
	rbacSuffices(t, start)
}

// selfSignedServes runs n replicas of an installed self-signed Deployment d
// (its args, as its ServiceAccount, the webhook routed to loopback; extra
// args follow) and checks that they agree on one bootstrapped Secret: each
// serves the pair it holds, whose CA is the installed caBundle, and the
// Secret holds no private key but the serving one.
func selfSignedServes(t *testing.T, d *appsv1.Deployment, n int, extra ...string) ([]*instance, *corev1.Secret) {
	t.Helper()
	ports, err := cluster.FreePorts(n)
	if err != nil {
		t.Fatal(err)
	}
	routeWebhookToLoopback(t, ports[0])
	var dirs []string
	var replicas []*instance
	for i := range n {
		dirs = append(dirs, t.TempDir())
		replicas = append(replicas, runInstalled(t, d, ports[i], dirs[i], extra...))
	}
	for _, r := range replicas {
		waitReady(t, r)
	}
	waitCABundles(t)
	secret, err := env.Clientset().CoreV1().Secrets("tailor-system").Get(context.Background(), "tailor-webhook-cert", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range dirs {
		served, err := os.ReadFile(filepath.Join(dir, "tls.crt"))
		if err != nil || !bytes.Equal(served, secret.Data["tls.crt"]) {
			t.Errorf("replica in %s serves a pair other than the Secret's (%v)", dir, err)
		}
	}
	m, err := env.Clientset().AdmissionregistrationV1().MutatingWebhookConfigurations().Get(context.Background(), "tailor", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Webhooks[0].ClientConfig.CABundle, secret.Data["ca.crt"]) {
		t.Error("caBundle is not the Secret's CA")
	}
	for k, v := range secret.Data {
		if k != "tls.key" && bytes.Contains(v, []byte("PRIVATE KEY")) {
			t.Errorf("Secret key %s holds a private key: only the serving key may be stored", k)
		}
	}
	return replicas, secret
}

// metricsNeedAuthorization: the installed /metrics answers only callers the
// API server authenticates and authorizes for GET /metrics — here a
// ServiceAccount bound to the shipped tailor-metrics-reader role, as a
// Prometheus would be.
func metricsNeedAuthorization(t *testing.T, inst *instance) {
	t.Helper()
	ctx := context.Background()
	cs := env.Clientset()
	token := func(sa string) string {
		expiry := int64(600)
		tr, err := cs.CoreV1().ServiceAccounts("tailor-system").CreateToken(ctx, sa,
			&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tr.Status.Token
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "prometheus", Namespace: "tailor-system"}}
	if _, err := cs.CoreV1().ServiceAccounts("tailor-system").Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "prometheus-reads-tailor"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "tailor-metrics-reader"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "prometheus", Namespace: "tailor-system"}},
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cs.RbacV1().ClusterRoleBindings().Delete(context.Background(), binding.Name, metav1.DeleteOptions{})
		_ = cs.CoreV1().ServiceAccounts("tailor-system").Delete(context.Background(), sa.Name, metav1.DeleteOptions{})
	})
	// The manager starts the metrics server beside the probes: /readyz may
	// answer before /metrics listens.
	eventually(t, 30*time.Second, func(context.Context) (bool, string) {
		_, _, err := getAs(inst.metrics+"/metrics", "")
		return err == nil, fmt.Sprintf("/metrics: %v", err)
	})
	if code, _, err := getAs(inst.metrics+"/metrics", ""); err != nil || code != http.StatusUnauthorized {
		t.Errorf("/metrics without a token: %d %v, want 401", code, err)
	}
	if code, _, err := getAs(inst.metrics+"/metrics", token("tailor")); err != nil || code != http.StatusForbidden {
		t.Errorf("/metrics as a ServiceAccount without the reader role: %d %v, want 403", code, err)
	}
	eventually(t, 30*time.Second, func(context.Context) (bool, string) {
		code, body, err := getAs(inst.metrics+"/metrics", token("prometheus"))
		return err == nil && code == http.StatusOK && strings.Contains(body, "tailor_"), fmt.Sprintf("/metrics as the reader: %d %v", code, err)
	})
	if code, _, err := get(strings.Replace(inst.metrics, "https", "http", 1) + "/metrics"); err == nil && code == http.StatusOK {
		t.Error("/metrics answers plain HTTP")
	}
}

// rotationRefusesNothing writes VPAs through the fail-closed validating
// webhook while the bootstrapped pair is renewed (new CA, old one kept in
// the bundle) and the replica switches to it: not one write may be refused.
func rotationRefusesNothing(t *testing.T, oldCert []byte, addr string) {
	t.Helper()
	ctx := context.Background()
	ns := namespace(t, map[string]string{enabledLabel: "true"})
	vc := vpaclient.NewForConfigOrDie(env.RESTConfig())
	stop := make(chan struct{})
	var writes, refused int
	var lastErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			v := hamsterVPA(vpav1.UpdateModeOff)
			v.Name = fmt.Sprintf("rotation-%d", i)
			writes++
			if _, err := vc.AutoscalingV1().VerticalPodAutoscalers(ns).Create(ctx, v, metav1.CreateOptions{}); err != nil {
				refused++
				lastErr = err
			}
		}
	}()
	oldSerial := ""
	if c, err := parseCertPEM(oldCert); err == nil {
		oldSerial = c.SerialNumber.String()
	}
	var newSecret *corev1.Secret
	eventually(t, 60*time.Second, func(ctx context.Context) (bool, string) {
		s, err := env.Clientset().CoreV1().Secrets("tailor-system").Get(ctx, "tailor-webhook-cert", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		newSecret = s
		return !bytes.Equal(s.Data["tls.crt"], oldCert), "pair not renewed yet"
	})
	if n := bytes.Count(newSecret.Data["ca.crt"], []byte("BEGIN CERTIFICATE")); n != 2 {
		t.Errorf("during the switch the bundle holds %d CAs, want the new one and the old one", n)
	}
	newLeaf, err := parseCertPEM(newSecret.Data["tls.crt"])
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func(context.Context) (bool, string) {
		got, err := servedSerial(addr)
		return err == nil && got == newLeaf.SerialNumber.String(), fmt.Sprintf("served %s (old %s) %v", got, oldSerial, err)
	})
	time.Sleep(3 * time.Second) // writes against the new pair too
	close(stop)
	<-done
	t.Logf("%d VPA writes through the fail-closed webhook across the renewal, %d refused", writes, refused)
	if refused > 0 || writes < 20 {
		t.Errorf("%d of %d writes refused across a CA rotation (last: %v)", refused, writes, lastErr)
	}
}

// caBundleRestored: a webhook configuration re-applied without caBundle (as
// kubectl apply of the shipped manifests does) or deleted and created again
// gets Tailor's bundle back within seconds, without a restart.
func caBundleRestored(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	reg := env.Clientset().AdmissionregistrationV1()
	v, err := reg.ValidatingWebhookConfigurations().Get(ctx, "tailor", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range v.Webhooks {
		v.Webhooks[i].ClientConfig.CABundle = nil
	}
	if _, err := reg.ValidatingWebhookConfigurations().Update(ctx, v, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	m, err := reg.MutatingWebhookConfigurations().Get(ctx, "tailor", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.MutatingWebhookConfigurations().Delete(ctx, "tailor", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	m.ResourceVersion, m.UID = "", ""
	for i := range m.Webhooks {
		m.Webhooks[i].ClientConfig.CABundle = nil
	}
	if _, err := reg.MutatingWebhookConfigurations().Create(ctx, m, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitCABundles(t)
	t.Logf("caBundles restored %s after the configurations lost them", time.Since(start).Round(100*time.Millisecond))
}

func parseCertPEM(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("no PEM block")
	}
	return x509.ParseCertificate(block.Bytes)
}

func waitReady(t *testing.T, inst *instance) {
	t.Helper()
	eventually(t, 60*time.Second, func(context.Context) (bool, string) {
		code, body, err := get(inst.probe + "/readyz")
		return err == nil && code == 200, fmt.Sprintf("/readyz: %d %q %v", code, body, err)
	})
}

// servedSerial dials addr and returns the serial of the certificate served.
func servedSerial(addr string) (string, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // reading the served certificate only
	if err != nil {
		return "", err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
}

func TestServingCertificateReloadsOnRotation(t *testing.T) {
	inst := readyTailor(t)
	addr := strings.TrimPrefix(inst.webhook, "https://")
	before, err := servedSerial(addr)
	if err != nil {
		t.Fatal(err)
	}
	_, kp, err := certs.WriteLoopbackPair(inst.certDir, "tailor-rotated", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	want := kp.Cert.SerialNumber.String()
	rotated := time.Now()
	eventually(t, 30*time.Second, func(context.Context) (bool, string) {
		got, err := servedSerial(addr)
		return err == nil && got == want, fmt.Sprintf("served serial %s (before %s, want %s) %v", got, before, want, err)
	})
	t.Logf("new certificate served %s after the files changed, same process", time.Since(rotated).Round(100*time.Millisecond))
	select {
	case <-inst.done:
		t.Fatal("tailor exited")
	default:
	}
}

func TestInstallCertManager(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	if err := env.StartCertManager(ctx); err != nil {
		t.Fatal(err)
	}
	loops, d := install(t, render(t, "cert-manager"))
	ports, err := cluster.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	routeWebhookToLoopback(t, ports[0])

	// cert-manager issues the pair into the Secret the Deployment mounts;
	// the kubelet's Secret volume is played by copying it into a folder.
	var secret *corev1.Secret
	eventually(t, 60*time.Second, func(ctx context.Context) (bool, string) {
		s, err := env.Clientset().CoreV1().Secrets("tailor-system").Get(ctx, "tailor-webhook-cert", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		secret = s
		return len(s.Data["tls.crt"]) > 0, "Secret has no tls.crt yet"
	})
	certDir := t.TempDir()
	for _, k := range []string{"tls.crt", "tls.key"} {
		if err := os.WriteFile(filepath.Join(certDir, k), secret.Data[k], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	inst := runInstalled(t, d, ports[0], certDir)
	waitReady(t, inst)
	loopsServe(t, loops, []*instance{inst})
	waitCABundles(t)
	m, err := env.Clientset().AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "tailor", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Webhooks[0].ClientConfig.CABundle, secret.Data["ca.crt"]) {
		t.Error("the cainjector's caBundle is not the Certificate's CA")
	}
	hamsterThroughInstall(t)

	// A Certificate that cannot be issued: Tailor stays unready and its log
	// says why, in cert-manager's words.
	broken := []byte(`apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: broken, namespace: tailor-system}
spec:
  secretName: broken-cert
  dnsNames: [broken.tailor-system.svc]
  issuerRef: {name: no-such-issuer, kind: Issuer}
`)
	kubectl(t, broken, "apply", "-f", "-")
	waiting := runInstalled(t, d, 0, certDir, "--cert-manager-certificate=tailor-system/broken")
	eventually(t, 60*time.Second, func(context.Context) (bool, string) {
		out := waiting.out.String()
		return strings.Contains(out, "waiting for the cert-manager Certificate") && strings.Contains(out, "no-such-issuer"), "log does not explain yet:\n" + out
	})
	if code, body, err := get(waiting.probe + "/readyz"); err != nil || code == 200 {
		t.Fatalf("readyz %d %q %v while the Certificate is not Ready", code, body, err)
	}
	rbacSuffices(t, start)
}

// Every overlay renders, and the args its Deployment passes are flags that
// "tailor run" accepts (an unknown flag would crash-loop the install).
func TestOverlaysRenderWithKnownFlags(t *testing.T) {
	t.Parallel() // renders and runs tailor --help: nothing on the cluster
	for _, overlay := range []string{"self-signed", "cert-manager", "eks"} {
		t.Run(overlay, func(t *testing.T) {
			loops, admission := renderedDeployments(t, render(t, overlay))
			for _, d := range []*appsv1.Deployment{loops, admission} {
				// Every overlay deploys the release this tree is, never :latest.
				if img, want := d.Spec.Template.Spec.Containers[0].Image, "ghcr.io/tailor-dev/tailor:"+releaseVersion(t); img != want {
					t.Errorf("%s: image %s, want %s", d.Name, img, want)
				}
				args := append(append([]string{}, d.Spec.Template.Spec.Containers[0].Args...), "--help")
				if code, out := runTailor(t, 10*time.Second, args...); code != 0 {
					t.Fatalf("%s: tailor %v: exit %d\n%s", d.Name, args, code, out)
				}
			}
			// The loops are the leader's and serve no webhook; the
			// admission replicas serve nothing else.
			if args := strings.Join(admission.Spec.Template.Spec.Containers[0].Args, " "); !strings.Contains(args, "--components=webhook ") {
				t.Errorf("tailor-admission args %q: want --components=webhook", args)
			}
			if args := strings.Join(loops.Spec.Template.Spec.Containers[0].Args, " "); strings.Contains(args, "webhook") || !strings.Contains(args, "--components=recommender,scaler,updater") {
				t.Errorf("tailor args %q: want the loops without the webhook", args)
			}
		})
	}
}

// releaseVersion is what `make -s version` prints.
func releaseVersion(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("make", "-s", "-C", filepath.Join("..", ".."), "version").Output()
	if err != nil || len(strings.TrimSpace(string(out))) == 0 {
		t.Fatalf("make version: %q %v", out, err)
	}
	return strings.TrimSpace(string(out))
}
