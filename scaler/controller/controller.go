// Package controller runs Tailor's replica loop: every sync period it reads
// each ReplicaAutoscaler's target through its scale subresource, the target's
// pods from the informer cache and the metrics of the spec, asks
// scaler/logic for the replica count, writes the scale when it changes and
// explains the outcome in status, conditions, Events, metrics and logs. The
// decision itself is scaler/logic's; this package only fetches and writes.
package controller

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	scalerv1 "github.com/tailor-dev/tailor/scaler/api/v1alpha1"
	"github.com/tailor-dev/tailor/scaler/coordination"
	"github.com/tailor-dev/tailor/scaler/logic"
	"github.com/tailor-dev/tailor/scaler/loop"
	"github.com/tailor-dev/tailor/scaler/scale"
	"github.com/tailor-dev/tailor/scaler/validation"
)

// Options configure the scaler.
type Options struct {
	// Interval is the sync period (the HPA's 15s).
	Interval time.Duration
	// Logic holds the HPA algorithm's controller-wide settings.
	Logic logic.Config
	// PrometheusNamespaceLabel is the label every series selector of a
	// Prometheus metric is confined by (the object's namespace), unless
	// PrometheusClusterQueries; cmd/tailor sets it from --prometheus-namespace-label.
	PrometheusNamespaceLabel string
	// PrometheusClusterQueries lets queries read every namespace's series.
	PrometheusClusterQueries bool
	// PrometheusConcurrency bounds the queries in flight in one pass.
	PrometheusConcurrency int
	// Scope is the namespaces this installation acts in; replica counts
	// need no admission, so opt-in does not matter here (set by cmd/tailor).
	Scope coordination.Scope
}

// DefaultOptions are kube-controller-manager's HPA defaults.
func DefaultOptions() Options {
	return Options{Interval: 15 * time.Second, Logic: logic.DefaultConfig(), PrometheusNamespaceLabel: "namespace", PrometheusConcurrency: 8}
}

// Validate reports settings the scaler cannot run with.
func (o Options) Validate() error {
	switch {
	case o.Interval <= 0:
		return fmt.Errorf("scaler interval must be positive, got %s", o.Interval)
	case o.Logic.Tolerance < 0 || o.Logic.Tolerance >= 1:
		return fmt.Errorf("scaler tolerance must be in [0, 1), got %v", o.Logic.Tolerance)
	case o.Logic.CPUInitializationPeriod < 0 || o.Logic.InitialReadinessDelay < 0 || o.Logic.DownscaleStabilizationWindow < 0:
		return fmt.Errorf("scaler periods must not be negative")
	case o.PrometheusConcurrency < 1:
		return fmt.Errorf("scaler Prometheus concurrency must be at least 1, got %d", o.PrometheusConcurrency)
	case !o.PrometheusClusterQueries && o.PrometheusNamespaceLabel == "":
		return fmt.Errorf("queries confined to their namespace need a namespace label (--prometheus-namespace-label)")
	}
	return nil
}

// Results of tailor_scaler_reconciles_total.
const (
	resultOK           = "ok"
	resultConflict     = "conflicting_hpa"
	resultGetScale     = "failed_get_scale"
	resultSelector     = "invalid_selector"
	resultListPods     = "failed_list_pods"
	resultMetrics      = "failed_compute_metrics"
	resultUpdateScale  = "failed_update_scale"
	resultUpdateStatus = "failed_update_status"
)

// Scaler is the leader-elected runnable.
type Scaler struct {
	opts     Options
	client   client.Client // cached reads, status writes
	scales   *scale.Scales
	sources  *Sources
	recorder recorder.EventRecorder
	log      logr.Logger
	// history is the HPA's in-memory record per autoscaler (recent
	// recommendations and scale events); like the HPA's, it starts empty
	// after a restart or a change of leader.
	history map[types.UID]logic.History
	gauges  map[gaugeKey]bool // label sets of desiredReplicas
	now     func() time.Time
	scope   *loop.OptIn
}

// Setup adds the scaler to the manager; it runs on the leader only. scales
// reads and writes the targets' scale; prom (nil: none configured) serves
// the Prometheus metric sources.
func Setup(mgr manager.Manager, o Options, scales *scale.Scales, prom PrometheusQuerier) error {
	if err := o.Validate(); err != nil {
		return err
	}
	sources, err := NewSources(mgr.GetConfig(), mgr.GetRESTMapper(), prom)
	if err != nil {
		return err
	}
	if !o.PrometheusClusterQueries {
		sources.scopeLabel = o.PrometheusNamespaceLabel
	}
	rec, log := mgr.GetEventRecorder("tailor.dev/scaler"), mgr.GetLogger().WithName("scaler")
	return mgr.Add(&Scaler{
		opts: o, client: mgr.GetClient(), scales: scales, sources: sources,
		recorder: rec,
		log:      log,
		history:  map[types.UID]logic.History{},
		gauges:   map[gaugeKey]bool{},
		now:      time.Now,
		scope:    &loop.OptIn{Component: "scaler", Reader: mgr.GetClient(), Recorder: rec, Scope: o.Scope, SelectorOnly: true, Log: log},
	})
}

