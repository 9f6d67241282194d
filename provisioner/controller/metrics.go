package controller

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	pendingPods = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "tailor_provisioner_pending_pods",
		Help: "Pods the scheduler marked Unschedulable, at the last batch.",
	})
	batchSize = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "tailor_provisioner_batch_size",
		Help:    "Pending pods per scheduling batch.",
		Buckets: prometheus.ExponentialBuckets(1, 4, 8),
	})
	solveDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "tailor_provisioner_solve_duration_seconds",
		Help:    "Time of one scheduling solve (input built from the caches, solver, no writes).",
		Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
	})
	nodeClaimsLaunched = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tailor_provisioner_nodeclaims_launched_total",
		Help: "NodeClaims whose instance the cloud launched, by pool, instance type, zone and capacity type.",
	}, []string{"nodepool", "instance_type", "zone", "capacity_type"})
	nodeClaimsTerminated = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tailor_provisioner_nodeclaims_terminated_total",
		Help: "NodeClaims whose instance was terminated, by pool and reason (disrupted, registration_timeout, insufficient_capacity, deleted, instance_gone: the instance was terminated out of band).",
	}, []string{"nodepool", "reason"})
	insufficientCapacity = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tailor_provisioner_insufficient_capacity_total",
		Help: "Launches refused for lack of capacity, by offering tried.",
	}, []string{"instance_type", "zone", "capacity_type"})
	pendingToNodeClaim = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "tailor_provisioner_pending_to_nodeclaim_seconds",
		Help:    "From a pod's creation to the NodeClaim (new or in flight) it was nominated to.",
		Buckets: prometheus.ExponentialBuckets(0.25, 2, 10),
	})
	pendingToRunning = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "tailor_provisioner_pending_to_running_seconds",
		Help:    "From a nominated pod's creation to it Running on the new capacity.",
		Buckets: prometheus.ExponentialBuckets(0.5, 2, 12),
	})
	fleetCost = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tailor_provisioner_fleet_cost_per_hour",
		Help: "USD per hour of the pool's NodeClaims, at their launch prices.",
	}, []string{"nodepool"})
	poolUsage = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tailor_provisioner_nodepool_usage",
		Help: "Capacity of the pool's NodeClaims by resource (nodes: their count), what limits are checked against.",
	}, []string{"nodepool", "resource"})
	poolLimit = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tailor_provisioner_nodepool_limit",
		Help: "The pool's spec.limits by resource.",
	}, []string{"nodepool", "resource"})
)

// Disruption.
var (
	disruptionDecisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tailor_disruption_decisions_total",
		Help: "Disruption decisions by method (expiration, drift, emptiness, multi_node_consolidation, single_node_consolidation), decision (delete, replace, refused) and reason (the budget reason of a command, Empty, Underutilized, Drifted, Expired; or why it was refused); a refusal counts once per node until its reason changes.",
	}, []string{"method", "decision", "reason"})
	disruptionSavings = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tailor_disruption_savings_dollars_per_hour",
		Help: "USD per hour saved by finished disruption commands (the candidates' price less their replacements'), summed, by pool and method.",
	}, []string{"nodepool", "method"})
	consolidationScores = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "tailor_disruption_consolidation_score",
		Help: "Scores of the consolidations a Balanced pool's bar decided (share of the pool's price saved ÷ share of its disruption cost evicted; the bar is 1/consolidationThreshold), by pool and decision (approved, rejected); a rejection counts once per node until its refusal changes.",
		// The bars 1/3, 1/2 and 1 are bucket bounds.
		Buckets: []float64{0.1, 0.2, 1.0 / 3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10},
	}, []string{"nodepool", "decision"})
	disruptionRollbacks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tailor_disruption_rollbacks_total",
		Help: "Disruption commands rolled back (candidates untainted and left serving), by method and reason (replacement_failed, blocked).",
	}, []string{"method", "reason"})
	disruptionCommands = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tailor_disruption_commands",
		Help: "Disruption commands running, by phase (launching, validating, draining).",
	}, []string{"phase"})
	disruptionPassDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "tailor_disruption_sync_duration_seconds",
		Help:    "Time of one disruption pass: commands moved on, the decision, new commands started.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
	})
	podsEvicted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tailor_disruption_pods_evicted_total",
		Help: "Pods evicted (Eviction API) by drains of the pool's nodes.",
	}, []string{"nodepool"})
	evictionsBlocked = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tailor_disruption_evictions_blocked_total",
		Help: "Evictions a PodDisruptionBudget refused (429) during drains of the pool's nodes; each is retried.",
	}, []string{"nodepool"})
)

func init() {
	ctrlmetrics.Registry.MustRegister(pendingPods, batchSize, solveDuration, nodeClaimsLaunched, nodeClaimsTerminated,
		insufficientCapacity, pendingToNodeClaim, pendingToRunning, fleetCost, poolUsage, poolLimit,
		disruptionDecisions, disruptionSavings, consolidationScores, disruptionRollbacks, disruptionCommands, disruptionPassDuration, podsEvicted, evictionsBlocked)
}
