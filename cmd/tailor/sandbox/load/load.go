package load

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// Annotations. The first two go on the workload (Deployment, StatefulSet or
// a ReplicaSet of its own); the rest are kwok's, set on its pods, plus
// AnnotationApplied, which marks the pods whose usage the loader set so it
// can take it back.
const (
	AnnotationCPU     = "sandbox.tailor.dev/load-cpu"
	AnnotationMemory  = "sandbox.tailor.dev/load-memory"
	AnnotationApplied = "sandbox.tailor.dev/load-from"

	UsageCPUAnnotation    = "kwok.x-k8s.io/usage-cpu"
	UsageMemoryAnnotation = "kwok.x-k8s.io/usage-memory"
)

// Kinds that can carry a load, by the name "tailor sandbox load --kind" takes.
var Kinds = map[string]schema.GroupVersionKind{
	"Deployment":  appsv1.SchemeGroupVersion.WithKind("Deployment"),
	"StatefulSet": appsv1.SchemeGroupVersion.WithKind("StatefulSet"),
	"ReplicaSet":  appsv1.SchemeGroupVersion.WithKind("ReplicaSet"),
}

// SetDemand annotates the workload with a total demand; a nil quantity
// leaves that resource's demand as it is. The loader applies it on its
// next pass.
func SetDemand(ctx context.Context, c client.Client, gvk schema.GroupVersionKind, key types.NamespacedName, cpu, memory *resource.Quantity) error {
	ann := map[string]any{}
	for k, q := range map[string]*resource.Quantity{AnnotationCPU: cpu, AnnotationMemory: memory} {
		if q == nil {
			continue
		}
		if q.Sign() < 0 {
			return fmt.Errorf("demand %s must not be negative", q.String())
		}
		ann[k] = q.String()
	}
	if len(ann) == 0 {
		return fmt.Errorf("no demand given (cpu or memory)")
	}
	return patchAnnotations(ctx, c, gvk, key, ann)
}

// RemoveDemand takes the demand off the workload; the loader gives its pods
// back kwok's default usage on its next pass.
func RemoveDemand(ctx context.Context, c client.Client, gvk schema.GroupVersionKind, key types.NamespacedName) error {
	return patchAnnotations(ctx, c, gvk, key, map[string]any{AnnotationCPU: nil, AnnotationMemory: nil})
}

func patchAnnotations(ctx context.Context, c client.Client, gvk schema.GroupVersionKind, key types.NamespacedName, ann map[string]any) error {
	data, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": ann}})
	if err != nil {
		return err
	}
	obj := &metav1.PartialObjectMetadata{}
	obj.SetGroupVersionKind(gvk)
	obj.Namespace, obj.Name = key.Namespace, key.Name
	if err := c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, data)); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("%s %s not found", gvk.Kind, key)
		}
		return err
	}
	return nil
}

// Loader is the sandbox's "load" component: every interval it sets the kwok
// usage of the pods of every loaded workload to their share of its demand.
type Loader struct {
	Client   client.Client // reads from the informer cache
	Interval time.Duration
	Log      logr.Logger
	// reported keeps bad annotations from being logged every pass.
	reported map[string]string
}

// Setup adds the loader to the manager (leader only).
func Setup(mgr manager.Manager, interval time.Duration) error {
	return mgr.Add(&Loader{Client: mgr.GetClient(), Interval: interval, Log: mgr.GetLogger().WithName("load")})
}

// NeedLeaderElection: one loader per cluster.
func (l *Loader) NeedLeaderElection() bool { return true }

