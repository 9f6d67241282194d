package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/util/jsonpath"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	scalerv1 "github.com/tailor-dev/tailor/scaler/api/v1alpha1"
)

// raClient is a controller-runtime client that knows ReplicaAutoscalers.
func raClient(t *testing.T) client.Client {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := scalerv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(env.RESTConfig(), client.Options{Scheme: s})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func deploymentRef(name string) autoscalingv2.CrossVersionObjectReference {
	return autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: name}
}

// cpuRA is the seed's "kubectl autoscale deployment php-apache
// --cpu-percent=50 --min=1 --max=10" as a ReplicaAutoscaler.
func cpuRA(name string, target autoscalingv2.CrossVersionObjectReference) *scalerv1.ReplicaAutoscaler {
	return &scalerv1.ReplicaAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: scalerv1.ReplicaAutoscalerSpec{
			ScaleTargetRef: target, MinReplicas: ptr.To[int32](1), MaxReplicas: 10,
			Metrics: []scalerv1.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](50)}}}},
		},
	}
}

// promRA scales target on a Prometheus query kept at 100 per pod.
func promRA(name, target, query string) *scalerv1.ReplicaAutoscaler {
	return &scalerv1.ReplicaAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: scalerv1.ReplicaAutoscalerSpec{
			ScaleTargetRef: deploymentRef(target), MaxReplicas: 10,
			Metrics: []scalerv1.MetricSpec{{Type: scalerv1.PrometheusMetricSourceType, Prometheus: &scalerv1.PrometheusMetricSource{
				Query: query, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr.To(resource.MustParse("100"))}}}},
		},
	}
}

func raCondition(ra *scalerv1.ReplicaAutoscaler, typ autoscalingv2.HorizontalPodAutoscalerConditionType) *autoscalingv2.HorizontalPodAutoscalerCondition {
	for i := range ra.Status.Conditions {
		if ra.Status.Conditions[i].Type == typ {
			return &ra.Status.Conditions[i]
		}
	}
	return nil
}

// waitRACondition waits until the named ReplicaAutoscaler has condition typ
// with status and a message containing msg, and returns it.
func waitRACondition(t *testing.T, c client.Client, ns, name string, typ autoscalingv2.HorizontalPodAutoscalerConditionType, status corev1.ConditionStatus, reason, msg string) *scalerv1.ReplicaAutoscaler {
	t.Helper()
	ra := &scalerv1.ReplicaAutoscaler{}
	eventually(t, 30*time.Second, func(ctx context.Context) (bool, string) {
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, ra); err != nil {
			return false, err.Error()
		}
		cond := raCondition(ra, typ)
		if cond == nil || cond.Status != status || cond.Reason != reason || !strings.Contains(cond.Message, msg) {
			return false, fmt.Sprintf("%s conditions %+v; want %s=%s %s %q", name, ra.Status.Conditions, typ, status, reason, msg)
		}
		return true, ""
	})
	return ra
}

func specReplicas(t *testing.T, ns, name string) int32 {
	t.Helper()
	d, err := env.Clientset().AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return *d.Spec.Replicas
}

// printerColumns evaluates the CRD's printer columns (what kubectl get ra
// prints) with kubectl's JSONPath on the object as the API serves it.
func printerColumns(t *testing.T, c client.Client, ns, name string) map[string]string {
	t.Helper()
	u := map[string]any{}
	ra := &scalerv1.ReplicaAutoscaler{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, ra); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(ra)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &u); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for col, expr := range map[string]string{"REFERENCE": ".status.reference", "TARGETS": ".status.targets", "MINPODS": ".spec.minReplicas", "MAXPODS": ".spec.maxReplicas", "REPLICAS": ".status.currentReplicas"} {
		jp := jsonpath.New(col)
		if err := jp.Parse("{" + expr + "}"); err != nil {
			t.Fatal(err)
		}
		var sb strings.Builder
		if err := jp.Execute(&sb, u); err != nil {
			t.Fatalf("%s %s: %v", col, expr, err)
		}
		out[col] = sb.String()
	}
	return out
}

// waitEventMessage waits for an Event with reason about the named object
// whose note contains msg.
func waitEventMessage(t *testing.T, ns, reason, regarding, msg string) {
	t.Helper()
	eventually(t, 30*time.Second, func(ctx context.Context) (bool, string) {
		evs, err := env.Clientset().EventsV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		var notes []string
		for _, e := range evs.Items {
			if e.Reason == reason && e.Regarding.Name == regarding {
				if strings.Contains(e.Note, msg) {
					return true, ""
				}
				notes = append(notes, e.Note)
			}
		}
		return false, fmt.Sprintf("%s events about %s: %q, none with %q", reason, regarding, notes, msg)
	})
}

