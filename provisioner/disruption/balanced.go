package disruption

import (
	"fmt"
	"math"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
)

// PodDisruptionCost is what evicting p costs in Karpenter's Balanced
// consolidation: 1, plus its controller.kubernetes.io/pod-deletion-cost
// ÷ 2^27 and its priority ÷ 2^25, within [0, 10] (a pod that asks to go
// first costs nothing, none costs more than ten default pods).
func PodDisruptionCost(p *corev1.Pod) float64 {
	c := 1.0
	if s, ok := p.Annotations[corev1.PodDeletionCost]; ok {
		if v, err := strconv.ParseInt(s, 10, 32); err == nil {
			c += float64(v) / (1 << 27)
		}
	}
	if p.Spec.Priority != nil {
		c += float64(*p.Spec.Priority) / (1 << 25)
	}
	return min(max(c, 0), 10)
}

// NodeDisruptionCost is a node's: 1 for the node itself (cordon, drain,
// a new node's start) plus each pod a drain would evict.
func NodeDisruptionCost(n *Node) float64 {
	c := 1.0
	for _, p := range n.Pods {
		c += PodDisruptionCost(p)
	}
	return c
}

// poolTotals are a pool's price (USD per hour) and disruption cost over
// all its nodes, the denominators of Balanced's shares.
type poolTotals struct{ price, disruption float64 }

// balanced is Balanced's bar for a move of cands evicting their pods:
// the least saving, USD per hour, with which the move's share of the
// pool's price reaches 1/k of its share of the pool's disruption cost,
// for the strictest pool of the candidates; ok is false when no
// candidate's pool is Balanced.
type balanced struct {
	ok         bool
	pool       string
	k          int32
	minSaving  float64
	disruption float64
	totals     poolTotals
}

func (d *decider) balancedBar(cands []*Node) balanced {
	var out balanced
	moved := 0.0
	for _, n := range cands {
		moved += NodeDisruptionCost(n)
	}
	for _, n := range cands {
		np := d.pools[n.Pool].NodePool
		if np.Spec.Disruption.ConsolidationPolicy != provisionerv1.ConsolidationPolicyBalanced {
			continue
		}
		k := int32(provisionerv1.DefaultConsolidationThreshold)
		if t := np.Spec.Disruption.ConsolidationThreshold; t != nil && *t >= 1 {
			k = *t
		}
		tot := d.poolTotals[n.Pool]
		bar := math.Inf(1)
		if tot.disruption > 0 {
			bar = tot.price * moved / (float64(k) * tot.disruption)
		}
		if !out.ok || bar > out.minSaving {
			out = balanced{ok: true, pool: n.Pool, k: k, minSaving: bar, disruption: moved, totals: tot}
		}
	}
	return out
}

// score is the move's Balanced score at a saving.
func (b *balanced) score(saving float64) float64 {
	if b.totals.price <= 0 || b.disruption <= 0 {
		return 0
	}
	return (saving / b.totals.price) / (b.disruption / b.totals.disruption)
}

// scored is the move's score at a saving, for metrics.
func (b *balanced) scored(saving float64) *BalancedScore {
	return &BalancedScore{NodePool: b.pool, Score: b.score(saving), Threshold: 1 / float64(b.k)}
}

// rankBalanced orders the candidates of Balanced pools by the score of
// deleting each alone (the most any move of that node can save, so the
// highest score it can reach), highest first, within the places they
// hold in the default order; other pools' candidates keep theirs. Where
// a budget or the solve limit lets only some moves run, Balanced's are
// tried by score, as Karpenter ranks them.
func (d *decider) rankBalanced(cands []*Node) {
	var slots []int
	var ranked []*Node
	score := map[*Node]float64{}
	for i, n := range cands {
		if b := d.balancedBar([]*Node{n}); b.ok {
			slots = append(slots, i)
			ranked = append(ranked, n)
			score[n] = b.score(n.Price)
		}
	}
	sort.SliceStable(ranked, func(i, j int) bool { return score[ranked[i]] > score[ranked[j]] })
	for k, i := range slots {
		cands[i] = ranked[k]
	}
}

// hopeless refuses, without a simulation, a Balanced pool's node that
// could not pass alone even if deleted outright: no single-node move
// saves more than its price. (Several nodes together may still pass, so
// multi-node consolidation keeps it.)
func (d *decider) hopeless(n *Node) bool {
	b := d.balancedBar([]*Node{n})
	if !b.ok || n.Price >= b.minSaving {
		return false
	}
	d.refuse(n, SingleNode, RefusedBelowThreshold, fmt.Sprintf("underused; but even deleting it would save at most %s: %s", price(n.Price), b.describe(n.Price)))
	r := &d.out.Refusals[len(d.out.Refusals)-1]
	r.Balanced = b.scored(n.Price)
	return true
}

// describe says how a saving scores, e.g. "Balanced score 1.24 ≥ 0.50
// (saves 4.1% of NodePool default's $1.234/h, evicts 3.3% of its
// disruption cost; consolidationThreshold 2)".
func (b *balanced) describe(saving float64) string {
	if !(b.totals.price > 0) {
		return fmt.Sprintf("Balanced: NodePool %s's nodes have no price", b.pool)
	}
	s := b.score(saving)
	cmp := "≥"
	if saving <= 0 || s < 1/float64(b.k) {
		cmp = "<"
	}
	return fmt.Sprintf("Balanced score %.2f %s %.2f (saves %.1f%% of NodePool %s's %s, evicts %.1f%% of its disruption cost; consolidationThreshold %d)",
		s, cmp, 1/float64(b.k), 100*saving/b.totals.price, b.pool, price(b.totals.price), 100*b.disruption/b.totals.disruption, b.k)
}
