package logic_test

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"

	"github.com/tailor-dev/tailor/recommender/logic"
	"github.com/tailor-dev/tailor/recommender/model"
)

func hamster(t *testing.T) *model.Aggregate {
	for _, sc := range scenarios() {
		if sc.name == "hamster-day" {
			return feed(t, sc)
		}
	}
	t.Fatal("no hamster")
	return nil
}

func rl(cpu, mem string) corev1.ResourceList {
	l := corev1.ResourceList{}
	if cpu != "" {
		l[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		l[corev1.ResourceMemory] = resource.MustParse(mem)
	}
	return l
}

func TestRecommendCappingAndPolicy(t *testing.T) {
	r, err := logic.New(logic.Default())
	if err != nil {
		t.Fatal(err)
	}
	h := hamster(t) // target 627m / 259Mi, upper 1254m / 519Mi
	off := vpav1.ContainerScalingModeOff
	cpuOnly := []corev1.ResourceName{corev1.ResourceCPU}
	cases := []struct {
		name       string
		policy     *vpav1.PodResourcePolicy
		global     corev1.ResourceList
		target     corev1.ResourceList
		uncapped   corev1.ResourceList
		upper      corev1.ResourceList
		containers int
	}{
		{name: "no policy", target: rl("627m", "272061154"), uncapped: rl("627m", "272061154"), containers: 2},
		{name: "maxAllowed", policy: &vpav1.PodResourcePolicy{ContainerPolicies: []vpav1.ContainerResourcePolicy{
			{ContainerName: "app", MaxAllowed: rl("500m", "")},
		}}, target: rl("500m", "272061154"), uncapped: rl("627m", "272061154"), upper: rl("500m", ""), containers: 2},
		{name: "minAllowed via *", policy: &vpav1.PodResourcePolicy{ContainerPolicies: []vpav1.ContainerResourcePolicy{
			{ContainerName: "*", MinAllowed: rl("1", "1Gi")},
		}}, target: rl("1", "1Gi"), uncapped: rl("627m", "272061154"), upper: rl("1254m", "1Gi"), containers: 2},
		{name: "global max", global: rl("", "200Mi"), target: rl("627m", "200Mi"), uncapped: rl("627m", "272061154"), containers: 2},
		{name: "policy max wins over global", global: rl("100m", "200Mi"), policy: &vpav1.PodResourcePolicy{ContainerPolicies: []vpav1.ContainerResourcePolicy{
			{ContainerName: "app", MaxAllowed: rl("300m", "")},
		}}, target: rl("300m", "200Mi"), uncapped: rl("627m", "272061154"), containers: 2},
		{name: "controlled cpu only", policy: &vpav1.PodResourcePolicy{ContainerPolicies: []vpav1.ContainerResourcePolicy{
			{ContainerName: "app", ControlledResources: &cpuOnly},
		}}, target: rl("627m", ""), uncapped: rl("627m", ""), containers: 2},
		{name: "sidecar off", policy: &vpav1.PodResourcePolicy{ContainerPolicies: []vpav1.ContainerResourcePolicy{
			{ContainerName: "sidecar", Mode: &off},
		}}, target: rl("627m", "272061154"), uncapped: rl("627m", "272061154"), containers: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			side := model.NewAggregate(h.Params(), t0)
			got := r.Recommend([]logic.Container{{Name: "sidecar", Aggregate: side}, {Name: "app", Aggregate: h}}, tc.policy, tc.global)
			if n := len(got.ContainerRecommendations); n != tc.containers {
				t.Fatalf("%d containers, want %d", n, tc.containers)
			}
			app := got.ContainerRecommendations[0]
			if app.ContainerName != "app" {
				t.Fatalf("not sorted: %v", app.ContainerName)
			}
			eq := func(what string, got, want corev1.ResourceList) {
				if len(got) != len(want) {
					t.Errorf("%s: %v, want %v", what, got, want)
				}
				for k, w := range want {
					if g := got[k]; g.Cmp(w) != 0 {
						t.Errorf("%s %s: %s, want %s", what, k, g.String(), w.String())
					}
				}
			}
			eq("target", app.Target, tc.target)
			eq("uncappedTarget", app.UncappedTarget, tc.uncapped)
			for k, w := range tc.upper {
				if g := app.UpperBound[k]; g.Cmp(w) != 0 {
					t.Errorf("upperBound %s: %s, want %s", k, g.String(), w.String())
				}
			}
			for _, k := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				lo, ta, up := app.LowerBound[k], app.Target[k], app.UpperBound[k]
				if lo.Cmp(ta) > 0 || ta.Cmp(up) > 0 {
					t.Errorf("%s bounds unordered: %s %s %s", k, lo.String(), ta.String(), up.String())
				}
			}
			if tc.containers == 2 && tc.name != "minAllowed via *" {
				// the empty sidecar gets half of the pod minimums
				s := got.ContainerRecommendations[1]
				if c, m := s.Target[corev1.ResourceCPU], s.Target[corev1.ResourceMemory]; c.MilliValue() != 12 || m.Value() != 125<<20 {
					t.Errorf("sidecar target %s %s, want 12m 125Mi", c.String(), m.String())
				}
				// upstream writes memory in decimal SI: kubectl get vpa shows 131072k, not 125Mi
				if m := s.Target[corev1.ResourceMemory]; m.String() != "131072k" {
					t.Errorf("sidecar memory target spelled %s, want upstream's 131072k", m.String())
				}
			}
		})
	}
}

func TestOOMBump(t *testing.T) {
	p := model.DefaultParams()
	a := model.NewAggregate(p, t0)
	c := model.NewContainer(a)
	for i := range 120 {
		ts := t0.Add(time.Duration(i) * time.Minute)
		c.AddCPU(ts, 100, 100)
		c.AddMemory(ts, 200*mi)
	}
	r, _ := logic.New(logic.Default())
	before := r.Estimate(a, r.PodMinimums(1)).Target[logic.Memory]
	if err := c.RecordOOM(t0.Add(2*time.Hour), 256*mi); err != nil {
		t.Fatal(err)
	}
	after := r.Estimate(a, r.PodMinimums(1)).Target[logic.Memory]
	// upstream's bump: max(256Mi*1.2, 256Mi+100Mi) = 356Mi, plus the 15% margin.
	if min := int64(356 * mi * 115 / 100); after < min || after <= before {
		t.Fatalf("memory target %dMi -> %dMi, want >= %dMi", before/mi, after/mi, min/mi)
	}
	if err := c.RecordOOM(t0.Add(-24*time.Hour), 256*mi); err == nil {
		t.Fatal("stale OOM accepted")
	}
}

func TestConfigValidate(t *testing.T) {
	c := logic.Default()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := c
	bad.TargetCPUPercentile = 0.99 // above the upper bound percentile
	if bad.Validate() == nil {
		t.Error("unordered percentiles accepted")
	}
	bad = c
	bad.ConfidenceIntervalMemory = 0
	if bad.Validate() == nil {
		t.Error("zero confidence interval accepted")
	}
	if _, err := model.NewParams(model.Config{}); err == nil {
		t.Error("zero model config accepted")
	}
}
