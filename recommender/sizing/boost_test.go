package sizing

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
)

func cpuRes(req, lim string) corev1.ResourceRequirements {
	r := corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}}
	if req != "" {
		r.Requests[corev1.ResourceCPU] = resource.MustParse(req)
	}
	if lim != "" {
		r.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(lim)}
	}
	return r
}

// factor and quantity are upstream's startupBoost.
func factor(f, seconds int32) *vpav1.StartupBoost {
	return &vpav1.StartupBoost{CPU: &vpav1.GenericStartupBoost{Type: vpav1.FactorStartupBoostType, Factor: &f, DurationSeconds: &seconds}}
}

func quantity(q string) *vpav1.StartupBoost {
	v := resource.MustParse(q)
	return &vpav1.StartupBoost{CPU: &vpav1.GenericStartupBoost{Type: vpav1.QuantityStartupBoostType, Quantity: &v}}
}

func boostVPA(sb *vpav1.StartupBoost, policies ...vpav1.ContainerResourcePolicy) *vpav1.VerticalPodAutoscaler {
	v := &vpav1.VerticalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "app-vpa", Namespace: "ns"}}
	v.Spec.StartupBoost = sb
	if len(policies) > 0 {
		v.Spec.ResourcePolicy = &vpav1.PodResourcePolicy{ContainerPolicies: policies}
	}
	return v
}

func quota(name, hard, used string) corev1.ResourceQuota {
	q := corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: name}}
	q.Status.Hard = corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse(hard)}
	q.Status.Used = corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse(used)}
	return q
}

