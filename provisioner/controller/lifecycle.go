package controller

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/cloud"
	"github.com/tailor-dev/tailor/provisioner/disruption"
)

// Field indexes the lifecycle reads by.
const (
	nodeProviderIDField = "spec.providerID"
	podNodeNameField    = "spec.nodeName"
)

// lifecycle reconciles one NodeClaim: launch → register → initialize,
// registration timeout, pod events (for consolidateAfter), and (finalizer)
// drain and terminate. What to disrupt is the disruption loop's business.
type lifecycle struct {
	opts        Options
	client      client.Client
	cloud       cloud.Provider
	recorder    recorder.EventRecorder
	log         logr.Logger
	provisioner *Provisioner
	now         func() time.Time

	mu sync.Mutex
	// pods: per claim, the workload pods last seen on its node; a change
	// is a pod event (status.lastPodEventTime).
	pods map[string]string
	// told: drain Events already given (claim/pod/reason), one each.
	told map[string]bool
}

// Reconcile implements reconcile.Reconciler.
func (l *lifecycle) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	nc := &provisionerv1.NodeClaim{}
	if err := l.client.Get(ctx, req.NamespacedName, nc); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !l.ours(ctx, nc) {
		return reconcile.Result{}, nil // another installation's (--nodepool-selector)
	}
	log := l.log.WithValues("nodeclaim", nc.Name)
	if nc.DeletionTimestamp != nil {
		return l.terminate(ctx, log, nc)
	}
	if !controllerutil.ContainsFinalizer(nc, Finalizer) {
		patched := nc.DeepCopy()
		controllerutil.AddFinalizer(patched, Finalizer)
		if err := l.client.Patch(ctx, patched, client.MergeFrom(nc)); err != nil {
			return reconcile.Result{}, err
		}
		nc = patched
	}
	if !isTrue(nc, provisionerv1.ConditionLaunched) {
		return l.launch(ctx, log, nc)
	}
	node, err := l.nodeFor(ctx, nc)
	if err != nil {
		return reconcile.Result{}, err
	}
	if node == nil {
		left := registrationDeadline(nc, l.opts.RegistrationTimeout, l.now())
		if left > 0 {
			return reconcile.Result{RequeueAfter: left}, nil
		}
		l.recorder.Eventf(nc, nil, corev1.EventTypeWarning, "RegistrationTimeout", "Delete",
			"no Node registered for %s within %s: deleting the NodeClaim, its pods are solved again", nc.Status.ProviderID, l.opts.RegistrationTimeout)
		log.Info("registration timed out", "providerID", nc.Status.ProviderID)
		return reconcile.Result{}, l.remove(ctx, nc, "registration_timeout")
	}
	if node.DeletionTimestamp != nil {
		// Someone deleted the Node: its claim (and instance) go with it.
		return reconcile.Result{}, l.remove(ctx, nc, "deleted")
	}
	status := nc.Status.DeepCopy()
	if synced, changed := syncNode(node, nc); changed {
		if err := l.client.Patch(ctx, synced, client.MergeFrom(node)); err != nil {
			return reconcile.Result{}, fmt.Errorf("register node %s: %w", node.Name, err)
		}
		node = synced
	}
	status.NodeName = node.Name
	setCondition(status, provisionerv1.ConditionRegistered, metav1.ConditionTrue, "Registered", "Node "+node.Name+" joined")
	var requeue time.Duration
	if initialized(node, nc) {
		setCondition(status, provisionerv1.ConditionInitialized, metav1.ConditionTrue, "Initialized", "Node is ready")
		setCondition(status, provisionerv1.ConditionReady, metav1.ConditionTrue, "Ready", "")
		d, err := l.podEvents(ctx, nc, node, status)
		if err != nil {
			return reconcile.Result{}, err
		}
		requeue = d
	} else {
		setCondition(status, provisionerv1.ConditionInitialized, metav1.ConditionFalse, "NotReady", "waiting for the Node to be Ready without startup taints")
		setCondition(status, provisionerv1.ConditionReady, metav1.ConditionFalse, "NotInitialized", "")
	}
	wasInitialized := isTrue(nc, provisionerv1.ConditionInitialized)
	if err := l.patchStatus(ctx, nc, status); err != nil {
		return reconcile.Result{}, err
	}
	if !wasInitialized && meta.IsStatusConditionTrue(status.Conditions, provisionerv1.ConditionInitialized) {
		l.recorder.Eventf(nc, nil, corev1.EventTypeNormal, "Initialized", "Register", "Node %s is ready", node.Name)
	}
	return reconcile.Result{RequeueAfter: requeue}, nil
}

