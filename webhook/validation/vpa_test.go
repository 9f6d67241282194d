package validation

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	"sigs.k8s.io/yaml"
)

// hamsterYAML is the seed document's VPA, verbatim in substance.
const hamsterYAML = `
apiVersion: "autoscaling.k8s.io/v1"
kind: VerticalPodAutoscaler
metadata:
  name: hamster-vpa
spec:
  targetRef:
    apiVersion: "apps/v1"
    kind: Deployment
    name: hamster
  resourcePolicy:
    containerPolicies:
      - containerName: '*'
        minAllowed:
          cpu: 100m
          memory: 50Mi
        maxAllowed:
          cpu: 1
          memory: 500Mi
        controlledResources: ["cpu", "memory"]
`

func hamster(t testing.TB) *vpav1.VerticalPodAutoscaler {
	t.Helper()
	v := &vpav1.VerticalPodAutoscaler{}
	if err := yaml.UnmarshalStrict([]byte(hamsterYAML), v); err != nil {
		t.Fatalf("hamster YAML: %v", err)
	}
	return v
}

func ptr[T any](v T) *T { return &v }

func q(s string) resource.Quantity { return resource.MustParse(s) }

func rl(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i+1 < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = q(kv[i+1])
	}
	return out
}

func cp0(v *vpav1.VerticalPodAutoscaler) *vpav1.ContainerResourcePolicy {
	return &v.Spec.ResourcePolicy.ContainerPolicies[0]
}

// summary renders an error as "Type path" for compact expectations.
func summary(errs field.ErrorList) []string {
	out := make([]string, 0, len(errs))
	for _, e := range errs {
		out = append(out, string(e.Type)+" "+e.Field)
	}
	return out
}

