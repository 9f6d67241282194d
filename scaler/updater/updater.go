// Package updater runs Tailor's VPA updater: every interval, on the elected
// leader, it feeds each VPA that updates running pods (Auto, Recreate,
// InPlaceOrRecreate, InPlace) and its target's pods to scaler/resize, and
// carries out the decisions: in-place resizes through the pods/resize
// subresource and, where resize/decide says in place cannot work, evictions
// through the Eviction API (PDBs hold: a refusal is retried next pass). The
// decisions live in scaler/resize; this package only reads and writes.
package updater

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	scalerv1 "github.com/tailor-dev/tailor/scaler/api/v1alpha1"
	"github.com/tailor-dev/tailor/scaler/coordination"
	"github.com/tailor-dev/tailor/scaler/loop"
	"github.com/tailor-dev/tailor/scaler/resize"
	"github.com/tailor-dev/tailor/scaler/scale"
)

// Options configure the updater.
type Options struct {
	// Interval is how often every VPA's pods are checked (upstream's 1m).
	Interval time.Duration
	// Scope is the namespaces this installation acts in
	// (coordination.Scope.OptedIn); set by cmd/tailor.
	Scope coordination.Scope
	resize.Config
}

// Validate reports settings the updater cannot run with.
func (o Options) Validate() error {
	var errs []error
	if o.Interval <= 0 {
		errs = append(errs, fmt.Errorf("updater interval must be positive, got %s", o.Interval))
	}
	if err := o.Config.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("updater: %w", err))
	}
	return errors.Join(errs...)
}

// Event reasons are upstream's updater's, so tools that watch for them work.
const (
	ReasonResizedPod = "InPlaceResizedByVPA" // on the pod
	ReasonResizedVPA = "InPlaceResizedPod"   // on the VPA
	ReasonEvictedPod = "EvictedByVPA"
	ReasonEvictedVPA = "EvictedPod"
)

// Updater is the leader-elected runnable.
type Updater struct {
	opts     Options
	client   client.Client // cached reads, subresource writes
	scales   *scale.Scales
	scheme   *runtime.Scheme
	recorder recorder.EventRecorder
	log      logr.Logger

	pods  map[types.UID]*podMemory
	optIn *loop.OptIn
	pass  uint64
	now   func() time.Time
}

// podMemory is what the updater remembers of a pod it updated. It is lost
// with leadership: a new leader may update a pod once more before the
// cooldown has passed.
type podMemory struct {
	last     time.Time
	rejected string
	seenPass uint64
}

// New returns an updater; c reads through the informer cache, scales
// resolves targets known only by their scale subresource (nil: unsupported).
func New(c client.Client, scales *scale.Scales, scheme *runtime.Scheme, rec recorder.EventRecorder, log logr.Logger, o Options) (*Updater, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	return &Updater{opts: o, client: c, scales: scales, scheme: scheme, recorder: rec, log: log, pods: map[types.UID]*podMemory{}, now: time.Now,
		optIn: &loop.OptIn{Component: "updater", Reader: c, Recorder: rec, Scope: o.Scope, Log: log}}, nil
}

// Setup adds the updater, and the resize back of pods born with a startup
// boost, to the manager; both run on the leader only.
// scales resolves VPA targets known only by their scale subresource.
func Setup(mgr manager.Manager, o Options, scales *scale.Scales) error {
	u, err := New(mgr.GetClient(), scales, mgr.GetScheme(), mgr.GetEventRecorder("tailor.dev/updater"), mgr.GetLogger().WithName("updater"), o)
	if err != nil {
		return err
	}
	if err := setupUnbooster(mgr, o.Scope, u.log.WithName("unboost")); err != nil {
		return err
	}
	return mgr.Add(u)
}

// NeedLeaderElection: one updater per cluster.
func (u *Updater) NeedLeaderElection() bool { return true }

// Start runs a pass every interval until ctx ends.
func (u *Updater) Start(ctx context.Context) error {
	u.log.Info("updater started", "interval", u.opts.Interval, "maxPodsPerWorkload", u.opts.MaxPerWorkload, "podCooldown", u.opts.Cooldown, "minReplicas", u.opts.MinReplicas)
	t := time.NewTicker(u.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			u.log.Info("updater stopped")
			return nil
		case <-t.C:
			u.Sync(ctx)
		}
	}
}

