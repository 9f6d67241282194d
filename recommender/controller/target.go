package controller

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// targetError is a target that cannot be resolved for a reason the VPA's
// owner can fix (missing, unsupported kind, bad selector): it goes into the
// ConfigUnsupported condition. Other errors (API failures) are transient.
type targetError struct{ msg string }

func (e targetError) Error() string { return e.msg }

// selectorOf resolves a VPA's targetRef to its pods' label selector through
// the typed workload objects in the cache. Workloads known only by their
// scale subresource (custom resources) are not supported yet.
func selectorOf(ctx context.Context, r client.Reader, vpa *vpav1.VerticalPodAutoscaler) (labels.Selector, error) {
	ref := vpa.Spec.TargetRef
	if ref == nil {
		return nil, targetError{"spec.targetRef is not set"}
	}
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return nil, targetError{fmt.Sprintf("targetRef apiVersion %q: %v", ref.APIVersion, err)}
	}
	key := client.ObjectKey{Namespace: vpa.Namespace, Name: ref.Name}
	var (
		obj client.Object
		sel func() (*metav1.LabelSelector, error)
	)
	switch gk := (schema.GroupKind{Group: gv.Group, Kind: ref.Kind}); gk {
	case schema.GroupKind{Group: "apps", Kind: "Deployment"}:
		o := &appsv1.Deployment{}
		obj, sel = o, func() (*metav1.LabelSelector, error) { return o.Spec.Selector, nil }
	case schema.GroupKind{Group: "apps", Kind: "StatefulSet"}:
		o := &appsv1.StatefulSet{}
		obj, sel = o, func() (*metav1.LabelSelector, error) { return o.Spec.Selector, nil }
	case schema.GroupKind{Group: "apps", Kind: "DaemonSet"}:
		o := &appsv1.DaemonSet{}
		obj, sel = o, func() (*metav1.LabelSelector, error) { return o.Spec.Selector, nil }
	case schema.GroupKind{Group: "apps", Kind: "ReplicaSet"}:
		o := &appsv1.ReplicaSet{}
		obj, sel = o, func() (*metav1.LabelSelector, error) { return o.Spec.Selector, nil }
	case schema.GroupKind{Group: "batch", Kind: "Job"}:
		o := &batchv1.Job{}
		obj, sel = o, func() (*metav1.LabelSelector, error) { return o.Spec.Selector, nil }
	case schema.GroupKind{Group: "batch", Kind: "CronJob"}:
		// A CronJob's Jobs get generated selectors; its pods carry the
		// template's labels (what upstream matches on too).
		o := &batchv1.CronJob{}
		obj, sel = o, func() (*metav1.LabelSelector, error) {
			l := o.Spec.JobTemplate.Spec.Template.Labels
			if len(l) == 0 {
				return nil, nil
			}
			return metav1.SetAsLabelSelector(l), nil
		}
	case schema.GroupKind{Group: "", Kind: "ReplicationController"}:
		o := &corev1.ReplicationController{}
		obj, sel = o, func() (*metav1.LabelSelector, error) {
			if len(o.Spec.Selector) == 0 {
				return nil, nil
			}
			return metav1.SetAsLabelSelector(o.Spec.Selector), nil
		}
	default:
		return nil, targetError{fmt.Sprintf("targetRef kind %s is not supported by the recommender yet (supported: Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, ReplicationController)", gk)}
	}
	if err := r.Get(ctx, key, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, targetError{fmt.Sprintf("%s %s not found", ref.Kind, key)}
		}
		return nil, err
	}
	ls, err := sel()
	if err != nil {
		return nil, err
	}
	if ls == nil {
		return nil, targetError{fmt.Sprintf("%s %s has no pod selector", ref.Kind, key)}
	}
	s, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		return nil, targetError{fmt.Sprintf("%s %s selector: %v", ref.Kind, key, err)}
	}
	if s.Empty() {
		return nil, targetError{fmt.Sprintf("%s %s has an empty pod selector", ref.Kind, key)}
	}
	return s, nil
}
