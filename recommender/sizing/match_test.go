package sizing

import (
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
)

func vpaFor(name, apiVersion, kind, target string, age time.Duration) *vpav1.VerticalPodAutoscaler {
	return &vpav1.VerticalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(time.Unix(1e9, 0).Add(-age))},
		Spec:       vpav1.VerticalPodAutoscalerSpec{TargetRef: &autoscalingv1.CrossVersionObjectReference{APIVersion: apiVersion, Kind: kind, Name: target}},
	}
}

func TestControllingVPA(t *testing.T) {
	deployChain := []Owner{{"apps/v1", "ReplicaSet", "web-7d9f"}, {"apps/v1", "Deployment", "web"}}
	onDeploy := vpaFor("on-deploy", "apps/v1", "Deployment", "web", time.Hour)
	onRS := vpaFor("on-rs", "apps/v1", "ReplicaSet", "web-7d9f", 2*time.Hour)
	older := vpaFor("older", "apps/v1", "Deployment", "web", 3*time.Hour)
	otherGroup := vpaFor("other-group", "argoproj.io/v1alpha1", "Deployment", "web", 4*time.Hour)
	noVersion := vpaFor("no-version", "", "Deployment", "web", time.Minute)
	cron := vpaFor("cron", "batch/v1", "CronJob", "nightly", time.Hour)
	noRef := &vpav1.VerticalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "no-ref"}}

	cases := []struct {
		name  string
		chain []Owner
		vpas  []*vpav1.VerticalPodAutoscaler
		want  string
	}{
		{"deployment", deployChain, []*vpav1.VerticalPodAutoscaler{onDeploy}, "on-deploy"},
		{"top-most wins over replicaset", deployChain, []*vpav1.VerticalPodAutoscaler{onRS, onDeploy}, "on-deploy"},
		{"replicaset only", deployChain, []*vpav1.VerticalPodAutoscaler{onRS}, "on-rs"},
		{"oldest of two", deployChain, []*vpav1.VerticalPodAutoscaler{onDeploy, older}, "older"},
		{"group must match", deployChain, []*vpav1.VerticalPodAutoscaler{otherGroup}, ""},
		{"empty apiVersion matches any group", deployChain, []*vpav1.VerticalPodAutoscaler{noVersion}, "no-version"},
		{"cronjob through job", []Owner{{"batch/v1", "Job", "nightly-1"}, {"batch/v1", "CronJob", "nightly"}}, []*vpav1.VerticalPodAutoscaler{cron}, "cron"},
		{"no targetRef", deployChain, []*vpav1.VerticalPodAutoscaler{noRef}, ""},
		{"bare pod", nil, []*vpav1.VerticalPodAutoscaler{onDeploy}, ""},
		{"other workload", []Owner{{"apps/v1", "StatefulSet", "db"}}, []*vpav1.VerticalPodAutoscaler{onDeploy}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := ControllingVPA(tc.chain, tc.vpas)
			name := ""
			if got != nil {
				name = got.Name
			}
			if name != tc.want {
				t.Fatalf("got %q, want %q", name, tc.want)
			}
		})
	}
}