func TestDecideBoost(t *testing.T) {
	twice := factor(2, 60)
	off := vpav1.ContainerScalingModeOff
	restart := []corev1.ContainerResizePolicy{{ResourceName: corev1.ResourceCPU, RestartPolicy: corev1.RestartContainer}}
	lrMax := func(typ corev1.LimitType, max string) []corev1.LimitRange {
		return []corev1.LimitRange{{Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{Type: typ, Max: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(max)}}}}}}
	}
	for _, tc := range []struct {
		name       string
		containers []corev1.Container
		vpa        *vpav1.VerticalPodAutoscaler
		duration   time.Duration
		lrs        []corev1.LimitRange
		quotas     []corev1.ResourceQuota
		hold       []corev1.ResourceName
		annotation string // want; "" when skipped
		skipped    string // want, as a prefix
		patch      []string
	}{
		{
			name:       "factor, limit keeps its ratio",
			containers: []corev1.Container{{Name: "app", Resources: cpuRes("500m", "1")}},
			vpa:        boostVPA(twice), duration: time.Minute,
			annotation: "app: cpu 500m->1, limit 1->2; until Ready+1m0s",
			patch:      []string{"replace /spec/containers/0/resources/requests/cpu 1", "replace /spec/containers/0/resources/limits/cpu 2"},
		},
		{
			name:       "to a value, no limit; a container already above is left alone",
			containers: []corev1.Container{{Name: "app", Resources: cpuRes("250m", "")}, {Name: "big", Resources: cpuRes("3", "")}},
			vpa:        boostVPA(quantity("2")),
			annotation: "app: cpu 250m->2; until Ready+0s",
			patch:      []string{"replace /spec/containers/0/resources/requests/cpu 2"},
		},
		{
			name:       "capped to maxAllowed",
			containers: []corev1.Container{{Name: "app", Resources: cpuRes("600m", "")}},
			vpa:        boostVPA(twice, vpav1.ContainerResourcePolicy{ContainerName: "*", MaxAllowed: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}),
			duration:   time.Minute,
			annotation: "app: cpu 600m->1; until Ready+1m0s",
		},
		{
			name:       "already at maxAllowed: nothing to boost",
			containers: []corev1.Container{{Name: "app", Resources: cpuRes("1", "")}},
			vpa:        boostVPA(twice, vpav1.ContainerResourcePolicy{ContainerName: "app", MaxAllowed: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}),
			skipped:    BoostSkipCapped,
		},
		{
			name:       "container LimitRange max caps the limit, the request follows the ratio",
			containers: []corev1.Container{{Name: "app", Resources: cpuRes("500m", "1")}},
			vpa:        boostVPA(twice), duration: time.Minute, lrs: lrMax(corev1.LimitTypeContainer, "1500m"),
			annotation: "app: cpu 500m->750m, limit 1->1500m; until Ready+1m0s",
		},
		{
			name:       "pod LimitRange max: born unboosted",
			containers: []corev1.Container{{Name: "app", Resources: cpuRes("500m", "")}, {Name: "side", Resources: cpuRes("500m", "")}},
			vpa:        boostVPA(twice), duration: time.Minute, lrs: lrMax(corev1.LimitTypePod, "1500m"),
			skipped: BoostSkipPodLimit,
		},
		{
			name:       "quota that fits the boost",
			containers: []corev1.Container{{Name: "app", Resources: cpuRes("500m", "")}},
			vpa:        boostVPA(twice), duration: time.Minute, quotas: []corev1.ResourceQuota{quota("team", "4", "3")},
			annotation: "app: cpu 500m->1; until Ready+1m0s",
		},
		{
			name:       "quota the boost would exceed: born unboosted",
			containers: []corev1.Container{{Name: "app", Resources: cpuRes("500m", "")}},
			vpa:        boostVPA(twice), duration: time.Minute, quotas: []corev1.ResourceQuota{quota("team", "4", "3"), quota("tight", "2", "1200m")},
			skipped: "quota: would exceed ResourceQuota tight (requests.cpu: used 1200m + boosted pod 1 > hard 2)",
		},
		{
			name:       "quota counts the sidecars, the largest init container and overhead",
			containers: []corev1.Container{{Name: "app", Resources: cpuRes("500m", "")}},
			vpa:        boostVPA(twice), duration: time.Minute, quotas: []corev1.ResourceQuota{quota("team", "1400m", "0")},
			skipped: "quota: would exceed ResourceQuota team (requests.cpu: used 0 + boosted pod 1500m > hard 1400m)",
		},
		{
			name:       "policy Off, cpu not controlled, restart on resize, no request: nothing to boost",
			containers: []corev1.Container{{Name: "off", Resources: cpuRes("1", "")}, {Name: "mem", Resources: cpuRes("1", "")}, {Name: "restart", Resources: cpuRes("1", ""), ResizePolicy: restart}, {Name: "none", Resources: cpuRes("", "")}},
			vpa: boostVPA(twice, vpav1.ContainerResourcePolicy{ContainerName: "off", Mode: &off},
				vpav1.ContainerResourcePolicy{ContainerName: "mem", ControlledResources: &[]corev1.ResourceName{corev1.ResourceMemory}}),
			skipped: BoostSkipNothing,
		},
		{
			name:       "cpu held by a ReplicaAutoscaler",
			containers: []corev1.Container{{Name: "app", Resources: cpuRes("500m", "")}},
			vpa:        boostVPA(twice), duration: time.Minute, hold: []corev1.ResourceName{corev1.ResourceCPU},
			skipped: BoostSkipNothing,
		},
		{
			name:       "a container policy's boost wins; the longest duration is the pod's",
			containers: []corev1.Container{{Name: "a", Resources: cpuRes("100m", "100m")}, {Name: "b", Resources: cpuRes("300m", "900m")}, {Name: "c", Resources: cpuRes("300m", "")}},
			vpa:        boostVPA(factor(2, 30), vpav1.ContainerResourcePolicy{ContainerName: "a", StartupBoost: factor(3, 90)}, vpav1.ContainerResourcePolicy{ContainerName: "c", StartupBoost: factor(1, 0)}),
			duration:   90 * time.Second,
			annotation: "a: cpu 100m->300m, limit 100m->300m; b: cpu 300m->600m, limit 900m->1800m; until Ready+1m30s",
			patch: []string{"replace /spec/containers/0/resources/requests/cpu 300m", "replace /spec/containers/0/resources/limits/cpu 300m",
				"replace /spec/containers/1/resources/requests/cpu 600m", "replace /spec/containers/1/resources/limits/cpu 1800m"},
		},
		{
			name:       "no startupBoost, or a type the API does not know",
			containers: []corev1.Container{{Name: "app", Resources: cpuRes("500m", "")}},
			vpa:        boostVPA(&vpav1.StartupBoost{CPU: &vpav1.GenericStartupBoost{Type: "Percent"}}),
			skipped:    BoostSkipNothing,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: tc.containers}}
			if strings.HasPrefix(tc.name, "quota counts") {
				always := corev1.ContainerRestartPolicyAlways
				pod.Spec.InitContainers = []corev1.Container{{Name: "init", Resources: cpuRes("1200m", "")}, {Name: "proxy", RestartPolicy: &always, Resources: cpuRes("200m", "")}}
				pod.Spec.Overhead = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}
				// containers + sidecar + overhead = 1300m; init + sidecar + overhead = 1500m.
			}
			d, err := DecideBoost(BoostInput{Pod: pod, VPA: tc.vpa, LimitRanges: tc.lrs, Quotas: tc.quotas, Hold: tc.hold})
			if err != nil {
				t.Fatal(err)
			}
			if d.Annotation != tc.annotation || !strings.HasPrefix(d.Skipped, tc.skipped) || (tc.skipped == "") != (d.Skipped == "") {
				t.Fatalf("annotation %q skipped %q; want %q, %q", d.Annotation, d.Skipped, tc.annotation, tc.skipped)
			}
			if tc.patch != nil {
				var got []string
				for _, op := range d.Patch {
					got = append(got, op.Operation+" "+op.Path+" "+op.Value.(string))
				}
				if strings.Join(got, "\n") != strings.Join(tc.patch, "\n") {
					t.Errorf("patch:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.patch, "\n"))
				}
			}
			if d.Annotation == "" {
				return
			}
			// The annotation reads back as what was decided.
			pb, err := ParsePodBoost(d.Annotation)
			if err != nil || len(pb.Containers) != len(d.Containers) || pb.Duration != tc.duration {
				t.Fatalf("ParsePodBoost(%q) = %+v, %v", d.Annotation, pb, err)
			}
			extra := int64(0)
			for i, c := range pb.Containers {
				w := d.Containers[i]
				w.Index, w.Why = 0, ""
				if c != w {
					t.Errorf("container %d: read back %+v, decided %+v", i, c, w)
				}
				extra += c.BoostRequest - c.Request
			}
			if extra != d.ExtraMilli {
				t.Errorf("ExtraMilli %d, want %d", d.ExtraMilli, extra)
			}
		})
	}
}

