package crds

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"
)

func crd(t *testing.T, name string) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	objs, err := Objects()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.Name == name {
			return o
		}
	}
	t.Fatalf("CRD %s not found", name)
	return nil
}

// TestCRDsAcceptedByAPIServer runs the API server's own CRD validation,
// which compiles every CEL rule and refuses rules whose estimated cost is
// over budget: a CRD refused there would break every install.
func TestCRDsAcceptedByAPIServer(t *testing.T) {
	objs, err := Objects()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		v1 := o.DeepCopy()
		apiextensionsv1.SetObjectDefaults_CustomResourceDefinition(v1)
		internal := &apiextensions.CustomResourceDefinition{}
		if err := apiextensionsv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(v1, internal, nil); err != nil {
			t.Fatalf("%s: %v", o.Name, err)
		}
		if errs := validation.ValidateCustomResourceDefinition(context.Background(), internal); len(errs) > 0 {
			t.Errorf("%s refused: %v", o.Name, errs.ToAggregate())
		}
	}
}

// celValidate evaluates the CRD's CEL rules on obj as the API server would.
func celValidate(t *testing.T, obj string) field.ErrorList {
	t.Helper()
	v1 := crd(t, "replicaautoscalers.tailor.dev")
	props := &apiextensions.JSONSchemaProps{}
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v1.Spec.Versions[0].Schema.OpenAPIV3Schema, props, nil); err != nil {
		t.Fatal(err)
	}
	s, err := structuralschema.NewStructural(props)
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSON([]byte(obj))
	if err != nil {
		t.Fatal(err)
	}
	var u map[string]interface{}
	if err := json.Unmarshal(js, &u); err != nil { // integers stay int64, as the API server decodes them
		t.Fatal(err)
	}
	errs, _ := cel.NewValidator(s, true, celconfig.PerCallLimit).Validate(context.Background(), nil, s, u, nil, celconfig.RuntimeCELCostBudget)
	return errs
}

const phpApache = `
apiVersion: tailor.dev/v1alpha1
kind: ReplicaAutoscaler
metadata: {name: php-apache}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: php-apache}
  minReplicas: 1
  maxReplicas: 10
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
`

func TestReplicaAutoscalerCEL(t *testing.T) {
	cases := []struct {
		name, spec, want string // want: substring of the error, "" for accepted
	}{
		{"php-apache", phpApache, ""},
		{"prometheus", phpApache + `
  - type: Prometheus
    prometheus: {query: 'sum(rate(http_requests_total[1m]))', target: {type: AverageValue, averageValue: "10"}}
`, ""},
		{"behavior", phpApache + `
  behavior:
    scaleDown: {stabilizationWindowSeconds: 60, selectPolicy: Min, policies: [{type: Pods, value: 1, periodSeconds: 60}]}
    scaleUp: {selectPolicy: Disabled}
`, ""},
		{"max below min", strings.Replace(phpApache, "maxReplicas: 10", "maxReplicas: 0", 1) + "\n", "maxReplicas must be greater than or equal to minReplicas"},
		{"min 0 with only cpu", strings.Replace(phpApache, "minReplicas: 1", "minReplicas: 0", 1) + "\n", "spec.minReplicas: Invalid value"},
		{"min 0 with a Prometheus metric and activation", strings.Replace(phpApache, "minReplicas: 1", "minReplicas: 0", 1) + `
  - type: Prometheus
    activationThreshold: "5"
    prometheus: {query: 'sum(queue_length)', target: {type: AverageValue, averageValue: "10"}}
`, ""},
		{"activation threshold on a pod metric", strings.Replace(phpApache, "averageUtilization: 50}}", "averageUtilization: 50}}\n    activationThreshold: \"1\"", 1) + "\n", "spec.metrics[0].activationThreshold: Forbidden"},
		{"source not matching type", phpApache + `
  - type: Pods
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
`, "exactly one metric source must be set"},
		{"two sources", phpApache + `
  - type: Prometheus
    prometheus: {query: up, target: {type: Value, value: "1"}}
    external: {metric: {name: q}, target: {type: Value, value: "1"}}
`, "exactly one metric source must be set"},
		{"unknown type", phpApache + `
  - type: Kafka
`, "type must be one of"},
		{"prometheus utilization", phpApache + `
  - type: Prometheus
    prometheus: {query: up, target: {type: Utilization, averageUtilization: 50}}
`, "target.type must be AverageValue or Value"},
		{"prometheus value missing", phpApache + `
  - type: Prometheus
    prometheus: {query: up, target: {type: Value, averageValue: "1"}}
`, "target.value is required"},
		{"window too long", phpApache + `
  behavior: {scaleDown: {stabilizationWindowSeconds: 3601}}
`, "scaleDown.stabilizationWindowSeconds must be between 0 and 3600"},
		{"select policy", phpApache + `
  behavior: {scaleUp: {selectPolicy: Fastest}}
`, "scaleUp.selectPolicy must be Max, Min or Disabled"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errs := celValidate(t, c.spec)
			got := errs.ToAggregate()
			switch {
			case c.want == "" && got != nil:
				t.Errorf("refused: %v", got)
			case c.want != "" && (got == nil || !strings.Contains(got.Error(), c.want)):
				t.Errorf("got %v, want an error containing %q", got, c.want)
			}
		})
	}
}
