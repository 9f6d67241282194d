package convert

import (
	scalerv1 "github.com/tailor-dev/tailor/scaler/api/v1alpha1"
	"strings"
	"testing"
)

// The seed's "kubectl autoscale deployment php-apache --cpu-percent=50
// --min=1 --max=10 -o yaml --dry-run", as it printed it.
const seedPhpApache = `apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata:
  creationTimestamp: null
  name: php-apache
spec:
  maxReplicas: 10
  minReplicas: 1
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: php-apache
  targetCPUUtilizationPercentage: 50
status:
  currentReplicas: 0
  desiredReplicas: 0
`

const seedWant = `apiVersion: tailor.dev/v1alpha1
kind: ReplicaAutoscaler
metadata:
  name: php-apache
spec:
  maxReplicas: 10
  metrics:
  - resource:
      name: cpu
      target:
        averageUtilization: 50
        type: Utilization
    type: Resource
  minReplicas: 1
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: php-apache
`

const v2Full = `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
  namespace: shop
  labels: {app: web}
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: "{}"
    team: checkout
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: StatefulSet, name: web}
  minReplicas: 2
  maxReplicas: 20
  metrics:
    - type: ContainerResource
      containerResource: {name: memory, container: app, target: {type: AverageValue, averageValue: 500Mi}}
    - type: Pods
      pods: {metric: {name: packets-per-second}, target: {type: AverageValue, averageValue: 1k}}
    - type: Object
      object:
        metric: {name: requests-per-second}
        describedObject: {apiVersion: networking.k8s.io/v1, kind: Ingress, name: main-route}
        target: {type: Value, value: 10k}
    - type: External
      external:
        metric: {name: queue_messages_ready, selector: {matchLabels: {queue: worker_tasks}}}
        target: {type: AverageValue, averageValue: "30"}
  behavior:
    scaleDown:
      stabilizationWindowSeconds: 60
      policies: [{type: Percent, value: 10, periodSeconds: 60}]
    scaleUp:
      selectPolicy: Max
      policies: [{type: Pods, value: 4, periodSeconds: 15}]
status:
  currentReplicas: 3
  desiredReplicas: 3
`

func TestConvert(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		want    []string // substrings of the output
		exact   string
		wantErr string
	}{
		{name: "seed php-apache (autoscaling/v1)", in: seedPhpApache, exact: seedWant},
		{name: "v2 with every metric type and behavior", in: v2Full, want: []string{
			"kind: ReplicaAutoscaler", "namespace: shop", "app: web", "team: checkout",
			"kind: StatefulSet", "minReplicas: 2", "maxReplicas: 20",
			"container: app", "averageValue: 500Mi", "name: packets-per-second", "kind: Ingress", "value: 10k",
			"queue: worker_tasks", "stabilizationWindowSeconds: 60", "periodSeconds: 15", "selectPolicy: Max",
			"type: ContainerResource", "type: Pods", "type: Object", "type: External",
		}},
		{name: "v1 without a CPU target gets the HPA default", in: strings.Replace(seedPhpApache, "  targetCPUUtilizationPercentage: 50\n", "", 1),
			want: []string{"maxReplicas: 10"}},
		{name: "v2beta2 reads as v2", in: strings.Replace(v2Full, "autoscaling/v2", "autoscaling/v2beta2", 1), want: []string{"name: web"}},
		{name: "two documents", in: seedPhpApache + "---\n" + v2Full, want: []string{"name: php-apache", "\n---\n", "name: web"}},
		{name: "a List", in: "apiVersion: v1\nkind: List\nitems:\n- apiVersion: autoscaling/v2\n  kind: HorizontalPodAutoscaler\n  metadata: {name: a}\n  spec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: a}, maxReplicas: 3}\n",
			want: []string{"name: a", "maxReplicas: 3"}},
		{name: "JSON", in: `{"apiVersion":"autoscaling/v2","kind":"HorizontalPodAutoscaler","metadata":{"name":"j"},"spec":{"scaleTargetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"j"},"maxReplicas":4}}`,
			want: []string{"name: j", "maxReplicas: 4"}},
		{name: "scale to zero on an External metric", in: strings.Replace(v2Full, "minReplicas: 2", "minReplicas: 0", 1), want: []string{"minReplicas: 0", "type: External"}},
		{name: "scale to zero on cpu alone is refused", in: strings.Replace(seedPhpApache, "minReplicas: 1", "minReplicas: 0", 1), wantErr: "spec.minReplicas: Invalid value: 0"},
		{name: "invalid: max below min", in: strings.Replace(seedPhpApache, "maxReplicas: 10", "maxReplicas: 0", 1), wantErr: "spec.maxReplicas"},
		{name: "not an HPA", in: "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n", wantErr: `kind "Deployment"`},
		{name: "unknown version", in: strings.Replace(seedPhpApache, "autoscaling/v1", "autoscaling/v9", 1), wantErr: "autoscaling/v9"},
		{name: "unknown field", in: strings.Replace(seedPhpApache, "maxReplicas: 10", "maxReplicas: 10\n  maxReplica: 3", 1), wantErr: "maxReplica"},
		{name: "empty", in: "", wantErr: "no HorizontalPodAutoscaler found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one mentioning %q; output:\n%s", err, tc.wantErr, out)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.exact != "" && out != tc.exact {
				t.Errorf("output:\n%s\nwant:\n%s", out, tc.exact)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, "status:") || strings.Contains(out, "last-applied") || strings.Contains(out, "creationTimestamp") {
				t.Errorf("output carries status or server/kubectl metadata:\n%s", out)
			}
		})
	}
}

func run(in []byte) (string, error) {
	hpas, err := Decode(in)
	if err != nil {
		return "", err
	}
	var ras []*scalerv1.ReplicaAutoscaler
	for _, h := range hpas {
		ra, err := FromHPA(h)
		if err != nil {
			return "", err
		}
		ras = append(ras, ra)
	}
	b, err := YAML(ras)
	return string(b), err
}
