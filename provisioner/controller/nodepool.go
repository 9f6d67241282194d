package controller

import (
	"context"
	"strconv"
	"strings"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/scope"
	"github.com/tailor-dev/tailor/provisioner/validation"
)

// ConditionLimitsReached on a NodePool: its usage has reached a limit, or
// the last solve held pods back on one.
const ConditionLimitsReached = "LimitsReached"

// poolStatus keeps NodePool status: resources and node count of its
// claims, conditions, and the pool metrics.
type poolStatus struct {
	client      client.Client
	pools       scope.Pools
	log         logr.Logger
	provisioner *Provisioner
}

func (r *poolStatus) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	np := &provisionerv1.NodePool{}
	err := r.client.Get(ctx, req.NamespacedName, np)
	if apierrors.IsNotFound(err) || err == nil && !r.pools.Pool(np) {
		// Gone, or another installation's (--nodepool-selector): not ours
		// to keep status or metrics of.
		fleetCost.DeleteLabelValues(req.Name)
		poolUsage.DeletePartialMatch(map[string]string{"nodepool": req.Name})
		poolLimit.DeletePartialMatch(map[string]string{"nodepool": req.Name})
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	var claims provisionerv1.NodeClaimList
	if err := r.client.List(ctx, &claims, client.MatchingLabels{provisionerv1.LabelNodePool: np.Name}); err != nil {
		return reconcile.Result{}, err
	}
	usage := poolUsages(claims.Items)[np.Name]
	if usage == nil {
		usage = corev1.ResourceList{provisionerv1.ResourceNodes: *resource.NewQuantity(0, resource.DecimalSI)}
	}
	cost := 0.0
	for _, nc := range claims.Items {
		price, _ := strconv.ParseFloat(nc.Status.PricePerHour, 64)
		cost += price
	}
	fleetCost.WithLabelValues(np.Name).Set(cost)
	for name, q := range usage {
		poolUsage.WithLabelValues(np.Name, string(name)).Set(q.AsApproximateFloat64())
	}
	for name, q := range np.Spec.Limits {
		poolLimit.WithLabelValues(np.Name, string(name)).Set(q.AsApproximateFloat64())
	}

	status := np.Status.DeepCopy()
	status.Resources = usage
	set := func(t string, ok bool, reason, msg string) {
		s := metav1.ConditionTrue
		if !ok {
			s = metav1.ConditionFalse
		}
		meta.SetStatusCondition(&status.Conditions, metav1.Condition{Type: t, Status: s, Reason: reason, Message: msg, ObservedGeneration: np.Generation})
	}
	valid := validation.NodePool(np)
	set(provisionerv1.ConditionValidationSucceeded, len(valid) == 0, reasonOf(len(valid) == 0, "Valid", "Invalid"), errorsText(valid))
	classOK, classMsg := r.nodeClassReady(ctx, np)
	set(provisionerv1.ConditionNodeClassReady, classOK, reasonOf(classOK, "NodeClassReady", "NodeClassNotFound"), classMsg)
	set(provisionerv1.ConditionReady, len(valid) == 0 && classOK, reasonOf(len(valid) == 0 && classOK, "Ready", "NotReady"), "")
	reached := limitsReached(np, usage)
	if why, ok := r.provisioner.limitedPools()[np.Name]; ok {
		reached = append(reached, "pods held back: "+why)
	}
	set(ConditionLimitsReached, len(reached) > 0, reasonOf(len(reached) > 0, "LimitReached", "WithinLimits"), strings.Join(reached, "; "))
	if equality.Semantic.DeepEqual(status, &np.Status) {
		return reconcile.Result{}, nil
	}
	patched := np.DeepCopy()
	patched.Status = *status
	return reconcile.Result{}, client.IgnoreNotFound(r.client.Status().Patch(ctx, patched, client.MergeFrom(np)))
}

func (r *poolStatus) nodeClassReady(ctx context.Context, np *provisionerv1.NodePool) (bool, string) {
	ref := np.Spec.Template.Spec.NodeClassRef
	if ref == nil {
		return true, "Auto Scaling groups"
	}
	if err := r.client.Get(ctx, types.NamespacedName{Name: ref.Name}, &provisionerv1.AWSNodeClass{}); err != nil {
		return false, "AWSNodeClass " + ref.Name + ": " + err.Error()
	}
	return true, ""
}

func reasonOf(ok bool, yes, no string) string {
	if ok {
		return yes
	}
	return no
}

func errorsText(errs field.ErrorList) string {
	if len(errs) == 0 {
		return ""
	}
	return truncate(errs.ToAggregate().Error(), 1000)
}
