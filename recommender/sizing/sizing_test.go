package sizing

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	jsonpatchapply "github.com/evanphx/json-patch/v5"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
)

// rl parses "cpu=100m,memory=50Mi" into a ResourceList; "" is nil.
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

// show renders a ResourceList as rl would parse it, in a fixed order.
func show(l corev1.ResourceList) string {
	var parts []string
	for _, k := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if q, ok := l[k]; ok {
			parts = append(parts, string(k)+"="+q.String())
		}
	}
	for k, q := range l {
		if k != corev1.ResourceCPU && k != corev1.ResourceMemory {
			parts = append(parts, string(k)+"="+q.String())
		}
	}
	return strings.Join(parts, ",")
}

func ctr(name, req, lim string) corev1.Container {
	return corev1.Container{Name: name, Image: "img", Resources: corev1.ResourceRequirements{Requests: rl(req), Limits: rl(lim)}}
}

func sidecar(name, req, lim string) corev1.Container {
	c := ctr(name, req, lim)
	always := corev1.ContainerRestartPolicyAlways
	c.RestartPolicy = &always
	return c
}

func podOf(cs ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"},
		Spec:       corev1.PodSpec{Containers: cs},
	}
}

// recs builds recommendations from "name=cpu=..,memory=..;name2=..".
func vpaOf(recs ...string) *vpav1.VerticalPodAutoscaler {
	v := &vpav1.VerticalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "hamster-vpa", Namespace: "ns"}}
	r := &vpav1.RecommendedPodResources{}
	for _, s := range recs {
		name, target, _ := strings.Cut(s, ":")
		r.ContainerRecommendations = append(r.ContainerRecommendations, vpav1.RecommendedContainerResources{ContainerName: name, Target: rl(target)})
	}
	v.Status.Recommendation = r
	return v
}

func withMode(v *vpav1.VerticalPodAutoscaler, m vpav1.UpdateMode) *vpav1.VerticalPodAutoscaler {
	v.Spec.UpdatePolicy = &vpav1.PodUpdatePolicy{UpdateMode: &m}
	return v
}

func withPolicy(v *vpav1.VerticalPodAutoscaler, ps ...vpav1.ContainerResourcePolicy) *vpav1.VerticalPodAutoscaler {
	v.Spec.ResourcePolicy = &vpav1.PodResourcePolicy{ContainerPolicies: ps}
	return v
}

func ptr[T any](v T) *T { return &v }

func limitRange(typ corev1.LimitType, min, max, def, ratio string) corev1.LimitRange {
	return corev1.LimitRange{
		ObjectMeta: metav1.ObjectMeta{Name: "lr", Namespace: "ns"},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type: typ, Min: rl(min), Max: rl(max), Default: rl(def), MaxLimitRequestRatio: rl(ratio),
		}}},
	}
}

const hamsterRec = "hamster:cpu=587m,memory=262144k"

type want struct{ req, lim string }

