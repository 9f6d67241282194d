package requirements

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
)

func req(t *testing.T, key string, op corev1.NodeSelectorOperator, values ...string) Requirement {
	t.Helper()
	r, err := New(key, op, values)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestOperatorsOnNodeLabels(t *testing.T) {
	const k = "k"
	cases := []struct {
		op       corev1.NodeSelectorOperator
		values   []string
		absentOK bool
		has      map[string]bool
	}{
		{corev1.NodeSelectorOpIn, []string{"a", "b"}, false, map[string]bool{"a": true, "b": true, "c": false}},
		{corev1.NodeSelectorOpNotIn, []string{"a"}, true, map[string]bool{"a": false, "c": true}},
		{corev1.NodeSelectorOpExists, nil, false, map[string]bool{"a": true, "": true}},
		{corev1.NodeSelectorOpDoesNotExist, nil, true, map[string]bool{"a": false}},
		{corev1.NodeSelectorOpGt, []string{"4"}, false, map[string]bool{"5": true, "4": false, "x": false}},
		{corev1.NodeSelectorOpLt, []string{"4"}, false, map[string]bool{"3": true, "4": false, "-1": true}},
	}
	for _, c := range cases {
		r := req(t, k, c.op, c.values...)
		if r.AbsentOK() != c.absentOK {
			t.Errorf("%s: absentOK %v, want %v", c.op, r.AbsentOK(), c.absentOK)
		}
		for v, want := range c.has {
			if got := r.Has(v); got != want {
				t.Errorf("%s %v: Has(%q) = %v, want %v", c.op, c.values, v, got, want)
			}
		}
	}
}

func TestNewRejects(t *testing.T) {
	for _, c := range []struct {
		op     corev1.NodeSelectorOperator
		values []string
	}{
		{"Like", []string{"a"}},
		{corev1.NodeSelectorOpIn, nil},
		{corev1.NodeSelectorOpGt, []string{"x"}},
		{corev1.NodeSelectorOpLt, []string{"1", "2"}},
	} {
		if _, err := New("k", c.op, c.values); err == nil {
			t.Errorf("%s %v accepted", c.op, c.values)
		}
	}
}

func TestIntersects(t *testing.T) {
	const k = "k"
	in := func(v ...string) Requirement { return req(t, k, corev1.NodeSelectorOpIn, v...) }
	notIn := func(v ...string) Requirement { return req(t, k, corev1.NodeSelectorOpNotIn, v...) }
	exists := req(t, k, corev1.NodeSelectorOpExists)
	dne := req(t, k, corev1.NodeSelectorOpDoesNotExist)
	gt := func(v string) Requirement { return req(t, k, corev1.NodeSelectorOpGt, v) }
	lt := func(v string) Requirement { return req(t, k, corev1.NodeSelectorOpLt, v) }
	cases := []struct {
		name string
		a, b Requirement
		want bool
	}{
		{"in/in overlap", in("a", "b"), in("b", "c"), true},
		{"in/in disjoint", in("a"), in("b"), false},
		{"in/notin", in("a"), notIn("a"), false},
		{"in/notin other", in("a", "b"), notIn("a"), true},
		{"notin/notin", notIn("a"), notIn("b"), true},
		{"dne/dne", dne, dne, true},
		{"dne/notin (absent satisfies both)", dne, notIn("a"), true},
		{"dne/exists", dne, exists, false},
		{"dne/in", dne, in("a"), false},
		{"exists/in", exists, in("a"), true},
		{"gt/in above", gt("4"), in("8"), true},
		{"gt/in below", gt("4"), in("2", "3"), false},
		{"gt/lt gap", gt("4"), lt("6"), true},
		{"gt/lt no room", gt("4"), lt("5"), false},
		{"gt/lt room excluded", ptr(gt("4")).Intersect(ptr(notIn("5"))), lt("6"), false},
	}
	for _, c := range cases {
		if got := c.a.Intersects(&c.b); got != c.want {
			t.Errorf("%s: %s ∩ %s = %v, want %v", c.name, c.a.String(), c.b.String(), got, c.want)
		}
		if got := c.b.Intersects(&c.a); got != c.want {
			t.Errorf("%s (reversed): %v, want %v", c.name, got, c.want)
		}
		x := c.a.Intersect(&c.b)
		if x.Satisfiable() != c.want {
			t.Errorf("%s: Intersect(...).Satisfiable() = %v, want %v (%s)", c.name, x.Satisfiable(), c.want, x.String())
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestConflictAndUndefined(t *testing.T) {
	pool := Requirements{}.With(req(t, provisionerv1.LabelCapacityType, corev1.NodeSelectorOpIn, "spot"))
	pod := Requirements{}.With(req(t, provisionerv1.LabelArch, corev1.NodeSelectorOpIn, "arm64"))
	if _, bad := pool.Conflict(pod, nil); !bad {
		t.Error("undefined arch with no undefinedOK must conflict")
	}
	wellKnown := func(k string) bool { return provisionerv1.WellKnownLabels[k] }
	if key, bad := pool.Conflict(pod, wellKnown); bad {
		t.Errorf("well-known arch undefined on a planned node must be fine, got conflict on %s", key)
	}
	custom := Requirements{}.With(req(t, "team", corev1.NodeSelectorOpNotIn, "a"))
	if _, bad := pool.Conflict(custom, nil); bad {
		t.Error("NotIn on an absent label must be fine")
	}
	od := Requirements{}.With(req(t, provisionerv1.LabelCapacityType, corev1.NodeSelectorOpIn, "on-demand"))
	err := pool.Compatible(od, wellKnown)
	if err == nil {
		t.Fatal("spot pool accepted an on-demand pod")
	}
	if want := "tailor.dev/capacity-type In [on-demand] conflicts with tailor.dev/capacity-type In [spot]"; err.Error() != want {
		t.Errorf("explanation %q, want %q", err, want)
	}
}

func TestForPodAlternativesAndIntersect(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		NodeSelector: map[string]string{"disk": "ssd"},
		Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{
				{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}}},
				{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"b"}}}},
			}},
			PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{
				{Weight: 1, Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "x", Operator: corev1.NodeSelectorOpExists}}}},
				{Weight: 50, Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "y", Operator: corev1.NodeSelectorOpExists}}}},
			},
		}},
	}}
	alts, err := ForPod(pod)
	if err != nil {
		t.Fatal(err)
	}
	if len(alts) != 2 || alts[0].String() != "disk In [ssd], zone In [a]" || alts[1].String() != "disk In [ssd], zone In [b]" {
		t.Errorf("alternatives %v", alts)
	}
	prefs := PreferredForPod(pod)
	if len(prefs) != 2 || prefs[0].Weight != 50 {
		t.Errorf("preferred not heaviest first: %+v", prefs)
	}
	node := FromLabels(map[string]string{"disk": "ssd", "zone": "b"})
	if _, bad := node.Conflict(alts[0], nil); !bad {
		t.Error("zone b node matched term zone a")
	}
	if _, bad := node.Conflict(alts[1], nil); bad {
		t.Error("zone b node did not match term zone b")
	}
}

