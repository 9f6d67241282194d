package resize

import (
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	"k8s.io/utils/ptr"

	"github.com/tailor-dev/tailor/recommender/sizing"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// rl parses "cpu=100m,memory=50Mi"; "" is nil.
func rl(s string) corev1.ResourceList {
	if s == "" {
		return nil
	}
	out := corev1.ResourceList{}
	for _, kv := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(kv, "=")
		out[corev1.ResourceName(k)] = resource.MustParse(v)
	}
	return out
}

// hamsterVPA recommends 587m/262144k within [500m/200Mi, 700m/300Mi].
func hamsterVPA(mode vpav1.UpdateMode) *vpav1.VerticalPodAutoscaler {
	return &vpav1.VerticalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "hamster-vpa", Namespace: "ns"},
		Spec:       vpav1.VerticalPodAutoscalerSpec{UpdatePolicy: &vpav1.PodUpdatePolicy{UpdateMode: &mode}},
		Status: vpav1.VerticalPodAutoscalerStatus{Recommendation: &vpav1.RecommendedPodResources{ContainerRecommendations: []vpav1.RecommendedContainerResources{{
			ContainerName: "hamster", Target: rl("cpu=587m,memory=262144k"),
			LowerBound: rl("cpu=500m,memory=200Mi"), UpperBound: rl("cpu=700m,memory=300Mi"),
		}}}},
	}
}

// running is a Running hamster pod with requests req and limits lim.
func running(name, req, lim string, mods ...func(*corev1.Pod)) Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour))},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "hamster", Image: "img",
			Resources: corev1.ResourceRequirements{Requests: rl(req), Limits: rl(lim)}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	for _, m := range mods {
		m(p)
	}
	return Pod{Pod: p}
}

func cond(typ corev1.PodConditionType, reason string, age time.Duration) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: typ, Status: corev1.ConditionTrue, Reason: reason,
			Message: "msg", LastTransitionTime: metav1.NewTime(t0.Add(-age))})
	}
}

// reported sets the resources the kubelet reports for the container.
func reported(req, lim string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "hamster",
			Resources: &corev1.ResourceRequirements{Requests: rl(req), Limits: rl(lim)}}}
	}
}

// boosted records a startup boost on the pod (sizing.PodBoostAnnotation).
func boosted(ann string) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Annotations = map[string]string{sizing.PodBoostAnnotation: ann} }
}

func phase(ph corev1.PodPhase) func(*corev1.Pod) { return func(p *corev1.Pod) { p.Status.Phase = ph } }

func age(d time.Duration) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(t0.Add(-d)) }
}

func show(l corev1.ResourceList) string {
	var parts []string
	for _, k := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if q, ok := l[k]; ok {
			parts = append(parts, string(k)+"="+q.String())
		}
	}
	return strings.Join(parts, ",")
}

// render prints updates as "pod action [requests|limits]" lines.
func render(d Decision) string {
	var lines []string
	for _, u := range d.Updates {
		s := u.Pod.Name + " " + string(u.Action)
		for _, c := range u.Changes {
			s += " " + c.Name + "[" + show(c.After.Requests)
			if len(c.After.Limits) > 0 {
				s += "|" + show(c.After.Limits)
			}
			s += "]"
		}
		lines = append(lines, s)
	}
	return strings.Join(lines, "; ")
}