func TestVPA(t *testing.T) {
	const p0 = "spec.resourcePolicy.containerPolicies[0]"
	tests := []struct {
		name   string
		mutate func(v *vpav1.VerticalPodAutoscaler)
		want   []string // "Type path" of each error, in order
		msg    string   // if set, the full text of the only error
	}{
		{name: "seed hamster-vpa", mutate: func(*vpav1.VerticalPodAutoscaler) {}},
		{name: "minimal: only targetRef", mutate: func(v *vpav1.VerticalPodAutoscaler) { v.Spec.ResourcePolicy = nil }},
		{name: "targetRef without apiVersion", mutate: func(v *vpav1.VerticalPodAutoscaler) { v.Spec.TargetRef.APIVersion = "" }},
		{name: "targetRef core group", mutate: func(v *vpav1.VerticalPodAutoscaler) {
			v.Spec.TargetRef = &autoscalingv1.CrossVersionObjectReference{APIVersion: "v1", Kind: "ReplicationController", Name: "rc.x-1"}
		}},
		{name: "targetRef CRD", mutate: func(v *vpav1.VerticalPodAutoscaler) {
			v.Spec.TargetRef = &autoscalingv1.CrossVersionObjectReference{APIVersion: "argoproj.io/v1alpha1", Kind: "Rollout", Name: "web"}
		}},
		{name: "every update mode but InPlace", mutate: func(v *vpav1.VerticalPodAutoscaler) {
			v.Spec.UpdatePolicy = &vpav1.PodUpdatePolicy{UpdateMode: ptr(vpav1.UpdateModeInPlaceOrRecreate), MinReplicas: ptr[int32](1)}
		}},
		{name: "updatePolicy without updateMode", mutate: func(v *vpav1.VerticalPodAutoscaler) {
			v.Spec.UpdatePolicy = &vpav1.PodUpdatePolicy{MinReplicas: ptr[int32](2)}
		}},
		{name: "one recommender", mutate: func(v *vpav1.VerticalPodAutoscaler) {
			v.Spec.Recommenders = []*vpav1.VerticalPodAutoscalerRecommenderSelector{{Name: "tailor"}}
		}},
		{name: "full valid policy", mutate: func(v *vpav1.VerticalPodAutoscaler) {
			v.Spec.UpdatePolicy = &vpav1.PodUpdatePolicy{
				UpdateMode:           ptr(vpav1.UpdateModeRecreate),
				EvictAfterOOMSeconds: ptr[int32](60),
				EvictionRequirements: []*vpav1.EvictionRequirement{
					{Resources: []corev1.ResourceName{"cpu", "memory"}, ChangeRequirement: vpav1.TargetHigherThanRequests},
				},
			}
			v.Spec.StartupBoost = &vpav1.StartupBoost{CPU: &vpav1.GenericStartupBoost{Type: vpav1.FactorStartupBoostType, Factor: ptr[int32](2), DurationSeconds: ptr[int32](30)}}
			v.Spec.ResourcePolicy.ContainerPolicies = append(v.Spec.ResourcePolicy.ContainerPolicies,
				vpav1.ContainerResourcePolicy{
					ContainerName: "istio-proxy", Mode: ptr(vpav1.ContainerScalingModeOff),
					ControlledValues: ptr(vpav1.ContainerControlledValuesRequestsOnly),
				},
				vpav1.ContainerResourcePolicy{
					ContainerName: "app", Mode: ptr(vpav1.ContainerScalingModeAuto),
					MinAllowed: rl("cpu", "1", "memory", "1Gi"), MaxAllowed: rl("cpu", "1", "memory", "1Gi"),
					ControlledResources: &[]corev1.ResourceName{"memory"},
					ControlledValues:    ptr(vpav1.ContainerControlledValuesRequestsAndLimits),
					OOMBumpUpRatio:      ptr(q("1.5")), OOMMinBumpUp: ptr(q("100Mi")),
					MemoryAggregationIntervalSeconds: ptr[int32](3600), MemoryAggregationIntervalCount: ptr[int64](8),
					StartupBoost: &vpav1.StartupBoost{CPU: &vpav1.GenericStartupBoost{Type: vpav1.QuantityStartupBoostType, Quantity: ptr(q("2"))}},
				})
		}},
		{name: "limits at the absurdity bounds", mutate: func(v *vpav1.VerticalPodAutoscaler) {
			cp0(v).MinAllowed = rl("cpu", "0", "memory", "0")
			cp0(v).MaxAllowed = rl("cpu", "1e7", "memory", "1Pi")
		}},

		// targetRef
		{name: "no targetRef", mutate: func(v *vpav1.VerticalPodAutoscaler) { v.Spec.TargetRef = nil },
			want: []string{"FieldValueRequired spec.targetRef"}},
		{name: "targetRef without kind and name", mutate: func(v *vpav1.VerticalPodAutoscaler) {
			v.Spec.TargetRef = &autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1"}
		}, want: []string{"FieldValueRequired spec.targetRef.kind", "FieldValueRequired spec.targetRef.name"}},
		{name: "targetRef bad kind", mutate: func(v *vpav1.VerticalPodAutoscaler) { v.Spec.TargetRef.Kind = "deployments/scale" },
			want: []string{"FieldValueInvalid spec.targetRef.kind"}},
		{name: "targetRef bad name", mutate: func(v *vpav1.VerticalPodAutoscaler) { v.Spec.TargetRef.Name = "Hamster_1" },
			want: []string{"FieldValueInvalid spec.targetRef.name"}},
		{name: "targetRef bad apiVersion", mutate: func(v *vpav1.VerticalPodAutoscaler) { v.Spec.TargetRef.APIVersion = "apps/v1/x" },
			want: []string{"FieldValueInvalid spec.targetRef.apiVersion"}},
		{name: "targetRef apiVersion without version", mutate: func(v *vpav1.VerticalPodAutoscaler) { v.Spec.TargetRef.APIVersion = "apps/" },
			want: []string{"FieldValueInvalid spec.targetRef.apiVersion"}},
		{name: "targetRef apiVersion bad group", mutate: func(v *vpav1.VerticalPodAutoscaler) { v.Spec.TargetRef.APIVersion = "Apps!/v1" },
			want: []string{"FieldValueInvalid spec.targetRef.apiVersion"}},

		// recommenders
		{name: "two recommenders", mutate: func(v *vpav1.VerticalPodAutoscaler) {
			v.Spec.Recommenders = []*vpav1.VerticalPodAutoscalerRecommenderSelector{{Name: "tailor"}, {Name: "other"}}
		}, want: []string{"FieldValueTooMany spec.recommenders"}},
		{name: "recommender without name, null recommender", mutate: func(v *vpav1.VerticalPodAutoscaler) {
			v.Spec.Recommenders = []*vpav1.VerticalPodAutoscalerRecommenderSelector{{Name: ""}, nil}
		}, want: []string{"FieldValueTooMany spec.recommenders", "FieldValueRequired spec.recommenders[0].name", "FieldValueRequired spec.recommenders[1]"}},
		{name: "recommender bad name", mutate: func(v *vpav1.VerticalPodAutoscaler) {
			v.Spec.Recommenders = []*vpav1.VerticalPodAutoscalerRecommenderSelector{{Name: "My Recommender"}}
		}, want: []string{"FieldValueInvalid spec.recommenders[0].name"}},

		// updatePolicy
		{name: "unknown update mode", mutate: func(v *vpav1.VerticalPodAutoscaler) {
			v.Spec.UpdatePolicy = &vpav1.PodUpdatePolicy{UpdateMode: ptr(vpav1.UpdateMode("auto"))}
		}, want: []string{"FieldValueNotSupported spec.updatePolicy.updateMode"},
			msg: `spec.updatePolicy.updateMode: Unsupported value: "auto": supported values: "Off", "Initial", "Recreate", "InPlaceOrRecreate", "Auto"`},
		{name: "InPlace refused", mutate: func(v *vpav1.VerticalPodAutoscaler) {
			v.Spec.UpdatePolicy = &vpav1.PodUpdatePolicy{UpdateMode: ptr(vpav1.UpdateModeInPlace)}
		}, want: []string{"FieldValueForbidden spec.updatePolicy.updateMode"}},
		{name: "minReplicas zero", mutate: func(v *vpav1.VerticalPodAutoscaler) {
			v.Spec.UpdatePolicy = &vpav1.PodUpdatePolicy{UpdateMode: ptr(vpav1.UpdateModeOff), MinReplicas: ptr[int32](0)}
		}, want: []string{"FieldValueInvalid spec.updatePolicy.minReplicas"},
			msg: `spec.updatePolicy.minReplicas: Invalid value: 0: must be greater than or equal to 1`},
		{name: "evictAfterOOMSeconds zero", mutate: func(v *vpav1.VerticalPodAutoscaler) {
			v.Spec.UpdatePolicy = &vpav1.PodUpdatePolicy{EvictAfterOOMSeconds: ptr[int32](0)}
		}, want: []string{"FieldValueInvalid spec.updatePolicy.evictAfterOOMSeconds"}},
		{name: "bad eviction requirements", mutate: func(v *vpav1.VerticalPodAutoscaler) {
			v.Spec.UpdatePolicy = &vpav1.PodUpdatePolicy{EvictionRequirements: []*vpav1.EvictionRequirement{
				nil,
				{},
				{Resources: []corev1.ResourceName{"cpu", "gpu", "cpu"}, ChangeRequirement: "Bigger"},
			}}
		}, want: []string{
			"FieldValueRequired spec.updatePolicy.evictionRequirements[0]",
			"FieldValueRequired spec.updatePolicy.evictionRequirements[1].resources",
			"FieldValueRequired spec.updatePolicy.evictionRequirements[1].changeRequirement",
			"FieldValueNotSupported spec.updatePolicy.evictionRequirements[2].resources[1]",
			"FieldValueDuplicate spec.updatePolicy.evictionRequirements[2].resources[2]",
			"FieldValueNotSupported spec.updatePolicy.evictionRequirements[2].changeRequirement",
		}},

		// containerPolicies
		{name: "empty container name", mutate: func(v *vpav1.VerticalPodAutoscaler) { cp0(v).ContainerName = "" },
			want: []string{"FieldValueRequired " + p0 + ".containerName"}},
		{name: "container name not a DNS label", mutate: func(v *vpav1.VerticalPodAutoscaler) { cp0(v).ContainerName = "App_1" },
			want: []string{"FieldValueInvalid " + p0 + ".containerName"}},
		{name: "container name too long", mutate: func(v *vpav1.VerticalPodAutoscaler) { cp0(v).ContainerName = strings.Repeat("a", 64) },
			want: []string{"FieldValueInvalid " + p0 + ".containerName"}},
		{name: "container name glob", mutate: func(v *vpav1.VerticalPodAutoscaler) { cp0(v).ContainerName = "app*" },
			want: []string{"FieldValueInvalid " + p0 + ".containerName"}},
		{name: "duplicate container names", mutate: func(v *vpav1.VerticalPodAutoscaler) {
			pol := &v.Spec.ResourcePolicy.ContainerPolicies
			*pol = append(*pol, vpav1.ContainerResourcePolicy{ContainerName: "app"}, vpav1.ContainerResourcePolicy{ContainerName: "*"}, vpav1.ContainerResourcePolicy{ContainerName: "app"})
		}, want: []string{"FieldValueDuplicate spec.resourcePolicy.containerPolicies[2].containerName", "FieldValueDuplicate spec.resourcePolicy.containerPolicies[3].containerName"}},
		{name: "bad container mode", mutate: func(v *vpav1.VerticalPodAutoscaler) { cp0(v).Mode = ptr(vpav1.ContainerScalingMode("On")) },
			want: []string{"FieldValueNotSupported " + p0 + ".mode"}},
		{name: "controlledResources not cpu/memory, duplicated", mutate: func(v *vpav1.VerticalPodAutoscaler) {
			cp0(v).ControlledResources = &[]corev1.ResourceName{"cpu", "memory", "ephemeral-storage", "memory"}
		}, want: []string{"FieldValueNotSupported " + p0 + ".controlledResources[2]", "FieldValueDuplicate " + p0 + ".controlledResources[3]"}},
		{name: "bad controlledValues", mutate: func(v *vpav1.VerticalPodAutoscaler) {
			cp0(v).ControlledValues = ptr(vpav1.ContainerControlledValues("LimitsOnly"))
		}, want: []string{"FieldValueNotSupported " + p0 + ".controlledValues"}},
		{name: "controlledValues RequestsAndLimits with mode Off", mutate: func(v *vpav1.VerticalPodAutoscaler) {
			cp0(v).Mode = ptr(vpav1.ContainerScalingModeOff)
			cp0(v).ControlledValues = ptr(vpav1.ContainerControlledValuesRequestsAndLimits)
		}, want: []string{"FieldValueForbidden " + p0 + ".controlledValues"}},
		{name: "minAllowed above maxAllowed", mutate: func(v *vpav1.VerticalPodAutoscaler) { cp0(v).MinAllowed[corev1.ResourceCPU] = q("2") },
			want: []string{"FieldValueInvalid " + p0 + ".minAllowed[cpu]"},
			msg:  p0 + `.minAllowed[cpu]: Invalid value: "2": must be less than or equal to maxAllowed (1)`},
		{name: "minAllowed above maxAllowed, memory", mutate: func(v *vpav1.VerticalPodAutoscaler) { cp0(v).MaxAllowed[corev1.ResourceMemory] = q("10Mi") },
			want: []string{"FieldValueInvalid " + p0 + ".minAllowed[memory]"},
			msg:  p0 + `.minAllowed[memory]: Invalid value: "50Mi": must be less than or equal to maxAllowed (10Mi)`},
		{name: "negative quantities", mutate: func(v *vpav1.VerticalPodAutoscaler) {
			cp0(v).MinAllowed = rl("cpu", "-1", "memory", "-1Mi")
		}, want: []string{"FieldValueInvalid " + p0 + ".minAllowed[cpu]", "FieldValueInvalid " + p0 + ".minAllowed[memory]"}},
		// Found by fuzzing: one Cmp of this quantity takes hours.
		{name: "exponent beyond any amount", mutate: func(v *vpav1.VerticalPodAutoscaler) {
			cp0(v).MaxAllowed[corev1.ResourceCPU] = q("2000020E0100000000011")
		}, want: []string{"FieldValueInvalid " + p0 + ".maxAllowed[cpu]"},
			msg: p0 + `.maxAllowed[cpu]: Invalid value: "20000200e1215752202": must be between 1n and 2^63 (an exponent this large or small is no resource amount)`},
		{name: "oomBumpUpRatio beyond any amount", mutate: func(v *vpav1.VerticalPodAutoscaler) { cp0(v).OOMBumpUpRatio = ptr(q("1E100000000011")) },
			want: []string{"FieldValueInvalid " + p0 + ".oomBumpUpRatio"}},
		{name: "absurd cpu", mutate: func(v *vpav1.VerticalPodAutoscaler) { cp0(v).MaxAllowed[corev1.ResourceCPU] = q("10000001") },
			want: []string{"FieldValueInvalid " + p0 + ".maxAllowed[cpu]"},
			msg:  p0 + `.maxAllowed[cpu]: Invalid value: "10000001": must be less than or equal to 10000000 CPUs`},
		{name: "absurd memory", mutate: func(v *vpav1.VerticalPodAutoscaler) { cp0(v).MaxAllowed[corev1.ResourceMemory] = q("2Pi") },
			want: []string{"FieldValueInvalid " + p0 + ".maxAllowed[memory]"}},
		{name: "absurd both sides", mutate: func(v *vpav1.VerticalPodAutoscaler) {
			cp0(v).MinAllowed = rl("memory", "1e30")
			cp0(v).MaxAllowed = rl("memory", "1e30")
		}, want: []string{"FieldValueInvalid " + p0 + ".minAllowed[memory]", "FieldValueInvalid " + p0 + ".maxAllowed[memory]"}},
		{name: "sub-milli cpu, sub-byte memory", mutate: func(v *vpav1.VerticalPodAutoscaler) {
			cp0(v).MinAllowed = rl("cpu", "100u", "memory", "0.5")
		}, want: []string{"FieldValueInvalid " + p0 + ".minAllowed[cpu]", "FieldValueInvalid " + p0 + ".minAllowed[memory]"}},
		{name: "other resource keys", mutate: func(v *vpav1.VerticalPodAutoscaler) {
			cp0(v).MinAllowed["nvidia.com/gpu"] = q("1")
			cp0(v).MaxAllowed["ephemeral-storage"] = q("1Gi")
		}, want: []string{"FieldValueNotSupported " + p0 + ".minAllowed[nvidia.com/gpu]", "FieldValueNotSupported " + p0 + ".maxAllowed[ephemeral-storage]"}},
		{name: "bad per-VPA OOM settings", mutate: func(v *vpav1.VerticalPodAutoscaler) {
			cp0(v).OOMBumpUpRatio = ptr(q("0.9"))
			cp0(v).OOMMinBumpUp = ptr(q("-1"))
			cp0(v).MemoryAggregationIntervalSeconds = ptr[int32](0)
			cp0(v).MemoryAggregationIntervalCount = ptr[int64](-1)
		}, want: []string{
			"FieldValueInvalid " + p0 + ".oomBumpUpRatio",
			"FieldValueInvalid " + p0 + ".oomMinBumpUp",
			"FieldValueInvalid " + p0 + ".memoryAggregationIntervalSeconds",
			"FieldValueInvalid " + p0 + ".memoryAggregationIntervalCount",
		}},
		{name: "absurd OOM settings", mutate: func(v *vpav1.VerticalPodAutoscaler) {
			cp0(v).OOMBumpUpRatio = ptr(q("1001"))
			cp0(v).OOMMinBumpUp = ptr(q("2Pi"))
		}, want: []string{"FieldValueInvalid " + p0 + ".oomBumpUpRatio", "FieldValueInvalid " + p0 + ".oomMinBumpUp"}},

		// startupBoost
		{name: "startupBoost without type", mutate: func(v *vpav1.VerticalPodAutoscaler) {
			v.Spec.StartupBoost = &vpav1.StartupBoost{CPU: &vpav1.GenericStartupBoost{}}
		}, want: []string{"FieldValueRequired spec.startupBoost.cpu.type"}},
		{name: "startupBoost factor problems", mutate: func(v *vpav1.VerticalPodAutoscaler) {
			v.Spec.StartupBoost = &vpav1.StartupBoost{CPU: &vpav1.GenericStartupBoost{Type: vpav1.FactorStartupBoostType, Factor: ptr[int32](0), Quantity: ptr(q("1")), DurationSeconds: ptr[int32](-1)}}
		}, want: []string{"FieldValueInvalid spec.startupBoost.cpu.factor", "FieldValueForbidden spec.startupBoost.cpu.quantity", "FieldValueInvalid spec.startupBoost.cpu.durationSeconds"}},
		{name: "startupBoost quantity problems", mutate: func(v *vpav1.VerticalPodAutoscaler) {
			cp0(v).StartupBoost = &vpav1.StartupBoost{CPU: &vpav1.GenericStartupBoost{Type: vpav1.QuantityStartupBoostType, Factor: ptr[int32](2)}}
		}, want: []string{"FieldValueRequired " + p0 + ".startupBoost.cpu.quantity", "FieldValueForbidden " + p0 + ".startupBoost.cpu.factor"}},
		{name: "startupBoost absurd quantity, unknown type", mutate: func(v *vpav1.VerticalPodAutoscaler) {
			cp0(v).StartupBoost = &vpav1.StartupBoost{CPU: &vpav1.GenericStartupBoost{Type: vpav1.QuantityStartupBoostType, Quantity: ptr(q("1e8"))}}
			v.Spec.StartupBoost = &vpav1.StartupBoost{CPU: &vpav1.GenericStartupBoost{Type: "Double"}}
		}, want: []string{"FieldValueInvalid " + p0 + ".startupBoost.cpu.quantity", "FieldValueNotSupported spec.startupBoost.cpu.type"}},

		// tailor.dev/policy names a policy Tailor has
		{name: "policy adaptive", mutate: func(v *vpav1.VerticalPodAutoscaler) {
			v.Annotations = map[string]string{"tailor.dev/policy": "adaptive"}
		}},
		{name: "policy upstream", mutate: func(v *vpav1.VerticalPodAutoscaler) {
			v.Annotations = map[string]string{"tailor.dev/policy": "upstream"}
		}},
		{name: "policy typo", mutate: func(v *vpav1.VerticalPodAutoscaler) {
			v.Annotations = map[string]string{"tailor.dev/policy": "Adaptive"}
		},
			want: []string{"FieldValueNotSupported metadata.annotations[tailor.dev/policy]"},
			msg:  `metadata.annotations[tailor.dev/policy]: Unsupported value: "Adaptive": supported values: "adaptive", "upstream"`},
		{name: "policy empty", mutate: func(v *vpav1.VerticalPodAutoscaler) { v.Annotations = map[string]string{"tailor.dev/policy": ""} },
			want: []string{"FieldValueNotSupported metadata.annotations[tailor.dev/policy]"}},

		// several problems at once are all reported
		{name: "many problems", mutate: func(v *vpav1.VerticalPodAutoscaler) {
			v.Spec.TargetRef.Name = ""
			v.Spec.UpdatePolicy = &vpav1.PodUpdatePolicy{UpdateMode: ptr(vpav1.UpdateMode("Sometimes"))}
			cp0(v).ContainerName = ""
			cp0(v).MinAllowed[corev1.ResourceCPU] = q("2")
		}, want: []string{
			"FieldValueRequired spec.targetRef.name",
			"FieldValueNotSupported spec.updatePolicy.updateMode",
			"FieldValueRequired " + p0 + ".containerName",
			"FieldValueInvalid " + p0 + ".minAllowed[cpu]",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := hamster(t)
			tc.mutate(v)
			errs := VPA(v)
			if got := summary(errs); !slices.Equal(got, tc.want) {
				t.Fatalf("errors:\n got %q\nwant %q\nfull: %v", got, tc.want, errs)
			}
			if tc.msg != "" {
				if len(errs) != 1 || errs[0].Error() != tc.msg {
					t.Fatalf("message:\n got %v\nwant %s", errs, tc.msg)
				}
			}
		})
	}
}