// NeedLeaderElection: one scaler per cluster.
func (s *Scaler) NeedLeaderElection() bool { return true }

// Start runs a pass at once and then every interval until ctx ends.
func (s *Scaler) Start(ctx context.Context) error {
	s.log.Info("scaler started", "interval", s.opts.Interval, "prometheus", s.sources.prom != nil,
		"tolerance", s.opts.Logic.Tolerance, "downscaleStabilization", s.opts.Logic.DownscaleStabilizationWindow)
	t := time.NewTicker(s.opts.Interval)
	defer t.Stop()
	for {
		s.Sync(ctx)
		select {
		case <-ctx.Done():
			s.log.Info("scaler stopped")
			return nil
		case <-t.C:
		}
	}
}

// Sync is one pass over every ReplicaAutoscaler; errors are reported per
// autoscaler and never stop the pass.
func (s *Scaler) Sync(ctx context.Context) {
	start := time.Now()
	defer func() { syncDuration.Observe(time.Since(start).Seconds()) }()
	s.sources.InvalidateDiscovery()
	var list scalerv1.ReplicaAutoscalerList
	if err := s.client.List(ctx, &list); err != nil {
		loop.ListFailed(s.log, err, "ReplicaAutoscaler")
		return
	}
	if s.scope != nil {
		s.scope.NewPass()
		mine := list.Items[:0]
		for i := range list.Items {
			if s.scope.Allows(ctx, &list.Items[i], "replica count not managed") {
				mine = append(mine, list.Items[i])
			}
		}
		list.Items = mine
	}
	// Every Prometheus query of the pass at once, within the pass's time: a
	// slow query of one namespace no longer delays every autoscaler after it.
	pctx, cancel := context.WithTimeout(ctx, s.opts.Interval)
	s.sources.Prefetch(pctx, list.Items, s.opts.PrometheusConcurrency)
	cancel()
	live := make(map[types.UID]bool, len(list.Items))
	for i := range list.Items {
		if ctx.Err() != nil {
			return
		}
		ra := &list.Items[i]
		if ra.DeletionTimestamp != nil {
			continue
		}
		live[ra.UID] = true
		if err := loop.Guard("scaler", s.log.WithValues("replicaautoscaler", ra.Namespace+"/"+ra.Name), func() { s.Reconcile(ctx, ra) }); err != nil {
			s.recorder.Eventf(ra, nil, corev1.EventTypeWarning, loop.ReasonInternalError, "Scale", "replica count left as it is this pass: %v", err)
		}
	}
	for uid := range s.history {
		if !live[uid] {
			delete(s.history, uid)
		}
	}
	// Gauges of deleted autoscalers go with them.
	for k := range s.gauges {
		if !live[k.uid] {
			desiredReplicas.DeleteLabelValues(k.namespace, k.name)
			delete(s.gauges, k)
		}
	}
}

type gaugeKey struct {
	uid             types.UID
	namespace, name string
}

// reconcile is the outcome of one autoscaler's pass, applied to its status.
type reconcile struct {
	s      *Scaler
	ra     *scalerv1.ReplicaAutoscaler
	status *scalerv1.ReplicaAutoscalerStatus
	log    logr.Logger
	now    metav1.Time
}

// Reconcile is one HPA pass over ra.
func (s *Scaler) Reconcile(ctx context.Context, ra *scalerv1.ReplicaAutoscaler) {
	r := &reconcile{s: s, ra: ra, status: ra.Status.DeepCopy(), now: metav1.NewTime(s.now()),
		log: s.log.WithValues("replicaautoscaler", types.NamespacedName{Namespace: ra.Namespace, Name: ra.Name})}
	spec := &ra.Spec
	metrics := logic.EffectiveMetrics(spec)
	r.status.ObservedGeneration = &ra.Generation
	r.status.Reference = logic.Reference(spec.ScaleTargetRef)
	r.status.Targets = logic.Targets(metrics, r.status.CurrentMetrics)
	result := r.run(ctx, metrics)
	reconcilesTotal.WithLabelValues(result).Inc()
	if !equality.Semantic.DeepEqual(r.status, &ra.Status) {
		patched := ra.DeepCopy()
		patched.Status = *r.status
		if err := s.client.Status().Patch(ctx, patched, client.MergeFrom(ra)); err != nil && !apierrors.IsNotFound(err) {
			reconcilesTotal.WithLabelValues(resultUpdateStatus).Inc()
			r.log.Error(err, "write ReplicaAutoscaler status")
		}
	}
}

