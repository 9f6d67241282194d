package demo

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/tailor-dev/tailor/cmd/tailor/sandbox/load"
	scalerv1 "github.com/tailor-dev/tailor/scaler/api/v1alpha1"
)

// The seed's php-apache: request 200m (SeedHPA.RequestMilli), limit
// 500m, "about 600m" of load (SeedHPA.LoadMilli).
var (
	phpRequest = resource.NewMilliQuantity(SeedHPA.RequestMilli, resource.DecimalSI).String()
	phpLoad    = resource.NewMilliQuantity(SeedHPA.LoadMilli, resource.DecimalSI).String()
)

const (
	phpLimit = "500m"
	// phpScaleDownWindow shortens upstream's 5-minute scale-down
	// stabilization so the demo runs in minutes.
	phpScaleDownWindow = 20
)

// PhpApacheRA is the seed's "kubectl autoscale deployment php-apache
// --cpu-percent=50 --min=1 --max=10" as a ReplicaAutoscaler, with the
// demo's short scale-down window.
func PhpApacheRA() *scalerv1.ReplicaAutoscaler {
	return &scalerv1.ReplicaAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "php-apache"},
		Spec: scalerv1.ReplicaAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "php-apache"},
			MinReplicas:    ptr.To(SeedHPA.Min), MaxReplicas: SeedHPA.Max,
			Metrics: []scalerv1.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(SeedHPA.Target)}}}},
			Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To[int32](phpScaleDownWindow)}},
		},
	}
}

// hpaPoint reads the autoscaler's status as a point.
func hpaPoint(ra *scalerv1.ReplicaAutoscaler, at time.Duration, phase Phase) HPAPoint {
	p := HPAPoint{At: at, Phase: phase, Replicas: ra.Status.CurrentReplicas, Desired: ra.Status.DesiredReplicas, Utilization: UnknownUtilization}
	if m := ra.Status.CurrentMetrics; len(m) > 0 && m[0].Resource != nil && m[0].Resource.Current.AverageUtilization != nil {
		p.Utilization = *m[0].Resource.Current.AverageUtilization
	}
	return p
}

func (r *Runner) hpa(ctx context.Context) Result {
	const name = "hpa"
	ns, cleanup, err := r.namespace(ctx, name, false)
	if err != nil {
		return Result{Failures: []string{err.Error()}}
	}
	defer cleanup()
	fail := func(step string, err error) Result { return failed(ns, "", step, err) }
	pod := corev1.PodSpec{Containers: []corev1.Container{{Name: "php-apache", Image: "registry.k8s.io/hpa-example",
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(phpRequest)},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(phpLimit)}}}}}
	if _, err := r.cs.AppsV1().Deployments(ns).Create(ctx, deployment("php-apache", 1, pod, nil), metav1.CreateOptions{}); err != nil {
		return fail("create php-apache", err)
	}
	ra := PhpApacheRA()
	ra.Namespace = ns
	if err := r.c.Create(ctx, ra); err != nil {
		return fail("create the ReplicaAutoscaler", err)
	}
	r.say(name, "php-apache (cpu request %s, limit %s) with a ReplicaAutoscaler: 50%% CPU, 1..10 replicas, scale-down window %ds (upstream's default 5m, shortened for the demo)", phpRequest, phpLimit, phpScaleDownWindow)

	request := resource.MustParse(phpRequest)
	requestMilli := request.MilliValue()
	var points []HPAPoint
	phase := PhaseIdle
	// look records a point; its error says where the autoscaler stands, for
	// a poll that gives up.
	look := func(ctx context.Context) (HPAPoint, error) {
		cur := &scalerv1.ReplicaAutoscaler{}
		if err := r.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "php-apache"}, cur); err != nil {
			return HPAPoint{}, err
		}
		p := hpaPoint(cur, time.Since(r.start), phase)
		if n := len(points); n == 0 || points[n-1].Replicas != p.Replicas || points[n-1].Utilization != p.Utilization || points[n-1].Desired != p.Desired {
			r.say(name, "replicas %d (desired %d), cpu: %s/%d%%", p.Replicas, p.Desired, pct(p.Utilization), SeedHPA.Target)
		}
		points = append(points, p)
		r.rec.Add("php-apache replicas", p.At, float64(p.Replicas))
		if p.Utilization >= 0 {
			// Used CPU: the average utilisation of the request over the pods.
			r.rec.Add("php-apache CPU used", p.At, float64(p.Utilization)*float64(requestMilli)/100*float64(p.Replicas))
		}
		return p, fmt.Errorf("replicas %d (desired %d), cpu: %s/%d%%", p.Replicas, p.Desired, pct(p.Utilization), SeedHPA.Target)
	}

	// At rest: metrics-server reports a new pod after about 40 s.
	if err := r.poll(ctx, 4*time.Minute, func(ctx context.Context) (bool, error) {
		p, err := look(ctx)
		return p.Replicas == SeedHPA.Min && p.Utilization == 0, err
	}); err != nil {
		return fail("waiting for 0% at rest", err)
	}
	r.table(ctx, name, resRA, ns)

	phase = PhaseUp
	if err := load.SetDemand(ctx, r.c, appsv1.SchemeGroupVersion.WithKind("Deployment"), types.NamespacedName{Namespace: ns, Name: "php-apache"}, ptr.To(resource.MustParse(phpLoad)), nil); err != nil {
		return fail("load on", err)
	}
	r.say(name, "load generator on: %s in total over php-apache's ready pods (the seed's busybox loop)", phpLoad)
	if err := r.poll(ctx, 6*time.Minute, func(ctx context.Context) (bool, error) {
		_, err := look(ctx)
		// Settled: a few passes and a metrics-server scrape without change.
		return HPASettled(points, SeedHPA, time.Since(r.start), 15*time.Second), err
	}); err != nil {
		return fail("waiting to settle under load", err)
	}
	r.table(ctx, name, resRA, ns)

	phase = PhaseDown
	if err := load.RemoveDemand(ctx, r.c, appsv1.SchemeGroupVersion.WithKind("Deployment"), types.NamespacedName{Namespace: ns, Name: "php-apache"}); err != nil {
		return fail("load off", err)
	}
	r.say(name, "load generator off")
	if err := r.poll(ctx, 3*time.Minute, func(ctx context.Context) (bool, error) {
		p, err := look(ctx)
		// As the seed ends: 1 replica at 0%/50% (a pod just relieved of its
		// load reads 1% for a scrape or two).
		return p.Replicas == SeedHPA.Min && p.Desired == SeedHPA.Min && p.Utilization == 0, err
	}); err != nil {
		return fail("waiting for 1 replica after the load", err)
	}
	r.table(ctx, name, resRA, ns)
	what, fails := CheckHPA(points, SeedHPA)
	if evs, err := r.events(ctx, ns); err == nil {
		what += fmt.Sprintf(", %d SuccessfulRescale events", evs["SuccessfulRescale"])
	}
	return Result{Namespace: ns, What: what, Failures: fails}
}

func pct(u int32) string {
	if u < 0 {
		return "<unknown>"
	}
	return fmt.Sprintf("%d%%", u)
}
