package disruption

import (
	"math"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/scheduling"
)

func TestActive(t *testing.T) {
	b := func(s string, d time.Duration) provisionerv1.Budget {
		return provisionerv1.Budget{Nodes: "0", Schedule: &s, Duration: &metav1.Duration{Duration: d}}
	}
	cases := []struct {
		name   string
		budget provisionerv1.Budget
		now    time.Time
		want   bool
	}{
		{"no schedule", provisionerv1.Budget{Nodes: "0"}, t0, true},
		{"hourly, inside", b("@hourly", 15*time.Minute), t0, true},
		{"hourly, after", b("@hourly", 5*time.Minute), t0, false},
		{"at the start", b("10 10 * * *", time.Minute), t0, true},
		{"at the end (exclusive)", b("9 10 * * *", time.Minute), t0, false},
		{"weekdays 9–17, Monday 10:10", b("0 9 * * mon-fri", 8*time.Hour), t0, true},
		{"weekdays 9–17, Sunday", b("0 9 * * mon-fri", 8*time.Hour), t0.Add(-24 * time.Hour), false},
		{"a window across midnight", b("0 22 * * *", 4*time.Hour), time.Date(2026, 3, 3, 1, 0, 0, 0, time.UTC), true},
		{"a bad schedule limits", b("61 * * * *", time.Hour), t0, true},
		{"time zones are refused (limits)", b("CRON_TZ=Asia/Seoul 0 9 * * *", time.Hour), t0.Add(12 * time.Hour), true},
		{"now in another zone", b("0 10 * * *", time.Hour), t0.In(time.FixedZone("KST", 9*3600)), true},
	}
	for _, tc := range cases {
		if got := Active(tc.budget, tc.now); got != tc.want {
			t.Errorf("%s: active %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestAllowed(t *testing.T) {
	np := func(b ...provisionerv1.Budget) *provisionerv1.NodePool {
		p := &provisionerv1.NodePool{}
		p.Spec.Disruption.Budgets = b
		return p
	}
	cases := []struct {
		name   string
		pool   *provisionerv1.NodePool
		reason provisionerv1.DisruptionReason
		total  int
		want   int
	}{
		{"default 10% rounds up", np(), provisionerv1.DisruptionReasonEmpty, 3, 1},
		{"default 10% of 25", np(), provisionerv1.DisruptionReasonEmpty, 25, 3},
		{"a count", np(provisionerv1.Budget{Nodes: "5"}), provisionerv1.DisruptionReasonDrifted, 3, 5},
		{"the smallest wins", np(provisionerv1.Budget{Nodes: "50%"}, provisionerv1.Budget{Nodes: "2"}), provisionerv1.DisruptionReasonEmpty, 10, 2},
		{"a budget for other reasons does not apply", np(provisionerv1.Budget{Nodes: "0", Reasons: []provisionerv1.DisruptionReason{"Drifted"}}, provisionerv1.Budget{Nodes: "3"}), provisionerv1.DisruptionReasonEmpty, 10, 3},
		{"expiration: only budgets without reasons", np(provisionerv1.Budget{Nodes: "0", Reasons: []provisionerv1.DisruptionReason{"Drifted"}}), "", 10, int(^uint(0) >> 1)},
		{"a bad count allows nothing", np(provisionerv1.Budget{Nodes: "x"}), provisionerv1.DisruptionReasonEmpty, 10, 0},
		{"0% of 0", np(provisionerv1.Budget{Nodes: "0%"}), provisionerv1.DisruptionReasonEmpty, 0, 0},
	}
	for _, tc := range cases {
		got, why := Allowed(tc.pool, tc.reason, tc.total, t0)
		if got != tc.want {
			t.Errorf("%s: allowed %d (%s), want %d", tc.name, got, why, tc.want)
		}
	}
}

func TestDrift(t *testing.T) {
	np := pool("a", func(np *provisionerv1.NodePool) {
		np.Spec.Template.Metadata.Labels = map[string]string{"team": "web"}
		np.Spec.Template.Spec.Requirements = []provisionerv1.NodeSelectorRequirementWithMinValues{
			{Key: provisionerv1.LabelCapacityType, Operator: corev1.NodeSelectorOpIn, Values: []string{"on-demand"}},
		}
	}).NodePool
	class := &provisionerv1.AWSNodeClassSpec{Role: "r"}
	claim := &provisionerv1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: "c", Annotations: map[string]string{
		provisionerv1.AnnotationNodePoolHash: PoolHash(np), provisionerv1.AnnotationNodeClassHash: NodeClassHash(class),
	}}}
	nodeWith := func(labels map[string]string) *corev1.Node {
		all := map[string]string{provisionerv1.LabelNodePool: "a", "team": "web", provisionerv1.LabelCapacityType: "on-demand"}
		for k, v := range labels {
			all[k] = v
		}
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: all}}
	}
	if r := DriftReason(np, claim, nodeWith(nil), NodeClassHash(class)); r != "" {
		t.Errorf("fresh claim drifted: %s", r)
	}
	relabelled := np.DeepCopy()
	relabelled.Spec.Template.Metadata.Labels["team"] = "api"
	if r := DriftReason(relabelled, claim, nodeWith(nil), NodeClassHash(class)); !strings.Contains(r, "template") {
		t.Errorf("template labels changed: %q", r)
	}
	tainted := np.DeepCopy()
	tainted.Spec.Template.Spec.Taints = []corev1.Taint{{Key: "k", Effect: corev1.TaintEffectNoSchedule}}
	if r := DriftReason(tainted, claim, nodeWith(nil), NodeClassHash(class)); r == "" {
		t.Errorf("taints changed: no drift")
	}
	if r := DriftReason(np, claim, nodeWith(nil), NodeClassHash(&provisionerv1.AWSNodeClassSpec{Role: "other"})); !strings.Contains(r, "AWSNodeClass") {
		t.Errorf("node class changed: %q", r)
	}
	spot := np.DeepCopy()
	spot.Spec.Template.Spec.Requirements[0].Values = []string{"spot"}
	if r := DriftReason(spot, claim, nodeWith(nil), ""); !strings.Contains(r, "requirements") {
		t.Errorf("requirements the node no longer meets: %q", r)
	}
	expiry := np.DeepCopy()
	expiry.Spec.Template.Spec.ExpireAfter = "1h"
	if r := DriftReason(expiry, claim, nodeWith(nil), ""); r != "" {
		t.Errorf("expireAfter is not drift: %q", r)
	}
	old := claim.DeepCopy()
	old.Annotations = nil
	if r := DriftReason(relabelled, old, nodeWith(map[string]string{"team": "api"}), ""); r != "" {
		t.Errorf("a claim without hashes is compared on requirements only: %q", r)
	}
}

