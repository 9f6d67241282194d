// Package logic is the HorizontalPodAutoscaler's decision, as pure functions
// over plain data: the controller reads the scale subresource, the pods and
// the metrics, hands them over in an Input, and writes back what the Decision
// says (replicas, status, conditions, events). Nothing here calls a client or
// reads the clock, so a decision can be tested, benchmarked and replayed.
//
// It follows the upstream HPA controller (k8s.io/kubernetes
// pkg/controller/podautoscaler, v1.37) rule for rule: the usage ratio and its
// tolerance, pods that are unready, missing metrics or being deleted, the CPU
// initialisation period, several metrics → the largest proposal, invalid
// metrics blocking a scale-down, the legacy normalisation when behavior is
// unset and the behavior policies and stabilisation windows when it is set.
// Where it differs, the doc comment of the function says so.
package logic

import (
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"

	scalerv1 "github.com/tailor-dev/tailor/scaler/api/v1alpha1"
)

// Config holds the controller-wide settings that kube-controller-manager
// takes as flags.
type Config struct {
	// Tolerance is the default tolerance on the usage ratio in both
	// directions (--horizontal-pod-autoscaler-tolerance, 0.1); a behavior's
	// per-direction tolerance overrides it.
	Tolerance float64
	// CPUInitializationPeriod is how long after a pod starts its CPU samples
	// are distrusted unless the pod is ready and a full sample window has
	// passed since it became ready (5m).
	CPUInitializationPeriod time.Duration
	// InitialReadinessDelay is how long after start a pod may turn unready
	// and still count as never having been ready (30s).
	InitialReadinessDelay time.Duration
	// DownscaleStabilizationWindow is the scale-down stabilisation window
	// used when the behavior does not set one (5m).
	DownscaleStabilizationWindow time.Duration
	// Predictive is the predictive policy's settings.
	Predictive Predictive
}

// DefaultConfig returns kube-controller-manager's defaults.
func DefaultConfig() Config {
	return Config{
		Tolerance:                    0.1,
		CPUInitializationPeriod:      5 * time.Minute,
		InitialReadinessDelay:        30 * time.Second,
		DownscaleStabilizationWindow: 5 * time.Minute,
		Predictive:                   DefaultPredictive(),
	}
}

// Pod is what the decision needs of one pod selected by the target.
type Pod struct {
	Name     string
	Phase    corev1.PodPhase
	Deleting bool // deletionTimestamp is set
	// Ready is the pod's Ready condition, nil when it has none.
	Ready *ReadyCondition
	// StartTime is status.startTime; zero when unset.
	StartTime time.Time
	// Containers are the regular containers and the restartable init
	// (sidecar) containers, whose requests count toward utilisation.
	Containers []Container
	// PodRequests, when the pod sets pod-level requests (KEP-2837, on by
	// default since Kubernetes 1.34), are the pod's effective requests in
	// milli-units; they replace the containers' for Resource metrics, as
	// upstream does. Nil when the pod has no pod-level requests.
	PodRequests map[corev1.ResourceName]int64
}

// ReadyCondition is a pod's Ready condition.
type ReadyCondition struct {
	Status             bool
	LastTransitionTime time.Time
}

// Container is one container's name and requests in milli-units (CPU in
// millicores, memory in millibytes, as resource.Quantity.MilliValue gives them).
type Container struct {
	Name     string
	Requests map[corev1.ResourceName]int64
}

// Sample is one pod's metric value in milli-units and the window it was
// measured over.
type Sample struct {
	Value     int64
	Timestamp time.Time
	Window    time.Duration
}

// MetricValues is what the controller read for one metric of the spec.
type MetricValues struct {
	// Err is the error reading the metric; the metric is then invalid.
	Err error
	// Pods holds the per-pod samples of Resource, ContainerResource (the
	// named container's usage) and Pods metrics, by pod name.
	Pods map[string]Sample
	// Value is the value of an Object metric, the sum of the series of an
	// External metric, or the result of a Prometheus query, in milli-units.
	Value int64
}