func TestVPANil(t *testing.T) {
	errs := VPA(nil)
	if len(errs) != 1 || errs[0].Type != field.ErrorTypeRequired {
		t.Fatalf("VPA(nil) = %v", errs)
	}
	if w := VPAWarnings(nil); w != nil {
		t.Fatalf("VPAWarnings(nil) = %v", w)
	}
}

// TestUpdateModesCoverTypes fails when a VPA module upgrade adds an update mode
// that this package has not decided on.
func TestUpdateModesCoverTypes(t *testing.T) {
	for m := range vpav1.GetUpdateModes() {
		v := hamster(t)
		v.Spec.UpdatePolicy = &vpav1.PodUpdatePolicy{UpdateMode: ptr(m)}
		errs := VPA(v)
		switch {
		case m == vpav1.UpdateModeInPlace:
			if len(errs) != 1 || errs[0].Type != field.ErrorTypeForbidden {
				t.Errorf("mode %s: want Forbidden, got %v", m, errs)
			}
		case !slices.Contains(UpdateModes, m):
			t.Errorf("mode %s is defined by the VPA types but neither accepted nor refused on purpose", m)
		case len(errs) > 0:
			t.Errorf("mode %s: %v", m, errs)
		}
	}
	if len(UpdateModes) != 5 {
		t.Errorf("UpdateModes = %v", UpdateModes)
	}
}

