package disruption

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestReschedulable(t *testing.T) {
	deleting := func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{Time: t0} }
	daemon := func(p *corev1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{{Kind: "DaemonSet", Name: "ds", Controller: ptr(true)}}
	}
	done := func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }
	for _, tc := range []struct {
		name           string
		pod            *corev1.Pod
		workload, move bool
	}{
		{"running", runningPod("a", "1"), true, true},
		// Scaled down: still on the node, drained with it, but leaving anyway.
		{"terminating", runningPod("a", "1", deleting), true, false},
		{"DaemonSet", runningPod("a", "1", daemon), false, false},
		{"finished", runningPod("a", "1", done), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Workload(tc.pod); got != tc.workload {
				t.Errorf("Workload = %v, want %v", got, tc.workload)
			}
			if got := Reschedulable(tc.pod); got != tc.move {
				t.Errorf("Reschedulable = %v, want %v", got, tc.move)
			}
		})
	}
}