func TestDecide(t *testing.T) {
	cfg := DefaultConfig()
	withPods := func(ps ...Pod) []Pod { return ps }
	cases := []struct {
		name        string
		vpa         *vpav1.VerticalPodAutoscaler
		pods        []Pod
		hold        []corev1.ResourceName
		rolling     string
		cfg         func(*Config)
		want        string
		wantSkip    string
		wantWaiting map[string]int
		wantWhy     string // substring of the first update's Why
	}{
		{name: "out of bounds is resized in place", vpa: hamsterVPA(vpav1.UpdateModeInPlaceOrRecreate),
			pods: withPods(running("a", "cpu=100m,memory=50Mi", "")),
			want: "a resize hamster[cpu=587m,memory=262144k]", wantWhy: "hamster cpu request 100m below lowerBound 500m"},
		{name: "Auto resizes in place too", vpa: hamsterVPA(vpav1.UpdateModeAuto),
			pods: withPods(running("a", "cpu=100m,memory=50Mi", "")), want: "a resize hamster[cpu=587m,memory=262144k]"},
		{name: "no mode means Recreate", vpa: func() *vpav1.VerticalPodAutoscaler {
			v := hamsterVPA(vpav1.UpdateModeAuto)
			v.Spec.UpdatePolicy = nil
			return v
		}(), pods: withPods(running("a", "cpu=100m,memory=50Mi", "")), want: "a resize hamster[cpu=587m,memory=262144k]"},
		{name: "limits keep their ratio", vpa: hamsterVPA(vpav1.UpdateModeRecreate),
			pods: withPods(running("a", "cpu=100m,memory=50Mi", "cpu=200m,memory=100Mi")),
			want: "a resize hamster[cpu=587m,memory=262144k|cpu=1174m,memory=500Mi]"},
		{name: "a pod still on its startup boost waits for the resize back", vpa: hamsterVPA(vpav1.UpdateModeInPlaceOrRecreate),
			pods:        withPods(running("a", "cpu=1174m,memory=262144k", "", boosted("hamster: cpu 587m->1174m; until Ready+1m0s"))),
			wantWaiting: map[string]int{WaitStartupBoost: 1}},
		{name: "a pod resized back from its boost is updated as any other", vpa: hamsterVPA(vpav1.UpdateModeInPlaceOrRecreate),
			pods: withPods(running("a", "cpu=100m,memory=50Mi", "", boosted("hamster: cpu 100m->200m; until Ready+1m0s"))),
			want: "a resize hamster[cpu=587m,memory=262144k]"},
		{name: "inside the bounds", vpa: hamsterVPA(vpav1.UpdateModeInPlaceOrRecreate),
			pods: withPods(running("a", "cpu=600m,memory=250Mi", ""))},
		{name: "Off never touches running pods", vpa: hamsterVPA(vpav1.UpdateModeOff),
			pods: withPods(running("a", "cpu=100m,memory=50Mi", "")), wantSkip: "updateMode Off"},
		{name: "Initial never touches running pods", vpa: hamsterVPA(vpav1.UpdateModeInitial),
			pods: withPods(running("a", "cpu=100m,memory=50Mi", "")), wantSkip: "updateMode Initial"},
		{name: "unknown mode", vpa: hamsterVPA("Sometimes"),
			pods: withPods(running("a", "cpu=100m,memory=50Mi", "")), wantSkip: `unknown updateMode "Sometimes"`},
		{name: "no recommendation", vpa: func() *vpav1.VerticalPodAutoscaler {
			v := hamsterVPA(vpav1.UpdateModeAuto)
			v.Status.Recommendation = nil
			return v
		}(), pods: withPods(running("a", "cpu=100m,memory=50Mi", "")), wantSkip: SkipNoRecommendation},
		{name: "rolling out", vpa: hamsterVPA(vpav1.UpdateModeAuto), rolling: "1 of 2 replicas updated",
			pods: withPods(running("a", "cpu=100m,memory=50Mi", "")), wantSkip: "rolling out: 1 of 2 replicas updated"},
		{name: "held cpu is left alone", vpa: hamsterVPA(vpav1.UpdateModeAuto), hold: []corev1.ResourceName{corev1.ResourceCPU},
			pods: withPods(running("a", "cpu=100m,memory=250Mi", ""))},
		{name: "held cpu is not changed with memory", vpa: hamsterVPA(vpav1.UpdateModeAuto), hold: []corev1.ResourceName{corev1.ResourceCPU},
			pods: withPods(running("a", "cpu=100m,memory=50Mi", "")), want: "a resize hamster[cpu=100m,memory=262144k]"},
		{name: "pending and terminating pods are left alone", vpa: hamsterVPA(vpav1.UpdateModeAuto),
			pods: withPods(running("a", "cpu=100m,memory=50Mi", "", phase(corev1.PodPending)),
				running("b", "cpu=100m,memory=50Mi", "", func(p *corev1.Pod) { p.DeletionTimestamp = ptr.To(metav1.NewTime(t0)) }),
				running("c", "cpu=100m,memory=50Mi", "", phase(corev1.PodSucceeded)))},
		{name: "cooldown", vpa: hamsterVPA(vpav1.UpdateModeAuto),
			pods:        withPods(Pod{Pod: running("a", "cpu=100m,memory=50Mi", "").Pod, LastUpdate: t0.Add(-time.Minute)}),
			wantWaiting: map[string]int{WaitCooldown: 1}},
		{name: "cooldown over", vpa: hamsterVPA(vpav1.UpdateModeAuto),
			pods: withPods(Pod{Pod: running("a", "cpu=100m,memory=50Mi", "").Pod, LastUpdate: t0.Add(-6 * time.Minute)}),
			want: "a resize hamster[cpu=587m,memory=262144k]"},
		{name: "one per pass, farthest first", vpa: hamsterVPA(vpav1.UpdateModeAuto),
			pods: withPods(running("a", "cpu=400m,memory=250Mi", ""), running("b", "cpu=100m,memory=250Mi", ""), running("c", "cpu=450m,memory=250Mi", "")),
			want: "b resize hamster[cpu=587m,memory=250Mi]", wantWaiting: map[string]int{WaitBudget: 2}},
		{name: "ties go to the oldest", vpa: hamsterVPA(vpav1.UpdateModeAuto), cfg: func(c *Config) { c.MaxPerWorkload = 2 },
			pods: withPods(running("a", "cpu=100m,memory=250Mi", "", age(time.Minute)), running("b", "cpu=100m,memory=250Mi", "", age(time.Hour)),
				running("c", "cpu=100m,memory=250Mi", "", age(time.Second))),
			want: "b resize hamster[cpu=587m,memory=250Mi]; a resize hamster[cpu=587m,memory=250Mi]", wantWaiting: map[string]int{WaitBudget: 1}},
		{name: "a resize in progress takes the budget", vpa: hamsterVPA(vpav1.UpdateModeAuto),
			pods: withPods(running("a", "cpu=587m,memory=262144k", "", cond(corev1.PodResizeInProgress, "", time.Minute), reported("cpu=100m,memory=50Mi", "")),
				running("b", "cpu=100m,memory=50Mi", "")),
			wantWaiting: map[string]int{WaitResizing: 1, WaitBudget: 1}},
		{name: "spec at the target while the kubelet catches up", vpa: hamsterVPA(vpav1.UpdateModeAuto),
			pods: withPods(running("a", "cpu=587m,memory=262144k", "", reported("cpu=100m,memory=50Mi", "")))},
		{name: "spec at the target, nothing reported (kwok)", vpa: hamsterVPA(vpav1.UpdateModeAuto),
			pods: withPods(running("a", "cpu=587m,memory=262144k", ""))},
		{name: "infeasible falls back to eviction", vpa: hamsterVPA(vpav1.UpdateModeInPlaceOrRecreate),
			pods: withPods(running("a", "cpu=587m,memory=262144k", "", cond(corev1.PodResizePending, corev1.PodReasonInfeasible, time.Second), reported("cpu=100m,memory=50Mi", "")),
				running("b", "cpu=600m,memory=250Mi", "")),
			want: "a evict", wantWhy: "the kubelet found the resize infeasible: msg"},
		{name: "evictionRequirements met: cpu up", vpa: withEvictionRequirements(hamsterVPA(vpav1.UpdateModeInPlaceOrRecreate),
			vpav1.EvictionRequirement{Resources: []corev1.ResourceName{corev1.ResourceCPU}, ChangeRequirement: vpav1.TargetHigherThanRequests}),
			pods: withPods(running("a", "cpu=587m,memory=262144k", "", cond(corev1.PodResizePending, corev1.PodReasonInfeasible, time.Second), reported("cpu=100m,memory=50Mi", "")),
				running("b", "cpu=600m,memory=250Mi", "")),
			want: "a evict"},
		{name: "evictionRequirements bar: only downscaling may evict", vpa: withEvictionRequirements(hamsterVPA(vpav1.UpdateModeInPlaceOrRecreate),
			vpav1.EvictionRequirement{Resources: []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory}, ChangeRequirement: vpav1.TargetLowerThanRequests}),
			pods: withPods(running("a", "cpu=587m,memory=262144k", "", cond(corev1.PodResizePending, corev1.PodReasonInfeasible, time.Second), reported("cpu=100m,memory=50Mi", "")),
				running("b", "cpu=600m,memory=250Mi", "")),
			wantWaiting: map[string]int{WaitEvictionRequirements: 1}},
		{name: "evictionRequirements all must hold", vpa: withEvictionRequirements(hamsterVPA(vpav1.UpdateModeInPlaceOrRecreate),
			vpav1.EvictionRequirement{Resources: []corev1.ResourceName{corev1.ResourceCPU}, ChangeRequirement: vpav1.TargetHigherThanRequests},
			vpav1.EvictionRequirement{Resources: []corev1.ResourceName{corev1.ResourceMemory}, ChangeRequirement: vpav1.TargetLowerThanRequests}),
			pods: withPods(running("a", "cpu=587m,memory=262144k", "", cond(corev1.PodResizePending, corev1.PodReasonInfeasible, time.Second), reported("cpu=100m,memory=50Mi", "")),
				running("b", "cpu=600m,memory=250Mi", "")),
			wantWaiting: map[string]int{WaitEvictionRequirements: 1}},
		{name: "infeasible with InPlace waits", vpa: hamsterVPA(vpav1.UpdateModeInPlace),
			pods: withPods(running("a", "cpu=587m,memory=262144k", "", cond(corev1.PodResizePending, corev1.PodReasonInfeasible, time.Second), reported("cpu=100m,memory=50Mi", "")),
				running("b", "cpu=600m,memory=250Mi", "")),
			wantWaiting: map[string]int{WaitNoRecreate: 1}},
		{name: "infeasible but back inside the bounds", vpa: hamsterVPA(vpav1.UpdateModeRecreate),
			pods: withPods(running("a", "cpu=587m,memory=262144k", "", cond(corev1.PodResizePending, corev1.PodReasonInfeasible, time.Second), reported("cpu=600m,memory=250Mi", "")),
				running("b", "cpu=600m,memory=250Mi", ""))},
		{name: "deferred briefly waits", vpa: hamsterVPA(vpav1.UpdateModeRecreate),
			pods: withPods(running("a", "cpu=587m,memory=262144k", "", cond(corev1.PodResizePending, corev1.PodReasonDeferred, time.Minute), reported("cpu=100m,memory=50Mi", "")),
				running("b", "cpu=600m,memory=250Mi", "")),
			wantWaiting: map[string]int{WaitResizing: 1}},
		{name: "deferred too long is evicted", vpa: hamsterVPA(vpav1.UpdateModeRecreate),
			pods: withPods(running("a", "cpu=587m,memory=262144k", "", cond(corev1.PodResizePending, corev1.PodReasonDeferred, 6*time.Minute), reported("cpu=100m,memory=50Mi", "")),
				running("b", "cpu=600m,memory=250Mi", "")),
			want: "a evict", wantWhy: "deferred the resize for over 5m0s"},
		{name: "in progress too long is evicted", vpa: hamsterVPA(vpav1.UpdateModeRecreate),
			pods: withPods(running("a", "cpu=587m,memory=262144k", "", cond(corev1.PodResizeInProgress, "", 2*time.Hour), reported("cpu=100m,memory=50Mi", "")),
				running("b", "cpu=600m,memory=250Mi", "")),
			want: "a evict", wantWhy: "in progress for over 1h0m0s"},
		{name: "refused resize is evicted, cooldown or not", vpa: hamsterVPA(vpav1.UpdateModeAuto),
			pods: withPods(Pod{Pod: running("a", "cpu=100m,memory=50Mi", "").Pod, Rejected: "forbidden", LastUpdate: t0}, running("b", "cpu=600m,memory=250Mi", "")),
			want: "a evict", wantWhy: "the API server refused the resize: forbidden"},
		{name: "a QoS change needs recreation", vpa: hamsterVPA(vpav1.UpdateModeInPlaceOrRecreate),
			pods: withPods(running("a", "", ""), running("b", "cpu=600m,memory=250Mi", "")),
			want: "a evict", wantWhy: "QoS class would change from BestEffort to Burstable"},
		{name: "a QoS change with InPlace waits", vpa: hamsterVPA(vpav1.UpdateModeInPlace),
			pods: withPods(running("a", "", ""), running("b", "cpu=600m,memory=250Mi", "")), wantWaiting: map[string]int{WaitNoRecreate: 1}},
		{name: "no eviction below minReplicas", vpa: hamsterVPA(vpav1.UpdateModeAuto),
			pods: withPods(running("a", "", "")), wantWaiting: map[string]int{WaitMinReplicas: 1}},
		{name: "the VPA's minReplicas wins", vpa: func() *vpav1.VerticalPodAutoscaler {
			v := hamsterVPA(vpav1.UpdateModeAuto)
			v.Spec.UpdatePolicy.MinReplicas = ptr.To[int32](1)
			return v
		}(), pods: withPods(running("a", "", "")), want: "a evict"},
		{name: "guaranteed stays guaranteed", vpa: hamsterVPA(vpav1.UpdateModeInPlace),
			pods: withPods(running("a", "cpu=100m,memory=50Mi", "cpu=100m,memory=50Mi")),
			want: "a resize hamster[cpu=587m,memory=262144k|cpu=587m,memory=262144k]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg
			if tc.cfg != nil {
				tc.cfg(&c)
			}
			d, err := Decide(Input{VPA: tc.vpa, Pods: tc.pods, Hold: tc.hold, RollingOut: tc.rolling, Now: t0}, c)
			if err != nil {
				t.Fatal(err)
			}
			if got := render(d); got != tc.want {
				t.Errorf("updates = %q, want %q", got, tc.want)
			}
			if d.Skipped != tc.wantSkip {
				t.Errorf("skipped = %q, want %q", d.Skipped, tc.wantSkip)
			}
			if fmt.Sprint(d.Waiting) != fmt.Sprint(tc.wantWaiting) {
				t.Errorf("waiting = %v, want %v", d.Waiting, tc.wantWaiting)
			}
			if tc.wantWhy != "" && (len(d.Updates) == 0 || !strings.Contains(d.Updates[0].Why, tc.wantWhy)) {
				t.Errorf("why = %+v, want %q in the first", d.Updates, tc.wantWhy)
			}
			for _, u := range d.Updates {
				if u.Summary == "" {
					t.Errorf("%s: no summary", u.Pod.Name)
				}
			}
		})
	}
}

