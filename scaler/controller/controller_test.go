package controller

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

func TestSetCondition(t *testing.T) {
	t0, t1 := metav1.NewTime(time.Unix(100, 0)), metav1.NewTime(time.Unix(200, 0))
	cond := func(typ autoscalingv2.HorizontalPodAutoscalerConditionType, st corev1.ConditionStatus, reason string, at metav1.Time) autoscalingv2.HorizontalPodAutoscalerCondition {
		return autoscalingv2.HorizontalPodAutoscalerCondition{Type: typ, Status: st, Reason: reason, LastTransitionTime: at}
	}
	start := []autoscalingv2.HorizontalPodAutoscalerCondition{cond(autoscalingv2.AbleToScale, corev1.ConditionTrue, "SucceededGetScale", t0)}

	// Same status, new reason: the transition time stays.
	got := SetCondition(start, cond(autoscalingv2.AbleToScale, corev1.ConditionTrue, "SucceededRescale", metav1.Time{}), t1)
	if len(got) != 1 || got[0].Reason != "SucceededRescale" || !got[0].LastTransitionTime.Equal(&t0) {
		t.Errorf("same status: %+v", got)
	}
	// Status flips: the transition time moves.
	got = SetCondition(start, cond(autoscalingv2.AbleToScale, corev1.ConditionFalse, "FailedGetScale", metav1.Time{}), t1)
	if got[0].Status != corev1.ConditionFalse || !got[0].LastTransitionTime.Equal(&t1) {
		t.Errorf("flip: %+v", got)
	}
	// A new type is appended; the input is not modified.
	got = SetCondition(start, cond(autoscalingv2.ScalingActive, corev1.ConditionTrue, "ValidMetricFound", metav1.Time{}), t1)
	if len(got) != 2 || got[1].Type != autoscalingv2.ScalingActive || !got[1].LastTransitionTime.Equal(&t1) || start[0].Reason != "SucceededGetScale" {
		t.Errorf("append: %+v (input %+v)", got, start)
	}
}

func TestResourceSamples(t *testing.T) {
	ts := metav1.NewTime(time.Unix(1000, 0))
	pm := func(name string, cs ...metricsv1beta1.ContainerMetrics) metricsv1beta1.PodMetrics {
		return metricsv1beta1.PodMetrics{ObjectMeta: metav1.ObjectMeta{Name: name}, Timestamp: ts, Window: metav1.Duration{Duration: 15 * time.Second}, Containers: cs}
	}
	c := func(name, cpu string) metricsv1beta1.ContainerMetrics {
		u := corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("10Mi")}
		if cpu != "" {
			u[corev1.ResourceCPU] = resource.MustParse(cpu)
		}
		return metricsv1beta1.ContainerMetrics{Name: name, Usage: u}
	}
	in := []metricsv1beta1.PodMetrics{
		pm("two", c("app", "300m"), c("sidecar", "200m")),
		pm("no-cpu-in-one", c("app", "300m"), c("sidecar", "")),
		pm("empty"),
	}
	all := ResourceSamples(in, corev1.ResourceCPU, "")
	if len(all) != 1 || all["two"].Value != 500 || all["two"].Window != 15*time.Second || !all["two"].Timestamp.Equal(ts.Time) {
		t.Errorf("pod sums: %+v (a pod missing cpu in a container, or without containers, has no sample)", all)
	}
	app := ResourceSamples(in, corev1.ResourceCPU, "app")
	if len(app) != 2 || app["two"].Value != 300 || app["no-cpu-in-one"].Value != 300 {
		t.Errorf("container app: %+v", app)
	}
	if got := ResourceSamples(in, corev1.ResourceCPU, "absent"); len(got) != 0 {
		t.Errorf("absent container: %+v", got)
	}
}

func TestPrometheusValue(t *testing.T) {
	series := func(v float64, labels ...string) *model.Sample {
		m := model.Metric{}
		for i := 0; i+1 < len(labels); i += 2 {
			m[model.LabelName(labels[i])] = model.LabelValue(labels[i+1])
		}
		return &model.Sample{Metric: m, Value: model.SampleValue(v)}
	}
	cases := []struct {
		name    string
		in      model.Value
		want    int64
		wantErr string
	}{
		{"scalar", &model.Scalar{Value: 2.5}, 2500, ""},
		{"one series", model.Vector{series(300)}, 300000, ""},
		{"fraction rounds to milli", model.Vector{series(0.0004)}, 0, ""},
		{"no series", model.Vector{}, 0, "returned 0 series"},
		{"two series", model.Vector{series(1, "pod", "a"), series(2, "pod", "b")}, 0, `returned 2 series, want exactly one (aggregate it, e.g. sum(...)): {pod="a"}, {pod="b"}`},
		{"NaN", model.Vector{series(math.NaN())}, 0, "not a finite number"},
		{"string", &model.String{Value: "x"}, 0, "returned a string"},
		{"range vector of one series: its last value", model.Matrix{{Values: []model.SamplePair{{Value: 1}, {Value: 7}}}}, 7000, ""},
		{"huge", model.Vector{series(1e300)}, 0, "too large"},
	}
	for _, tc := range cases {
		got, err := PrometheusValue(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: err %v, want %q", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: got %d, %v; want %d", tc.name, got, err, tc.want)
		}
	}
}
