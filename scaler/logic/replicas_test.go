package logic

import (
	"errors"
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	scalerv1 "github.com/tailor-dev/tailor/scaler/api/v1alpha1"
)

// TestProposals checks one metric's replica proposal against the upstream
// HPA replica calculator's rules; most cases are those of its test suite.
func TestProposals(t *testing.T) {
	unready := func(p []Pod, idx ...int) []Pod {
		for _, i := range idx {
			// Never ready: it turned unready within the initial readiness delay.
			p[i].Ready = &ReadyCondition{Status: false, LastTransitionTime: p[i].StartTime.Add(10 * time.Second)}
		}
		return p
	}
	withPhase := func(p []Pod, phase corev1.PodPhase, idx ...int) []Pod {
		for _, i := range idx {
			p[i].Phase = phase
		}
		return p
	}
	deleting := func(p []Pod, idx ...int) []Pod {
		for _, i := range idx {
			p[i].Deleting = true
		}
		return p
	}
	// hot: started 1m ago, ready 10s ago; its 30s-window sample predates
	// readiness + window, so its CPU is distrusted.
	hot := func(p []Pod, idx ...int) []Pod {
		for _, i := range idx {
			p[i].StartTime = t0.Add(-time.Minute)
			p[i].Ready = &ReadyCondition{Status: true, LastTransitionTime: t0.Add(-10 * time.Second)}
		}
		return p
	}
	podLevel := func(p []Pod, req map[corev1.ResourceName]int64, idx ...int) []Pod {
		for _, i := range idx {
			p[i].PodRequests = req
		}
		return p
	}
	renamed := func(p []Pod, idx ...int) []Pod {
		for _, i := range idx {
			p[i].Containers[0].Name = "web"
		}
		return p
	}
	cases := []struct {
		name    string
		metric  string // cpu50 etc.: see below
		in      Input
		want    int32
		wantErr string
		value   string // Proposal.Value
	}{
		{name: "seed: ceil(1 × 200/100) = 2", in: input(spec(1, 10, cpuUtil(50)), 1, pods(1, 200), MetricValues{Pods: samples(200)}), want: 2, value: "cpu 100%/50%"},
		{name: "php-apache single pod at 242%", in: input(spec(1, 10, cpuUtil(50)), 1, pods(1, 200), MetricValues{Pods: samples(484)}), want: 5, value: "cpu 242%/50%"},
		{name: "scale up", in: input(spec(1, 10, cpuUtil(30)), 3, pods(3, 1000), MetricValues{Pods: samples(300, 500, 700)}), want: 5, value: "cpu 50%/30%"},
		{name: "scale up, unready pod counted as 0", in: input(spec(1, 10, cpuUtil(30)), 3, unready(pods(3, 1000), 0), MetricValues{Pods: samples(300, 500, 700)}), want: 4, value: "cpu 60%/30%"},
		{name: "scale up, hot cpu pod counted as 0", in: input(spec(1, 10, cpuUtil(30)), 3, hot(pods(3, 1000), 0), MetricValues{Pods: samples(300, 500, 700)}), want: 4},
		{name: "scale up, pending pod counted as 0", in: input(spec(1, 10, cpuUtil(30)), 3, withPhase(pods(3, 1000), corev1.PodPending, 0), MetricValues{Pods: samples(300, 500, 700)}), want: 4},
		{name: "unready pods would reverse the direction: no change", in: input(spec(1, 10, cpuUtil(30)), 3, unready(pods(3, 1000), 1, 2), MetricValues{Pods: samples(400, 500, 700)}), want: 3},
		{name: "scale down", in: input(spec(1, 10, cpuUtil(50)), 5, pods(5, 1000), MetricValues{Pods: samples(100, 300, 500, 250, 250)}), want: 3, value: "cpu 28%/50%"},
		{name: "scale down ignores unready pods", in: input(spec(1, 10, cpuUtil(50)), 5, unready(pods(5, 1000), 3, 4), MetricValues{Pods: samples(100, 300, 500, 250, 250)}), want: 2},
		{name: "scale down ignores deleted and failed pods", in: input(spec(1, 10, cpuUtil(50)), 5, withPhase(deleting(pods(5, 1000), 3), corev1.PodFailed, 4), MetricValues{Pods: samples(100, 300, 500, 250, 250)}), want: 2},
		{name: "tolerance: 102% of target, no change", in: input(spec(1, 10, cpuUtil(100)), 3, pods(3, 900, 1000, 1100), MetricValues{Pods: samples(1010, 1030, 1020)}), want: 3},
		{name: "tolerance edge: 110% stays", in: input(spec(1, 10, cpuUtil(50)), 4, pods(4, 1000), MetricValues{Pods: samples(550, 550, 550, 550)}), want: 4},
		{name: "tolerance edge: 111% truncated to 110% stays", in: input(spec(1, 10, cpuUtil(50)), 4, pods(4, 1000), MetricValues{Pods: samples(559, 559, 559, 559)}), want: 4},
		{name: "tolerance edge: 112% scales", in: input(spec(1, 10, cpuUtil(50)), 4, pods(4, 1000), MetricValues{Pods: samples(560, 560, 560, 560)}), want: 5},
		{name: "tolerance edge: 90% stays", in: input(spec(1, 10, cpuUtil(50)), 4, pods(4, 1000), MetricValues{Pods: samples(450, 450, 450, 450)}), want: 4},
		{name: "tolerance edge: utilisation truncated to 89% scales down", in: input(spec(1, 10, cpuUtil(50)), 4, pods(4, 1000), MetricValues{Pods: samples(449, 449, 449, 449)}), want: 4}, // 44% → 0.88 → ceil(3.52) = 4
		{name: "tolerance edge: 80% scales down", in: input(spec(1, 10, cpuUtil(50)), 5, pods(5, 1000), MetricValues{Pods: samples(400, 400, 400, 400, 400)}), want: 4},
		{name: "missing metric, at target: no change", in: input(spec(1, 10, cpuUtil(100)), 2, pods(2, 1000), MetricValues{Pods: samples(1000, -1)}), want: 2},
		{name: "missing metric on scale up counts 0: reverses, no change", in: input(spec(1, 10, cpuUtil(100)), 2, pods(2, 1000), MetricValues{Pods: samples(1400, -1)}), want: 2},
		{name: "missing metric on scale up counts 0", in: input(spec(1, 10, cpuUtil(50)), 2, pods(2, 1000), MetricValues{Pods: samples(1500, -1)}), want: 3}, // 150% → 3; filled: 75% → 1.5 → ceil(3)
		{name: "missing metric on scale down counts 100% of request", in: input(spec(1, 10, cpuUtil(50)), 4, pods(4, 1000), MetricValues{Pods: samples(100, 100, 100, -1)}), want: 3},
		{name: "missing metric on scale down, target above 100%: counts the target", in: input(spec(1, 10, cpuUtil(150)), 4, pods(4, 1000), MetricValues{Pods: samples(100, 100, 100, -1)}), want: 2}, // (300+1500)/4000=45% → .3 → ceil(1.2)
		{name: "container resource", in: input(spec(1, 10, v1alpha1ContainerCPU(50)), 2, pods(2, 500), MetricValues{Pods: samples(500, 500)}), want: 4, value: "cpu 100%/50%"},
		{name: "cpu average value", in: input(spec(1, 10, cpuAverage("250m")), 2, pods(2, 1000), MetricValues{Pods: samples(500, 500)}), want: 4, value: "cpu 500m/250m (avg)"},
		{name: "cpu average value, hot pod ignored on scale up", in: input(spec(1, 10, cpuAverage("250m")), 3, hot(pods(3, 1000), 2), MetricValues{Pods: samples(500, 500, 500)}), want: 4}, // 2/1 → filled (1000+0)/3/250 = 1.33 → 4
		{name: "pods metric scale up", in: input(spec(1, 10, podsMetric("15")), 3, pods(3, 1000), MetricValues{Pods: samples(20000, 10000, 30000)}), want: 4, value: "qps 20/15"},
		{name: "pods metric ignores cpu readiness", in: input(spec(1, 10, podsMetric("15")), 3, hot(pods(3, 1000), 0), MetricValues{Pods: samples(20000, 10000, 30000)}), want: 4},
		{name: "pods metric, missing pod on scale down counts the target", in: input(spec(1, 10, podsMetric("10")), 4, pods(4, 1000), MetricValues{Pods: samples(2000, 2000, 2000, -1)}), want: 2}, // avg 2 → .2; filled (6+10)/4=4 → .4 → ceil(1.6)
		{name: "object value", in: input(spec(1, 10, objectMetric(autoscalingv2.ValueMetricType, "10")), 3, pods(3, 1000), MetricValues{Value: 30000}), want: 9, value: "requests 30/10"},
		{name: "object value counts ready pods only", in: input(spec(1, 10, objectMetric(autoscalingv2.ValueMetricType, "10")), 3, unready(pods(3, 1000), 0), MetricValues{Value: 30000}), want: 6},
		{name: "object value within tolerance", in: input(spec(1, 10, objectMetric(autoscalingv2.ValueMetricType, "10")), 3, pods(3, 1000), MetricValues{Value: 10500}), want: 3},
		{name: "object average value", in: input(spec(1, 10, objectMetric(autoscalingv2.AverageValueMetricType, "10")), 3, pods(3, 1000), MetricValues{Value: 50000}), want: 5, value: "requests 16667m/10 (avg)"},
		{name: "external value", in: input(spec(1, 10, externalMetric(autoscalingv2.ValueMetricType, "4")), 2, pods(2, 1000), MetricValues{Value: 8600}), want: 5},
		{name: "external average value", in: input(spec(1, 10, externalMetric(autoscalingv2.AverageValueMetricType, "2")), 1, pods(1, 1000), MetricValues{Value: 8600}), want: 5},
		{name: "external average value within tolerance", in: input(spec(1, 10, externalMetric(autoscalingv2.AverageValueMetricType, "2")), 4, pods(4, 1000), MetricValues{Value: 8600}), want: 4},
		{name: "prometheus value", in: input(spec(1, 10, promMetric(autoscalingv2.ValueMetricType, "100")), 2, pods(2, 1000), MetricValues{Value: 300000}), want: 6, value: "prometheus 300/100"},
		{name: "prometheus average value", in: input(spec(1, 10, promMetric(autoscalingv2.AverageValueMetricType, "100")), 2, pods(2, 1000), MetricValues{Value: 300000}), want: 3},
		{name: "cpu average value, missing pod, exactly at target: no change", in: input(spec(1, 10, cpuAverage("500m")), 2, pods(2, 1000), MetricValues{Pods: samples(500, -1)}), want: 2},
		{name: "pods metric, missing pod, exactly at target: no change", in: input(spec(1, 10, podsMetric("10")), 3, pods(3, 1000), MetricValues{Pods: samples(10000, 10000, -1)}), want: 3},
		{name: "pod-level requests replace the containers'", in: input(spec(1, 10, cpuUtil(50)), 2, podLevel(pods(2, 100), map[corev1.ResourceName]int64{corev1.ResourceCPU: 1000}, 0, 1), MetricValues{Pods: samples(1000, 1000)}), want: 4, value: "cpu 100%/50%"},
		{name: "pod-level requests without the resource", in: input(spec(1, 10, cpuUtil(50)), 2, podLevel(pods(2, 100), map[corev1.ResourceName]int64{corev1.ResourceMemory: 1000}, 1), MetricValues{Pods: samples(100, 100)}), wantErr: "missing pod-level request for cpu in Pod p1"},
		{name: "container resource ignores pod-level requests", in: input(spec(1, 10, v1alpha1ContainerCPU(50)), 2, podLevel(pods(2, 500), map[corev1.ResourceName]int64{corev1.ResourceCPU: 5000}, 0, 1), MetricValues{Pods: samples(500, 500)}), want: 4},
		{name: "container resource, container missing in a pod", in: input(spec(1, 10, v1alpha1ContainerCPU(50)), 2, renamed(pods(2, 500), 1), MetricValues{Pods: samples(500, -1)}), wantErr: "container app not found in Pod p1"},
		{name: "no pods", in: input(spec(1, 10, cpuUtil(50)), 2, nil, MetricValues{Pods: samples(100)}), wantErr: "no pods returned by selector"},
		{name: "all pods unready", in: input(spec(1, 10, cpuUtil(50)), 2, unready(pods(2, 1000), 0, 1), MetricValues{Pods: samples(100, 100)}), wantErr: "did not receive metrics for targeted pods"},
		{name: "missing request", in: input(spec(1, 10, cpuUtil(50)), 1, []Pod{{Name: "p0", Phase: corev1.PodRunning, StartTime: t0.Add(-time.Hour), Ready: &ReadyCondition{Status: true}, Containers: []Container{{Name: "app"}}}}, MetricValues{Pods: samples(100)}), wantErr: "missing request for cpu in container app of Pod p0"},
		{name: "metrics API error", in: input(spec(1, 10, cpuUtil(50)), 1, pods(1, 200), MetricValues{Err: errors.New("the server is currently unable to handle the request")}), wantErr: "unable to get metrics for resource cpu: the server is currently unable"},
		{name: "samples of unknown pods only", in: input(spec(1, 10, cpuUtil(50)), 1, pods(1, 200), MetricValues{Pods: map[string]Sample{"other": {Value: 1}}}), wantErr: "no metrics returned matched known pods"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := Decide(c.in)
			if len(d.Proposals) != 1 {
				t.Fatalf("%d proposals, want 1 (err %v)", len(d.Proposals), d.Err)
			}
			p := d.Proposals[0]
			if c.wantErr != "" {
				if p.Err == nil || !strings.Contains(p.Err.Error(), c.wantErr) {
					t.Fatalf("error %v, want one containing %q", p.Err, c.wantErr)
				}
				return
			}
			if p.Err != nil {
				t.Fatalf("error %v", p.Err)
			}
			if p.Replicas != c.want {
				t.Errorf("proposal %d, want %d", p.Replicas, c.want)
			}
			if c.value != "" && p.Value != c.value {
				t.Errorf("value %q, want %q", p.Value, c.value)
			}
		})
	}
}