func TestDecide(t *testing.T) {
	tests := []struct {
		name       string
		in         Input
		want       map[string]want // changed containers only, by name
		skipped    string
		reasons    map[string][]string
		annotation string
	}{
		{
			name:       "hamster",
			in:         Input{Pod: podOf(ctr("hamster", "cpu=100m,memory=50Mi", "")), VPA: vpaOf(hamsterRec)},
			want:       map[string]want{"hamster": {req: "cpu=587m,memory=262144k"}},
			annotation: "hamster: cpu 100m->587m, memory 50Mi->262144k (vpa hamster-vpa)",
		},
		{
			name:       "limits keep their ratio",
			in:         Input{Pod: podOf(ctr("hamster", "cpu=100m,memory=50Mi", "cpu=200m,memory=100Mi")), VPA: vpaOf(hamsterRec)},
			want:       map[string]want{"hamster": {req: "cpu=587m,memory=262144k", lim: "cpu=1174m,memory=500Mi"}},
			annotation: "hamster: cpu 100m->587m, memory 50Mi->262144k, cpu limit 200m->1174m, memory limit 100Mi->500Mi (vpa hamster-vpa)",
		},
		{
			name: "limit without request: request and limit follow the recommendation",
			in:   Input{Pod: podOf(ctr("hamster", "", "cpu=200m")), VPA: vpaOf("hamster:cpu=587m")},
			want: map[string]want{"hamster": {req: "cpu=587m", lim: "cpu=587m"}},
		},
		{
			name: "no resources at all",
			in:   Input{Pod: podOf(ctr("hamster", "", "")), VPA: vpaOf(hamsterRec)},
			want: map[string]want{"hamster": {req: "cpu=587m,memory=262144k"}},
		},
		{
			name: "RequestsOnly leaves limits",
			in: Input{Pod: podOf(ctr("hamster", "cpu=100m,memory=50Mi", "cpu=1,memory=1Gi")),
				VPA: withPolicy(vpaOf(hamsterRec), vpav1.ContainerResourcePolicy{ContainerName: "hamster", ControlledValues: ptr(vpav1.ContainerControlledValuesRequestsOnly)})},
			want: map[string]want{"hamster": {req: "cpu=587m,memory=262144k", lim: "cpu=1,memory=1Gi"}},
		},
		{
			name: "RequestsOnly caps the request to the limit",
			in: Input{Pod: podOf(ctr("hamster", "cpu=100m,memory=50Mi", "cpu=500m,memory=1Gi")),
				VPA: withPolicy(vpaOf(hamsterRec), vpav1.ContainerResourcePolicy{ContainerName: "*", ControlledValues: ptr(vpav1.ContainerControlledValuesRequestsOnly)})},
			want:    map[string]want{"hamster": {req: "cpu=500m,memory=262144k", lim: "cpu=500m,memory=1Gi"}},
			reasons: map[string][]string{"hamster": {"cpu capped to limit"}},
		},
		{
			name: "controlledResources cpu only",
			in: Input{Pod: podOf(ctr("hamster", "cpu=100m,memory=50Mi", "cpu=200m,memory=100Mi")),
				VPA: withPolicy(vpaOf(hamsterRec), vpav1.ContainerResourcePolicy{ContainerName: "hamster", ControlledResources: &[]corev1.ResourceName{corev1.ResourceCPU}})},
			want: map[string]want{"hamster": {req: "cpu=587m,memory=50Mi", lim: "cpu=1174m,memory=100Mi"}},
		},
		{
			name: "per-container mode Off",
			in: Input{Pod: podOf(ctr("hamster", "cpu=100m,memory=50Mi", ""), ctr("envoy", "cpu=100m,memory=50Mi", "")),
				VPA: withPolicy(vpaOf(hamsterRec, "envoy:cpu=300m,memory=100Mi"), vpav1.ContainerResourcePolicy{ContainerName: "envoy", Mode: ptr(vpav1.ContainerScalingModeOff)})},
			want: map[string]want{"hamster": {req: "cpu=587m,memory=262144k"}},
		},
		{
			name: "wildcard Off, named Auto",
			in: Input{Pod: podOf(ctr("hamster", "cpu=100m,memory=50Mi", ""), ctr("envoy", "cpu=100m,memory=50Mi", "")),
				VPA: withPolicy(vpaOf(hamsterRec, "envoy:cpu=300m,memory=100Mi"),
					vpav1.ContainerResourcePolicy{ContainerName: "*", Mode: ptr(vpav1.ContainerScalingModeOff)},
					vpav1.ContainerResourcePolicy{ContainerName: "envoy", Mode: ptr(vpav1.ContainerScalingModeAuto)})},
			want: map[string]want{"envoy": {req: "cpu=300m,memory=100Mi"}},
		},
		{
			name: "named policy beats wildcard",
			in: Input{Pod: podOf(ctr("hamster", "cpu=100m,memory=50Mi", ""), ctr("web", "cpu=100m,memory=50Mi", "")),
				VPA: withPolicy(vpaOf(hamsterRec, "web:cpu=587m,memory=262144k"),
					vpav1.ContainerResourcePolicy{ContainerName: "*", MaxAllowed: rl("cpu=300m")},
					vpav1.ContainerResourcePolicy{ContainerName: "hamster", MaxAllowed: rl("cpu=1")})},
			want: map[string]want{
				"hamster": {req: "cpu=587m,memory=262144k"},
				"web":     {req: "cpu=300m,memory=262144k"},
			},
			reasons: map[string][]string{"web": {"cpu capped to maxAllowed"}},
		},
		{
			name: "minAllowed and maxAllowed",
			in: Input{Pod: podOf(ctr("hamster", "cpu=100m,memory=50Mi", "cpu=200m")),
				VPA: withPolicy(vpaOf(hamsterRec), vpav1.ContainerResourcePolicy{ContainerName: "hamster", MinAllowed: rl("memory=300Mi"), MaxAllowed: rl("cpu=500m")})},
			want:    map[string]want{"hamster": {req: "cpu=500m,memory=300Mi", lim: "cpu=1"}},
			reasons: map[string][]string{"hamster": {"cpu capped to maxAllowed", "memory capped to minAllowed"}},
		},
		{
			name: "LimitRange max caps a request without limit",
			in: Input{Pod: podOf(ctr("hamster", "cpu=100m,memory=50Mi", "")), VPA: vpaOf(hamsterRec),
				LimitRanges: []corev1.LimitRange{limitRange(corev1.LimitTypeContainer, "", "cpu=400m", "", "")}},
			want:    map[string]want{"hamster": {req: "cpu=400m,memory=262144k"}},
			reasons: map[string][]string{"hamster": {"cpu capped to LimitRange max"}},
		},
		{
			name: "LimitRange max applies to the scaled limit",
			in: Input{Pod: podOf(ctr("hamster", "cpu=100m,memory=50Mi", "cpu=200m")), VPA: vpaOf(hamsterRec),
				LimitRanges: []corev1.LimitRange{limitRange(corev1.LimitTypeContainer, "", "cpu=1", "", "")}},
			want: map[string]want{"hamster": {req: "cpu=500m,memory=262144k", lim: "cpu=1"}},
		},
		{
			name: "maxLimitRequestRatio lowers a scaled limit",
			in: Input{Pod: podOf(ctr("hamster", "cpu=100m", "cpu=1")), VPA: vpaOf("hamster:cpu=587m"),
				LimitRanges: []corev1.LimitRange{limitRange(corev1.LimitTypeContainer, "", "", "", "cpu=4")}},
			want:    map[string]want{"hamster": {req: "cpu=587m", lim: "cpu=2348m"}},
			reasons: map[string][]string{"hamster": {"cpu limit lowered to LimitRange maxLimitRequestRatio"}},
		},
		{
			name: "maxLimitRequestRatio raises a RequestsOnly request",
			in: Input{Pod: podOf(ctr("hamster", "cpu=1500m", "cpu=2")),
				VPA:         withPolicy(vpaOf("hamster:cpu=587m"), vpav1.ContainerResourcePolicy{ContainerName: "hamster", ControlledValues: ptr(vpav1.ContainerControlledValuesRequestsOnly)}),
				LimitRanges: []corev1.LimitRange{limitRange(corev1.LimitTypeContainer, "", "", "", "cpu=2")}},
			want: map[string]want{"hamster": {req: "cpu=1", lim: "cpu=2"}},
		},
		{
			name: "LimitRange default limit is scaled and set",
			in: Input{Pod: podOf(ctr("hamster", "cpu=100m,memory=50Mi", "")), VPA: vpaOf(hamsterRec),
				LimitRanges: []corev1.LimitRange{limitRange(corev1.LimitTypeContainer, "", "", "cpu=200m", "")}},
			want:    map[string]want{"hamster": {req: "cpu=587m,memory=262144k", lim: "cpu=1174m"}},
			reasons: map[string][]string{"hamster": {"cpu limit from LimitRange default"}},
		},
		{
			name: "LimitRange min raises the request",
			in: Input{Pod: podOf(ctr("hamster", "cpu=100m", "")), VPA: vpaOf("hamster:cpu=20m"),
				LimitRanges: []corev1.LimitRange{limitRange(corev1.LimitTypeContainer, "cpu=50m", "", "", "")}},
			want: map[string]want{"hamster": {req: "cpu=50m"}},
		},
		{
			name: "pod LimitRange max scales sized containers only",
			in: Input{Pod: podOf(ctr("a", "cpu=100m", ""), ctr("b", "cpu=100m", ""), ctr("fixed", "cpu=200m", "")),
				VPA:         vpaOf("a:cpu=587m", "b:cpu=587m"),
				LimitRanges: []corev1.LimitRange{limitRange(corev1.LimitTypePod, "", "cpu=1", "", "")}},
			want: map[string]want{"a": {req: "cpu=400m"}, "b": {req: "cpu=400m"}},
		},
		{
			name: "pod LimitRange max counts limits",
			in: Input{Pod: podOf(ctr("a", "cpu=100m", "cpu=200m"), ctr("b", "cpu=100m", "cpu=200m")),
				VPA:         vpaOf("a:cpu=400m", "b:cpu=400m"),
				LimitRanges: []corev1.LimitRange{limitRange(corev1.LimitTypePod, "", "cpu=1", "", "")}},
			want: map[string]want{"a": {req: "cpu=250m", lim: "cpu=500m"}, "b": {req: "cpu=250m", lim: "cpu=500m"}},
		},
		{
			name: "pod LimitRange min scales up",
			in: Input{Pod: podOf(ctr("a", "cpu=100m", ""), ctr("b", "cpu=100m", "")),
				VPA:         vpaOf("a:cpu=10m", "b:cpu=30m"),
				LimitRanges: []corev1.LimitRange{limitRange(corev1.LimitTypePod, "cpu=100m", "", "", "")}},
			want: map[string]want{"a": {req: "cpu=25m"}, "b": {req: "cpu=75m"}},
		},
		{
			name:    "updateMode Off",
			in:      Input{Pod: podOf(ctr("hamster", "cpu=100m,memory=50Mi", "")), VPA: withMode(vpaOf(hamsterRec), vpav1.UpdateModeOff)},
			skipped: SkipUpdateModeOff,
		},
		{
			name: "updateMode Initial",
			in:   Input{Pod: podOf(ctr("hamster", "cpu=100m,memory=50Mi", "")), VPA: withMode(vpaOf(hamsterRec), vpav1.UpdateModeInitial)},
			want: map[string]want{"hamster": {req: "cpu=587m,memory=262144k"}},
		},
		{
			name: "updateMode InPlaceOrRecreate",
			in:   Input{Pod: podOf(ctr("hamster", "cpu=100m,memory=50Mi", "")), VPA: withMode(vpaOf(hamsterRec), vpav1.UpdateModeInPlaceOrRecreate)},
			want: map[string]want{"hamster": {req: "cpu=587m,memory=262144k"}},
		},
		{
			name: "updatePolicy without mode",
			in: Input{Pod: podOf(ctr("hamster", "cpu=100m,memory=50Mi", "")), VPA: func() *vpav1.VerticalPodAutoscaler {
				v := vpaOf(hamsterRec)
				v.Spec.UpdatePolicy = &vpav1.PodUpdatePolicy{}
				return v
			}()},
			want: map[string]want{"hamster": {req: "cpu=587m,memory=262144k"}},
		},
		{
			name:    "unknown updateMode",
			in:      Input{Pod: podOf(ctr("hamster", "cpu=100m", "")), VPA: withMode(vpaOf(hamsterRec), "Sometimes")},
			skipped: `unknown updateMode "Sometimes"`,
		},
		{
			name:    "no VPA",
			in:      Input{Pod: podOf(ctr("hamster", "cpu=100m", ""))},
			skipped: SkipNoVPA,
		},
		{
			name:    "no recommendation",
			in:      Input{Pod: podOf(ctr("hamster", "cpu=100m", "")), VPA: &vpav1.VerticalPodAutoscaler{}},
			skipped: SkipNoRecommendation,
		},
		{
			name:    "recommendation already applied",
			in:      Input{Pod: podOf(ctr("hamster", "cpu=587m,memory=262144k", "")), VPA: vpaOf(hamsterRec)},
			skipped: SkipNoChange,
		},
		{
			name: "every container Off",
			in: Input{Pod: podOf(ctr("hamster", "cpu=100m", "")),
				VPA: withPolicy(vpaOf(hamsterRec), vpav1.ContainerResourcePolicy{ContainerName: "*", Mode: ptr(vpav1.ContainerScalingModeOff)})},
			skipped: SkipNothingToSize,
		},
		{
			name:    "recommendation for other containers only",
			in:      Input{Pod: podOf(ctr("web", "cpu=100m", "")), VPA: vpaOf(hamsterRec)},
			skipped: SkipNothingToSize,
		},
		{
			name: "explicit zero limit leaves that resource alone",
			in:   Input{Pod: podOf(ctr("hamster", "cpu=100m,memory=50Mi", "cpu=0")), VPA: vpaOf(hamsterRec)},
			want: map[string]want{"hamster": {req: "cpu=100m,memory=262144k", lim: "cpu=0"}},
		},
		{
			name: "strictest of several LimitRanges",
			in: Input{Pod: podOf(ctr("hamster", "cpu=100m,memory=50Mi", "")), VPA: vpaOf(hamsterRec),
				LimitRanges: []corev1.LimitRange{
					limitRange(corev1.LimitTypeContainer, "", "cpu=2,memory=200Mi", "", ""),
					limitRange(corev1.LimitTypeContainer, "", "cpu=500m,memory=1Gi", "", ""),
				}},
			want: map[string]want{"hamster": {req: "cpu=500m,memory=200Mi"}},
		},
		{
			name: "RequestsOnly without limit stays under the LimitRange default limit",
			in: Input{Pod: podOf(ctr("hamster", "cpu=100m", "")),
				VPA:         withPolicy(vpaOf("hamster:cpu=587m"), vpav1.ContainerResourcePolicy{ContainerName: "*", ControlledValues: ptr(vpav1.ContainerControlledValuesRequestsOnly)}),
				LimitRanges: []corev1.LimitRange{limitRange(corev1.LimitTypeContainer, "", "", "cpu=250m", "")}},
			want:    map[string]want{"hamster": {req: "cpu=250m"}},
			reasons: map[string][]string{"hamster": {"cpu capped to LimitRange default limit"}},
		},
		{
			name: "container without recommendation untouched",
			in:   Input{Pod: podOf(ctr("istio-proxy", "cpu=10m", "cpu=2"), ctr("hamster", "cpu=100m,memory=50Mi", "")), VPA: vpaOf(hamsterRec)},
			want: map[string]want{"hamster": {req: "cpu=587m,memory=262144k"}},
		},
		{
			name: "Hold cpu",
			in:   Input{Pod: podOf(ctr("hamster", "cpu=100m,memory=50Mi", "cpu=200m,memory=100Mi")), VPA: vpaOf(hamsterRec), Hold: []corev1.ResourceName{corev1.ResourceCPU}},
			want: map[string]want{"hamster": {req: "cpu=100m,memory=262144k", lim: "cpu=200m,memory=500Mi"}},
		},
		{
			name: "sidecar init container sized, regular init container not",
			in: Input{
				Pod: func() *corev1.Pod {
					p := podOf(ctr("hamster", "cpu=100m,memory=50Mi", ""))
					p.Spec.InitContainers = []corev1.Container{ctr("migrate", "cpu=100m", ""), sidecar("log-shipper", "cpu=50m", "cpu=100m")}
					return p
				}(),
				VPA: vpaOf(hamsterRec, "migrate:cpu=900m", "log-shipper:cpu=30m,memory=20Mi"),
			},
			want: map[string]want{
				"hamster":     {req: "cpu=587m,memory=262144k"},
				"log-shipper": {req: "cpu=30m,memory=20Mi", lim: "cpu=60m"},
			},
		},
		{
			name: "sub-millicore target rounds up",
			in:   Input{Pod: podOf(ctr("hamster", "cpu=100m", "")), VPA: vpaOf("hamster:cpu=0.5871")},
			want: map[string]want{"hamster": {req: "cpu=588m"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			orig := tc.in.Pod.DeepCopy()
			dec, err := Decide(tc.in)
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			if !apiequality.Semantic.DeepEqual(orig, tc.in.Pod) {
				t.Fatal("Decide modified the input pod")
			}
			if dec.Skipped != tc.skipped {
				t.Fatalf("Skipped = %q, want %q", dec.Skipped, tc.skipped)
			}
			if tc.skipped != "" {
				if len(dec.Changes)+len(dec.Patch) != 0 || dec.Annotation != "" {
					t.Fatalf("skipped decision carries changes: %+v", dec)
				}
				return
			}
			if tc.annotation != "" && dec.Annotation != tc.annotation {
				t.Errorf("Annotation = %q\n want %q", dec.Annotation, tc.annotation)
			}
			got := map[string]ContainerChange{}
			for _, ch := range dec.Changes {
				got[ch.Name] = ch
			}
			if len(got) != len(tc.want) {
				t.Errorf("changed %d containers, want %d: %+v", len(got), len(tc.want), dec.Changes)
			}
			for name, w := range tc.want {
				ch, ok := got[name]
				if !ok {
					t.Errorf("container %s not changed", name)
					continue
				}
				if s := show(ch.After.Requests); s != w.req {
					t.Errorf("%s requests = %s, want %s", name, s, w.req)
				}
				if s := show(ch.After.Limits); s != w.lim {
					t.Errorf("%s limits = %s, want %s", name, s, w.lim)
				}
				if r, ok := tc.reasons[name]; ok && strings.Join(ch.Reasons, "|") != strings.Join(r, "|") {
					t.Errorf("%s reasons = %q, want %q", name, ch.Reasons, r)
				}
			}
			checkPatch(t, tc.in.Pod, dec)
		})
	}
}

// checkPatch applies the decision's patch to the marshalled pod and asserts
// that every container ends with exactly the decided resources, and all
// others are unchanged.
func checkPatch(t testing.TB, pod *corev1.Pod, dec Decision) {
	t.Helper()
	patched := applyPatch(t, pod, dec)
	wantRes := func(init bool, i int, c *corev1.Container) corev1.ResourceRequirements {
		for _, ch := range dec.Changes {
			if ch.Init == init && ch.Index == i {
				if ch.Name != c.Name {
					t.Fatalf("change %q points at container %q", ch.Name, c.Name)
				}
				return ch.After
			}
		}
		return c.Resources
	}
	check := func(init bool, before, after []corev1.Container) {
		if len(before) != len(after) {
			t.Fatalf("patch changed the number of containers")
		}
		for i := range before {
			w := wantRes(init, i, &before[i])
			g := after[i].Resources
			// Values, not spellings: the API server re-serialises quantities
			// (a BinarySI 1e9 bytes comes back as "1G").
			if !apiequality.Semantic.DeepEqual(g, w) {
				t.Errorf("patched %s: requests %s limits %s, want %s / %s", before[i].Name, show(g.Requests), show(g.Limits), show(w.Requests), show(w.Limits))
			}
		}
	}
	check(false, pod.Spec.Containers, patched.Spec.Containers)
	check(true, pod.Spec.InitContainers, patched.Spec.InitContainers)
}

func applyPatch(t testing.TB, pod *corev1.Pod, dec Decision) *corev1.Pod {
	t.Helper()
	doc, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(dec.Patch)
	if err != nil {
		t.Fatal(err)
	}
	p, err := jsonpatchapply.DecodePatch(raw)
	if err != nil {
		t.Fatalf("decode patch %s: %v", raw, err)
	}
	out, err := p.Apply(doc)
	if err != nil {
		t.Fatalf("apply patch %s: %v", raw, err)
	}
	var patched corev1.Pod
	if err := json.Unmarshal(out, &patched); err != nil {
		t.Fatal(err)
	}
	return &patched
}

func TestPatchShapes(t *testing.T) {
	cases := []struct {
		name string
		c    corev1.Container
		want string
	}{
		{"no resources", ctr("hamster", "", ""),
			`[{"op":"add","path":"/spec/containers/0/resources","value":{"requests":{"cpu":"587m","memory":"262144k"}}}]`},
		{"only limits", ctr("hamster", "", "cpu=200m"),
			`[{"op":"add","path":"/spec/containers/0/resources/requests","value":{"cpu":"587m","memory":"262144k"}},` +
				`{"op":"replace","path":"/spec/containers/0/resources/limits/cpu","value":"587m"}]`},
		{"partial requests", ctr("hamster", "cpu=100m", ""),
			`[{"op":"replace","path":"/spec/containers/0/resources/requests/cpu","value":"587m"},` +
				`{"op":"add","path":"/spec/containers/0/resources/requests/memory","value":"262144k"}]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dec, err := Decide(Input{Pod: podOf(tc.c), VPA: vpaOf(hamsterRec)})
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := json.Marshal(dec.Patch)
			if string(raw) != tc.want {
				t.Errorf("patch\n got %s\nwant %s", raw, tc.want)
			}
			checkPatch(t, podOf(tc.c), dec)
		})
	}
}

func TestPatchWhenResourcesObjectAbsent(t *testing.T) {
	// A hand-written pod JSON may omit "resources" entirely; the patch must still apply.
	pod := podOf(ctr("hamster", "", ""))
	dec, err := Decide(Input{Pod: pod, VPA: vpaOf(hamsterRec)})
	if err != nil {
		t.Fatal(err)
	}
	doc := []byte(`{"metadata":{"name":"p"},"spec":{"containers":[{"name":"hamster","image":"img"}]}}`)
	raw, _ := json.Marshal(dec.Patch)
	p, err := jsonpatchapply.DecodePatch(raw)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Apply(doc)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if !strings.Contains(string(out), `"requests":{"cpu":"587m","memory":"262144k"}`) {
		t.Errorf("patched pod: %s", out)
	}
}

func TestEscapePointer(t *testing.T) {
	for in, want := range map[string]string{"cpu": "cpu", "example.com/gpu": "example.com~1gpu", "a~b/c": "a~0b~1c"} {
		if got := EscapePointer(in); got != want {
			t.Errorf("EscapePointer(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestManyContainers(t *testing.T) {
	var cs []corev1.Container
	var recs []string
	for i := range 100 {
		name := fmt.Sprintf("c%03d", i)
		cs = append(cs, ctr(name, "cpu=100m,memory=50Mi", "cpu=200m,memory=100Mi"))
		recs = append(recs, name+":cpu=587m,memory=262144k")
	}
	pod := podOf(cs...)
	dec, err := Decide(Input{Pod: pod, VPA: vpaOf(recs...),
		LimitRanges: []corev1.LimitRange{limitRange(corev1.LimitTypePod, "", "cpu=100,memory=100Gi", "", "")}})
	if err != nil {
		t.Fatal(err)
	}
	if len(dec.Changes) != 100 {
		t.Fatalf("changed %d containers, want 100", len(dec.Changes))
	}
	if len(dec.Annotation) > maxAnnotation+64 || !strings.Contains(dec.Annotation, "more (vpa hamster-vpa)") {
		t.Errorf("annotation (%d bytes) not compacted: %s", len(dec.Annotation), dec.Annotation)
	}
	checkPatch(t, pod, dec)
	// The pod max of 100 cpu fits 100 x 1174m limits? No: 117.4 > 100, so everything scales.
	var sumLim resource.Quantity
	for _, ch := range dec.Changes {
		sumLim.Add(ch.After.Limits[corev1.ResourceCPU])
	}
	if sumLim.Cmp(resource.MustParse("100")) > 0 {
		t.Errorf("sum of cpu limits %s exceeds the pod LimitRange max", sumLim.String())
	}
}

func TestErrors(t *testing.T) {
	cases := map[string]Input{
		"nil pod":          {VPA: vpaOf(hamsterRec)},
		"absurd target":    {Pod: podOf(ctr("hamster", "cpu=100m", "")), VPA: vpaOf("hamster:cpu=1e18")},
		"negative target":  {Pod: podOf(ctr("hamster", "cpu=100m", "")), VPA: vpaOf("hamster:cpu=-1")},
		"absurd limit":     {Pod: podOf(ctr("hamster", "cpu=100m", "cpu=1e18")), VPA: vpaOf("hamster:cpu=1")},
		"negative request": {Pod: podOf(ctr("hamster", "memory=-5Mi", "")), VPA: vpaOf(hamsterRec)},
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			dec, err := Decide(in)
			if err == nil {
				t.Fatalf("want error, got %+v", dec)
			}
		})
	}
	// Absurd LimitRange or policy bounds saturate instead of failing.
	dec, err := Decide(Input{Pod: podOf(ctr("hamster", "cpu=100m", "")),
		VPA:         withPolicy(vpaOf("hamster:cpu=587m"), vpav1.ContainerResourcePolicy{ContainerName: "*", MaxAllowed: rl("cpu=1e18"), MinAllowed: rl("cpu=-1")}),
		LimitRanges: []corev1.LimitRange{limitRange(corev1.LimitTypeContainer, "cpu=-1", "cpu=1e18", "", "cpu=1e18")}})
	if err != nil || len(dec.Changes) != 1 || show(dec.Changes[0].After.Requests) != "cpu=587m" {
		t.Fatalf("absurd bounds: %+v, %v", dec, err)
	}
}

func benchInput() Input {
	pod := podOf(
		ctr("app", "cpu=100m,memory=50Mi", "cpu=200m,memory=100Mi"),
		ctr("envoy", "cpu=50m,memory=64Mi", ""),
		ctr("log", "cpu=10m,memory=16Mi", "cpu=100m,memory=32Mi"),
	)
	return Input{
		Pod: pod,
		VPA: withPolicy(vpaOf("app:cpu=587m,memory=262144k", "envoy:cpu=120m,memory=100Mi", "log:cpu=20m,memory=20Mi"),
			vpav1.ContainerResourcePolicy{ContainerName: "*", MaxAllowed: rl("cpu=2,memory=2Gi")}),
		LimitRanges: []corev1.LimitRange{limitRange(corev1.LimitTypeContainer, "cpu=10m", "cpu=4,memory=8Gi", "cpu=1,memory=1Gi", "")},
	}
}

func TestBenchInput(t *testing.T) {
	in := benchInput()
	dec, err := Decide(in)
	if err != nil || len(dec.Changes) != 3 {
		t.Fatalf("%+v %v", dec, err)
	}
	checkPatch(t, in.Pod, dec)
}

func BenchmarkDecide(b *testing.B) {
	in := benchInput()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decide(in); err != nil {
			b.Fatal(err)
		}
	}
}