// TestDeterministic checks that map iteration does not reorder errors.
func TestDeterministic(t *testing.T) {
	v := hamster(t)
	cp0(v).MinAllowed = rl("cpu", "-1", "memory", "-1", "a", "1", "b", "1", "z", "1")
	cp0(v).MaxAllowed = rl("cpu", "1e9", "memory", "1e30", "y", "1")
	first := VPA(v).ToAggregate().Error()
	for range 50 {
		if got := VPA(v).ToAggregate().Error(); got != first {
			t.Fatalf("unstable error order:\n%s\n%s", first, got)
		}
	}
}

// TestJSONDecoded runs the validator on VPAs as the webhook sees them:
// decoded from JSON, where lists may hold nulls.
func TestJSONDecoded(t *testing.T) {
	tests := []struct {
		json string
		want []string
	}{
		{`{"spec":{"targetRef":{"kind":"Deployment","name":"x"}}}`, nil},
		{`{"spec":{}}`, []string{"FieldValueRequired spec.targetRef"}},
		{`{"spec":{"targetRef":{"kind":"Deployment","name":"x"},"recommenders":[null]}}`, []string{"FieldValueRequired spec.recommenders[0]"}},
		{`{"spec":{"targetRef":{"kind":"Deployment","name":"x"},"resourcePolicy":{"containerPolicies":[{}]}}}`,
			[]string{"FieldValueRequired spec.resourcePolicy.containerPolicies[0].containerName"}},
		{`{"spec":{"targetRef":{"kind":"Deployment","name":"x"},"resourcePolicy":{"containerPolicies":[{"containerName":"a","controlledResources":null,"minAllowed":null}]}}}`, nil},
		{`{"spec":{"targetRef":{"kind":"Deployment","name":"x"},"updatePolicy":{"evictionRequirements":[null]}}}`,
			[]string{"FieldValueRequired spec.updatePolicy.evictionRequirements[0]"}},
		{`{"spec":{"targetRef":{"kind":"Deployment","name":"x"},"startupBoost":{}}}`, nil},
	}
	for _, tc := range tests {
		v := &vpav1.VerticalPodAutoscaler{}
		if err := json.Unmarshal([]byte(tc.json), v); err != nil {
			t.Fatalf("%s: %v", tc.json, err)
		}
		if got := summary(VPA(v)); !slices.Equal(got, tc.want) {
			t.Errorf("%s:\n got %q\nwant %q", tc.json, got, tc.want)
		}
	}
}