// ours: the claim is of the installation's share, by its pool while the
// pool exists, else by the pool labels it recorded.
func (l *lifecycle) ours(ctx context.Context, nc *provisionerv1.NodeClaim) bool {
	if l.opts.Pools.All() {
		return true
	}
	var pool *provisionerv1.NodePool
	if name := nc.Labels[provisionerv1.LabelNodePool]; name != "" {
		np := &provisionerv1.NodePool{}
		if l.client.Get(ctx, types.NamespacedName{Name: name}, np) == nil {
			pool = np
		}
	}
	return l.opts.Pools.Claim(nc, pool)
}

// launch creates the instance, unless one was already launched for the
// claim (a crash between launch and status write must not launch twice).
func (l *lifecycle) launch(ctx context.Context, log logr.Logger, nc *provisionerv1.NodeClaim) (reconcile.Result, error) {
	var inst *cloud.Instance
	all, err := l.cloud.List(ctx)
	if err != nil {
		return reconcile.Result{}, fmt.Errorf("list instances: %w", err)
	}
	for _, i := range all {
		if i.NodeClaim == nc.Name {
			inst = i
		}
	}
	if inst == nil {
		inst, err = l.cloud.Create(ctx, nc)
	}
	var ice *cloud.InsufficientCapacityError
	if errors.As(err, &ice) {
		for _, o := range ice.Offerings {
			insufficientCapacity.WithLabelValues(o.InstanceType, o.Zone, o.CapacityType).Inc()
		}
		l.recorder.Eventf(nc, nil, corev1.EventTypeWarning, "InsufficientCapacity", "Launch",
			"%s; those offerings are left out for %s and the pods solved again", truncate(err.Error(), 800), cloud.UnavailableTTL)
		log.Info("insufficient capacity", "error", err.Error())
		return reconcile.Result{}, l.remove(ctx, nc, "insufficient_capacity")
	}
	if err != nil {
		status := nc.Status.DeepCopy()
		setCondition(status, provisionerv1.ConditionLaunched, metav1.ConditionFalse, "LaunchFailed", truncate(err.Error(), 1000))
		_ = l.patchStatus(ctx, nc, status)
		return reconcile.Result{}, fmt.Errorf("launch: %w", err)
	}
	if len(inst.InsufficientCapacity) > 0 {
		for _, o := range inst.InsufficientCapacity {
			insufficientCapacity.WithLabelValues(o.InstanceType, o.Zone, o.CapacityType).Inc()
		}
		l.recorder.Eventf(nc, nil, corev1.EventTypeWarning, "InsufficientCapacity", "Launch",
			"%s; launched the next offering, those are left out for %s", truncate((&cloud.InsufficientCapacityError{Offerings: inst.InsufficientCapacity}).Error(), 800), cloud.UnavailableTTL)
	}
	status := nc.Status.DeepCopy()
	status.ProviderID = inst.ProviderID
	status.InstanceType = inst.InstanceType
	status.Zone = inst.Zone
	status.CapacityType = inst.CapacityType
	status.PricePerHour = formatPrice(inst.Price)
	status.Capacity = inst.Capacity
	status.Allocatable = inst.Allocatable
	setCondition(status, provisionerv1.ConditionLaunched, metav1.ConditionTrue, "Launched", inst.ProviderID)
	setCondition(status, provisionerv1.ConditionRegistered, metav1.ConditionFalse, "NotRegistered", "waiting for the Node")
	if err := l.patchStatus(ctx, nc, status); err != nil {
		return reconcile.Result{}, err
	}
	pool := nc.Labels[provisionerv1.LabelNodePool]
	nodeClaimsLaunched.WithLabelValues(pool, inst.InstanceType, inst.Zone, inst.CapacityType).Inc()
	l.recorder.Eventf(nc, nil, corev1.EventTypeNormal, "Launched", "Launch", "%s %s %s in %s at $%s/h",
		inst.ProviderID, inst.InstanceType, inst.CapacityType, inst.Zone, formatPrice(inst.Price))
	log.Info("launched", "providerID", inst.ProviderID, "instanceType", inst.InstanceType, "zone", inst.Zone, "capacityType", inst.CapacityType, "pricePerHour", inst.Price)
	return reconcile.Result{RequeueAfter: l.opts.RegistrationTimeout}, nil
}

