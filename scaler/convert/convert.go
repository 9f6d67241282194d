// Package convert turns HorizontalPodAutoscalers into the equivalent
// ReplicaAutoscalers: pure functions over the objects, for
// "tailor convert hpa".
package convert

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	scalerv1 "github.com/tailor-dev/tailor/scaler/api/v1alpha1"
	"github.com/tailor-dev/tailor/scaler/validation"
)

// FromHPA returns the ReplicaAutoscaler that scales like hpa: the same
// target, bounds, metrics and behavior, field for field; minReplicas 0
// (HPAScaleToZero) carries over, with the activation threshold at 0 and
// the default cooldown. It fails on a result that would not pass Tailor's
// validation, saying which field (minReplicas 0 without an Object or
// External metric, as the HPA's own validation does).
func FromHPA(hpa *autoscalingv2.HorizontalPodAutoscaler) (*scalerv1.ReplicaAutoscaler, error) {
	ra := &scalerv1.ReplicaAutoscaler{
		TypeMeta: metav1.TypeMeta{APIVersion: scalerv1.GroupVersion.String(), Kind: "ReplicaAutoscaler"},
		ObjectMeta: metav1.ObjectMeta{
			Name: hpa.Name, Namespace: hpa.Namespace,
			Labels: hpa.Labels, Annotations: keptAnnotations(hpa.Annotations),
		},
		Spec: scalerv1.ReplicaAutoscalerSpec{
			ScaleTargetRef: hpa.Spec.ScaleTargetRef,
			MinReplicas:    hpa.Spec.MinReplicas,
			MaxReplicas:    hpa.Spec.MaxReplicas,
			Behavior:       hpa.Spec.Behavior.DeepCopy(),
		},
	}
	for _, m := range hpa.Spec.Metrics {
		m := m.DeepCopy()
		ra.Spec.Metrics = append(ra.Spec.Metrics, scalerv1.MetricSpec{
			Type: m.Type, Object: m.Object, Pods: m.Pods, Resource: m.Resource,
			ContainerResource: m.ContainerResource, External: m.External,
		})
	}
	if errs := validation.ReplicaAutoscaler(ra); len(errs) > 0 {
		return nil, fmt.Errorf("HorizontalPodAutoscaler %s converts to an invalid ReplicaAutoscaler: %w", hpa.Name, errs.ToAggregate())
	}
	return ra, nil
}

// keptAnnotations drops what belongs to the HPA object rather than to its
// intent: kubectl's last-applied copy and the HPA controller's own notes.
func keptAnnotations(in map[string]string) map[string]string {
	var out map[string]string
	for k, v := range in {
		if k == "kubectl.kubernetes.io/last-applied-configuration" || strings.HasPrefix(k, "autoscaling.alpha.kubernetes.io/") {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = v
	}
	return out
}

// FromV1 is the API server's autoscaling/v1 → v2 conversion of what v1 can
// say: targetCPUUtilizationPercentage is a cpu Resource metric (none means
// the HPA's default of 80%, which FromHPA keeps implicit as well).
func FromV1(in *autoscalingv1.HorizontalPodAutoscaler) *autoscalingv2.HorizontalPodAutoscaler {
	out := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: *in.ObjectMeta.DeepCopy(),
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference(in.Spec.ScaleTargetRef),
			MinReplicas:    in.Spec.MinReplicas,
			MaxReplicas:    in.Spec.MaxReplicas,
		},
	}
	if p := in.Spec.TargetCPUUtilizationPercentage; p != nil {
		u := *p
		out.Spec.Metrics = []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
			Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &u},
		}}}
	}
	return out
}

// Decode reads HPAs from YAML or JSON: one object, several YAML documents,
// or a List (kubectl get hpa -o yaml). autoscaling/v1, v2 and v2beta2 are
// understood (v2beta2 has v2's shape).
func Decode(data []byte) ([]*autoscalingv2.HorizontalPodAutoscaler, error) {
	var out []*autoscalingv2.HorizontalPodAutoscaler
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for i := 0; ; i++ {
		doc, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		var head struct {
			metav1.TypeMeta `json:",inline"`
			Items           []yamlRaw `json:"items"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		if head.Kind == "" && head.APIVersion == "" {
			continue // empty document
		}
		if head.Kind == "List" || strings.HasSuffix(head.Kind, "List") {
			for j, item := range head.Items {
				h, err := decodeOne(item)
				if err != nil {
					return nil, fmt.Errorf("document %d, item %d: %w", i+1, j+1, err)
				}
				out = append(out, h)
			}
			continue
		}
		h, err := decodeOne(doc)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		out = append(out, h)
	}
	if len(out) == 0 {
		return nil, errors.New("no HorizontalPodAutoscaler found")
	}
	return out, nil
}

// yamlRaw keeps a List item as its JSON text.
type yamlRaw []byte

func (r *yamlRaw) UnmarshalJSON(b []byte) error {
	*r = append((*r)[:0], b...)
	return nil
}

func decodeOne(doc []byte) (*autoscalingv2.HorizontalPodAutoscaler, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return nil, err
	}
	if tm.Kind != "HorizontalPodAutoscaler" {
		return nil, fmt.Errorf("kind %q (apiVersion %q) is not a HorizontalPodAutoscaler", tm.Kind, tm.APIVersion)
	}
	switch tm.APIVersion {
	case "autoscaling/v1":
		var v1 autoscalingv1.HorizontalPodAutoscaler
		if err := yaml.UnmarshalStrict(doc, &v1); err != nil {
			return nil, err
		}
		return FromV1(&v1), nil
	case "autoscaling/v2", "autoscaling/v2beta2":
		var v2 autoscalingv2.HorizontalPodAutoscaler
		if err := yaml.UnmarshalStrict(doc, &v2); err != nil {
			return nil, err
		}
		return &v2, nil
	}
	return nil, fmt.Errorf("apiVersion %q: want autoscaling/v1, autoscaling/v2 or autoscaling/v2beta2", tm.APIVersion)
}

// YAML prints objects (ReplicaAutoscalers here, NodePools and node classes
// for provisioner/convert) as YAML documents, without status or server-set
// metadata, ready for kubectl apply.
func YAML[T any](objs []T) ([]byte, error) {
	var out bytes.Buffer
	for i, o := range objs {
		b, err := yaml.Marshal(o)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := yaml.Unmarshal(b, &m); err != nil {
			return nil, err
		}
		delete(m, "status")
		if md, ok := m["metadata"].(map[string]any); ok {
			delete(md, "creationTimestamp")
		}
		if b, err = yaml.Marshal(m); err != nil {
			return nil, err
		}
		if i > 0 {
			out.WriteString("---\n")
		}
		out.Write(b)
	}
	return out.Bytes(), nil
}
