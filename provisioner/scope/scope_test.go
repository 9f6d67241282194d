package scope

import (
	"encoding/json"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
)

func pool(name string, weight int32, labels map[string]string, taint string) *provisionerv1.NodePool {
	np := &provisionerv1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if weight > 0 {
		np.Spec.Weight = &weight
	}
	if taint != "" {
		np.Spec.Template.Spec.Taints = []corev1.Taint{{Key: taint, Value: "true", Effect: corev1.TaintEffectNoSchedule}}
	}
	return np
}

func pod(sel map[string]string, tolerate ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: corev1.PodSpec{NodeSelector: sel}}
	for _, k := range tolerate {
		p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: k, Operator: corev1.TolerationOpExists})
	}
	return p
}

func mustParse(t testing.TB, s string) Pools {
	t.Helper()
	p, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in      string
		all     bool
		wantErr bool
	}{
		{"", true, false},
		{"team=a", false, false},
		{"tailor.dev/canary notin (true)", false, false},
		{"!tailor.dev/canary", false, false},
		{"team in (a", false, true},
		{"=x", false, true},
	} {
		p, err := Parse(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("Parse(%q): error %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if err == nil && p.All() != tc.all {
			t.Errorf("Parse(%q).All() = %v, want %v", tc.in, p.All(), tc.all)
		}
	}
	if !(Pools{}).All() {
		t.Error("the zero Pools must select everything")
	}
}

func TestPoolAndClass(t *testing.T) {
	canary := map[string]string{"tailor.dev/canary": "true"}
	for _, tc := range []struct {
		sel    string
		labels map[string]string
		want   bool
	}{
		{"", nil, true},
		{"", canary, true},
		{"tailor.dev/canary=true", canary, true},
		{"tailor.dev/canary=true", nil, false},
		{"tailor.dev/canary=true", map[string]string{"tailor.dev/canary": "false"}, false},
		{"!tailor.dev/canary", nil, true},
		{"!tailor.dev/canary", canary, false},
		{"team in (a,b),env=prod", map[string]string{"team": "b", "env": "prod"}, true},
		{"team in (a,b),env=prod", map[string]string{"team": "b"}, false},
	} {
		p := mustParse(t, tc.sel)
		np := pool("p", 0, tc.labels, "")
		class := &provisionerv1.AWSNodeClass{ObjectMeta: metav1.ObjectMeta{Name: "c", Labels: tc.labels}}
		if got := p.Pool(np); got != tc.want {
			t.Errorf("selector %q, pool labels %v: selected %v, want %v", tc.sel, tc.labels, got, tc.want)
		}
		if got := p.Class(class); got != tc.want {
			t.Errorf("selector %q, class labels %v: selected %v, want %v", tc.sel, tc.labels, got, tc.want)
		}
	}
}