// podEvents moves status.lastPodEventTime to now when the node's workload
// pods changed since the last look (or on the first look, if unset), and
// keeps the Consolidatable condition: consolidateAfter has passed since.
// It returns when to look again for the condition to turn.
func (l *lifecycle) podEvents(ctx context.Context, nc *provisionerv1.NodeClaim, node *corev1.Node, status *provisionerv1.NodeClaimStatus) (time.Duration, error) {
	var pods corev1.PodList
	if err := l.client.List(ctx, &pods, client.MatchingFields{podNodeNameField: node.Name}); err != nil {
		return 0, err
	}
	var uids []string
	for i := range pods.Items {
		if disruption.Workload(&pods.Items[i]) {
			uids = append(uids, string(pods.Items[i].UID))
		}
	}
	sort.Strings(uids)
	seen := strings.Join(uids, ",")
	now := l.now()
	l.mu.Lock()
	before, known := l.pods[nc.Name]
	l.pods[nc.Name] = seen
	l.mu.Unlock()
	if known && before != seen || status.LastPodEventTime.IsZero() {
		status.LastPodEventTime = metav1.NewTime(now)
	}
	np := &provisionerv1.NodePool{}
	if err := l.client.Get(ctx, types.NamespacedName{Name: nc.Labels[provisionerv1.LabelNodePool]}, np); err != nil {
		return 0, client.IgnoreNotFound(err)
	}
	at, ok := disruption.ConsolidatableAt(np, status.LastPodEventTime.Time)
	switch {
	case !ok:
		setCondition(status, provisionerv1.ConditionConsolidatable, metav1.ConditionFalse, "Never", "the pool's consolidateAfter is Never")
	case now.Before(at):
		setCondition(status, provisionerv1.ConditionConsolidatable, metav1.ConditionFalse, "RecentPodEvent",
			fmt.Sprintf("%d pods; a pod arrived or left within the pool's consolidateAfter (%s)", len(uids), np.Spec.Disruption.ConsolidateAfter))
		return at.Sub(now), nil
	default:
		setCondition(status, provisionerv1.ConditionConsolidatable, metav1.ConditionTrue, "Quiet",
			fmt.Sprintf("%d pods; no pod arrived or left for the pool's consolidateAfter (%s)", len(uids), np.Spec.Disruption.ConsolidateAfter))
	}
	return 0, nil
}

// remove deletes the claim; the finalizer does the rest.
func (l *lifecycle) remove(ctx context.Context, nc *provisionerv1.NodeClaim, reason string) error {
	if err := l.client.Delete(ctx, nc); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	nodeClaimsTerminated.WithLabelValues(nc.Labels[provisionerv1.LabelNodePool], reason).Inc()
	if l.provisioner != nil {
		l.provisioner.Trigger()
	}
	return nil
}

