package disruption

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/requirements"
	"github.com/tailor-dev/tailor/provisioner/scheduling"
)

// consolidation: underused nodes of pools with WhenEmptyOrUnderutilized,
// first several at once, then one at a time; one command at most.
func (d *decider) consolidation() error {
	cands := d.consolidationCandidates()
	// Cheapest to disrupt first: fewest pods, then the most expensive.
	sort.SliceStable(cands, func(i, j int) bool {
		a, b := cands[i], cands[j]
		if len(a.Pods) != len(b.Pods) {
			return len(a.Pods) < len(b.Pods)
		}
		if a.Price != b.Price {
			return a.Price > b.Price
		}
		return a.Claim < b.Claim
	})
	d.rankBalanced(cands)
	ok := cands[:0]
	for _, n := range cands {
		if r, msg := Blocked(n, d.pdbs); r != "" {
			d.refuse(n, SingleNode, r, "underused; but "+msg)
			continue
		}
		if d.awaited(n, SingleNode, "underused") {
			continue
		}
		if allowed, msg := d.budget(n.Pool, provisionerv1.DisruptionReasonUnderutilized); !allowed {
			d.refuse(n, SingleNode, RefusedBudget, "underused; but "+msg)
			continue
		}
		ok = append(ok, n)
	}
	cands = ok
	if len(cands) == 0 {
		return nil
	}
	// Multi-node takes no more of a pool's nodes than its budget has room for.
	var multi []*Node
	taken := map[string]int{}
	for _, n := range cands {
		allowed, _ := Allowed(d.pools[n.Pool].NodePool, provisionerv1.DisruptionReasonUnderutilized, d.total[n.Pool], d.in.Now)
		if d.disrupting[n.Pool]+taken[n.Pool] < allowed {
			taken[n.Pool]++
			multi = append(multi, n)
		}
	}
	d.room = newRoom(d)
	done, err := d.multiNode(multi)
	if err != nil {
		return err
	}
	if done {
		taken := names(d.out.Commands[len(d.out.Commands)-1].Candidates)
		for _, n := range cands {
			if !taken[n.Claim] {
				d.postpone(n)
			}
		}
		return nil
	}
	return d.singleNode(cands)
}

// consolidationCandidates: the nodes of pools that consolidate underused
// nodes, with pods, quiet for consolidateAfter.
func (d *decider) consolidationCandidates() []*Node {
	var cands []*Node
	for i := range d.in.Nodes {
		n := &d.in.Nodes[i]
		if !d.eligible(n) || len(n.Pods) == 0 {
			continue
		}
		np := d.pools[n.Pool].NodePool
		if np.Spec.Disruption.ConsolidationPolicy == provisionerv1.ConsolidationPolicyWhenEmpty || !quiet(n, np, d.in.Now) {
			continue
		}
		cands = append(cands, n)
	}
	return cands
}

// multiNode binary-searches the longest prefix (at least 2, at most
// MultiNodeMaxCandidates) of the candidates that can go at once: deleted,
// or replaced by one cheaper node. Karpenter's heuristic: the prefixes are
// not monotone, so it is a bounded search, not an exhaustive one.
func (d *decider) multiNode(cands []*Node) (bool, error) {
	hi := min(len(cands), d.in.Options.MultiNodeMaxCandidates)
	lo := 2
	var best *Command
	var bestRes *scheduling.Result
	for lo <= hi {
		mid := (lo + hi) / 2
		cmd, res, _, err := d.consolidate(cands[:mid], MultiNode)
		if err != nil {
			return false, err
		}
		if cmd != nil {
			best, bestRes = cmd, res
			lo = mid + 1
		} else {
			hi = mid - 1
		}
	}
	if best == nil {
		return false, nil
	}
	d.apply(*best, names(best.Candidates), bestRes)
	return true, nil
}

// singleNode tries the candidates one at a time from Offset, at most
// SingleNodeMaxSolves simulations, and takes the first that works; those
// tried before are refused with what the simulation found, the rest
// deferred.
func (d *decider) singleNode(cands []*Node) error {
	solves := 0
	for k := 0; k < len(cands); k++ {
		n := cands[(d.in.Options.Offset+k)%len(cands)]
		if solves >= d.in.Options.SingleNodeMaxSolves {
			d.postpone(n)
			continue
		}
		if d.hopeless(n) {
			continue
		}
		if r, msg := d.cannotPay(n); r != "" {
			d.refuse(n, SingleNode, r, "underused; but "+msg)
			continue
		}
		solves++
		cmd, res, refusal, err := d.consolidate([]*Node{n}, SingleNode)
		if err != nil {
			return err
		}
		if cmd == nil {
			d.out.Refusals = append(d.out.Refusals, *refusal)
			continue
		}
		d.apply(*cmd, names(cmd.Candidates), res)
		for k++; k < len(cands); k++ {
			d.postpone(cands[(d.in.Options.Offset+k)%len(cands)])
		}
		return nil
	}
	return nil
}

