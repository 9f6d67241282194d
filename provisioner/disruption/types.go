// Package disruption is the pure half of Tailor's disruption: given the
// pools' nodes (NodeClaims with their price, age, pods, drift and the
// pool's disruption settings), the other nodes, the PodDisruptionBudgets
// and a clock, it decides which nodes to delete or replace, and why — or
// why not. It makes no client calls; the provisioner's disruption
// controller feeds it from the caches and executes what it returns.
//
// Methods run in Karpenter's order: expiration (expireAfter), drift (the
// pool's template, requirements or node class changed since launch),
// emptiness, then consolidation of underused nodes — several nodes at
// once (a bounded binary search over the cheapest-to-disrupt candidates)
// before one at a time. A consolidation deletes nodes whose pods fit on
// the other nodes, or replaces them by one cheaper node, and only when the
// hourly saving reaches the pool's minimumSavings. Every method respects
// the pools' budgets and never chooses a node that is not initialized,
// whose pods are not all Running, that carries tailor.dev/do-not-disrupt
// (or a pod of it does), or whose pods a PodDisruptionBudget keeps.
// Whether the pods fit elsewhere is decided by the provisioner's own
// solver (provisioner/scheduling), over a simulated cluster that each
// command of a pass updates.
package disruption

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/scheduling"
)

// Method is how a node came to be disrupted.
type Method string

// Methods, in the order a pass tries them.
const (
	Interruption Method = "interruption"
	Expiration   Method = "expiration"
	Drift        Method = "drift"
	Emptiness    Method = "emptiness"
	MultiNode    Method = "multi_node_consolidation"
	SingleNode   Method = "single_node_consolidation"
)

// Refusal reasons (metrics label values; the message says more).
const (
	RefusedDoNotDisrupt   = "do_not_disrupt"
	RefusedPDB            = "pdb"
	RefusedPodsNotRunning = "pods_not_running"
	RefusedNominated      = "pods_nominated"
	RefusedBudget         = "budget"
	RefusedBelowThreshold = "below_threshold"
	RefusedNoCheaper      = "no_cheaper_replacement"
	RefusedPodsDoNotFit   = "pods_do_not_fit"
)

// Node is a pool's node: one NodeClaim, launched.
type Node struct {
	// Claim is the NodeClaim's name, what commands name.
	Claim string
	// Pool is the NodePool's name.
	Pool string
	// Price in USD per hour.
	Price float64
	// Created is the claim's creation, the start of its age.
	Created time.Time
	// ExpireAfter is the claim's expireAfter; 0 never expires.
	ExpireAfter time.Duration
	// LastPodEvent is when a pod last arrived on or left the node (its
	// initialization if none did): consolidateAfter counts from it.
	LastPodEvent time.Time
	// Initialized: the node is ready; a node that is not is only a place
	// for pods (in flight), never a candidate.
	Initialized bool
	// Disrupting: a candidate of a command still running, or being
	// deleted: counted against budgets, neither a candidate nor a place
	// for pods.
	Disrupting bool
	// Replacement: launched by a command still running; a place for pods,
	// not a candidate until the command is done.
	Replacement bool
	// DoNotDisrupt: tailor.dev/do-not-disrupt on the node or its claim.
	DoNotDisrupt bool
	// Nominated: pending pods wait for this node.
	Nominated bool
	// Interrupted says why the cloud takes the instance away (a spot
	// interruption warning, scheduled maintenance); empty when it does
	// not. Such a node is replaced first, whatever the budgets and
	// do-not-disrupt: it goes either way.
	Interrupted string
	// Drifted says how the claim no longer matches its pool or node class
	// (see DriftReason); empty when it does.
	Drifted string
	// Node is the node as the solver sees it, every bound pod (DaemonSet
	// pods too) in Node.Pods.
	Node scheduling.Node
	// Pods are the pods a drain would evict: not DaemonSet, mirror or
	// terminal pods.
	Pods []*corev1.Pod
}