func TestVPAWarnings(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(v *vpav1.VerticalPodAutoscaler)
		want   []string // substrings, one per warning
	}{
		{name: "hamster", mutate: func(*vpav1.VerticalPodAutoscaler) {}},
		{name: "Auto deprecated", mutate: func(v *vpav1.VerticalPodAutoscaler) {
			v.Spec.UpdatePolicy = &vpav1.PodUpdatePolicy{UpdateMode: ptr(vpav1.UpdateModeAuto)} //nolint:staticcheck
		}, want: []string{`"Auto" is deprecated`}},
		{name: "eviction requirements with Initial", mutate: func(v *vpav1.VerticalPodAutoscaler) {
			v.Spec.UpdatePolicy = &vpav1.PodUpdatePolicy{UpdateMode: ptr(vpav1.UpdateModeInitial), EvictionRequirements: []*vpav1.EvictionRequirement{
				{Resources: []corev1.ResourceName{"cpu"}, ChangeRequirement: vpav1.TargetHigherThanRequests},
			}}
		}, want: []string{"no effect with updateMode \"Initial\""}},
		{name: "contradictory eviction requirements", mutate: func(v *vpav1.VerticalPodAutoscaler) {
			v.Spec.UpdatePolicy = &vpav1.PodUpdatePolicy{EvictionRequirements: []*vpav1.EvictionRequirement{
				{Resources: []corev1.ResourceName{"memory"}, ChangeRequirement: vpav1.TargetHigherThanRequests},
				{Resources: []corev1.ResourceName{"cpu", "memory"}, ChangeRequirement: vpav1.TargetLowerThanRequests},
				{Resources: []corev1.ResourceName{"memory"}, ChangeRequirement: vpav1.TargetLowerThanRequests},
			}}
		}, want: []string{"evictionRequirements[0] and [2]: memory must be both"}},
		{name: "container policy oddities", mutate: func(v *vpav1.VerticalPodAutoscaler) {
			cp0(v).ControlledResources = &[]corev1.ResourceName{}
			v.Spec.ResourcePolicy.ContainerPolicies = append(v.Spec.ResourcePolicy.ContainerPolicies, vpav1.ContainerResourcePolicy{
				ContainerName: "sidecar", Mode: ptr(vpav1.ContainerScalingModeOff), ControlledValues: ptr(vpav1.ContainerControlledValuesRequestsOnly),
			})
		}, want: []string{"containerPolicies[0].controlledResources: empty", "containerPolicies[1].controlledValues: has no effect"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := hamster(t)
			tc.mutate(v)
			if errs := VPA(v); len(errs) > 0 {
				t.Fatalf("warning cases must be valid: %v", errs)
			}
			got := VPAWarnings(v)
			if len(got) != len(tc.want) {
				t.Fatalf("warnings %q, want %d matching %q", got, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("warning %d = %q, want it to contain %q", i, got[i], w)
				}
			}
		})
	}
}