func TestExpiresAt(t *testing.T) {
	nc := &provisionerv1.NodeClaim{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(t0)}}
	for spec, want := range map[provisionerv1.NillableDuration]time.Duration{"": -1, "Never": -1, "bad": -1, "30s": 30 * time.Second, "720h": 720 * time.Hour} {
		nc.Spec.ExpireAfter = spec
		at, ok := ExpiresAt(nc)
		if want < 0 && ok || want >= 0 && (!ok || !at.Equal(t0.Add(want))) {
			t.Errorf("expireAfter %q: %v %v", spec, at, ok)
		}
	}
}

func TestThresholdMessage(t *testing.T) {
	// Acceptance 2's Event: the refusal says what the saving would have been.
	p := pool("a", func(np *provisionerv1.NodePool) {
		np.Spec.Disruption.MinimumSavings = &provisionerv1.MinimumSavings{PerHour: "5"}
	})
	d, err := Decide(Input{Now: t0, Pools: []scheduling.Pool{p}, Nodes: []Node{node("big", "a", 7, runningPod("p", "500m"))}})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Refusals) != 1 || !d.Refusals[0].Priced || math.Abs(d.Refusals[0].PriceAfter-0.3) > 1e-9 ||
		!strings.Contains(d.Refusals[0].Message, "would save $2.1000/h") || !strings.Contains(d.Refusals[0].Message, "$5.0000/h") {
		t.Errorf("refusals %+v", d.Refusals)
	}
}

func TestConsolidatableAt(t *testing.T) {
	np := pool("a").NodePool // consolidateAfter 30s
	if at, ok := ConsolidatableAt(np, t0); !ok || !at.Equal(t0.Add(30*time.Second)) {
		t.Errorf("consolidatable at %s %v, want 30s after the last pod event", at, ok)
	}
	np.Spec.Disruption.ConsolidateAfter = ""
	if at, ok := ConsolidatableAt(np, t0); !ok || !at.Equal(t0) {
		t.Errorf("unset consolidateAfter: %s %v, want at once (0s)", at, ok)
	}
	np.Spec.Disruption.ConsolidateAfter = provisionerv1.Never
	if _, ok := ConsolidatableAt(np, t0); ok {
		t.Error("consolidateAfter Never: consolidatable")
	}
}