func names(claims []string) map[string]bool {
	out := make(map[string]bool, len(claims))
	for _, c := range claims {
		out[c] = true
	}
	return out
}

// cannotPay is a cheap test before a simulation: when no instance type of
// any pool, at any price it is offered, is both big enough for n's pods
// and cheaper than n, n can only be deleted, which needs its pods to fit
// in the room the other nodes have left. It never refuses a node a
// simulation would accept; a move that saves too little is simulated, so
// that its refusal says what it would have saved.
func (d *decider) cannotPay(n *Node) (string, string) {
	need := corev1.ResourceList{}
	for _, pod := range n.Pods {
		for name, q := range d.reqs.Of(pod) {
			sum := need[name]
			sum.Add(q)
			need[name] = sum
		}
	}
	for _, p := range d.in.Pools {
		for _, it := range p.InstanceTypes {
			if fitsIn(need, it.Allocatable) && scheduling.Cheapest(it, requirements.Requirements{}) < n.Price {
				return "", ""
			}
		}
	}
	// Deletion: the pods must fit in the room the other nodes have left,
	// taken together.
	if d.room.fits(need, n.Node.Name) {
		return "", ""
	}
	return RefusedNoCheaper, fmt.Sprintf("no instance type is both big enough for its pods and cheaper than %s, and the other nodes lack the room for them", price(n.Price))
}

// room is the free CPU, memory and pod slots of every target, and their
// sum: a necessary test for a deletion, cheap enough to run per candidate.
type room struct {
	free  map[string][3]float64
	total [3]float64
}

var roomDims = [3]corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourcePods}

func newRoom(d *decider) *room {
	r := &room{free: make(map[string][3]float64, len(d.targets))}
	for _, t := range d.targets {
		if d.gone[t.Name] {
			continue
		}
		var f [3]float64
		for i, name := range roomDims {
			q := t.Allocatable[name]
			f[i] = q.AsApproximateFloat64()
		}
		for _, pod := range t.Pods {
			rl := d.reqs.Of(pod)
			for i, name := range roomDims {
				q := rl[name]
				f[i] -= q.AsApproximateFloat64()
			}
		}
		for i := range f {
			f[i] = max(f[i], 0)
			r.total[i] += f[i]
		}
		r.free[t.Name] = f
	}
	return r
}

// fits: need fits in the room of every target but one, taken together.
func (r *room) fits(need corev1.ResourceList, without string) bool {
	f := r.free[without]
	for i, name := range roomDims {
		q := need[name]
		if q.AsApproximateFloat64() > r.total[i]-f[i]+1e-9 {
			return false
		}
	}
	return true
}

func fitsIn(need, have corev1.ResourceList) bool {
	for name, q := range need {
		h, ok := have[name]
		if !ok || h.Cmp(q) < 0 {
			return false
		}
	}
	return true
}