// Options bound the work of one pass.
type Options struct {
	// MultiNodeMaxCandidates is how many of the cheapest-to-disrupt
	// candidates multi-node consolidation considers at once (Karpenter's 100).
	MultiNodeMaxCandidates int
	// SingleNodeMaxSolves is how many candidates single-node
	// consolidation simulates in one pass; the next pass goes on from
	// Offset (the controller moves it on), so every candidate gets a turn.
	SingleNodeMaxSolves int
	// Offset is where single-node consolidation starts in its candidate
	// order (taken modulo the number of candidates).
	Offset int
}

// DefaultOptions are the documented defaults.
func DefaultOptions() Options {
	return Options{MultiNodeMaxCandidates: 100, SingleNodeMaxSolves: 20}
}

// Input is everything one pass looks at.
type Input struct {
	Now time.Time
	// Nodes of the pools (every NodeClaim with a node or in flight).
	Nodes []Node
	// Others are nodes no pool disrupts (static nodes): places for pods.
	Others []scheduling.Node
	// Pools, with their instance types (replacements come from them).
	Pools         []scheduling.Pool
	DaemonSetPods []*corev1.Pod
	PDBs          []*policyv1.PodDisruptionBudget
	Options       Options
	// Requests, if set, is a cache the caller keeps across passes (the
	// simulator: its pods and instance types never change); nil: one per
	// pass.
	Requests *scheduling.RequestCache
}

// Command is one disruption to carry out: launch the replacements, wait
// until they are initialized, taint and drain the candidates, delete them.
type Command struct {
	Method Method
	// Reason is the budget reason (Empty, Underutilized, Drifted); empty
	// for expiration, which only budgets without reasons limit.
	Reason provisionerv1.DisruptionReason
	// Candidates are the NodeClaims to remove.
	Candidates []string
	// Replacements are the new nodes, cheapest instance types first
	// (consolidation: only types cheaper than the candidates).
	Replacements []*scheduling.Claim
	// PriceBefore is the candidates' price, PriceAfter the replacements'
	// (their cheapest types), USD per hour.
	PriceBefore, PriceAfter float64
	// Pods is how many pods the drain evicts.
	Pods int
	// Placements are where the simulation put those pods (Kind NewClaim:
	// Claim indexes Replacements); the scheduler decides for real.
	Placements []scheduling.Placement
	// Message explains the decision.
	Message string
	// Balanced is the move's score when a Balanced pool's bar applied.
	Balanced *BalancedScore
}

// BalancedScore is how a move scored in a Balanced pool (balanced.go):
// it passes at Score ≥ Threshold (1/consolidationThreshold).
type BalancedScore struct {
	NodePool         string
	Score, Threshold float64
}

// Savings is PriceBefore − PriceAfter.
func (c *Command) Savings() float64 { return c.PriceBefore - c.PriceAfter }

// Action is "delete" (no replacement) or "replace".
func (c *Command) Action() string {
	if len(c.Replacements) == 0 {
		return "delete"
	}
	return "replace"
}

// Refusal is a node a method would have disrupted, and why it did not.
type Refusal struct {
	Claim  string
	Method Method
	// Reason is one of the Refused* constants.
	Reason  string
	Message string
	// PriceBefore and PriceAfter, when the move was priced (PriceAfter is
	// then what the replacement would have cost; Priced says so).
	PriceBefore, PriceAfter float64
	Priced                  bool
	// Balanced is the score of a move a Balanced pool's bar refused.
	Balanced *BalancedScore
}

// Decision is the outcome of a pass.
type Decision struct {
	Commands []Command
	Refusals []Refusal
	// Deferred are the consolidation candidates this pass did not reach
	// (a command was found first, or single-node consolidation ran out of
	// simulations): neither refused nor cleared, they wait for a pass.
	Deferred []string
	// Solves is how many scheduling simulations the pass ran.
	Solves int
}

func price(p float64) string { return fmt.Sprintf("$%.4f/h", p) }