func TestClaim(t *testing.T) {
	mine := pool("mine", 0, map[string]string{"team": "a"}, "")
	theirs := pool("theirs", 0, map[string]string{"team": "b"}, "")
	claimOf := func(np *provisionerv1.NodePool) *provisionerv1.NodeClaim {
		nc := &provisionerv1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: np.Name + "-x", Labels: map[string]string{provisionerv1.LabelNodePool: np.Name}}}
		RecordLabels(nc, np)
		return nc
	}
	legacy := &provisionerv1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: "old", Labels: map[string]string{provisionerv1.LabelNodePool: "gone"}}}
	garbled := claimOf(mine)
	garbled.Annotations[provisionerv1.AnnotationNodePoolLabels] = "{not json"
	relabelled := mine.DeepCopy()
	relabelled.Labels = map[string]string{"team": "b"}
	for _, tc := range []struct {
		name string
		sel  string
		nc   *provisionerv1.NodeClaim
		pool *provisionerv1.NodePool
		want bool
	}{
		{"everything: a claim of any pool", "", claimOf(theirs), theirs, true},
		{"everything: a claim without record or pool", "", legacy, nil, true},
		{"its pool is selected", "team=a", claimOf(mine), mine, true},
		{"its pool is not", "team=a", claimOf(theirs), theirs, false},
		{"pool gone: by the recorded labels", "team=a", claimOf(mine), nil, true},
		{"pool gone: recorded labels of another team", "team=a", claimOf(theirs), nil, false},
		{"the pool's labels now win over the record", "team=a", claimOf(mine), relabelled, false},
		{"pool gone, nothing recorded: the everything installation's", "team=a", legacy, nil, false},
		{"pool gone, record unreadable", "team=a", garbled, nil, false},
		{"a negative selector and a pool without labels", "!team", claimOf(pool("bare", 0, nil, "")), nil, true},
	} {
		if got := mustParse(t, tc.sel).Claim(tc.nc, tc.pool); got != tc.want {
			t.Errorf("%s: Claim = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestOwner: a pending pod goes to the installation of the pool placement
// picks over every pool of the cluster, so two installations never both
// take a pod, and a pod one of them can take is never left to neither.
func TestOwner(t *testing.T) {
	a := pool("a-general", 10, map[string]string{"team": "a"}, "")
	aTainted := pool("a-gpu", 50, map[string]string{"team": "a"}, "gpu")
	b := pool("b-general", 20, map[string]string{"team": "b"}, "")
	bTainted := pool("b-batch", 0, map[string]string{"team": "b"}, "batch")
	all := []*provisionerv1.NodePool{a, aTainted, b, bTainted}
	for _, tc := range []struct {
		name   string
		pod    *corev1.Pod
		owner  string // "a", "b" or "" for neither
		pool   string
		unless string // the selector of the other installation
	}{
		{name: "unpinned: the heaviest pool it fits is b's", pod: pod(nil), owner: "b", pool: "b-general"},
		{name: "tolerates gpu: a's heavier tainted pool", pod: pod(nil, "gpu"), owner: "a", pool: "a-gpu"},
		{name: "pinned by admission to a's pool", pod: pod(map[string]string{provisionerv1.LabelNodePool: "a-general"}), owner: "a", pool: "a-general"},
		{name: "pinned to b's tainted pool it tolerates", pod: pod(map[string]string{provisionerv1.LabelNodePool: "b-batch"}, "batch"), owner: "b", pool: "b-batch"},
		{name: "pinned to a tainted pool it does not tolerate: nobody's", pod: pod(map[string]string{provisionerv1.LabelNodePool: "b-batch"}), owner: ""},
		{name: "pinned to a pool that does not exist: nobody's", pod: pod(map[string]string{provisionerv1.LabelNodePool: "gone"}), owner: ""},
		{name: "a label only a's pool sets", pod: pod(map[string]string{"team": "a"}), owner: ""},
	} {
		ownerA := mustParse(t, "team=a").Owner(all)
		ownerB := mustParse(t, "team=b").Owner(all)
		everything := Pools{}.Owner(all)
		gotA, poolA := ownerA.Pod(tc.pod)
		gotB, poolB := ownerB.Pod(tc.pod)
		if gotA && gotB {
			t.Errorf("%s: both installations take the pod", tc.name)
		}
		got := ""
		switch {
		case gotA:
			got = "a"
		case gotB:
			got = "b"
		}
		if got != tc.owner {
			t.Errorf("%s: owner %q (pools %q, %q), want %q", tc.name, got, poolA, poolB, tc.owner)
		}
		if tc.pool != "" && (poolA != tc.pool || poolB != tc.pool) {
			t.Errorf("%s: deciding pool %q / %q, want %q", tc.name, poolA, poolB, tc.pool)
		}
		if ok, _ := everything.Pod(tc.pod); !ok {
			t.Errorf("%s: the installation without selector must take every pod", tc.name)
		}
	}
}

// TestOwnerIgnoresUsage: a pool at its limit still owns its pods, so the
// answer does not change with what one installation saw last.
func TestOwnerIgnoresUsage(t *testing.T) {
	full := pool("full", 50, map[string]string{"team": "a"}, "")
	full.Spec.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
	full.Status.Resources = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8")}
	other := pool("other", 10, map[string]string{"team": "b"}, "")
	if ok, p := mustParse(t, "team=a").Owner([]*provisionerv1.NodePool{full, other}).Pod(pod(nil)); !ok || p != "full" {
		t.Errorf("owner of a pod whose pool is at its limit: %v %q, want the full pool's installation", ok, p)
	}
}

func TestRecordLabels(t *testing.T) {
	nc := &provisionerv1.NodeClaim{}
	RecordLabels(nc, pool("p", 0, map[string]string{"team": "a", "env": "prod"}, ""))
	got, ok := RecordedLabels(nc)
	if !ok || len(got) != 2 || got["team"] != "a" || got["env"] != "prod" {
		t.Errorf("recorded %v %v", got, ok)
	}
	RecordLabels(nc, pool("p", 0, nil, ""))
	if got, ok := RecordedLabels(nc); !ok || len(got) != 0 {
		t.Errorf("a pool without labels records {}: %v %v (%q)", got, ok, nc.Annotations[provisionerv1.AnnotationNodePoolLabels])
	}
}

// FuzzClaim: for any selector and labels, a claim whose pool is gone is
// judged as its pool was (the record round-trips), and no input panics.
func FuzzClaim(f *testing.F) {
	f.Add("team=a", `{"team":"a"}`)
	f.Add("!tailor.dev/canary", `{}`)
	f.Add("x in (a,b),y!=c", `{"x":"b","y":"c"}`)
	f.Add("", `not json`)
	f.Fuzz(func(t *testing.T, sel, recorded string) {
		p, err := Parse(sel)
		if err != nil {
			return
		}
		nc := &provisionerv1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{provisionerv1.AnnotationNodePoolLabels: recorded}}}
		got := p.Claim(nc, nil)
		if p.All() && !got {
			t.Fatalf("no selector, claim not taken")
		}
		var l map[string]string
		if json.Unmarshal([]byte(recorded), &l) != nil {
			if got && !p.All() {
				t.Fatalf("selector %q took a claim whose record %q does not parse", sel, recorded)
			}
			return
		}
		np := &provisionerv1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: l}}
		if want := p.Pool(np); got != want {
			t.Fatalf("selector %q, labels %v: claim by record %v, by pool %v", sel, l, got, want)
		}
		again := &provisionerv1.NodeClaim{}
		RecordLabels(again, np)
		if p.Claim(again, nil) != p.Pool(np) {
			t.Fatalf("selector %q, labels %v: the written record judges otherwise than the pool", sel, l)
		}
	})
}

// BenchmarkOwner: one batch's ownership check, 50 pools and 1,000 pending
// pods (what the provisioner adds to each batch with a selector).
func BenchmarkOwner(b *testing.B) {
	var all []*provisionerv1.NodePool
	for i := range 50 {
		team := "a"
		if i%2 == 1 {
			team = "b"
		}
		all = append(all, pool(fmt.Sprintf("pool-%02d", i), int32(i%10+1), map[string]string{"team": team}, fmt.Sprintf("taint-%d", i%5)))
	}
	pods := make([]*corev1.Pod, 1000)
	for i := range pods {
		pods[i] = pod(map[string]string{provisionerv1.LabelNodePool: fmt.Sprintf("pool-%02d", i%50)}, fmt.Sprintf("taint-%d", i%5))
	}
	p := mustParse(b, "team=a")
	b.ReportAllocs()
	for b.Loop() {
		o := p.Owner(all)
		for _, pod := range pods {
			o.Pod(pod)
		}
	}
}