func TestContradictionSkipsInvalid(t *testing.T) {
	got := contradictoryEvictionRequirements([]*vpav1.EvictionRequirement{
		{Resources: []corev1.ResourceName{"memory"}, ChangeRequirement: vpav1.TargetHigherThanRequests},
		nil,
		{Resources: []corev1.ResourceName{"memory"}, ChangeRequirement: "Bogus"},
		{Resources: []corev1.ResourceName{"cpu"}, ChangeRequirement: vpav1.TargetLowerThanRequests},
	})
	if len(got) != 0 {
		t.Fatalf("got %q", got)
	}
}

func TestNames(t *testing.T) {
	for _, s := range []string{
		"", "a", "A", "0", "-", "a-", "-a", "a-b", "a.b", "a..b", ".a", "a.", "a_b", "ab-0.c-d",
		"Deployment", "deployment", "0Deployment", "Deploy-ment", "Deploy-", "Kind9", "apps", "v1", "v1beta1", "1v",
		strings.Repeat("a", 63), strings.Repeat("a", 64), strings.Repeat("a.", 126) + "a", strings.Repeat("a.", 126) + "ab",
		"ü", "\u212Aind",
	} {
		checkNames(t, s)
	}
}

func TestResolution(t *testing.T) {
	for _, s := range []string{"0", "1", "1m", "1.5m", "100u", "1n", "0.5", "0.001", "1e-3", "1e-4", "1Ki", "1.5Ki", "1.0001Ki",
		"123456789m", "9999999.999", "1e7", "1Pi", "1.000000000000001Pi", "3.3333333333333333333333"} {
		checkResolution(t, q(s))
	}
}