// Input is everything one decision needs.
type Input struct {
	Now    time.Time
	Config Config
	// Spec is the ReplicaAutoscaler's spec; Metrics must have one entry per
	// EffectiveMetrics(Spec) entry, in the same order.
	Spec *scalerv1.ReplicaAutoscalerSpec
	// SpecReplicas and StatusReplicas are the target's scale subresource.
	SpecReplicas   int32
	StatusReplicas int32
	// Pods are the pods selected by the target's scale selector.
	Pods    []Pod
	Metrics []MetricValues
	// History is the previous decisions' record (Decision.History, updated by
	// RecordScale after a successful rescale).
	History History
	// IdleSince is status.idleSince (zero when unset): with minReplicas 0,
	// since when every activation metric has been at or below its threshold.
	IdleSince time.Time
}

// Condition is one HPA condition that the decision sets; the controller
// applies them in order, each replacing the condition of the same type.
type Condition struct {
	Type    autoscalingv2.HorizontalPodAutoscalerConditionType
	Status  corev1.ConditionStatus
	Reason  string
	Message string
}

// Event is a Kubernetes Event the controller should record on the
// ReplicaAutoscaler.
type Event struct {
	Type    string // corev1.EventTypeNormal or corev1.EventTypeWarning
	Reason  string
	Message string
}

// Proposal is what one metric proposes.
type Proposal struct {
	// Replicas is the proposed replica count (meaningless when Err is set).
	Replicas int32
	// Metric names the metric as the HPA does in its messages, e.g. "cpu
	// resource utilization (percentage of request)".
	Metric string
	// Value describes current and target, e.g. "cpu 242%/50%".
	Value string
	// Demand is the replicas the measured usage needs at exactly the
	// target: unrounded, without tolerance (ready pods × usage ÷ target;
	// for a value or per-pod target, value ÷ target). The predictive
	// policy forecasts it; 0 when the metric gives none (HasDemand false).
	Demand float64
	// HasDemand: the metric gives a demand (Demand 0 is then a measured
	// idle workload, not a missing one).
	HasDemand bool
	// Err says why the metric gave no proposal; Reason is the HPA's
	// condition reason for it (FailedGetResourceMetric, …).
	Err    error
	Reason string
}

// Decision is the outcome of one decision.
type Decision struct {
	// DesiredReplicas is the replica count to set; Rescale says whether it
	// differs from the current one (and whether to write the scale).
	DesiredReplicas int32
	Rescale         bool
	// RescaleReason is the HPA's reason text ("cpu resource utilization
	// (percentage of request) above target", "All metrics below target", …).
	RescaleReason string
	// Proposals has one entry per metric, in spec order (empty when the
	// metrics were not consulted).
	Proposals []Proposal
	// MetricStatuses is status.currentMetrics.
	MetricStatuses []scalerv1.MetricStatus
	// Conditions and Events to apply and record. A rescale's
	// SuccessfulRescale event and SucceededRescale condition are left to
	// the controller, since they depend on the scale update succeeding.
	Conditions []Condition
	Events     []Event
	// History is Input.History with this decision's recommendation.
	History History
	// Err is set when no replica count could be computed, or when some
	// metrics were invalid but the others still allowed a decision.
	Err error
	// IdleSince is the new status.idleSince (zero: unset).
	IdleSince time.Time
	// ZeroTransition, with Rescale, is ReasonScaledToZero or
	// ReasonScaledFromZero: the Event the controller records once the
	// scale is written.
	ZeroTransition string
}

// History is the per-autoscaler memory the HPA keeps between decisions:
// recent unstabilised recommendations and recent scale changes.
type History struct {
	Recommendations []Recommendation
	ScaleUps        []ScaleEvent
	ScaleDowns      []ScaleEvent
}

// Recommendation is one decision's unstabilised replica count.
type Recommendation struct {
	Replicas int32
	Time     time.Time
	// The predictive policy's record (0 otherwise): the metrics' Demand,
	// its forecast for Time + Predictive.Lead, and the relative error of
	// the forecast made for this decision (demand ÷ that forecast − 1;
	// NaN when none was made).
	Demand, Forecast, Error float64
	// Current is the replica count the decision started from.
	Current int32
	// Step: the predictive policy saw a step entering the metric window
	// (a demand above the forecast by more than every earlier error).
	Step bool
}

// ScaleEvent is one rescale: how many replicas it added or removed.
type ScaleEvent struct {
	Change int32
	Time   time.Time
}
