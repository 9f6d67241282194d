package webhook

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kjson "sigs.k8s.io/json"
)

// slimPod is the part of a pod the sizer and placement read. Decoding only these fields
// skips the rest of the object (env, probes, volumes, …) and the scheme's
// kind sniffing and conversion: the largest cost of the admission path.
type slimPod struct {
	Metadata struct {
		Name            string                  `json:"name"`
		GenerateName    string                  `json:"generateName"`
		Namespace       string                  `json:"namespace"`
		Labels          map[string]string       `json:"labels"`
		Annotations     map[string]string       `json:"annotations"`
		OwnerReferences []metav1.OwnerReference `json:"ownerReferences"`
	} `json:"metadata"`
	Spec struct {
		Containers     []slimContainer `json:"containers"`
		InitContainers []slimContainer `json:"initContainers"`
		// Placement: where the pod may go, and its pod-level requests.
		NodeName     string                       `json:"nodeName"`
		NodeSelector map[string]string            `json:"nodeSelector"`
		Affinity     *corev1.Affinity             `json:"affinity"`
		Tolerations  []corev1.Toleration          `json:"tolerations"`
		Overhead     corev1.ResourceList          `json:"overhead"`
		Resources    *corev1.ResourceRequirements `json:"resources"`
	} `json:"spec"`
}

type slimContainer struct {
	Name          string                         `json:"name"`
	Resources     corev1.ResourceRequirements    `json:"resources"`
	RestartPolicy *corev1.ContainerRestartPolicy `json:"restartPolicy"`
	// ResizePolicy: a startup boost leaves out a container the resize
	// back would restart.
	ResizePolicy []corev1.ContainerResizePolicy `json:"resizePolicy"`
}

// decodePod decodes the fields of a pod that sizing needs, case-sensitively
// as the API server does; container order (and so patch indices) is kept.
func decodePod(raw []byte) (*corev1.Pod, error) {
	var s slimPod
	if err := kjson.UnmarshalCaseSensitivePreserveInts(raw, &s); err != nil {
		return nil, fmt.Errorf("decode pod: %w", err)
	}
	pod := &corev1.Pod{}
	pod.Name, pod.GenerateName, pod.Namespace = s.Metadata.Name, s.Metadata.GenerateName, s.Metadata.Namespace
	pod.Labels, pod.Annotations, pod.OwnerReferences = s.Metadata.Labels, s.Metadata.Annotations, s.Metadata.OwnerReferences
	pod.Spec.Containers = toContainers(s.Spec.Containers)
	pod.Spec.InitContainers = toContainers(s.Spec.InitContainers)
	pod.Spec.NodeName, pod.Spec.NodeSelector, pod.Spec.Affinity = s.Spec.NodeName, s.Spec.NodeSelector, s.Spec.Affinity
	pod.Spec.Tolerations, pod.Spec.Overhead, pod.Spec.Resources = s.Spec.Tolerations, s.Spec.Overhead, s.Spec.Resources
	return pod, nil
}

func toContainers(in []slimContainer) []corev1.Container {
	if in == nil {
		return nil
	}
	out := make([]corev1.Container, len(in))
	for i, c := range in {
		out[i] = corev1.Container{Name: c.Name, Resources: c.Resources, RestartPolicy: c.RestartPolicy, ResizePolicy: c.ResizePolicy}
	}
	return out
}