// bigVPA has many container policies, every optional field set.
func bigVPA(b testing.TB, n int) *vpav1.VerticalPodAutoscaler {
	v := hamster(b)
	v.Spec.Recommenders = []*vpav1.VerticalPodAutoscalerRecommenderSelector{{Name: "tailor"}}
	v.Spec.UpdatePolicy = &vpav1.PodUpdatePolicy{
		UpdateMode: ptr(vpav1.UpdateModeInPlaceOrRecreate), MinReplicas: ptr[int32](2),
		EvictionRequirements: []*vpav1.EvictionRequirement{{Resources: []corev1.ResourceName{"cpu", "memory"}, ChangeRequirement: vpav1.TargetHigherThanRequests}},
	}
	for i := range n {
		v.Spec.ResourcePolicy.ContainerPolicies = append(v.Spec.ResourcePolicy.ContainerPolicies, vpav1.ContainerResourcePolicy{
			ContainerName:       fmt.Sprintf("container-%d", i),
			Mode:                ptr(vpav1.ContainerScalingModeAuto),
			MinAllowed:          rl("cpu", "10m", "memory", "16Mi"),
			MaxAllowed:          rl("cpu", "4", "memory", "8Gi"),
			ControlledResources: &[]corev1.ResourceName{"cpu", "memory"},
			ControlledValues:    ptr(vpav1.ContainerControlledValuesRequestsOnly),
		})
	}
	if errs := VPA(v); len(errs) > 0 {
		b.Fatalf("bigVPA invalid: %v", errs)
	}
	return v
}

func BenchmarkVPA(b *testing.B) {
	for _, bc := range []struct {
		name string
		vpa  *vpav1.VerticalPodAutoscaler
	}{
		{"hamster", hamster(b)},
		{"10-containers", bigVPA(b, 10)},
		{"invalid", func() *vpav1.VerticalPodAutoscaler {
			v := hamster(b)
			cp0(v).MinAllowed[corev1.ResourceCPU] = q("2")
			v.Spec.TargetRef.Kind = ""
			return v
		}()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = VPA(bc.vpa)
			}
		})
	}
}