// terminate: cordon, drain through the Eviction API (PDBs hold: refused
// evictions are retried), terminate the instance, let the Node and the
// claim go.
func (l *lifecycle) terminate(ctx context.Context, log logr.Logger, nc *provisionerv1.NodeClaim) (reconcile.Result, error) {
	if !controllerutil.ContainsFinalizer(nc, Finalizer) {
		return reconcile.Result{}, nil
	}
	node, err := l.nodeFor(ctx, nc)
	if err != nil {
		return reconcile.Result{}, err
	}
	if node != nil {
		if !node.Spec.Unschedulable {
			cordoned := node.DeepCopy()
			cordoned.Spec.Unschedulable = true
			if !hasTaint(cordoned.Spec.Taints, corev1.Taint{Key: provisionerv1.TaintDisrupted, Effect: corev1.TaintEffectNoSchedule}) {
				cordoned.Spec.Taints = append(cordoned.Spec.Taints, corev1.Taint{Key: provisionerv1.TaintDisrupted, Effect: corev1.TaintEffectNoSchedule})
			}
			if err := l.client.Patch(ctx, cordoned, client.MergeFrom(node)); err != nil && !apierrors.IsNotFound(err) {
				return reconcile.Result{}, fmt.Errorf("cordon: %w", err)
			}
			l.recorder.Eventf(nc, nil, corev1.EventTypeNormal, "Draining", "Terminate", "cordoned Node %s, evicting its pods", node.Name)
		}
		var pods corev1.PodList
		if err := l.client.List(ctx, &pods, client.MatchingFields{podNodeNameField: node.Name}); err != nil {
			return reconcile.Result{}, err
		}
		pool := nc.Labels[provisionerv1.LabelNodePool]
		// terminationGracePeriod: past it, what is left is deleted, PDBs
		// and do-not-disrupt notwithstanding.
		force := false
		if tgp := nc.Spec.TerminationGracePeriod; tgp != nil && nc.DeletionTimestamp != nil {
			force = !l.now().Before(nc.DeletionTimestamp.Add(tgp.Duration))
		}
		left := 0
		for i := range pods.Items {
			pod := &pods.Items[i]
			if !disruption.Workload(pod) {
				continue
			}
			left++
			if pod.DeletionTimestamp != nil {
				continue
			}
			if force {
				if err := l.client.Delete(ctx, pod); err != nil && !apierrors.IsNotFound(err) {
					log.Error(err, "delete pod past the termination grace period", "pod", pod.Namespace+"/"+pod.Name)
				}
				l.tellOnce(nc, pod, "TerminationGracePeriodElapsed", corev1.EventTypeWarning, "terminationGracePeriod %s elapsed: deleting pod %s/%s", nc.Spec.TerminationGracePeriod.Duration, pod.Namespace, pod.Name)
				continue
			}
			if by := disruption.DoNotDisruptBy(pod.Annotations); by != "" {
				l.tellOnce(nc, pod, "DoNotDisrupt", corev1.EventTypeWarning, "pod %s/%s is annotated %s: not evicted until the claim's terminationGracePeriod (%s) elapses", pod.Namespace, pod.Name, by, tgpText(nc))
				continue
			}
			err := l.client.SubResource("eviction").Create(ctx, pod, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace}})
			switch {
			case err == nil:
				podsEvicted.WithLabelValues(pool).Inc()
			case apierrors.IsNotFound(err):
			case apierrors.IsTooManyRequests(err):
				evictionsBlocked.WithLabelValues(pool).Inc()
				l.tellOnce(nc, pod, "EvictionBlocked", corev1.EventTypeWarning, "a PodDisruptionBudget refuses the eviction of pod %s/%s: the drain waits and retries every 2s (terminationGracePeriod %s)", pod.Namespace, pod.Name, tgpText(nc))
				log.V(1).Info("eviction refused (PodDisruptionBudget)", "pod", pod.Namespace+"/"+pod.Name)
			case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
				// No eviction in a namespace being deleted: its pods go anyway.
			default:
				log.Error(err, "evict", "pod", pod.Namespace+"/"+pod.Name)
			}
		}
		if left > 0 {
			return reconcile.Result{RequeueAfter: 2 * time.Second}, nil
		}
	}
	if nc.Status.ProviderID != "" {
		if err := l.cloud.Delete(ctx, nc.Status.ProviderID); err != nil && !cloud.IsNotFound(err) {
			return reconcile.Result{}, fmt.Errorf("terminate %s: %w", nc.Status.ProviderID, err)
		}
	} else if all, err := l.cloud.List(ctx); err == nil {
		// Launched, but the status write was lost.
		for _, i := range all {
			if i.NodeClaim == nc.Name {
				if err := l.cloud.Delete(ctx, i.ProviderID); err != nil && !cloud.IsNotFound(err) {
					return reconcile.Result{}, err
				}
			}
		}
	}
	if node != nil {
		if controllerutil.ContainsFinalizer(node, Finalizer) {
			released := node.DeepCopy()
			controllerutil.RemoveFinalizer(released, Finalizer)
			if err := l.client.Patch(ctx, released, client.MergeFrom(node)); err != nil && !apierrors.IsNotFound(err) {
				return reconcile.Result{}, err
			}
		}
		if err := l.client.Delete(ctx, node); err != nil && !apierrors.IsNotFound(err) {
			return reconcile.Result{}, err
		}
	}
	released := nc.DeepCopy()
	controllerutil.RemoveFinalizer(released, Finalizer)
	if err := l.client.Patch(ctx, released, client.MergeFrom(nc)); err != nil && !apierrors.IsNotFound(err) {
		return reconcile.Result{}, err
	}
	l.mu.Lock()
	delete(l.pods, nc.Name)
	for k := range l.told {
		if strings.HasPrefix(k, nc.Name+"/") {
			delete(l.told, k)
		}
	}
	l.mu.Unlock()
	l.recorder.Eventf(nc, nil, corev1.EventTypeNormal, "Terminated", "Terminate", "instance %s terminated", nc.Status.ProviderID)
	log.Info("terminated", "providerID", nc.Status.ProviderID)
	return reconcile.Result{}, nil
}