func TestDecideBoostMalformed(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Resources: cpuRes("1e12", "")}}}}
	if _, err := DecideBoost(BoostInput{Pod: pod, VPA: boostVPA(factor(2, 0))}); err == nil {
		t.Error("an absurd request was boosted")
	}
	if _, err := DecideBoost(BoostInput{VPA: boostVPA(factor(2, 0))}); err == nil {
		t.Error("nil pod accepted")
	}
}

func TestParsePodBoost(t *testing.T) {
	for _, bad := range []string{
		"", "app: cpu 1->2", "app: cpu 1->2; until Ready+later", "app: cpu 1; until Ready+1s", ": cpu 1->2; until Ready+1s",
		"app: cpu x->2; until Ready+1s", "app: cpu 0->2; until Ready+1s", "app: cpu 1->2, limit 2; until Ready+1s", "app cpu 1->2; until Ready+1s",
		"app: cpu 1->2; until Ready+-5s",
	} {
		if pb, err := ParsePodBoost(bad); err == nil {
			t.Errorf("ParsePodBoost(%q) = %+v, want an error", bad, pb)
		}
	}
}

func boostedPod(ann string, req, lim string, ready time.Time) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Annotations: map[string]string{PodBoostAnnotation: ann}}}
	p.Spec.Containers = []corev1.Container{{Name: "app", Resources: cpuRes(req, lim)}, {Name: "other", Resources: cpuRes("1", "")}}
	if !ready.IsZero() {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(ready)}}
	}
	return p
}