func TestDecideSummary(t *testing.T) {
	d, err := Decide(Input{VPA: hamsterVPA(vpav1.UpdateModeAuto), Pods: []Pod{running("a", "cpu=100m,memory=50Mi", "")}, Now: t0}, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if want := "hamster: cpu 100m->587m, memory 50Mi->262144k (vpa hamster-vpa)"; len(d.Updates) != 1 || d.Updates[0].Summary != want {
		t.Errorf("updates %+v, want one with summary %q", d.Updates, want)
	}
}

func TestDecideErrors(t *testing.T) {
	v := hamsterVPA(vpav1.UpdateModeAuto)
	v.Status.Recommendation.ContainerRecommendations[0].Target = rl("cpu=-1")
	if _, err := Decide(Input{VPA: v, Pods: []Pod{running("a", "cpu=100m,memory=50Mi", "")}, Now: t0}, DefaultConfig()); err == nil || !strings.Contains(err.Error(), "pod a") {
		t.Errorf("negative target: err = %v", err)
	}
	d, err := Decide(Input{Now: t0}, DefaultConfig())
	if err != nil || d.Skipped != SkipNoVPA {
		t.Errorf("nil VPA: %+v %v", d, err)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := Config{MaxPerWorkload: 0, MinReplicas: 0, Cooldown: -time.Second}
	err := bad.Validate()
	for _, want := range []string{"max pods per workload", "min replicas", "pod cooldown"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want %q", err, want)
		}
	}
}

func TestRollingOut(t *testing.T) {
	dep := func(gen, observed int64, updated, available, total int32) *appsv1.Deployment {
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Generation: gen}, Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2)},
			Status: appsv1.DeploymentStatus{ObservedGeneration: observed, UpdatedReplicas: updated, AvailableReplicas: available, Replicas: total}}
	}
	sts := &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](2)},
		Status: appsv1.StatefulSetStatus{ReadyReplicas: 2, CurrentRevision: "r1", UpdateRevision: "r2"}}
	stsOnDelete := sts.DeepCopy()
	stsOnDelete.Spec.UpdateStrategy.Type = appsv1.OnDeleteStatefulSetStrategyType
	ds := &appsv1.DaemonSet{Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, UpdatedNumberScheduled: 3, NumberUnavailable: 1}}
	rs := &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](2)}, Status: appsv1.ReplicaSetStatus{AvailableReplicas: 2}}
	for _, tc := range []struct {
		name string
		obj  runtime.Object
		want string
	}{
		{"settled deployment", dep(2, 2, 2, 2, 2), ""},
		{"unobserved spec", dep(3, 2, 2, 2, 2), "generation 3 not yet observed (at 2)"},
		{"updating", dep(2, 2, 1, 2, 3), "1 of 2 replicas updated"},
		{"unavailable", dep(2, 2, 2, 1, 2), "1 of 2 replicas available"},
		{"surplus", dep(2, 2, 2, 2, 3), "3 replicas, 2 wanted"},
		{"statefulset revision", sts, "updating from revision r1 to r2"},
		{"statefulset OnDelete", stsOnDelete, ""},
		{"daemonset unavailable", ds, "1 pods unavailable"},
		{"replicaset", rs, ""},
		{"unknown kind", &corev1.Pod{}, ""},
	} {
		if got := RollingOut(tc.obj); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func withEvictionRequirements(v *vpav1.VerticalPodAutoscaler, reqs ...vpav1.EvictionRequirement) *vpav1.VerticalPodAutoscaler {
	for i := range reqs {
		v.Spec.UpdatePolicy.EvictionRequirements = append(v.Spec.UpdatePolicy.EvictionRequirements, &reqs[i])
	}
	return v
}
