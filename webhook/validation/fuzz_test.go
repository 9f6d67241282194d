package validation

import (
	"github.com/tailor-dev/tailor/recommender/sizing"

	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
)

// FuzzVPA builds VPAs from random names, quantities and modes (and, from raw,
// whatever JSON decodes into a VPA) and checks that validation never panics,
// is deterministic, names a spec field in every error, and that an accepted
// VPA really keeps the invariants the rest of Tailor relies on.
func FuzzVPA(f *testing.F) {
	f.Add("Deployment", "hamster", "apps/v1", "", "*", "Auto", "Auto", "RequestsAndLimits", "cpu", "100m", "1", "50Mi", "500Mi", int32(0), []byte(nil))
	f.Add("", "", "", "tailor", "", "InPlace", "On", "LimitsOnly", "gpu", "-1", "1e7", "1Pi", "2Pi", int32(-1), []byte(`{"spec":{}}`))
	f.Add("Rollout", "web", "argoproj.io/v1alpha1", "my-rec", "app", "InPlaceOrRecreate", "Off", "RequestsOnly", "memory", "2", "1", "1e30", "0.5", int32(3),
		[]byte(`{"spec":{"targetRef":{"kind":"D","name":"x"},"recommenders":[null,{"name":""}],"updatePolicy":{"evictionRequirements":[null,{}]},"resourcePolicy":{"containerPolicies":[{"minAllowed":{"cpu":"1u"},"controlledResources":[]}]}}}`))
	f.Add("a/b", "A_B", "/v1", "A B", "x*", "", "", "", "", "9223372036854775807", "1n", "1Ei", "8Ei", int32(2147483647), []byte(`null`))

	f.Fuzz(func(t *testing.T, kind, name, apiVersion, recommender, container, mode, cmode, cvalues, res,
		minCPU, maxCPU, minMem, maxMem string, minReplicas int32, raw []byte) {
		v := &vpav1.VerticalPodAutoscaler{}
		v.Spec.TargetRef = &autoscalingv1.CrossVersionObjectReference{Kind: kind, Name: name, APIVersion: apiVersion}
		if recommender != "" {
			v.Spec.Recommenders = []*vpav1.VerticalPodAutoscalerRecommenderSelector{{Name: recommender}}
		}
		if mode != "" || minReplicas != 0 {
			v.Spec.UpdatePolicy = &vpav1.PodUpdatePolicy{MinReplicas: &minReplicas}
			if mode != "" {
				m := vpav1.UpdateMode(mode)
				v.Spec.UpdatePolicy.UpdateMode = &m
			}
			if res != "" {
				v.Spec.UpdatePolicy.EvictionRequirements = []*vpav1.EvictionRequirement{
					{Resources: []corev1.ResourceName{corev1.ResourceName(res)}, ChangeRequirement: vpav1.EvictionChangeRequirement(cvalues)},
				}
			}
		}
		cp := vpav1.ContainerResourcePolicy{ContainerName: container, MinAllowed: corev1.ResourceList{}, MaxAllowed: corev1.ResourceList{}}
		if cmode != "" {
			m := vpav1.ContainerScalingMode(cmode)
			cp.Mode = &m
		}
		if cvalues != "" {
			cv := vpav1.ContainerControlledValues(cvalues)
			cp.ControlledValues = &cv
		}
		if res != "" {
			cp.ControlledResources = &[]corev1.ResourceName{corev1.ResourceName(res), corev1.ResourceCPU}
		}
		put := func(l corev1.ResourceList, r corev1.ResourceName, s string) {
			if qq, err := sizing.ParseQuantity(s); err == nil {
				l[r] = qq
			}
		}
		put(cp.MinAllowed, corev1.ResourceCPU, minCPU)
		put(cp.MaxAllowed, corev1.ResourceCPU, maxCPU)
		put(cp.MinAllowed, corev1.ResourceMemory, minMem)
		put(cp.MaxAllowed, corev1.ResourceMemory, maxMem)
		if res != "" && res != "cpu" && res != "memory" {
			put(cp.MinAllowed, corev1.ResourceName(res), minCPU)
		}
		if qq, err := sizing.ParseQuantity(minMem); err == nil {
			cp.OOMMinBumpUp = &qq
		}
		if qq, err := sizing.ParseQuantity(maxCPU); err == nil {
			cp.OOMBumpUpRatio = &qq
			v.Spec.StartupBoost = &vpav1.StartupBoost{CPU: &vpav1.GenericStartupBoost{Type: vpav1.StartupBoostType(cmode), Quantity: &qq, Factor: &minReplicas}}
		}
		other := vpav1.ContainerResourcePolicy{ContainerName: "*", MinAllowed: cp.MinAllowed}
		if container == "*" {
			other.ContainerName = "sidecar"
		}
		v.Spec.ResourcePolicy = &vpav1.PodResourcePolicy{ContainerPolicies: []vpav1.ContainerResourcePolicy{cp, other}}

		check(t, v)
		for _, s := range []string{kind, name, apiVersion, recommender, container, mode, cmode, res} {
			checkNames(t, s)
		}
		for _, s := range []string{minCPU, maxCPU, minMem, maxMem} {
			if qq, err := sizing.ParseQuantity(s); err == nil {
				checkResolution(t, qq)
			}
		}

		var fromJSON vpav1.VerticalPodAutoscaler
		if json.Unmarshal(raw, &fromJSON) == nil {
			check(t, &fromJSON)
		}
	})
}