func TestBoostState(t *testing.T) {
	ready := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	const ann = "app: cpu 500m->1, limit 1->2; until Ready+1m0s"
	for _, tc := range []struct {
		name                  string
		pod                   *corev1.Pod
		active                bool
		end                   time.Time
		excludeAtEnd, exclEnd bool // ExcludesSample(end-1s), ExcludesSample(end)
		unboost               string
	}{
		{name: "boosted, not ready", pod: boostedPod(ann, "1", "2", time.Time{}), active: true, excludeAtEnd: true, exclEnd: true, unboost: "app: cpu 1->500m, limit 2->1"},
		{name: "boosted, ready", pod: boostedPod(ann, "1", "2", ready), active: true, end: ready.Add(time.Minute), excludeAtEnd: true, exclEnd: true, unboost: "app: cpu 1->500m, limit 2->1"},
		{name: "resized back", pod: boostedPod(ann, "500m", "1", ready), end: ready.Add(time.Minute), excludeAtEnd: true, exclEnd: false},
		{name: "resized since by the updater to another value", pod: boostedPod(ann, "700m", "1400m", ready), end: ready.Add(time.Minute), excludeAtEnd: true},
		{name: "limit changed by someone: only the request goes back", pod: boostedPod(ann, "1", "3", ready), active: true, end: ready.Add(time.Minute), excludeAtEnd: true, exclEnd: true, unboost: "app: cpu 1->500m"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, ok := BoostStateOf(tc.pod)
			if !ok || st.Err != nil {
				t.Fatalf("BoostStateOf: %v %v", ok, st.Err)
			}
			if st.Active() != tc.active || !st.End.Equal(tc.end) {
				t.Errorf("active %v end %s; want %v %s", st.Active(), st.End, tc.active, tc.end)
			}
			at := tc.end
			if at.IsZero() {
				at = ready.Add(time.Hour)
			}
			if got := st.ExcludesSample(at.Add(-time.Second)); got != tc.excludeAtEnd {
				t.Errorf("ExcludesSample(end-1s) = %v", got)
			}
			if got := st.ExcludesSample(at); got != tc.exclEnd {
				t.Errorf("ExcludesSample(end) = %v", got)
			}
			cs, summary, changed := Unboost(tc.pod, &st)
			if changed != (tc.unboost != "") || summary != tc.unboost {
				t.Fatalf("Unboost: %v %q, want %q", changed, summary, tc.unboost)
			}
			if !changed {
				return
			}
			if got := cs[0].Resources.Requests[corev1.ResourceCPU]; got.String() != "500m" {
				t.Errorf("request back to %s", got.String())
			}
			if cs[1].Resources.Requests.Cpu().String() != "1" || tc.pod.Spec.Containers[0].Resources.Requests.Cpu().String() != "1" {
				t.Error("Unboost changed another container or the input pod")
			}
		})
	}
	if _, ok := BoostStateOf(&corev1.Pod{}); ok {
		t.Error("a pod without the annotation has a boost")
	}
	st, ok := BoostStateOf(boostedPod("garbage", "1", "", ready))
	if !ok || st.Err == nil || st.ExcludesSample(ready) || st.Active() {
		t.Errorf("unreadable annotation: %+v; want an error, no exclusion, nothing to undo", st)
	}
}

func FuzzParsePodBoost(f *testing.F) {
	for _, s := range []string{"app: cpu 500m->1, limit 1->2; until Ready+1m0s", "a: cpu 1->2; b: cpu 3->4; until Ready+0s", "x; until Ready+", ": cpu ->; until Ready+1s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pb, err := ParsePodBoost(s)
		if err != nil {
			return
		}
		for _, c := range pb.Containers {
			if c.Name == "" || c.Request <= 0 || c.BoostRequest <= 0 || c.Limit < 0 || c.BoostLimit < 0 {
				t.Fatalf("ParsePodBoost(%q): %+v", s, c)
			}
		}
		// What it read holds no less than the annotation says: a pod with
		// it never makes BoostStateOf or Unboost fail.
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{PodBoostAnnotation: s}}}
		for _, c := range pb.Containers {
			pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: c.Name, Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: *resource.NewMilliQuantity(c.BoostRequest, resource.DecimalSI)}}})
		}
		st, ok := BoostStateOf(pod)
		if !ok || st.Err != nil || !st.Active() {
			t.Fatalf("BoostStateOf(%q) = %+v, %v", s, st, ok)
		}
		if _, _, changed := Unboost(pod, &st); !changed {
			t.Fatalf("Unboost(%q) changed nothing", s)
		}
	})
}

// BenchmarkBoost is the admission path's part of a boost: the decision
// for a 3-container pod.
func BenchmarkBoost(b *testing.B) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{
		{Name: "a", Resources: cpuRes("587m", "1174m")}, {Name: "b", Resources: cpuRes("587m", "")}, {Name: "c", Resources: cpuRes("100m", "200m")}}}}
	vpa := boostVPA(factor(2, 60), vpav1.ContainerResourcePolicy{ContainerName: "*", MaxAllowed: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}})
	quotas := []corev1.ResourceQuota{quota("team", "100", "10")}
	b.ReportAllocs()
	for b.Loop() {
		d, err := DecideBoost(BoostInput{Pod: pod, VPA: vpa, Quotas: quotas})
		if err != nil || len(d.Containers) != 3 {
			b.Fatal(d, err)
		}
	}
}