// tellOnce gives an Event on the claim and the pod, once per claim, pod and reason.
func (l *lifecycle) tellOnce(nc *provisionerv1.NodeClaim, pod *corev1.Pod, reason, typ, format string, args ...any) {
	key := nc.Name + "/" + string(pod.UID) + "/" + reason
	l.mu.Lock()
	done := l.told[key]
	l.told[key] = true
	l.mu.Unlock()
	if done {
		return
	}
	l.recorder.Eventf(nc, nil, typ, reason, "Drain", format, args...)
	l.recorder.Eventf(pod, nil, typ, reason, "Drain", format, args...)
}

func tgpText(nc *provisionerv1.NodeClaim) string {
	if nc.Spec.TerminationGracePeriod == nil {
		return "unset: no limit"
	}
	return nc.Spec.TerminationGracePeriod.Duration.String()
}

// nodeFor finds the claim's Node by providerID.
func (l *lifecycle) nodeFor(ctx context.Context, nc *provisionerv1.NodeClaim) (*corev1.Node, error) {
	if nc.Status.ProviderID == "" {
		return nil, nil
	}
	var nodes corev1.NodeList
	if err := l.client.List(ctx, &nodes, client.MatchingFields{nodeProviderIDField: nc.Status.ProviderID}); err != nil {
		return nil, err
	}
	if len(nodes.Items) == 0 {
		return nil, nil
	}
	return &nodes.Items[0], nil
}

func (l *lifecycle) patchStatus(ctx context.Context, nc *provisionerv1.NodeClaim, status *provisionerv1.NodeClaimStatus) error {
	patched := nc.DeepCopy()
	patched.Status = *status
	// Optimistic lock: the disruption loop writes conditions too, and a
	// merge patch replaces the whole list.
	if err := l.client.Status().Patch(ctx, patched, client.MergeFromWithOptions(nc, client.MergeFromWithOptimisticLock{})); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	*nc = *patched
	return nil
}

func setCondition(status *provisionerv1.NodeClaimStatus, t string, s metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&status.Conditions, metav1.Condition{Type: t, Status: s, Reason: reason, Message: msg})
}

// hasNominated: some pending pod waits for the claim.
func (p *Provisioner) hasNominated(claim string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.nominated {
		if c == claim {
			return true
		}
	}
	return false
}

var _ reconcile.Reconciler = &lifecycle{}
