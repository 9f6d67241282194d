package updater

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/tailor-dev/tailor/recommender/sizing"
	"github.com/tailor-dev/tailor/scaler/coordination"
	"github.com/tailor-dev/tailor/scaler/loop"
)

// ReasonStartupBoostEnded is the Event on a pod resized back from its
// startup boost.
const ReasonStartupBoostEnded = "StartupBoostEnded"

// unbooster resizes a pod born with a startup boost (the webhook's
// sizing.PodBoostAnnotation) back in place, through pods/resize, once it
// has been Ready for the boost's duration: same pod, same UID, no
// eviction. It is a controller on pods that carry the annotation, so the
// resize comes when the boost ends (RequeueAfter), not a pass later. It
// acts whatever the VPA's mode and whether the VPA still exists: undoing
// the boost is the other half of the webhook's change, not an update.
type unbooster struct {
	client   client.Client
	recorder recorder.EventRecorder
	log      logr.Logger
	now      func() time.Time
	// scope: another installation's pods (--namespace-selector) are its own
	// to resize back.
	scope *loop.OptIn
}

func setupUnbooster(mgr ctrl.Manager, scope coordination.Scope, log logr.Logger) error {
	u := &unbooster{client: mgr.GetClient(), recorder: mgr.GetEventRecorder("tailor.dev/updater"), log: log, now: time.Now,
		scope: &loop.OptIn{Component: "unboost", Reader: mgr.GetClient(), Scope: scope, SelectorOnly: true, Log: log}}
	hasBoost := predicate.NewPredicateFuncs(func(o client.Object) bool {
		_, ok := o.GetAnnotations()[sizing.PodBoostAnnotation]
		return ok
	})
	return ctrl.NewControllerManagedBy(mgr).Named("unboost").
		For(&corev1.Pod{}, builder.WithPredicates(hasBoost)).
		Complete(u)
}

// Reconcile resizes one pod back, or says when to look again.
func (u *unbooster) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	pod := &corev1.Pod{}
	if err := u.client.Get(ctx, req.NamespacedName, pod); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !u.scope.InScope(ctx, pod.Namespace) {
		return ctrl.Result{}, nil
	}
	st, ok := sizing.BoostStateOf(pod)
	switch {
	case !ok || pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed:
		return ctrl.Result{}, nil
	case st.Err != nil:
		u.log.Info("unreadable startup boost annotation; pod left as it is", "pod", req.NamespacedName, "error", st.Err.Error())
		return ctrl.Result{}, nil
	case !st.Active():
		return ctrl.Result{}, nil // resized back already (by us, or since by the updater)
	case st.Ready.IsZero():
		return ctrl.Result{}, nil // its Ready condition changing brings it back
	}
	now := u.now()
	if wait := st.End.Sub(now); wait > 0 {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	containers, summary, _ := sizing.Unboost(pod, &st)
	patched := pod.DeepCopy()
	patched.Spec.Containers = containers
	log := u.log.WithValues("pod", req.NamespacedName)
	err := u.client.SubResource("resize").Patch(ctx, patched, client.StrategicMergeFrom(pod, client.MergeFromWithOptimisticLock{}))
	switch {
	case err == nil:
		startupBoostResizes.WithLabelValues("ok").Inc()
		extra := int64(0)
		for _, b := range st.Boosted {
			extra += b.BoostRequest - b.Request
		}
		boosted := now.Sub(pod.CreationTimestamp.Time)
		startupBoostCPUSeconds.Add(float64(extra) / 1000 * boosted.Seconds())
		u.recorder.Eventf(pod, nil, corev1.EventTypeNormal, ReasonStartupBoostEnded, "Resize", "%s",
			note(fmt.Sprintf("startup boost ended %s after Ready (%s), %s after creation; resized in place: %s", now.Sub(st.Ready).Round(time.Second), st.Ready.UTC().Format(time.RFC3339), boosted.Round(time.Second), summary)))
		log.Info("startup boost ended; pod resized in place", "change", summary, "boostedFor", boosted.Round(time.Second))
		return ctrl.Result{}, nil
	case apierrors.IsNotFound(err):
		return ctrl.Result{}, nil
	case apierrors.IsConflict(err):
		startupBoostResizes.WithLabelValues("conflict").Inc()
		return ctrl.Result{RequeueAfter: time.Second}, nil
	case apierrors.IsInvalid(err) || apierrors.IsForbidden(err):
		// Refused for good (e.g. the node's resize policy): the pod keeps
		// its boost; say so once.
		startupBoostResizes.WithLabelValues("rejected").Inc()
		u.recorder.Eventf(pod, nil, corev1.EventTypeWarning, ReasonStartupBoostEnded, "Resize", "%s", note("the resize back from the startup boost was refused; the pod keeps its boosted CPU: "+err.Error()))
		log.Info("resize back from the startup boost refused", "change", summary, "error", err.Error())
		return ctrl.Result{}, nil
	default:
		startupBoostResizes.WithLabelValues("error").Inc()
		return ctrl.Result{}, fmt.Errorf("resize back from the startup boost: %w", err)
	}
}
