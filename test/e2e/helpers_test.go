package e2e

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// namespace creates a namespace for one test and deletes it afterwards.
func namespace(t *testing.T, labels map[string]string) string {
	t.Helper()
	labels = maps.Clone(labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[testLabel] = testID(t)
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 50 {
		name = name[:50]
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: strings.TrimRight(name, "-") + "-", Labels: labels}}
	created, err := env.Clientset().CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() {
		_ = env.Clientset().CoreV1().Namespaces().Delete(context.Background(), created.Name, metav1.DeleteOptions{})
	})
	return created.Name
}

// testLabel gives each top-level test its own namespaces: the Tailor it
// starts acts only there (--namespace-selector, startTailor) and its webhook
// configurations select only them (registerWebhooks), so tests share the
// control plane and run side by side (t.Parallel).
const testLabel = "e2e.tailor.dev/test"

// scopeArgs confine a Tailor started by hand to the test's namespaces and
// NodePools (as startTailor does): tests that run the provisioner label
// their pools (testPool.create) and run side by side too.
func scopeArgs(t *testing.T) []string {
	return []string{"--namespace-selector", testLabel + "=" + testID(t), "--nodepool-selector", testLabel + "=" + testID(t)}
}

// own labels obj (a NodePool or AWSNodeClass) as the test's: its Tailor
// acts on it (--nodepool-selector) and its webhooks judge it.
func own[T interface {
	GetLabels() map[string]string
	SetLabels(map[string]string)
}](t *testing.T, obj T) T {
	l := maps.Clone(obj.GetLabels())
	if l == nil {
		l = map[string]string{}
	}
	l[testLabel] = testID(t)
	obj.SetLabels(l)
	return obj
}

// testID is the top-level test's value of testLabel.
func testID(t *testing.T) string {
	name, _, _ := strings.Cut(strings.ToLower(t.Name()), "/")
	if len(name) > 63 {
		name = name[:63]
	}
	return name
}

// eventually polls cond every 200ms until it holds or timeout passes; the
// last message cond returned explains a failure.
func eventually(t *testing.T, timeout time.Duration, cond func(ctx context.Context) (bool, string)) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		// Each attempt gets its own deadline, so the last one is not cut
		// short by the poll's and its message says what was wrong.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ok, msg := cond(ctx)
		last = msg
		return ok, nil
	})
	if err != nil {
		t.Fatalf("after %s: %s", timeout, last)
	}
}

// runningPods counts pods matching selector in ns that are Running and bound.
func runningPods(ctx context.Context, ns string, selector map[string]string) (int, error) {
	return runningPodsIn(ctx, env.Clientset(), ns, selector)
}

// runningPodsIn is runningPods on another cluster.
func runningPodsIn(ctx context.Context, cs kubernetes.Interface, ns string, selector map[string]string) (int, error) {
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(selector).String()})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning && p.Spec.NodeName != "" && p.DeletionTimestamp == nil {
			n++
		}
	}
	return n, nil
}

// waitEvent waits for an Event with reason about the named object in ns.
func waitEvent(t *testing.T, ns, reason, regarding string) {
	t.Helper()
	eventually(t, 30*time.Second, func(ctx context.Context) (bool, string) {
		evs, err := env.Clientset().EventsV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, e := range evs.Items {
			if e.Reason == reason && e.Regarding.Name == regarding {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d events, none %s about %s", len(evs.Items), reason, regarding)
	})
}

// waitPods waits until n pods match selector in ns and returns them.
func waitPods(t *testing.T, ns, selector string, n int) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	eventually(t, 30*time.Second, func(ctx context.Context) (bool, string) {
		list, err := env.Clientset().CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false, err.Error()
		}
		pods = list.Items
		return len(pods) == n, fmt.Sprintf("%d pods, want %d", len(pods), n)
	})
	return pods
}

// newPodAfter runs grow, which adds a replica, and returns the first pod
// matching selector in ns that was not there before.
func newPodAfter(t *testing.T, ns, selector string, grow func()) *corev1.Pod {
	t.Helper()
	pods, err := env.Clientset().CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	before := map[string]bool{}
	for _, p := range pods.Items {
		before[p.Name] = true
	}
	grow()
	var pod *corev1.Pod
	eventually(t, 30*time.Second, func(ctx context.Context) (bool, string) {
		pods, err := env.Clientset().CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false, err.Error()
		}
		for i := range pods.Items {
			if !before[pods.Items[i].Name] {
				pod = &pods.Items[i]
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d pods, none new", len(pods.Items))
	})
	return pod
}

// tokenKubeconfig is the test cluster's kubeconfig authenticating with a
// token of ServiceAccount ns/sa from the TokenRequest API, as a pod's
// projected token would.
func tokenKubeconfig(t *testing.T, ns, sa string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	expiry := int64(3600)
	tr, err := env.Clientset().CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), sa,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range cfg.AuthInfos {
		*a = clientcmdapi.AuthInfo{Token: tr.Status.Token}
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// passes reads how many passes component's loop has finished (the count of
// its tailor_<component>_sync_duration_seconds histogram).
func (i *instance) passes(component string) (int, error) {
	_, body, err := get(i.metrics + "/metrics")
	if err != nil {
		return 0, err
	}
	re := regexp.MustCompile(`(?m)^tailor_` + component + `_sync_duration_seconds_count (\d+)`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		return 0, fmt.Errorf("no tailor_%s_sync_duration_seconds_count in /metrics", component)
	}
	return strconv.Atoi(m[1])
}

// waitPasses waits until component's loop has run n more passes than now:
// a test that checks that "nothing changed" must first know the loop ran,
// or it passes even when the loop is stuck.
func waitPasses(t *testing.T, inst *instance, component string, n int) {
	t.Helper()
	start, err := inst.passes(component)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, func(context.Context) (bool, string) {
		got, err := inst.passes(component)
		return err == nil && got >= start+n, fmt.Sprintf("%s passes %d, want %d (%v)", component, got, start+n, err)
	})
}