func check(t *testing.T, v *vpav1.VerticalPodAutoscaler) {
	t.Helper()
	errs := VPA(v)
	_ = VPAWarnings(v)
	if again := VPA(v); fmt.Sprint(again) != fmt.Sprint(errs) {
		t.Fatalf("non-deterministic:\n%v\n%v", errs, again)
	}
	for _, e := range errs {
		if !strings.HasPrefix(e.Field, "spec.") && e.Field != "spec" {
			t.Fatalf("error without a spec field path: %v", e)
		}
	}
	if len(errs) > 0 {
		return
	}
	// Accepted: the invariants hold.
	if v.Spec.TargetRef == nil || v.Spec.TargetRef.Kind == "" || v.Spec.TargetRef.Name == "" {
		t.Fatalf("accepted without a complete targetRef: %+v", v.Spec.TargetRef)
	}
	if len(v.Spec.Recommenders) > 1 {
		t.Fatalf("accepted %d recommenders", len(v.Spec.Recommenders))
	}
	if up := v.Spec.UpdatePolicy; up != nil && up.MinReplicas != nil && *up.MinReplicas < 1 {
		t.Fatalf("accepted minReplicas %d", *up.MinReplicas)
	}
	if rp := v.Spec.ResourcePolicy; rp != nil {
		names := map[string]bool{}
		for _, cp := range rp.ContainerPolicies {
			if cp.ContainerName == "" || names[cp.ContainerName] {
				t.Fatalf("accepted empty or duplicate container name %q", cp.ContainerName)
			}
			names[cp.ContainerName] = true
			for _, l := range []corev1.ResourceList{cp.MinAllowed, cp.MaxAllowed} {
				for r, qq := range l {
					if r != corev1.ResourceCPU && r != corev1.ResourceMemory {
						t.Fatalf("accepted resource %q", r)
					}
					limit := MaxMemory
					if r == corev1.ResourceCPU {
						limit = MaxCPU
					}
					if qq.Sign() < 0 || qq.Cmp(limit) > 0 {
						t.Fatalf("accepted %s %s", r, qq.String())
					}
				}
			}
			for r, lo := range cp.MinAllowed {
				if hi, ok := cp.MaxAllowed[r]; ok && lo.Cmp(hi) > 0 {
					t.Fatalf("accepted minAllowed %s %s > maxAllowed %s", r, lo.String(), hi.String())
				}
			}
		}
	}
}

// checkNames asserts that the allocation-free name checks agree with apimachinery's.
func checkNames(t *testing.T, s string) {
	t.Helper()
	if got, want := isDNS1123Label(s), len(utilvalidation.IsDNS1123Label(s)) == 0; got != want {
		t.Fatalf("isDNS1123Label(%q) = %v, apimachinery says %v", s, got, want)
	}
	if got, want := isDNS1123Subdomain(s), len(utilvalidation.IsDNS1123Subdomain(s)) == 0; got != want {
		t.Fatalf("isDNS1123Subdomain(%q) = %v, apimachinery says %v", s, got, want)
	}
	if got, want := isDNS1035Label(s), len(utilvalidation.IsDNS1035Label(s)) == 0; got != want {
		t.Fatalf("isDNS1035Label(%q) = %v, apimachinery says %v", s, got, want)
	}
	ascii := true
	for i := 0; i < len(s); i++ {
		ascii = ascii && s[i] < utf8.RuneSelf
	}
	if got, want := isKind(s), len(utilvalidation.IsDNS1035Label(strings.ToLower(s))) == 0; ascii && got != want {
		t.Fatalf("isKind(%q) = %v, apimachinery on the lower case says %v", s, got, want)
	}
}

// checkResolution asserts that quantityProblem's resolution test agrees with
// Quantity.AsScale, the exact (and slower) way upstream checks it.
func checkResolution(t *testing.T, q resource.Quantity) {
	t.Helper()
	if q.Sign() < 0 {
		return
	}
	if q.Cmp(MaxCPU) <= 0 {
		_, exact := q.AsScale(resource.Milli)
		if got := quantityProblem(corev1.ResourceCPU, q) == ""; got != exact {
			t.Fatalf("cpu %s: accepted=%v, AsScale(milli) exact=%v", q.String(), got, exact)
		}
	}
	if q.Cmp(MaxMemory) <= 0 {
		_, exact := q.AsScale(0)
		if got := quantityProblem(corev1.ResourceMemory, q) == ""; got != exact {
			t.Fatalf("memory %s: accepted=%v, AsScale(0) exact=%v", q.String(), got, exact)
		}
	}
}
