package validation

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	scalerv1 "github.com/tailor-dev/tailor/scaler/api/v1alpha1"
)

// phpApache is the seed's HPA (kubectl autoscale php-apache --cpu-percent=50
// --min=1 --max=10) as a ReplicaAutoscaler.
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

func parse(t *testing.T, doc string) *scalerv1.ReplicaAutoscaler {
	t.Helper()
	ra := &scalerv1.ReplicaAutoscaler{}
	if err := yaml.UnmarshalStrict([]byte(doc), ra); err != nil {
		t.Fatalf("YAML: %v", err)
	}
	return ra
}

func TestReplicaAutoscaler(t *testing.T) {
	cases := []struct {
		name string
		doc  string
		want []string // substrings of the errors, in order; none: accepted
	}{
		{"php-apache", phpApache, nil},
		{"every source", phpApache + `
  - type: ContainerResource
    containerResource: {name: memory, container: app, target: {type: AverageValue, averageValue: 100Mi}}
  - type: Pods
    pods: {metric: {name: qps}, target: {type: AverageValue, averageValue: "10"}}
  - type: Object
    object: {describedObject: {apiVersion: networking.k8s.io/v1, kind: Ingress, name: web}, metric: {name: requests}, target: {type: Value, value: 1k}}
  - type: External
    external: {metric: {name: queue, selector: {matchLabels: {q: jobs}}}, target: {type: AverageValue, averageValue: "30"}}
  - type: Prometheus
    prometheus: {query: 'sum(rate(http_requests_total[1m]))', target: {type: AverageValue, averageValue: "100"}}
  behavior:
    scaleUp: {stabilizationWindowSeconds: 0, selectPolicy: Max, policies: [{type: Percent, value: 100, periodSeconds: 15}], tolerance: "0.05"}
    scaleDown: {selectPolicy: Disabled}
`, nil},
		{"no target", `
spec: {maxReplicas: 3}
`, []string{"spec.scaleTargetRef.kind: Required value", "spec.scaleTargetRef.name: Required value"}},
		{"bad names", strings.Replace(phpApache, "kind: Deployment, name: php-apache", "kind: Deploy_ment, name: PHP", 1),
			[]string{`spec.scaleTargetRef.kind: Invalid value: "Deploy_ment"`, `spec.scaleTargetRef.name: Invalid value: "PHP"`}},
		{"min 0 with only a cpu metric", strings.Replace(phpApache, "minReplicas: 1", "minReplicas: 0", 1),
			[]string{"spec.minReplicas: Invalid value: 0: 0 needs at least one Object, External or Prometheus metric"}},
		{"min 0 with a Prometheus metric, activation and cooldown", strings.Replace(phpApache, "minReplicas: 1", "minReplicas: 0\n  scaleToZeroCooldownSeconds: 60", 1) + `
  - type: Prometheus
    activationThreshold: "5"
    prometheus: {query: 'sum(queue_length)', target: {type: AverageValue, averageValue: "10"}}
`, nil},
		{"activation threshold on a pod metric, negative, and a cooldown out of range", strings.Replace(phpApache, "minReplicas: 1", "minReplicas: -1\n  scaleToZeroCooldownSeconds: 86401", 1) + `
    activationThreshold: "1"
  - type: External
    activationThreshold: "-1"
    external: {metric: {name: queue}, target: {type: Value, value: "30"}}
`, []string{"spec.minReplicas: Invalid value: -1: must be at least 0", "spec.scaleToZeroCooldownSeconds: Invalid value: 86401: must be between 0 and 86400",
			"spec.metrics[0].activationThreshold: Forbidden: only Object, External and Prometheus metrics have one",
			`spec.metrics[1].activationThreshold: Invalid value: "-1": must not be negative`}},
		{"max below min", strings.Replace(phpApache, "minReplicas: 1", "minReplicas: 11", 1), []string{"spec.maxReplicas: Invalid value: 10: must be greater than or equal to minReplicas"}},
		{"source of another type", phpApache + `
  - type: Pods
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
`, []string{"spec.metrics[1].resource: Forbidden: must be unset when type is Pods", "spec.metrics[1].pods: Required value"}},
		{"unknown type", phpApache + `
  - type: Kafka
`, []string{`spec.metrics[1].type: Unsupported value: "Kafka"`}},
		{"resource target mismatch", phpApache + `
  - type: Resource
    resource: {name: memory, target: {type: Utilization, averageValue: 1Gi}}
`, []string{"spec.metrics[1].resource.target.averageValue: Forbidden", "spec.metrics[1].resource.target.averageUtilization: Required value"}},
		{"utilization not positive", phpApache + `
  - type: Resource
    resource: {name: memory, target: {type: Utilization, averageUtilization: 0}}
`, []string{"spec.metrics[1].resource.target.averageUtilization: Invalid value: 0: must be positive"}},
		{"prometheus", phpApache + `
  - type: Prometheus
    prometheus: {query: " ", target: {type: Utilization, averageUtilization: 50}}
  - type: Prometheus
    prometheus: {query: up, target: {type: Value, value: "-1"}}
`, []string{"spec.metrics[1].prometheus.query: Required value", `spec.metrics[1].prometheus.target.type: Unsupported value: "Utilization"`, `spec.metrics[2].prometheus.target.value: Invalid value: "-1": must be positive`}},
		{"pods needs average value", phpApache + `
  - type: Pods
    pods: {metric: {name: ""}, target: {type: Value, value: "1"}}
`, []string{"spec.metrics[1].pods.metric.name: Required value", `spec.metrics[1].pods.target.type: Unsupported value: "Value"`}},
		{"container resource needs container", phpApache + `
  - type: ContainerResource
    containerResource: {name: cpu, container: "", target: {type: Utilization, averageUtilization: 60}}
`, []string{"spec.metrics[1].containerResource.container: Required value"}},
		{"behavior", phpApache + `
  behavior:
    scaleUp: {stabilizationWindowSeconds: 3601, selectPolicy: Fastest, policies: [{type: Replicas, value: 0, periodSeconds: 1801}]}
    scaleDown: {policies: [], tolerance: "-0.1"}
`, []string{
			"spec.behavior.scaleUp.stabilizationWindowSeconds: Invalid value: 3601",
			`spec.behavior.scaleUp.selectPolicy: Unsupported value: "Fastest"`,
			`spec.behavior.scaleUp.policies[0].type: Unsupported value: "Replicas"`,
			"spec.behavior.scaleUp.policies[0].value: Invalid value: 0",
			"spec.behavior.scaleUp.policies[0].periodSeconds: Invalid value: 1801",
			"spec.behavior.scaleDown.policies: Required value",
			`spec.behavior.scaleDown.tolerance: Invalid value: "-100m"`,
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errs := ReplicaAutoscaler(parse(t, c.doc))
			if len(errs) != len(c.want) {
				t.Fatalf("%d errors, want %d: %v", len(errs), len(c.want), errs)
			}
			for i, w := range c.want {
				if !strings.Contains(errs[i].Error(), w) {
					t.Errorf("error %d %q, want it to contain %q", i, errs[i].Error(), w)
				}
			}
		})
	}
	if errs := ReplicaAutoscaler(nil); len(errs) != 1 {
		t.Errorf("nil: %v", errs)
	}
	ra := parse(t, phpApache)
	long := resource.MustParse("1")
	ra.Spec.Metrics[0].Resource.Target.AverageValue = &long
	if errs := ReplicaAutoscaler(ra); len(errs) != 1 {
		t.Errorf("both utilization and averageValue: %v", errs)
	}
}
