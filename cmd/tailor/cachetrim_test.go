package main

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestTrimForCache(t *testing.T) {
	big := corev1.Container{
		Name: "app", Image: "app:1",
		Env:            []corev1.EnvVar{{Name: "A", Value: "1"}},
		Command:        []string{"/app"},
		VolumeMounts:   []corev1.VolumeMount{{Name: "v", MountPath: "/v"}},
		ReadinessProbe: &corev1.Probe{},
		Resources:      corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}},
		Ports:          []corev1.ContainerPort{{HostPort: 80, ContainerPort: 80}},
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Annotations:     map[string]string{lastApplied: "{...}", "tailor.dev/do-not-disrupt": "true"},
			ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
			OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "rs"}},
		},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{big},
			Containers:     []corev1.Container{big},
			Volumes:        []corev1.Volume{{Name: "v"}},
			NodeSelector:   map[string]string{"zone": "a"},
			Tolerations:    []corev1.Toleration{{Key: "k"}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled}}},
	}
	if _, err := trimForCache(pod); err != nil {
		t.Fatal(err)
	}
	if pod.ManagedFields != nil || pod.Annotations[lastApplied] != "" {
		t.Errorf("managedFields or last-applied kept: %+v", pod.ObjectMeta)
	}
	// What sizing, placement, the solver and disruption read stays.
	if pod.Annotations["tailor.dev/do-not-disrupt"] != "true" || len(pod.OwnerReferences) != 1 || pod.Spec.NodeSelector["zone"] != "a" ||
		len(pod.Spec.Tolerations) != 1 || len(pod.Status.Conditions) != 1 || pod.Status.Phase != corev1.PodRunning {
		t.Errorf("read fields dropped: %+v", pod)
	}
	for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
		if c.Env != nil || c.Command != nil || c.VolumeMounts != nil || c.ReadinessProbe != nil {
			t.Errorf("container %s keeps unread fields: %+v", c.Name, c)
		}
		if c.Name != "app" || c.Resources.Requests.Cpu().MilliValue() != 100 || len(c.Ports) != 1 {
			t.Errorf("container %s lost read fields: %+v", c.Name, c)
		}
	}
	if pod.Spec.Volumes != nil {
		t.Errorf("volumes kept")
	}

	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "a"}}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "a"}}, Spec: corev1.PodSpec{Containers: []corev1.Container{big}}}
	rs := &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Selector: sel, Template: *tmpl.DeepCopy()}}
	_, _ = trimForCache(rs)
	if rs.Spec.Template.Spec.Containers != nil || rs.Spec.Selector == nil || rs.Spec.Template.Labels["app"] != "a" {
		t.Errorf("ReplicaSet trimmed wrong: %+v", rs.Spec)
	}
	// The provisioner reserves DaemonSet pods' requests on new nodes.
	ds := &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Selector: sel, Template: *tmpl.DeepCopy()}}
	_, _ = trimForCache(ds)
	if len(ds.Spec.Template.Spec.Containers) != 1 || ds.Spec.Template.Spec.Containers[0].Resources.Requests.Cpu().IsZero() {
		t.Errorf("DaemonSet template trimmed: %+v", ds.Spec.Template.Spec)
	}
	// Not an object: passed through.
	if out, err := trimForCache("tombstone"); err != nil || out != "tombstone" {
		t.Errorf("non-object: %v %v", out, err)
	}
}