// Start runs Sync every interval until ctx ends.
func (l *Loader) Start(ctx context.Context) error {
	l.Log.Info("sandbox load started", "interval", l.Interval, "annotations", []string{AnnotationCPU, AnnotationMemory})
	t := time.NewTicker(l.Interval)
	defer t.Stop()
	for {
		if err := l.Sync(ctx); err != nil && ctx.Err() == nil {
			l.Log.Error(err, "sandbox load pass")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// workload is one loaded workload.
type workload struct {
	id          string // Kind/namespace/name, for AnnotationApplied
	namespace   string
	selector    *metav1.LabelSelector
	annotations map[string]string
}

// Sync applies every workload's demand once.
func (l *Loader) Sync(ctx context.Context) error {
	ws, err := l.workloads(ctx)
	if err != nil {
		return err
	}
	want := map[types.NamespacedName]map[string]string{} // pod → annotations it should carry
	for _, w := range ws {
		if err := l.plan(ctx, w, want); err != nil {
			l.report(w.id, err.Error())
		} else {
			l.report(w.id, "")
		}
	}
	var all corev1.PodList
	if err := l.Client.List(ctx, &all); err != nil {
		return err
	}
	for i := range all.Items {
		p := &all.Items[i]
		key := types.NamespacedName{Namespace: p.Namespace, Name: p.Name}
		desired, loaded := want[key]
		if !loaded {
			if _, ours := p.Annotations[AnnotationApplied]; !ours {
				continue
			}
			// No longer loaded (demand removed, pod unready or deselected):
			// back to kwok's default usage.
			desired = map[string]string{}
		}
		if err := l.apply(ctx, p, desired); err != nil && !apierrors.IsNotFound(err) {
			l.Log.Error(err, "set the usage annotations of a pod", "pod", key)
		}
	}
	return nil
}

func (l *Loader) report(id, msg string) {
	if l.reported == nil {
		l.reported = map[string]string{}
	}
	if l.reported[id] == msg {
		return
	}
	l.reported[id] = msg
	if msg != "" {
		l.Log.Info("load not applied", "workload", id, "reason", msg)
	}
}

// workloads lists the loaded workloads, in a stable order: a pod selected
// by two of them gets the first one's share.
func (l *Loader) workloads(ctx context.Context) ([]workload, error) {
	var out []workload
	loaded := func(a map[string]string) bool { return a[AnnotationCPU] != "" || a[AnnotationMemory] != "" }
	var ds appsv1.DeploymentList
	if err := l.Client.List(ctx, &ds); err != nil {
		return nil, err
	}
	for _, d := range ds.Items {
		if loaded(d.Annotations) {
			out = append(out, workload{"Deployment/" + d.Namespace + "/" + d.Name, d.Namespace, d.Spec.Selector, d.Annotations})
		}
	}
	var ss appsv1.StatefulSetList
	if err := l.Client.List(ctx, &ss); err != nil {
		return nil, err
	}
	for _, s := range ss.Items {
		if loaded(s.Annotations) {
			out = append(out, workload{"StatefulSet/" + s.Namespace + "/" + s.Name, s.Namespace, s.Spec.Selector, s.Annotations})
		}
	}
	var rs appsv1.ReplicaSetList
	if err := l.Client.List(ctx, &rs); err != nil {
		return nil, err
	}
	for _, r := range rs.Items {
		// A Deployment's ReplicaSets inherit its annotations; the
		// Deployment's demand covers their pods already.
		if loaded(r.Annotations) && metav1.GetControllerOf(&r) == nil {
			out = append(out, workload{"ReplicaSet/" + r.Namespace + "/" + r.Name, r.Namespace, r.Spec.Selector, r.Annotations})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out, nil
}

// plan adds the annotations of w's ready pods to want.
func (l *Loader) plan(ctx context.Context, w workload, want map[types.NamespacedName]map[string]string) error {
	demand := map[corev1.ResourceName]*resource.Quantity{}
	for res, ann := range map[corev1.ResourceName]string{corev1.ResourceCPU: AnnotationCPU, corev1.ResourceMemory: AnnotationMemory} {
		v := w.annotations[ann]
		if v == "" {
			continue
		}
		q, err := resource.ParseQuantity(v)
		if err != nil || q.Sign() < 0 {
			return fmt.Errorf("annotation %s=%q is not a non-negative quantity", ann, v)
		}
		demand[res] = &q
	}
	if w.selector == nil {
		return fmt.Errorf("no pod selector")
	}
	sel, err := metav1.LabelSelectorAsSelector(w.selector)
	if err != nil || sel.Empty() {
		return fmt.Errorf("pod selector %v: unusable (%v)", w.selector, err)
	}
	var pods corev1.PodList
	if err := l.Client.List(ctx, &pods, client.InNamespace(w.namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return err
	}
	var ready []*corev1.Pod
	for i := range pods.Items {
		p := &pods.Items[i]
		key := types.NamespacedName{Namespace: p.Namespace, Name: p.Name}
		if _, taken := want[key]; !taken && Ready(p) {
			ready = append(ready, p)
		}
	}
	for res, q := range demand {
		shares := make([]Share, len(ready))
		for i, p := range ready {
			shares[i] = Share{Pod: p.Name, Limit: limitOf(p, res)}
		}
		for name, v := range Split(q.MilliValue(), shares) {
			key := types.NamespacedName{Namespace: w.namespace, Name: name}
			if want[key] == nil {
				want[key] = map[string]string{AnnotationApplied: w.id}
			}
			if res == corev1.ResourceCPU {
				want[key][UsageCPUAnnotation] = strconv.FormatInt(v, 10) + "m"
			} else {
				want[key][UsageMemoryAnnotation] = strconv.FormatInt(v/1000, 10)
			}
		}
	}
	return nil
}

// Ready reports whether p serves traffic: running, Ready, not being deleted.
func Ready(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// limitOf is the pod's limit of res in milli-units, 0 when a container has
// none (no cap).
func limitOf(p *corev1.Pod, res corev1.ResourceName) int64 {
	var sum int64
	for _, c := range p.Spec.Containers {
		q, ok := c.Resources.Limits[res]
		if !ok {
			return 0
		}
		sum += q.MilliValue()
	}
	return sum
}

// apply sets the annotations in desired on p; an empty desired takes all
// of the loader's annotations off (kwok then reports its default usage, 1m
// and 1Mi). Patches only what differs.
func (l *Loader) apply(ctx context.Context, p *corev1.Pod, desired map[string]string) error {
	patch := map[string]any{}
	for _, k := range []string{UsageCPUAnnotation, UsageMemoryAnnotation, AnnotationApplied} {
		v, ok := desired[k]
		cur, has := p.Annotations[k]
		switch {
		case ok && (!has || cur != v):
			patch[k] = v
		case len(desired) == 0 && has:
			patch[k] = nil
		}
	}
	if len(patch) == 0 {
		return nil
	}
	data, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": patch}})
	if err != nil {
		return err
	}
	return l.Client.Patch(ctx, p, client.RawPatch(types.MergePatchType, data))
}