// consolidate simulates removing cands: valid when their pods fit on the
// other nodes (delete) or on them plus one new node cheaper than the
// candidates (replace), and the saving reaches the threshold. Otherwise
// the refusal says why, priced when it could be.
func (d *decider) consolidate(cands []*Node, m Method) (*Command, *scheduling.Result, *Refusal, error) {
	var pods []*corev1.Pod
	exclude := map[string]bool{}
	var claims []string
	before, threshold := 0.0, 0.0
	for _, n := range cands {
		pods = append(pods, n.Pods...)
		exclude[n.Node.Name] = true
		claims = append(claims, n.Claim)
		before += n.Price
	}
	for _, n := range cands {
		threshold = max(threshold, Threshold(d.pools[n.Pool].NodePool, before, len(pods)))
	}
	// Balanced's bar, when it is the higher, explains a refusal.
	bal := d.balancedBar(cands)
	byBalanced := bal.ok && bal.minSaving >= threshold
	threshold = max(threshold, bal.minSaving)
	refuse := func(reason, msg string) *Refusal {
		return &Refusal{Claim: cands[0].Claim, Method: m, Reason: reason, Message: "underused; but " + msg, PriceBefore: before}
	}
	res, err := d.solve(pods, exclude)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(res.Claims) > 1 && d.severalAllowed(res.Claims) {
		// MarginalCost buys several nodes where that costs less than one
		// that holds them all, pod by pod; FirstFit's growing node is the
		// other answer. The cheaper of the two is the move.
		ff, err := d.solveWith(pods, exclude, d.firstFitPools())
		if err != nil {
			return nil, nil, nil, err
		}
		if unplaced(ff) == "" && len(ff.Claims) == 1 && ff.Claims[0].Price < total(res.Claims) {
			res = ff
		}
	}
	if bad := unplaced(res); bad != "" {
		return nil, nil, refuse(RefusedPodsDoNotFit, bad), nil
	}
	if len(res.Claims) > 1 && !d.severalAllowed(res.Claims) {
		return nil, nil, refuse(RefusedPodsDoNotFit, fmt.Sprintf("its pods would need %d new nodes", len(res.Claims))), nil
	}
	cmd := &Command{Method: m, Reason: provisionerv1.DisruptionReasonUnderutilized, Candidates: claims, PriceBefore: before, Pods: len(pods)}
	if len(res.Claims) > 0 {
		after := total(res.Claims)
		var repl []*scheduling.Claim
		for _, c := range res.Claims {
			// Each replacement keeps the types that hold the total below
			// the candidates' price less the threshold.
			c = cheaper(c, before-threshold-(after-c.Price))
			if c == nil {
				repl = nil
				break
			}
			repl = append(repl, c)
		}
		if repl == nil {
			names := make([]string, 0, len(res.Claims))
			for _, c := range res.Claims {
				names = append(names, c.InstanceTypes[0].Name)
			}
			r := refuse(RefusedNoCheaper, fmt.Sprintf("its pods need %s, and the cheapest that carries them costs %s, not less than %s", newNodes(len(res.Claims)), price(after), price(before)))
			if threshold > 0 && after < before {
				r.Reason = RefusedBelowThreshold
				r.Message = fmt.Sprintf("underused; but replacing it by %s would save %s (%.1f%%), less than the pool's minimum saving of %s", strings.Join(names, ", "), price(before-after), 100*(before-after)/before, price(threshold))
				if byBalanced {
					r.Message = fmt.Sprintf("underused; but replacing it by %s would save %s: %s", strings.Join(names, ", "), price(before-after), bal.describe(before-after))
					r.Balanced = bal.scored(before - after)
				}
			}
			r.PriceAfter, r.Priced = after, true
			return nil, nil, r, nil
		}
		cmd.Replacements = repl
		cmd.PriceAfter = after
	} else if cmd.Savings() < threshold {
		r := refuse(RefusedBelowThreshold, fmt.Sprintf("deleting it would save %s (its pods fit on other nodes), less than the pool's minimum saving of %s", price(before), price(threshold)))
		if byBalanced {
			r.Message = fmt.Sprintf("underused; but deleting it would save %s (its pods fit on other nodes): %s", price(before), bal.describe(before))
			r.Balanced = bal.scored(before)
		}
		r.Priced = true
		return nil, nil, r, nil
	}
	who := "underused"
	if len(cands) > 1 {
		who = fmt.Sprintf("%d underused nodes", len(cands))
	}
	cmd.Message = who + ": " + moveText(cmd)
	switch {
	case bal.ok:
		cmd.Message += " (" + bal.describe(cmd.Savings()) + ")"
		cmd.Balanced = bal.scored(cmd.Savings())
	case threshold > 0:
		cmd.Message += fmt.Sprintf(" (minimum saving %s)", price(threshold))
	}
	return cmd, res, nil, nil
}

// severalAllowed: a command may launch several replacements when every
// one is of a pool that packs by MarginalCost (it pays for the nodes,
// whatever their number); other pools replace by one node at most, as
// Karpenter does.
func (d *decider) severalAllowed(claims []*scheduling.Claim) bool {
	for _, c := range claims {
		p := d.pools[c.Pool]
		if p == nil || p.NodePool.Spec.Packing != provisionerv1.PackingMarginalCost {
			return false
		}
	}
	return true
}

// total is the claims' price.
func total(claims []*scheduling.Claim) float64 {
	sum := 0.0
	for _, c := range claims {
		sum += c.Price
	}
	return sum
}

func newNodes(n int) string {
	if n == 1 {
		return "a new node"
	}
	return fmt.Sprintf("%d new nodes", n)
}

// cheaper narrows a planned claim to the instance types that cost less
// than limit (nil when none does); its price becomes the cheapest's.
func cheaper(c *scheduling.Claim, limit float64) *scheduling.Claim {
	var keep []*scheduling.InstanceType
	var names []string
	best := 0.0
	for _, it := range c.InstanceTypes {
		p := scheduling.Cheapest(it, c.Requirements)
		if p < limit {
			if len(keep) == 0 || p < best {
				best = p
			}
			keep = append(keep, it)
			names = append(names, it.Name)
		}
	}
	if len(keep) == 0 {
		return nil
	}
	out := *c
	out.InstanceTypes = keep
	out.Price = best
	r, _ := requirements.New(provisionerv1.LabelInstanceType, corev1.NodeSelectorOpIn, names)
	out.Requirements = c.Requirements.With(r)
	return &out
}