func (r *reconcile) run(ctx context.Context, metrics []scalerv1.MetricSpec) string {
	s, ra := r.s, r.ra
	ref := ra.Spec.ScaleTargetRef

	var hpas autoscalingv2.HorizontalPodAutoscalerList
	if err := s.client.List(ctx, &hpas, client.InNamespace(ra.Namespace)); err != nil {
		r.log.Error(err, "list HorizontalPodAutoscalers; the conflict check is skipped this pass")
	} else if hpa := validation.ConflictingHPA(ref, hpas.Items); hpa != "" {
		msg := fmt.Sprintf("%s is also scaled by HorizontalPodAutoscaler %s; Tailor leaves it alone (delete one of the two)", logic.Reference(ref), hpa)
		r.fail(autoscalingv2.AbleToScale, "ConflictingHPA", msg, "ConflictingHPA", msg)
		return resultConflict
	}

	sc, gr, err := s.scales.Get(ctx, ra.Namespace, ref.APIVersion, ref.Kind, ref.Name)
	if err != nil {
		r.fail(autoscalingv2.AbleToScale, "FailedGetScale", "the HPA controller was unable to get the target's current scale: "+err.Error(),
			"FailedGetScale", err.Error())
		return resultGetScale
	}
	if sc.Status.Selector == "" {
		msg := "the HPA target's scale is missing a selector"
		r.fail(autoscalingv2.ScalingActive, "InvalidSelector", msg, "SelectorRequired", "selector is required")
		return resultSelector
	}
	sel, err := labels.Parse(sc.Status.Selector)
	if err != nil {
		msg := fmt.Sprintf("couldn't convert selector into a corresponding internal selector object: %v", err)
		r.fail(autoscalingv2.ScalingActive, "InvalidSelector", msg, "InvalidSelector", msg)
		return resultSelector
	}
	var podList corev1.PodList
	if err := s.client.List(ctx, &podList, client.InNamespace(ra.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		r.log.Error(err, "list pods from the cache; replicas left alone")
		return resultListPods
	}
	pods := make([]logic.Pod, len(podList.Items))
	for i := range podList.Items {
		pods[i] = logic.PodFromCore(&podList.Items[i])
	}
	values := s.sources.Read(ctx, ra.Namespace, sel, metrics)

	in := logic.Input{
		Now: r.now.Time, Config: s.opts.Logic, Spec: &ra.Spec,
		SpecReplicas: sc.Spec.Replicas, StatusReplicas: sc.Status.Replicas,
		Pods: pods, Metrics: values, History: s.history[ra.UID],
	}
	if t := ra.Status.IdleSince; t != nil {
		in.IdleSince = t.Time
	}
	d := logic.Decide(in)
	r.status.IdleSince = nil
	if !d.IdleSince.IsZero() {
		r.status.IdleSince = &metav1.Time{Time: d.IdleSince}
	}
	s.history[ra.UID] = d.History
	for _, e := range d.Events {
		s.recorder.Eventf(ra, nil, e.Type, e.Reason, "Scale", "%s", e.Message)
	}
	for _, c := range d.Conditions {
		r.set(c.Type, c.Status, c.Reason, c.Message)
	}
	r.status.CurrentReplicas = sc.Spec.Replicas
	r.status.CurrentMetrics = d.MetricStatuses
	r.status.Targets = logic.Targets(metrics, d.MetricStatuses)
	computed := !(d.Err != nil && conditionFalse(d.Conditions, autoscalingv2.ScalingActive))
	if computed {
		// Like the HPA: a failed computation keeps the last desired count.
		r.status.DesiredReplicas = d.DesiredReplicas
		desiredReplicas.WithLabelValues(ra.Namespace, ra.Name).Set(float64(d.DesiredReplicas))
		s.gauges[gaugeKey{ra.UID, ra.Namespace, ra.Name}] = true
	}
	if d.Err != nil {
		r.log.V(1).Info("some metrics could not be read", "error", d.Err.Error())
	}
	if !d.Rescale {
		if !computed {
			return resultMetrics
		}
		return resultOK
	}
	return r.rescale(ctx, sc, gr, &d)
}

func (r *reconcile) rescale(ctx context.Context, sc *autoscalingv1.Scale, gr schema.GroupResource, d *logic.Decision) string {
	s, ra := r.s, r.ra
	from := sc.Spec.Replicas
	up := sc.DeepCopy()
	up.Spec.Replicas = d.DesiredReplicas
	if _, err := s.scales.Update(ctx, gr, up); err != nil {
		r.set(autoscalingv2.AbleToScale, corev1.ConditionFalse, "FailedUpdateScale", "the HPA controller was unable to update the target scale: "+err.Error())
		s.recorder.Eventf(ra, nil, corev1.EventTypeWarning, "FailedRescale", "Scale", "New size: %d; reason: %s; error: %v", d.DesiredReplicas, d.RescaleReason, err)
		r.log.Error(err, "update the scale subresource; replicas left alone", "target", r.status.Reference, "from", from, "to", d.DesiredReplicas)
		return resultUpdateScale
	}
	s.history[ra.UID] = logic.RecordScale(d.History, &ra.Spec, s.opts.Logic, from, d.DesiredReplicas, r.now.Time)
	r.set(autoscalingv2.AbleToScale, corev1.ConditionTrue, "SucceededRescale", fmt.Sprintf("the HPA controller was able to update the target scale to %d", d.DesiredReplicas))
	r.status.LastScaleTime = &r.now
	msg := d.RescaleMessage()
	s.recorder.Eventf(ra, nil, corev1.EventTypeNormal, "SuccessfulRescale", "Scale", "%s", msg)
	if d.ZeroTransition != "" {
		// 0 → 1 and 1 → 0 are worth their own reason: kubectl get events
		// --field-selector reason=ScaledToZero.
		s.recorder.Eventf(ra, nil, corev1.EventTypeNormal, d.ZeroTransition, "Scale", "%d → %d: %s", from, d.DesiredReplicas, d.RescaleReason)
	}
	dir := "up"
	if d.DesiredReplicas < from {
		dir = "down"
	}
	rescalesTotal.WithLabelValues(dir).Inc()
	r.log.Info("rescaled", "target", r.status.Reference, "from", from, "to", d.DesiredReplicas, "reason", d.RescaleReason, "targets", r.status.Targets)
	return resultOK
}

// fail records a condition and a Warning event for a pass that stopped
// before a decision; replicas are left alone. The log line is written only
// when the condition changes, not every pass.
func (r *reconcile) fail(t autoscalingv2.HorizontalPodAutoscalerConditionType, reason, msg, eventReason, eventMsg string) {
	if old := findCondition(r.status.Conditions, t); old == nil || old.Reason != reason || old.Message != msg {
		r.log.Info("cannot scale; replicas left alone", "condition", t, "reason", reason, "message", msg)
	}
	r.set(t, corev1.ConditionFalse, reason, msg)
	r.s.recorder.Eventf(r.ra, nil, corev1.EventTypeWarning, eventReason, "Scale", "%s", eventMsg)
}

func (r *reconcile) set(t autoscalingv2.HorizontalPodAutoscalerConditionType, st corev1.ConditionStatus, reason, msg string) {
	r.status.Conditions = SetCondition(r.status.Conditions, autoscalingv2.HorizontalPodAutoscalerCondition{Type: t, Status: st, Reason: reason, Message: msg}, r.now)
}

func conditionFalse(cs []logic.Condition, t autoscalingv2.HorizontalPodAutoscalerConditionType) bool {
	for _, c := range cs {
		if c.Type == t {
			return c.Status == corev1.ConditionFalse
		}
	}
	return false
}

func findCondition(cs []autoscalingv2.HorizontalPodAutoscalerCondition, t autoscalingv2.HorizontalPodAutoscalerConditionType) *autoscalingv2.HorizontalPodAutoscalerCondition {
	for i := range cs {
		if cs[i].Type == t {
			return &cs[i]
		}
	}
	return nil
}

// SetCondition returns cs with c in place of the condition of its type; the
// transition time moves only when the status does, as for the HPA.
func SetCondition(cs []autoscalingv2.HorizontalPodAutoscalerCondition, c autoscalingv2.HorizontalPodAutoscalerCondition, now metav1.Time) []autoscalingv2.HorizontalPodAutoscalerCondition {
	out := append([]autoscalingv2.HorizontalPodAutoscalerCondition(nil), cs...)
	if old := findCondition(out, c.Type); old != nil {
		c.LastTransitionTime = old.LastTransitionTime
		if old.Status != c.Status {
			c.LastTransitionTime = now
		}
		*old = c
		return out
	}
	c.LastTransitionTime = now
	return append(out, c)
}
