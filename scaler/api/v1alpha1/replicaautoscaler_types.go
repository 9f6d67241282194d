package v1alpha1

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PrometheusMetricSourceType is the metric type of a Prometheus query, Tailor's
// addition to the autoscaling/v2 metric types.
const PrometheusMetricSourceType autoscalingv2.MetricSourceType = "Prometheus"

// Condition types and reasons are the HorizontalPodAutoscaler's
// (autoscalingv2.AbleToScale, ScalingActive, ScalingLimited): tools that read
// HPA conditions read these the same way. An autoscaler with minReplicas 0
// has one more, ScaledToZero.

// ScaledToZero is the condition of an autoscaler that may scale to zero:
// True while its target is at zero replicas because every activation
// metric is at or below its threshold (not an error), False while active.
const ScaledToZero autoscalingv2.HorizontalPodAutoscalerConditionType = "ScaledToZero"

// DefaultScaleToZeroCooldownSeconds is the cooldown of an autoscaler that
// sets none (KEDA's cooldownPeriod default).
const DefaultScaleToZeroCooldownSeconds = 300

// ReplicaAutoscaler scales the replicas of a workload through its scale
// subresource by the HorizontalPodAutoscaler's algorithm. Its spec is the
// autoscaling/v2 HPA spec, field for field, plus a Prometheus metric source,
// so that an HPA converts line for line.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ra,categories=all;tailor
// +kubebuilder:printcolumn:name="Reference",type=string,JSONPath=`.status.reference`,description="The scaled workload, Kind/name (filled by the controller)"
// +kubebuilder:printcolumn:name="Targets",type=string,JSONPath=`.status.targets`,description="Current/target metric values (filled by the controller)"
// +kubebuilder:printcolumn:name="MinPods",type=integer,JSONPath=`.spec.minReplicas`
// +kubebuilder:printcolumn:name="MaxPods",type=integer,JSONPath=`.spec.maxReplicas`
// +kubebuilder:printcolumn:name="Replicas",type=integer,JSONPath=`.status.currentReplicas`
// +kubebuilder:printcolumn:name="ScaledToZero",type=string,JSONPath=`.status.conditions[?(@.type=="ScaledToZero")].status`,description="True while scaled to zero for want of activity (minReplicas 0 only)"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ReplicaAutoscaler struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ReplicaAutoscalerSpec `json:"spec"`
	// +optional
	Status ReplicaAutoscalerStatus `json:"status,omitempty"`
}

// ReplicaAutoscalerList is a list of ReplicaAutoscalers.
//
// +kubebuilder:object:root=true
type ReplicaAutoscalerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ReplicaAutoscaler `json:"items"`
}

// ScalingPolicy names how a ReplicaAutoscaler decides replica counts.
type ScalingPolicy string

// Scaling policies.
const (
	PolicyUpstream   ScalingPolicy = "Upstream"
	PolicyPredictive ScalingPolicy = "Predictive"
)

