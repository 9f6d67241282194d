package main

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
)

// lastApplied is kubectl's client-side apply annotation: a second copy of
// the whole object as last applied.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// trimForCache is the informer caches' transform: it drops what no Tailor
// code reads before an object is stored, so that memory follows the size
// of the cluster, not the verbosity of its manifests. Every write Tailor
// makes to a cached object is a patch computed between the cached copy and
// a modified copy of it (never an Update of the whole object), so a
// dropped field is never written back as empty.
//
// Dropped from every object: managedFields and the last-applied
// annotation. From pods: per-container env, command, args, mounts, probes
// and lifecycle hooks, and the volumes (sizing reads names, requests,
// limits and resize policy; placement and the solver read scheduling
// fields and status). From ReplicaSets, Deployments, StatefulSets, Jobs,
// CronJobs and ReplicationControllers: the pod template's spec (owner
// chains read ownerReferences, target selectors read spec.selector).
// DaemonSets keep theirs: the provisioner reserves their pods' requests
// on every new node. From nodes: the image list.
func trimForCache(in any) (any, error) {
	if o, err := meta.Accessor(in); err == nil {
		o.SetManagedFields(nil)
		if a := o.GetAnnotations(); a[lastApplied] != "" {
			delete(a, lastApplied)
			o.SetAnnotations(a)
		}
	}
	switch o := in.(type) {
	case *corev1.Pod:
		trimContainers(o.Spec.InitContainers)
		trimContainers(o.Spec.Containers)
		o.Spec.EphemeralContainers = nil
		o.Spec.Volumes = nil
	case *appsv1.ReplicaSet:
		o.Spec.Template.Spec = corev1.PodSpec{}
	case *appsv1.Deployment:
		o.Spec.Template.Spec = corev1.PodSpec{}
	case *appsv1.StatefulSet:
		o.Spec.Template.Spec = corev1.PodSpec{}
		o.Spec.VolumeClaimTemplates = nil
	case *batchv1.Job:
		o.Spec.Template.Spec = corev1.PodSpec{}
	case *batchv1.CronJob:
		o.Spec.JobTemplate.Spec.Template.Spec = corev1.PodSpec{}
	case *corev1.ReplicationController:
		if o.Spec.Template != nil {
			o.Spec.Template.Spec = corev1.PodSpec{}
		}
	case *corev1.Node:
		o.Status.Images = nil
	}
	return in, nil
}

func trimContainers(cs []corev1.Container) {
	for i := range cs {
		c := &cs[i]
		c.Env, c.EnvFrom, c.Command, c.Args = nil, nil, nil, nil
		c.VolumeMounts, c.VolumeDevices = nil, nil
		c.LivenessProbe, c.ReadinessProbe, c.StartupProbe, c.Lifecycle = nil, nil, nil, nil
	}
}
