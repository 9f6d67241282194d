package e2e

import (
	"context"
	"fmt"
	"k8s.io/client-go/kubernetes"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
)

// namespace creates a namespace for one test and deletes it afterwards.
func namespace(t *testing.T, labels map[string]string) string {
	t.Helper()
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