// fakePrometheus speaks the Prometheus HTTP API's /api/v1/query on
// 127.0.0.1: "broken(" fails to parse, "many" returns two series, anything
// else one series of value 300.
func fakePrometheus(t *testing.T) (string, *queryLog) {
	t.Helper()
	seen := &queryLog{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/query" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		now := float64(time.Now().Unix())
		series := func(pod, v string) map[string]any {
			return map[string]any{"metric": map[string]string{"__name__": "http_requests", "pod": pod}, "value": []any{now, v}}
		}
		var resp map[string]any
		q := r.FormValue("query")
		seen.add(q)
		switch {
		case strings.HasPrefix(q, "failing{"):
			w.WriteHeader(http.StatusUnprocessableEntity)
			resp = map[string]any{"status": "error", "errorType": "execution", "error": "query processing would load too many samples into memory"}
		case strings.HasPrefix(q, "many{"):
			resp = map[string]any{"status": "success", "data": map[string]any{"resultType": "vector", "result": []any{series("a", "1"), series("b", "2")}}}
		default:
			resp = map[string]any{"status": "success", "data": map[string]any{"resultType": "vector", "result": []any{series("", "300")}}}
		}
		_ = json.NewEncoder(w).Encode(resp)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, seen
}

// queryLog is what the fake Prometheus was asked.
type queryLog struct {
	mu      sync.Mutex
	queries []string
}

func (l *queryLog) add(q string) { l.mu.Lock(); l.queries = append(l.queries, q); l.mu.Unlock() }

func (l *queryLog) has(q string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Contains(l.queries, q)
}

// TestScalerBadInput: targets that cannot be scaled and Prometheus queries
// that fail are reported in the conditions and leave replicas alone; a
// good query scales; an HPA on the target is refused at admission and
// reported when it comes after.
func TestScalerBadInput(t *testing.T) {
	t.Parallel() // own namespaces and Tailor (testLabel)
	ctx := context.Background()
	prom, asked := fakePrometheus(t)
	inst := readyTailor(t, "--components=scaler,webhook", "--scaler-interval=2s", "--prometheus-address", prom)
	registerWebhooks(t, inst)
	ns := namespace(t, nil)
	c := raClient(t)
	for _, name := range []string{"web-a", "web-b", "web-c", "web-d", "web-e", "web-h"} {
		if _, err := env.Clientset().AppsV1().Deployments(ns).Create(ctx, deployment(name, 2, rl("100m", "50Mi")), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings"}}
	if _, err := env.Clientset().CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	create := func(ra *scalerv1.ReplicaAutoscaler) {
		t.Helper()
		ra.Namespace = ns
		if err := c.Create(ctx, ra); err != nil {
			t.Fatalf("create %s: %v", ra.Name, err)
		}
	}

	t.Run("target does not exist", func(t *testing.T) {
		create(cpuRA("missing", deploymentRef("nope")))
		ra := waitRACondition(t, c, ns, "missing", autoscalingv2.AbleToScale, corev1.ConditionFalse, "FailedGetScale", `deployments.apps "nope" not found`)
		t.Logf("condition: %s", raCondition(ra, autoscalingv2.AbleToScale).Message)
		waitEvent(t, ns, "FailedGetScale", "missing")
	})
	t.Run("kind without a scale subresource", func(t *testing.T) {
		create(cpuRA("configmap", autoscalingv2.CrossVersionObjectReference{APIVersion: "v1", Kind: "ConfigMap", Name: "settings"}))
		ra := waitRACondition(t, c, ns, "configmap", autoscalingv2.AbleToScale, corev1.ConditionFalse, "FailedGetScale", "ConfigMap has no scale subresource")
		t.Logf("condition: %s", raCondition(ra, autoscalingv2.AbleToScale).Message)
	})
	t.Run("a query that is not PromQL is refused at admission", func(t *testing.T) {
		ra := promRA("prom-broken", "web-a", "broken(")
		ra.Namespace = ns
		err := c.Create(ctx, ra)
		if err == nil || !strings.Contains(err.Error(), "spec.metrics[0].prometheus.query") || !strings.Contains(err.Error(), "not PromQL") {
			t.Fatalf("create: %v, want a refusal naming spec.metrics[0].prometheus.query", err)
		}
	})
	t.Run("prometheus query errors", func(t *testing.T) {
		create(promRA("prom-error", "web-a", "failing"))
		ra := waitRACondition(t, c, ns, "prom-error", autoscalingv2.ScalingActive, corev1.ConditionFalse, "FailedGetPrometheusMetric", "too many samples")
		t.Logf("condition: %s", raCondition(ra, autoscalingv2.ScalingActive).Message)
		waitEvent(t, ns, "FailedComputeMetricsReplicas", "prom-error")
	})
	t.Run("a query for another namespace's series is refused", func(t *testing.T) {
		create(promRA("prom-other-ns", "web-e", `sum(up{namespace="kube-system"})`))
		ra := waitRACondition(t, c, ns, "prom-other-ns", autoscalingv2.ScalingActive, corev1.ConditionFalse, "FailedGetPrometheusMetric", `reads only series with namespace="`+ns+`"`)
		t.Logf("condition: %s", raCondition(ra, autoscalingv2.ScalingActive).Message)
		if asked.has(`sum(up{namespace="kube-system"})`) {
			t.Error("the query reached Prometheus unscoped")
		}
	})
	t.Run("prometheus query returns several series", func(t *testing.T) {
		create(promRA("prom-many", "web-b", "many"))
		ra := waitRACondition(t, c, ns, "prom-many", autoscalingv2.ScalingActive, corev1.ConditionFalse, "FailedGetPrometheusMetric", "query returned 2 series, want exactly one")
		t.Logf("condition: %s", raCondition(ra, autoscalingv2.ScalingActive).Message)
	})
	t.Run("prometheus query scales", func(t *testing.T) {
		// 300 at 100 per pod: 3 replicas.
		create(promRA("prom-good", "web-c", "sum(rate(http_requests_total[1m]))"))
		eventually(t, 30*time.Second, func(context.Context) (bool, string) {
			n := specReplicas(t, ns, "web-c")
			return n == 3, fmt.Sprintf("web-c at %d replicas, want 3", n)
		})
		waitEventMessage(t, ns, "SuccessfulRescale", "prom-good", "New size: 3; reason: prometheus query sum(rate(http_requests_total[1m])) above target; metrics: prometheus ")
		// What reached Prometheus is confined to the object's namespace.
		if want := `sum(rate(http_requests_total{namespace="` + ns + `"}[1m]))`; !asked.has(want) {
			t.Errorf("Prometheus was never asked %s", want)
		}
	})
	// Let a few passes go by: the failing autoscalers' targets are untouched.
	waitPasses(t, inst, "scaler", 3)
	for _, name := range []string{"web-a", "web-b"} {
		if n := specReplicas(t, ns, name); n != 2 {
			t.Errorf("%s has %d replicas, want the untouched 2", name, n)
		}
	}

	t.Run("HPA on the target is refused", func(t *testing.T) {
		hpa := &autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Name: "web-h"},
			Spec:       autoscalingv2.HorizontalPodAutoscalerSpec{ScaleTargetRef: deploymentRef("web-h"), MinReplicas: ptr.To[int32](2), MaxReplicas: 2},
		}
		if _, err := env.Clientset().AutoscalingV2().HorizontalPodAutoscalers(ns).Create(ctx, hpa, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		ra := cpuRA("web-h", deploymentRef("web-h"))
		ra.Namespace = ns
		var err error
		// The webhook reads HPAs from its cache: allow it a moment to see the new one.
		eventually(t, 10*time.Second, func(ctx context.Context) (bool, string) {
			err = c.Create(ctx, ra.DeepCopy())
			if err == nil {
				_ = c.Delete(ctx, ra.DeepCopy())
				return false, "created"
			}
			return strings.Contains(err.Error(), "already has the HorizontalPodAutoscaler web-h"), err.Error()
		})
		t.Logf("refused: %v", err)
	})
	t.Run("HPA added after the autoscaler is reported", func(t *testing.T) {
		create(cpuRA("web-d", deploymentRef("web-d")))
		hpa := &autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Name: "web-d-hpa"},
			Spec:       autoscalingv2.HorizontalPodAutoscalerSpec{ScaleTargetRef: deploymentRef("web-d"), MinReplicas: ptr.To[int32](2), MaxReplicas: 2},
		}
		if _, err := env.Clientset().AutoscalingV2().HorizontalPodAutoscalers(ns).Create(ctx, hpa, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		ra := waitRACondition(t, c, ns, "web-d", autoscalingv2.AbleToScale, corev1.ConditionFalse, "ConflictingHPA", "also scaled by HorizontalPodAutoscaler web-d-hpa")
		t.Logf("condition: %s", raCondition(ra, autoscalingv2.AbleToScale).Message)
	})
}