// Sync is one pass over every VPA. Errors are logged and counted; a pass
// never fails as a whole.
func (u *Updater) Sync(ctx context.Context) {
	start := u.now()
	u.pass++
	defer func() { syncDuration.Observe(time.Since(start).Seconds()) }()

	var list vpav1.VerticalPodAutoscalerList
	if err := u.client.List(ctx, &list); err != nil {
		loop.ListFailed(u.log, err, "VerticalPodAutoscaler")
		return
	}
	byNS := map[string][]*vpav1.VerticalPodAutoscaler{}
	u.optIn.NewPass()
	for i := range list.Items {
		v := &list.Items[i]
		if _, skip := resize.Mode(v); skip != "" || v.DeletionTimestamp != nil {
			continue
		}
		if !u.optIn.Allows(ctx, v, "running pods are not updated") {
			continue
		}
		byNS[v.Namespace] = append(byNS[v.Namespace], v)
	}
	waiting := map[string]int{}
	namespaces := make([]string, 0, len(byNS))
	for ns := range byNS {
		namespaces = append(namespaces, ns)
	}
	slices.Sort(namespaces)
	for _, ns := range namespaces {
		if ctx.Err() != nil {
			return
		}
		u.syncNamespace(ctx, ns, byNS[ns], waiting)
	}
	waitingPods.Reset()
	for reason, n := range waiting {
		waitingPods.WithLabelValues(reason).Set(float64(n))
	}
	for uid, m := range u.pods {
		if u.pass-m.seenPass >= 3 && u.now().Sub(m.last) >= u.opts.Cooldown {
			delete(u.pods, uid)
		}
	}
}

func (u *Updater) syncNamespace(ctx context.Context, ns string, vpas []*vpav1.VerticalPodAutoscaler, waiting map[string]int) {
	log := u.log.WithValues("namespace", ns)
	var pods corev1.PodList
	var lrs corev1.LimitRangeList
	var ras scalerv1.ReplicaAutoscalerList
	for _, l := range []client.ObjectList{&pods, &lrs, &ras} {
		if err := u.client.List(ctx, l, client.InNamespace(ns)); err != nil {
			log.Error(err, "list; pods left as they are this pass", "kind", fmt.Sprintf("%T", l))
			return
		}
	}
	raPtrs := make([]*scalerv1.ReplicaAutoscaler, len(ras.Items))
	for i := range ras.Items {
		raPtrs[i] = &ras.Items[i]
	}
	slices.SortFunc(vpas, func(a, b *vpav1.VerticalPodAutoscaler) int { return strings.Compare(a.Name, b.Name) })
	for _, vpa := range vpas {
		vlog := log.WithValues("vpa", vpa.Name)
		if err := loop.Guard("updater", vlog, func() { u.syncVPA(ctx, vlog, vpa, pods.Items, lrs.Items, raPtrs, waiting) }); err != nil {
			u.recorder.Eventf(vpa, nil, corev1.EventTypeWarning, loop.ReasonInternalError, "Update", "running pods left as they are this pass: %v", err)
		}
	}
}

// syncVPA decides and carries out the updates of one VPA's pods.
func (u *Updater) syncVPA(ctx context.Context, vlog logr.Logger, vpa *vpav1.VerticalPodAutoscaler, allPods []corev1.Pod, lrs []corev1.LimitRange, raPtrs []*scalerv1.ReplicaAutoscaler, waiting map[string]int) {
	sel, err := scale.SelectorOf(ctx, u.client, u.scales, vpa)
	if err != nil {
		vlog.V(1).Info("target cannot be read; pods left as they are", "reason", err.Error())
		return
	}
	in := resize.Input{
		VPA: vpa, LimitRanges: lrs, Now: u.now(),
		Hold:       coordination.Horizontal(vpa, raPtrs).Resources,
		RollingOut: u.rollingOut(ctx, vpa),
	}
	for i := range allPods {
		p := &allPods[i]
		if !sel.Matches(labels.Set(p.Labels)) {
			continue
		}
		rp := resize.Pod{Pod: p}
		if m := u.pods[p.UID]; m != nil {
			m.seenPass = u.pass
			rp.LastUpdate, rp.Rejected = m.last, m.rejected
		}
		in.Pods = append(in.Pods, rp)
	}
	d, err := resize.Decide(in, u.opts.Config)
	if err != nil {
		vlog.Error(err, "pods left as they are")
		return
	}
	for reason, n := range d.Waiting {
		waiting[reason] += n
	}
	if strings.HasPrefix(d.Skipped, resize.SkipRollingOut) {
		waiting["rolling_out"]++
		vlog.V(1).Info("target rolling out; running pods left as they are", "reason", d.Skipped)
	}
	if len(d.Waiting) > 0 {
		vlog.V(1).Info("pods waiting", "waiting", d.Waiting)
	}
	for _, up := range d.Updates {
		switch up.Action {
		case resize.Resize:
			u.resize(ctx, vlog, vpa, up)
		case resize.Evict:
			u.evict(ctx, vlog, vpa, up)
		}
	}
}