func TestFromNodePoolAndRender(t *testing.T) {
	two := 2
	np := &provisionerv1.NodePool{}
	np.Name = "general"
	np.Spec.Template.Metadata.Labels = map[string]string{"team": "web"}
	np.Spec.Template.Spec.Requirements = []provisionerv1.NodeSelectorRequirementWithMinValues{
		{Key: provisionerv1.LabelInstanceFamily, Operator: corev1.NodeSelectorOpIn, Values: []string{"m5", "c5", "r5"}, MinValues: &two},
		{Key: provisionerv1.LabelInstanceCPU, Operator: corev1.NodeSelectorOpGt, Values: []string{"2"}},
	}
	rs, err := FromNodePool(np)
	if err != nil {
		t.Fatal(err)
	}
	if got := rs.Labels(); got["team"] != "web" || got[provisionerv1.LabelNodePool] != "general" || len(got) != 2 {
		t.Errorf("labels %v", got)
	}
	out := rs.NodeSelectorRequirements()
	var fam *provisionerv1.NodeSelectorRequirementWithMinValues
	for i := range out {
		if out[i].Key == provisionerv1.LabelInstanceFamily {
			fam = &out[i]
		}
	}
	if fam == nil || fam.MinValues == nil || *fam.MinValues != 2 || len(fam.Values) != 3 {
		t.Errorf("family requirement rendered as %+v", fam)
	}
	back, err := FromNodeSelector(func() []corev1.NodeSelectorRequirement {
		var x []corev1.NodeSelectorRequirement
		for _, o := range out {
			x = append(x, o.NodeSelectorRequirement())
		}
		return x
	}())
	if err != nil || back.String() != rs.String() {
		t.Errorf("round trip %q, want %q (%v)", back.String(), rs.String(), err)
	}
}

func TestUntolerated(t *testing.T) {
	taints := []corev1.Taint{
		{Key: "gpu", Value: "true", Effect: corev1.TaintEffectNoSchedule},
		{Key: "soft", Effect: corev1.TaintEffectPreferNoSchedule},
	}
	if tn, bad := Untolerated(taints, nil); !bad || tn.Key != "gpu" {
		t.Errorf("no tolerations: got %v %v", tn, bad)
	}
	for _, tol := range []corev1.Toleration{
		{Key: "gpu", Operator: corev1.TolerationOpEqual, Value: "true"},
		{Key: "gpu", Operator: corev1.TolerationOpExists},
		{Operator: corev1.TolerationOpExists},
		{Key: "gpu", Value: "true", Effect: corev1.TaintEffectNoSchedule},
	} {
		if tn, bad := Untolerated(taints, []corev1.Toleration{tol}); bad {
			t.Errorf("%+v does not tolerate %v", tol, tn)
		}
	}
	for _, tol := range []corev1.Toleration{
		{Key: "gpu", Value: "false"},
		{Key: "gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	} {
		if _, bad := Untolerated(taints, []corev1.Toleration{tol}); !bad {
			t.Errorf("%+v tolerates gpu=true:NoSchedule", tol)
		}
	}
}