func v1alpha1ContainerCPU(target int32) scalerv1.MetricSpec {
	m := cpuUtil(target)
	return scalerv1.MetricSpec{Type: autoscalingv2.ContainerResourceMetricSourceType, ContainerResource: &autoscalingv2.ContainerResourceMetricSource{
		Name: corev1.ResourceCPU, Container: "app", Target: m.Resource.Target}}
}

// TestCPUReadiness covers the initialisation period and the initial
// readiness delay one pod at a time.
func TestCPUReadiness(t *testing.T) {
	cfg := DefaultConfig()
	s := Sample{Value: 1, Timestamp: t0, Window: 30 * time.Second}
	cases := []struct {
		name    string
		started time.Duration // before t0
		ready   *bool
		changed time.Duration // Ready transition, after start
		unready bool
	}{
		{"no ready condition", time.Hour, nil, 0, true},
		{"initialising, unready", time.Minute, ptr(false), 10 * time.Second, true},
		{"initialising, ready less than a window ago", time.Minute, ptr(true), 40 * time.Second, true},
		{"initialising, ready more than a window ago", 2 * time.Minute, ptr(true), 10 * time.Second, false},
		{"initialised, ready", time.Hour, ptr(true), time.Minute, false},
		{"initialised, unready, never ready (went unready within 30s)", time.Hour, ptr(false), 20 * time.Second, true},
		{"initialised, unready after having been ready", time.Hour, ptr(false), 10 * time.Minute, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := t0.Add(-c.started)
			p := Pod{Name: "p", Phase: corev1.PodRunning, StartTime: start}
			if c.ready != nil {
				p.Ready = &ReadyCondition{Status: *c.ready, LastTransitionTime: start.Add(c.changed)}
			}
			if got := cpuUnready(&p, s, t0, cfg); got != c.unready {
				t.Errorf("unready %v, want %v", got, c.unready)
			}
		})
	}
}

// TestPodFromCorePodLevelRequests: pod-level requests (plus the overhead)
// replace the containers' sum; pods without them keep PodRequests nil.
func TestPodFromCorePodLevelRequests(t *testing.T) {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")}}}},
		},
	}
	if got := PodFromCore(p).PodRequests; got != nil {
		t.Fatalf("PodRequests %v without pod-level requests, want nil", got)
	}
	p.Spec.Resources = &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}
	p.Spec.Overhead = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m")}
	got := PodFromCore(p).PodRequests
	if got[corev1.ResourceCPU] != 1010 || got[corev1.ResourceMemory] != (64<<20)*1000 {
		t.Errorf("PodRequests %v, want cpu 1010m (pod level + overhead) and the containers' memory", got)
	}
}
