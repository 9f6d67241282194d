package scale

import (
	"context"
	"errors"
	"fmt"
	"strings"

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

// TargetError is a target that cannot be resolved for a reason the VPA's
// owner can fix (missing, unsupported kind, bad selector): the recommender
// puts it into the ConfigUnsupported condition. Other errors (API
// failures) are transient.
type TargetError struct{ Msg string }

func (e TargetError) Error() string { return e.Msg }

// typedTargets are the workloads whose selector is read from the informer
// cache; every other kind goes through its scale subresource.
var typedTargets = map[schema.GroupKind]func() (client.Object, func() *metav1.LabelSelector){
	{Group: "apps", Kind: "Deployment"}: func() (client.Object, func() *metav1.LabelSelector) {
		o := &appsv1.Deployment{}
		return o, func() *metav1.LabelSelector { return o.Spec.Selector }
	},
	{Group: "apps", Kind: "StatefulSet"}: func() (client.Object, func() *metav1.LabelSelector) {
		o := &appsv1.StatefulSet{}
		return o, func() *metav1.LabelSelector { return o.Spec.Selector }
	},
	{Group: "apps", Kind: "DaemonSet"}: func() (client.Object, func() *metav1.LabelSelector) {
		o := &appsv1.DaemonSet{}
		return o, func() *metav1.LabelSelector { return o.Spec.Selector }
	},
	{Group: "apps", Kind: "ReplicaSet"}: func() (client.Object, func() *metav1.LabelSelector) {
		o := &appsv1.ReplicaSet{}
		return o, func() *metav1.LabelSelector { return o.Spec.Selector }
	},
	{Group: "batch", Kind: "Job"}: func() (client.Object, func() *metav1.LabelSelector) {
		o := &batchv1.Job{}
		return o, func() *metav1.LabelSelector { return o.Spec.Selector }
	},
	// A CronJob's Jobs get generated selectors; its pods carry the
	// template's labels (what upstream matches on too).
	{Group: "batch", Kind: "CronJob"}: func() (client.Object, func() *metav1.LabelSelector) {
		o := &batchv1.CronJob{}
		return o, func() *metav1.LabelSelector { return setSelector(o.Spec.JobTemplate.Spec.Template.Labels) }
	},
	{Group: "", Kind: "ReplicationController"}: func() (client.Object, func() *metav1.LabelSelector) {
		o := &corev1.ReplicationController{}
		return o, func() *metav1.LabelSelector { return setSelector(o.Spec.Selector) }
	},
}

func setSelector(l map[string]string) *metav1.LabelSelector {
	if len(l) == 0 {
		return nil
	}
	return metav1.SetAsLabelSelector(l)
}

// SelectorOf resolves a VPA's targetRef to its pods' label selector: the
// typed workloads through r (the informer cache), any other kind through
// its scale subresource (scales; nil: such targets are unsupported). The
// recommender and the updater both call it, so the updater acts on exactly
// the pods a recommendation was computed from. It reads the scale
// subresource at most once per call.
func SelectorOf(ctx context.Context, r client.Reader, scales *Scales, vpa *vpav1.VerticalPodAutoscaler) (labels.Selector, error) {
	ref := vpa.Spec.TargetRef
	if ref == nil {
		return nil, TargetError{"spec.targetRef is not set"}
	}
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return nil, TargetError{fmt.Sprintf("targetRef apiVersion %q: %v", ref.APIVersion, err)}
	}
	gk := schema.GroupKind{Group: gv.Group, Kind: ref.Kind}
	key := client.ObjectKey{Namespace: vpa.Namespace, Name: ref.Name}
	newObj, ok := typedTargets[gk]
	if !ok {
		if scales == nil {
			return nil, TargetError{fmt.Sprintf("targetRef kind %s is not supported (no scale subresource reader)", gk)}
		}
		return scaleTargetSelector(ctx, scales, vpa.Namespace, ref.APIVersion, ref.Kind, ref.Name)
	}
	obj, sel := newObj()
	if err := r.Get(ctx, key, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, TargetError{fmt.Sprintf("%s %s not found", ref.Kind, key)}
		}
		return nil, err
	}
	ls := sel()
	if ls == nil {
		return nil, TargetError{fmt.Sprintf("%s %s has no pod selector", ref.Kind, key)}
	}
	s, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		return nil, TargetError{fmt.Sprintf("%s %s selector: %v", ref.Kind, key, err)}
	}
	if s.Empty() {
		return nil, TargetError{fmt.Sprintf("%s %s has an empty pod selector", ref.Kind, key)}
	}
	return s, nil
}

// scaleSelector parses a scale subresource's status.selector (the label
// selector string form) for what (kind and key, for messages). An empty or
// invalid selector is a TargetError: upstream reports those as
// ConfigUnsupported too.
func scaleSelector(what, sel string) (labels.Selector, error) {
	if strings.TrimSpace(sel) == "" {
		return nil, TargetError{fmt.Sprintf("%s: its scale subresource reports no pod selector (status.selector is empty: the CRD sets no scale.labelSelectorPath, or the resource's controller has not filled it yet)", what)}
	}
	s, err := labels.Parse(sel)
	if err != nil {
		return nil, TargetError{fmt.Sprintf("%s: scale subresource status.selector %q: %v", what, sel, err)}
	}
	if s.Empty() {
		return nil, TargetError{fmt.Sprintf("%s: scale subresource status.selector %q selects every pod", what, sel)}
	}
	return s, nil
}

// scaleTargetSelector reads the pod selector of a target known only by its
// scale subresource (status.selector, the CRD's scale.labelSelectorPath).
func scaleTargetSelector(ctx context.Context, scales *Scales, namespace, apiVersion, kind, name string) (labels.Selector, error) {
	what := fmt.Sprintf("%s %s/%s", kind, namespace, name)
	sc, gr, err := scales.Get(ctx, namespace, apiVersion, kind, name)
	var unsupported *Unsupported
	switch {
	case errors.As(err, &unsupported):
		return nil, TargetError{"targetRef " + unsupported.Msg}
	case apierrors.IsForbidden(err):
		return nil, TargetError{fmt.Sprintf("%s: Tailor may not read %s/scale (its ClusterRole needs get on */scale, see deploy/base/rbac.yaml): %v", what, gr, err)}
	case err != nil:
		return nil, err
	}
	return scaleSelector(what, sc.Status.Selector)
}
