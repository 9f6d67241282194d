package controller

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// targetError is a target that cannot be resolved for a reason the VPA's
// owner can fix (missing, unsupported kind, bad selector): it goes into the
// ConfigUnsupported condition. Other errors (API failures) are transient.
type targetError struct{ msg string }

func (e targetError) Error() string { return e.msg }

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

// selectorOf resolves a VPA's targetRef to its pods' label selector: the
// typed workloads through the informer cache, any other kind through its
// scale subresource (scales; nil: such targets are unsupported). It reads
// the scale subresource at most once per call, and is called once per VPA
// per pass.
func selectorOf(ctx context.Context, r client.Reader, scales *Scales, vpa *vpav1.VerticalPodAutoscaler) (labels.Selector, error) {
	ref := vpa.Spec.TargetRef
	if ref == nil {
		return nil, targetError{"spec.targetRef is not set"}
	}
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return nil, targetError{fmt.Sprintf("targetRef apiVersion %q: %v", ref.APIVersion, err)}
	}
	gk := schema.GroupKind{Group: gv.Group, Kind: ref.Kind}
	key := client.ObjectKey{Namespace: vpa.Namespace, Name: ref.Name}
	newObj, ok := typedTargets[gk]
	if !ok {
		if scales == nil {
			return nil, targetError{fmt.Sprintf("targetRef kind %s is not supported by the recommender (no scale subresource reader)", gk)}
		}
		return scales.selector(ctx, gv.WithKind(ref.Kind), key)
	}
	obj, sel := newObj()
	if err := r.Get(ctx, key, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, targetError{fmt.Sprintf("%s %s not found", ref.Kind, key)}
		}
		return nil, err
	}
	ls := sel()
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

// Scales resolves targets known only by their scale subresource (custom
// resources such as Argo Rollouts), as upstream VPA does: the RESTMapper
// finds the kind's resource, the scale subresource's status.selector (the
// CRD's scale.labelSelectorPath) selects the pods. The scale subresource
// cannot be watched, so every read goes to the API server; the recommender
// reads each VPA's once per pass, and the admission path never.
type Scales struct {
	// Mapper maps the targetRef's kind to its resource: the manager's
	// (discovery-backed, it re-discovers a group on a miss).
	Mapper meta.RESTMapper
	// Client reads <resource>/scale: the manager's client, whose
	// subresource reads are never served from the cache.
	Client client.SubResourceClientConstructor
	// Discovery is asked only after a scale read answered NotFound, to tell
	// a missing object from a kind without a scale subresource (the API
	// server answers both with the same NotFound for a custom resource).
	Discovery ResourceLister
}

// ResourceLister is the part of the discovery client Scales uses.
type ResourceLister interface {
	ServerResourcesForGroupVersion(groupVersion string) (*metav1.APIResourceList, error)
}

// NewScales returns the scale reader on the manager's RESTMapper, client
// and HTTP client.
func NewScales(mgr manager.Manager) (*Scales, error) {
	d, err := discovery.NewDiscoveryClientForConfigAndClient(mgr.GetConfig(), mgr.GetHTTPClient())
	if err != nil {
		return nil, err
	}
	return &Scales{Mapper: mgr.GetRESTMapper(), Client: mgr.GetClient(), Discovery: d}, nil
}

// selector reads status.selector of the scale subresource of the object
// gvk/key.
func (s *Scales) selector(ctx context.Context, gvk schema.GroupVersionKind, key client.ObjectKey) (labels.Selector, error) {
	what := fmt.Sprintf("%s %s", kindString(gvk), key)
	m, err := s.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		return nil, targetError{fmt.Sprintf("targetRef kind %s is unknown to the API server (no resource serves it in %s; is its CRD installed?)", gvk.Kind, gvk.GroupVersion())}
	}
	if err != nil {
		return nil, err
	}
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(gvk)
	obj.SetNamespace(key.Namespace)
	obj.SetName(key.Name)
	scale := &unstructured.Unstructured{}
	err = s.Client.SubResource("scale").Get(ctx, obj, scale)
	switch {
	case err == nil:
	case apierrors.IsNotFound(err), apierrors.IsMethodNotSupported(err):
		list, derr := s.Discovery.ServerResourcesForGroupVersion(m.Resource.GroupVersion().String())
		if derr != nil {
			return nil, fmt.Errorf("%s: scale subresource not found, and discovery failed: %w", what, derr)
		}
		if !hasScaleSubresource(list, m.Resource.Resource) {
			return nil, targetError{noScaleMessage(gvk, m.Resource)}
		}
		return nil, targetError{what + " not found"}
	case apierrors.IsForbidden(err):
		return nil, targetError{fmt.Sprintf("%s: Tailor may not read %s/scale (its ClusterRole needs get on */scale, see deploy/base/rbac.yaml): %v", what, m.Resource.GroupResource(), err)}
	default:
		return nil, err
	}
	sel, _, err := unstructured.NestedString(scale.Object, "status", "selector")
	if err != nil {
		return nil, targetError{fmt.Sprintf("%s: scale subresource status.selector: %v", what, err)}
	}
	return scaleSelector(what, sel)
}

// hasScaleSubresource reports whether the discovery list names
// <resource>/scale.
func hasScaleSubresource(list *metav1.APIResourceList, resource string) bool {
	if list == nil {
		return false
	}
	for _, r := range list.APIResources {
		if r.Name == resource+"/scale" {
			return true
		}
	}
	return false
}

// scaleSelector parses a scale subresource's status.selector (the label
// selector string form) for what (kind and key, for messages). An empty or
// invalid selector is a targetError: upstream reports those as
// ConfigUnsupported too.
func scaleSelector(what, sel string) (labels.Selector, error) {
	if strings.TrimSpace(sel) == "" {
		return nil, targetError{fmt.Sprintf("%s: its scale subresource reports no pod selector (status.selector is empty: the CRD sets no scale.labelSelectorPath, or the resource's controller has not filled it yet)", what)}
	}
	s, err := labels.Parse(sel)
	if err != nil {
		return nil, targetError{fmt.Sprintf("%s: scale subresource status.selector %q: %v", what, sel, err)}
	}
	if s.Empty() {
		return nil, targetError{fmt.Sprintf("%s: scale subresource status.selector %q selects every pod", what, sel)}
	}
	return s, nil
}

func noScaleMessage(gvk schema.GroupVersionKind, r schema.GroupVersionResource) string {
	return fmt.Sprintf("targetRef kind %s has no scale subresource (%s/scale is not served), so its pods cannot be found; target a workload (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, ReplicationController) or a kind with a scale subresource", kindString(gvk), r.GroupResource())
}

// kindString is Kind or Kind.group.
func kindString(gvk schema.GroupVersionKind) string {
	if gvk.Group == "" {
		return gvk.Kind
	}
	return gvk.Kind + "." + gvk.Group
}