// rollingOut reads the target's rollout state, when its kind is known to
// the scheme; for others the pods' own resize state is all there is.
func (u *Updater) rollingOut(ctx context.Context, vpa *vpav1.VerticalPodAutoscaler) string {
	ref := vpa.Spec.TargetRef
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return ""
	}
	obj, err := u.scheme.New(gv.WithKind(ref.Kind))
	if err != nil {
		return ""
	}
	co, ok := obj.(client.Object)
	if !ok || u.client.Get(ctx, client.ObjectKey{Namespace: vpa.Namespace, Name: ref.Name}, co) != nil {
		return ""
	}
	return resize.RollingOut(co)
}

func (u *Updater) remember(uid types.UID) *podMemory {
	m := u.pods[uid]
	if m == nil {
		m = &podMemory{}
		u.pods[uid] = m
	}
	m.seenPass = u.pass
	return m
}

// resize patches the containers' resources through pods/resize. The patch
// carries the resourceVersion: a pod changed meanwhile is a conflict, and
// the next pass decides again.
func (u *Updater) resize(ctx context.Context, log logr.Logger, vpa *vpav1.VerticalPodAutoscaler, up resize.Update) {
	pod := up.Pod
	patched := pod.DeepCopy()
	for _, ch := range up.Changes {
		cs := patched.Spec.Containers
		if ch.Init {
			cs = patched.Spec.InitContainers
		}
		cs[ch.Index].Resources = ch.After
	}
	log = log.WithValues("pod", pod.Name)
	err := u.client.SubResource("resize").Patch(ctx, patched, client.StrategicMergeFrom(pod, client.MergeFromWithOptimisticLock{}))
	switch {
	case err == nil:
		updatesTotal.WithLabelValues(string(resize.Resize), "ok").Inc()
		u.remember(pod.UID).last = u.now()
		u.recorder.Eventf(pod, vpa, corev1.EventTypeNormal, ReasonResizedPod, "Resize", "%s", note("resized in place: "+up.Summary+"; "+up.Why))
		u.recorder.Eventf(vpa, pod, corev1.EventTypeNormal, ReasonResizedVPA, "Resize", "%s", note("pod "+pod.Name+" resized in place: "+up.Summary))
		log.Info("pod resized in place", "change", up.Summary, "why", up.Why)
	case apierrors.IsConflict(err), apierrors.IsNotFound(err):
		updatesTotal.WithLabelValues(string(resize.Resize), "conflict").Inc()
		log.V(1).Info("pod changed or gone before the resize; deciding again next pass", "error", err.Error())
	case apierrors.IsInvalid(err):
		// The API server says in place cannot work for this pod (e.g. a
		// QoS class change); the next pass may evict it.
		updatesTotal.WithLabelValues(string(resize.Resize), "rejected").Inc()
		u.remember(pod.UID).rejected = err.Error()
		log.Info("resize refused by the API server", "change", up.Summary, "error", err.Error())
	default:
		updatesTotal.WithLabelValues(string(resize.Resize), "error").Inc()
		log.Error(err, "resize", "change", up.Summary)
	}
}

// evict goes through the Eviction API, so PodDisruptionBudgets hold; a
// refusal (429) is not an error: the pod is retried next pass.
func (u *Updater) evict(ctx context.Context, log logr.Logger, vpa *vpav1.VerticalPodAutoscaler, up resize.Update) {
	pod := up.Pod
	log = log.WithValues("pod", pod.Name)
	uid := pod.UID
	ev := &policyv1.Eviction{
		ObjectMeta:    metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace},
		DeleteOptions: &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}},
	}
	err := u.client.SubResource("eviction").Create(ctx, pod, ev)
	switch {
	case err == nil:
		updatesTotal.WithLabelValues(string(resize.Evict), "ok").Inc()
		u.remember(pod.UID).last = u.now()
		u.recorder.Eventf(pod, vpa, corev1.EventTypeNormal, ReasonEvictedPod, "Evict", "%s", note("evicted to be recreated: "+up.Summary+"; "+up.Why))
		u.recorder.Eventf(vpa, pod, corev1.EventTypeNormal, ReasonEvictedVPA, "Evict", "%s", note("pod "+pod.Name+" evicted: "+up.Summary))
		log.Info("pod evicted", "change", up.Summary, "why", up.Why)
	case apierrors.IsTooManyRequests(err):
		updatesTotal.WithLabelValues(string(resize.Evict), "blocked").Inc()
		log.Info("eviction refused (PodDisruptionBudget); retrying next pass", "reason", err.Error())
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		updatesTotal.WithLabelValues(string(resize.Evict), "gone").Inc()
	default:
		updatesTotal.WithLabelValues(string(resize.Evict), "error").Inc()
		log.Error(err, "evict", "why", up.Why)
	}
}

// note keeps an Event note under the events.k8s.io limit of 1 kB.
func note(s string) string {
	const max = 1000
	if len(s) <= max {
		return s
	}
	return s[:max-3] + "..."
}