// ReplicaAutoscalerSpec is autoscalingv2.HorizontalPodAutoscalerSpec with
// Tailor's MetricSpec in place of the HPA's.
//
// minReplicas may be 0 only with at least one metric that does not come
// from the pods themselves (Object, External, Prometheus), as behind the
// HPA's HPAScaleToZero gate: a workload at zero replicas has no pods whose
// Resource or Pods metrics could bring it back.
//
// CEL rules here reject what the API server can check cheaply; the
// validating webhook (scaler/validation) checks everything, including the
// behavior policies, whose list in the upstream type has no maxItems and
// would make a per-policy CEL rule too costly for the API server to accept.
//
// +kubebuilder:validation:XValidation:rule="!has(self.minReplicas) || self.maxReplicas >= self.minReplicas",message="maxReplicas must be greater than or equal to minReplicas"
// +kubebuilder:validation:XValidation:rule="!has(self.minReplicas) || self.minReplicas > 0 || (has(self.metrics) && self.metrics.exists(m, m.type in ['Object', 'External', 'Prometheus']))",message="minReplicas 0 needs at least one Object, External or Prometheus metric: at zero replicas there are no pods to measure",fieldPath=".minReplicas",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!has(self.policy) || self.policy != 'Predictive' || !has(self.behavior)",message="policy Predictive cannot be combined with behavior"
type ReplicaAutoscalerSpec struct {
	// scaleTargetRef points to the workload to scale; it must have a scale
	// subresource (Deployment, StatefulSet, ReplicaSet, custom resources).
	ScaleTargetRef autoscalingv2.CrossVersionObjectReference `json:"scaleTargetRef"`

	// minReplicas is the lower limit of the replica count. Defaults to 1.
	// 0 lets the autoscaler scale the target to zero while every Object,
	// External and Prometheus metric is at or below its
	// activationThreshold, and back to one replica when one rises above.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	MinReplicas *int32 `json:"minReplicas,omitempty"`

	// maxReplicas is the upper limit of the replica count.
	// +kubebuilder:validation:Minimum=1
	MaxReplicas int32 `json:"maxReplicas"`

	// metrics are the metrics to scale on; the largest replica count any of
	// them proposes wins. Empty means 80% average CPU utilization, as for the HPA.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	Metrics []MetricSpec `json:"metrics,omitempty"`

	// behavior configures scaling up and down (policies, stabilization
	// windows, tolerance). Unset means the HPA's default behavior.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!has(self.scaleUp) || !has(self.scaleUp.stabilizationWindowSeconds) || (self.scaleUp.stabilizationWindowSeconds >= 0 && self.scaleUp.stabilizationWindowSeconds <= 3600)",message="scaleUp.stabilizationWindowSeconds must be between 0 and 3600"
	// +kubebuilder:validation:XValidation:rule="!has(self.scaleDown) || !has(self.scaleDown.stabilizationWindowSeconds) || (self.scaleDown.stabilizationWindowSeconds >= 0 && self.scaleDown.stabilizationWindowSeconds <= 3600)",message="scaleDown.stabilizationWindowSeconds must be between 0 and 3600"
	// +kubebuilder:validation:XValidation:rule="!has(self.scaleUp) || !has(self.scaleUp.selectPolicy) || self.scaleUp.selectPolicy in ['Max', 'Min', 'Disabled']",message="scaleUp.selectPolicy must be Max, Min or Disabled"
	// +kubebuilder:validation:XValidation:rule="!has(self.scaleDown) || !has(self.scaleDown.selectPolicy) || self.scaleDown.selectPolicy in ['Max', 'Min', 'Disabled']",message="scaleDown.selectPolicy must be Max, Min or Disabled"
	Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`

	// policy is how replica counts are decided: Upstream (the default)
	// exactly as the HPA does; Predictive sizes for the demand (usage ÷
	// target, unrounded, no tolerance) forecast from its recent trend, with
	// a margin learnt from its own forecast errors, and scales down as soon
	// as a metric window measured the current pods instead of after 5
	// minutes (docs/simulate.md, "Policies"). Predictive cannot be
	// combined with behavior.
	// +optional
	// +kubebuilder:validation:Enum=Upstream;Predictive
	Policy ScalingPolicy `json:"policy,omitempty"`

	// scaleToZeroCooldownSeconds is, with minReplicas 0, how long every
	// activation metric must stay at or below its threshold before the
	// target goes to zero replicas (KEDA's cooldownPeriod). Unset means
	// 300 (5 minutes).
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=86400
	ScaleToZeroCooldownSeconds *int32 `json:"scaleToZeroCooldownSeconds,omitempty"`
}

// MetricSpec is autoscalingv2.MetricSpec plus a Prometheus source.
//
// Why not autoscalingv2.MetricSpec itself: its type field is a closed set
// (Object, Pods, Resource, ContainerResource, External) and the struct has no
// room for another source, so Tailor declares its own with the same JSON
// fields, reusing the upstream source types, and one more: prometheus, of
// type Prometheus. An HPA's metrics entry is a valid entry here unchanged.
//
// +kubebuilder:validation:XValidation:rule="self.type in ['Object', 'Pods', 'Resource', 'ContainerResource', 'External', 'Prometheus']",message="type must be one of Object, Pods, Resource, ContainerResource, External, Prometheus"
// +kubebuilder:validation:XValidation:rule="(self.type == 'Object') == has(self.object) && (self.type == 'Pods') == has(self.pods) && (self.type == 'Resource') == has(self.resource) && (self.type == 'ContainerResource') == has(self.containerResource) && (self.type == 'External') == has(self.external) && (self.type == 'Prometheus') == has(self.prometheus)",message="exactly one metric source must be set, the one named by type (e.g. type: Resource with resource)"
// +kubebuilder:validation:XValidation:rule="!has(self.activationThreshold) || self.type in ['Object', 'External', 'Prometheus']",message="activationThreshold is only for Object, External and Prometheus metrics",fieldPath=".activationThreshold",reason=FieldValueForbidden
type MetricSpec struct {
	// type is the metric source: Object, Pods, Resource, ContainerResource,
	// External (as in autoscaling/v2) or Prometheus.
	Type autoscalingv2.MetricSourceType `json:"type"`

	// object is a metric of one Kubernetes object (e.g. requests per second of an Ingress).
	// +optional
	Object *autoscalingv2.ObjectMetricSource `json:"object,omitempty"`

	// pods is a metric of each pod of the target, averaged over the pods.
	// +optional
	Pods *autoscalingv2.PodsMetricSource `json:"pods,omitempty"`

	// resource is a resource (cpu, memory) of each pod of the target.
	// +optional
	Resource *autoscalingv2.ResourceMetricSource `json:"resource,omitempty"`

	// containerResource is a resource of one container in each pod of the target.
	// +optional
	ContainerResource *autoscalingv2.ContainerResourceMetricSource `json:"containerResource,omitempty"`

	// external is a metric not tied to any Kubernetes object.
	// +optional
	External *autoscalingv2.ExternalMetricSource `json:"external,omitempty"`

	// prometheus is a PromQL query answered by a Prometheus server, read by
	// Tailor directly (no metrics adapter needed).
	// +optional
	Prometheus *PrometheusMetricSource `json:"prometheus,omitempty"`

	// activationThreshold is, for an Object, External or Prometheus metric
	// of an autoscaler with minReplicas 0, the value (the metric's whole
	// value, not per pod) the metric must exceed for the target to leave,
	// or stay off, zero replicas (KEDA's activationThreshold). Unset means 0.
	// +optional
	ActivationThreshold *resource.Quantity `json:"activationThreshold,omitempty"`
}

// PrometheusMetricSource is a PromQL instant query whose result is compared
// to a target, like an External metric: with a Value target the replica count
// moves by the ratio of result to target; with an AverageValue target it is
// result / averageValue.
//
// +kubebuilder:validation:XValidation:rule="self.target.type in ['AverageValue', 'Value']",message="target.type must be AverageValue or Value"
// +kubebuilder:validation:XValidation:rule="self.target.type != 'Value' || has(self.target.value)",message="target.value is required when target.type is Value"
// +kubebuilder:validation:XValidation:rule="self.target.type != 'AverageValue' || has(self.target.averageValue)",message="target.averageValue is required when target.type is AverageValue"
// +kubebuilder:validation:XValidation:rule="!has(self.target.averageUtilization)",message="target.averageUtilization is only for Resource and ContainerResource metrics"
type PrometheusMetricSource struct {
	// query must evaluate to a scalar or to a vector of exactly one series;
	// anything else is an error that leaves the replica count alone.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=8192
	Query string `json:"query"`

	// target is the value (type Value) or per-pod value (type AverageValue)
	// the query's result is kept at.
	Target autoscalingv2.MetricTarget `json:"target"`
}

// ReplicaAutoscalerStatus mirrors autoscalingv2.HorizontalPodAutoscalerStatus,
// plus two preformatted strings for kubectl's columns.
type ReplicaAutoscalerStatus struct {
	// observedGeneration is the most recent generation the controller acted on.
	// +optional
	ObservedGeneration *int64 `json:"observedGeneration,omitempty"`

	// lastScaleTime is when the controller last changed the replica count.
	// +optional
	LastScaleTime *metav1.Time `json:"lastScaleTime,omitempty"`

	// currentReplicas is the replica count of the target as last seen;
	// written even when 0, so that the REPLICAS column shows a target
	// scaled to zero.
	// +optional
	CurrentReplicas int32 `json:"currentReplicas"`

	// desiredReplicas is the replica count last decided.
	// +optional
	DesiredReplicas int32 `json:"desiredReplicas"`

	// currentMetrics are the last read values of spec.metrics, in order.
	// +optional
	// +listType=atomic
	CurrentMetrics []MetricStatus `json:"currentMetrics,omitempty"`

	// conditions are the HPA's: AbleToScale, ScalingActive, ScalingLimited,
	// with the HPA's reasons.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []autoscalingv2.HorizontalPodAutoscalerCondition `json:"conditions,omitempty"`

	// reference is scaleTargetRef as Kind/name, for the REFERENCE column: a
	// printer column is one JSONPath and cannot join two fields.
	// +optional
	Reference string `json:"reference,omitempty"`

	// targets is current/target for each metric as kubectl get hpa prints
	// them (e.g. "cpu: 242%/50%"), for the TARGETS column.
	// +optional
	Targets string `json:"targets,omitempty"`

	// idleSince is, with minReplicas 0, when every activation metric last
	// went to or below its threshold; unset while one is above. The target
	// goes to zero at idleSince + scaleToZeroCooldownSeconds.
	// +optional
	IdleSince *metav1.Time `json:"idleSince,omitempty"`
}

// MetricStatus is autoscalingv2.MetricStatus plus the Prometheus source.
type MetricStatus struct {
	// type is the metric source, as in MetricSpec.
	Type autoscalingv2.MetricSourceType `json:"type"`
	// +optional
	Object *autoscalingv2.ObjectMetricStatus `json:"object,omitempty"`
	// +optional
	Pods *autoscalingv2.PodsMetricStatus `json:"pods,omitempty"`
	// +optional
	Resource *autoscalingv2.ResourceMetricStatus `json:"resource,omitempty"`
	// +optional
	ContainerResource *autoscalingv2.ContainerResourceMetricStatus `json:"containerResource,omitempty"`
	// +optional
	External *autoscalingv2.ExternalMetricStatus `json:"external,omitempty"`
	// +optional
	Prometheus *PrometheusMetricStatus `json:"prometheus,omitempty"`
}

// PrometheusMetricStatus is the last result of a Prometheus query.
type PrometheusMetricStatus struct {
	// query is the query that was evaluated.
	Query string `json:"query"`
	// current is its result: value for a Value target, averageValue (result
	// divided by the current replica count) for an AverageValue target.
	Current autoscalingv2.MetricValueStatus `json:"current"`
}
