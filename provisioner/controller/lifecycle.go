package controller

import (
	"context"
	"errors"
	"fmt"
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
)

// Field indexes the lifecycle reads by.
const (
	nodeProviderIDField = "spec.providerID"
	podNodeNameField    = "spec.nodeName"
)

// lifecycle reconciles one NodeClaim: launch → register → initialize,
// registration timeout, emptiness, and (finalizer) drain and terminate.
type lifecycle struct {
	opts        Options
	client      client.Client
	cloud       cloud.Provider
	recorder    recorder.EventRecorder
	log         logr.Logger
	provisioner *Provisioner
	now         func() time.Time
}

// Reconcile implements reconcile.Reconciler.
func (l *lifecycle) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	nc := &provisionerv1.NodeClaim{}
	if err := l.client.Get(ctx, req.NamespacedName, nc); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
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
		d, done, err := l.emptiness(ctx, log, nc, node, status)
		if err != nil || done {
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

// emptiness deletes an initialized node that has run no workload pod
// (DaemonSet pods aside) for the pool's consolidateAfter.
func (l *lifecycle) emptiness(ctx context.Context, log logr.Logger, nc *provisionerv1.NodeClaim, node *corev1.Node, status *provisionerv1.NodeClaimStatus) (time.Duration, bool, error) {
	var pods corev1.PodList
	if err := l.client.List(ctx, &pods, client.MatchingFields{podNodeNameField: node.Name}); err != nil {
		return 0, false, err
	}
	busy := 0
	for i := range pods.Items {
		if workload(&pods.Items[i]) {
			busy++
		}
	}
	// Nominated pods keep a node that has none bound yet.
	if busy == 0 && l.provisioner != nil && l.provisioner.hasNominated(nc.Name) {
		busy = 1
	}
	if busy > 0 {
		setCondition(status, provisionerv1.ConditionConsolidatable, metav1.ConditionFalse, "NotEmpty", fmt.Sprintf("%d pods", busy))
		return 0, false, nil
	}
	setCondition(status, provisionerv1.ConditionConsolidatable, metav1.ConditionTrue, "Empty", "no pods but DaemonSet pods")
	np := &provisionerv1.NodePool{}
	if err := l.client.Get(ctx, types.NamespacedName{Name: nc.Labels[provisionerv1.LabelNodePool]}, np); err != nil {
		return 0, false, client.IgnoreNotFound(err)
	}
	since := meta.FindStatusCondition(status.Conditions, provisionerv1.ConditionConsolidatable).LastTransitionTime.Time
	left, ok := emptyFor(np, since, l.now())
	if !ok {
		return 0, false, nil
	}
	if left > 0 {
		return left, false, nil
	}
	if _, dnd := node.Annotations[provisionerv1.AnnotationDoNotDisrupt]; dnd {
		return 0, false, nil
	}
	l.recorder.Eventf(nc, nil, corev1.EventTypeNormal, "Empty", "Delete", "Node %s has run no pods but DaemonSet pods for the pool's consolidateAfter (%s)", node.Name, np.Spec.Disruption.ConsolidateAfter)
	log.Info("empty: deleting", "node", node.Name)
	return 0, true, l.remove(ctx, nc, "empty")
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
		left := 0
		for i := range pods.Items {
			pod := &pods.Items[i]
			if !workload(pod) {
				continue
			}
			left++
			if pod.DeletionTimestamp != nil {
				continue
			}
			err := l.client.SubResource("eviction").Create(ctx, pod, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace}})
			switch {
			case err == nil, apierrors.IsNotFound(err):
			case apierrors.IsTooManyRequests(err):
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
	l.recorder.Eventf(nc, nil, corev1.EventTypeNormal, "Terminated", "Terminate", "instance %s terminated", nc.Status.ProviderID)
	log.Info("terminated", "providerID", nc.Status.ProviderID)
	return reconcile.Result{}, nil
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
	if err := l.client.Status().Patch(ctx, patched, client.MergeFrom(nc)); err != nil && !apierrors.IsNotFound(err) {
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
