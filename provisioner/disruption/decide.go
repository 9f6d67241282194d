package disruption

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/requirements"
	"github.com/tailor-dev/tailor/provisioner/scheduling"
)

// decider is one pass: the simulated cluster, budgets in use, results.
type decider struct {
	in    Input
	pdbs  *PDBs
	pools map[string]*scheduling.Pool
	// targets are the places for pods: other nodes, pool nodes that are not
	// disrupting, and the replacements of this pass's commands.
	targets []scheduling.Node
	index   map[string]int // target name → index
	gone    map[string]bool
	// total and disrupting nodes per pool, for budgets.
	total, disrupting map[string]int
	reqs              *scheduling.RequestCache
	room              *room
	reserved          map[string]bool // targets reserve placed pods on
	ffPools           []scheduling.Pool
	poolTotals        map[string]poolTotals
	out               *Decision
}

// Decide runs one pass. It returns an error only for input the solver
// cannot model at all.
func Decide(in Input) (*Decision, error) {
	if in.Options.MultiNodeMaxCandidates <= 0 {
		in.Options.MultiNodeMaxCandidates = DefaultOptions().MultiNodeMaxCandidates
	}
	if in.Options.SingleNodeMaxSolves <= 0 {
		in.Options.SingleNodeMaxSolves = DefaultOptions().SingleNodeMaxSolves
	}
	d := &decider{
		in: in, pdbs: NewPDBs(in.PDBs), pools: map[string]*scheduling.Pool{},
		index: map[string]int{}, gone: map[string]bool{},
		total: map[string]int{}, disrupting: map[string]int{}, poolTotals: map[string]poolTotals{},
		reqs: scheduling.NewRequestCache(), out: &Decision{},
	}
	if in.Requests != nil {
		d.reqs = in.Requests
	}
	for i := range in.Pools {
		d.pools[in.Pools[i].NodePool.Name] = &in.Pools[i]
	}
	for _, n := range in.Others {
		d.addTarget(n)
	}
	for i := range in.Nodes {
		n := &in.Nodes[i]
		d.total[n.Pool]++
		if np := d.pools[n.Pool]; np != nil && np.NodePool.Spec.Disruption.ConsolidationPolicy == provisionerv1.ConsolidationPolicyBalanced {
			t := d.poolTotals[n.Pool]
			t.price += n.Price
			t.disruption += NodeDisruptionCost(n)
			d.poolTotals[n.Pool] = t
		}
		if n.Disrupting {
			d.disrupting[n.Pool]++
			continue
		}
		d.addTarget(n.Node)
	}
	if err := d.reserve(); err != nil {
		return nil, err
	}
	steps := []func() error{d.interruption, d.expiration, d.drift, d.emptiness}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	// Consolidation only on a cluster the pass has not changed: its
	// simulation would otherwise rest on moves not yet made.
	if len(d.out.Commands) == 0 {
		if err := d.consolidation(); err != nil {
			return nil, err
		}
	} else {
		d.postpone(d.consolidationCandidates()...)
	}
	return d.out, nil
}

// reserve places the pods of the nodes that commands in flight are
// draining (or about to) on the other nodes first: they will need that
// room, and a simulation that counts it as free plans moves onto it
// (which then cost a new node and the pods' pending time). Pods that fit
// nowhere are left out: the provisioner will buy for them.
func (d *decider) reserve() error {
	var pods []*corev1.Pod
	for i := range d.in.Nodes {
		if n := &d.in.Nodes[i]; n.Disrupting {
			pods = append(pods, n.Pods...)
		}
	}
	if len(pods) == 0 {
		return nil
	}
	res, err := d.solve(pods, nil)
	if err != nil {
		return err
	}
	d.reserved = map[string]bool{}
	for _, pl := range res.Placements {
		if pl.Kind == scheduling.ExistingNode || pl.Kind == scheduling.InFlightNode {
			t := &d.targets[d.index[pl.Node]]
			t.Pods = append(t.Pods[:len(t.Pods):len(t.Pods)], pl.Pod)
			d.reserved[pl.Node] = true
		}
	}
	return nil
}

// awaited: pods of nodes being disrupted are planned on n, so this pass
// neither empties nor consolidates it (its pods alone are not what it
// will hold).
func (d *decider) awaited(n *Node, m Method, why string) bool {
	if !d.reserved[n.Node.Name] {
		return false
	}
	d.refuse(n, m, RefusedNominated, why+"; but the pods of nodes being disrupted are planned on it")
	return true
}

func (d *decider) addTarget(n scheduling.Node) {
	d.index[n.Name] = len(d.targets)
	d.targets = append(d.targets, n)
}

// postpone records nodes a pass did not reach, but for those another
// method refused (a claim has one refusal a pass to show).
func (d *decider) postpone(nodes ...*Node) {
	for _, n := range nodes {
		if !slices.ContainsFunc(d.out.Refusals, func(r Refusal) bool { return r.Claim == n.Claim }) {
			d.out.Deferred = append(d.out.Deferred, n.Claim)
		}
	}
}

func (d *decider) refuse(n *Node, m Method, reason, msg string) {
	d.out.Refusals = append(d.out.Refusals, Refusal{Claim: n.Claim, Method: m, Reason: reason, Message: msg, PriceBefore: n.Price})
}

// budget reports whether one more of pool's nodes may be disrupted for
// reason; when not, why.
func (d *decider) budget(pool string, reason provisionerv1.DisruptionReason) (bool, string) {
	p := d.pools[pool]
	if p == nil {
		return false, "its NodePool " + pool + " is gone"
	}
	allowed, why := Allowed(p.NodePool, reason, d.total[pool], d.in.Now)
	if d.disrupting[pool] < allowed {
		return true, ""
	}
	r := string(reason)
	if r == "" {
		r = "Expired"
	}
	return false, fmt.Sprintf("NodePool %s's %s allows %d of its %d nodes disrupting at once for %s; %d are", pool, why, allowed, d.total[pool], r, d.disrupting[pool])
}

// eligible nodes are initialized pool nodes no command holds.
func (d *decider) eligible(n *Node) bool {
	return n.Initialized && !n.Disrupting && !n.Replacement && !d.gone[n.Node.Name] && d.pools[n.Pool] != nil
}

// solve places pods on the simulated cluster without the excluded
// targets; new claims come from the pools.
func (d *decider) solve(pods []*corev1.Pod, exclude map[string]bool) (*scheduling.Result, error) {
	return d.solveWith(pods, exclude, d.in.Pools)
}

// solveWith is solve over the given pools.
func (d *decider) solveWith(pods []*corev1.Pod, exclude map[string]bool, pools []scheduling.Pool) (*scheduling.Result, error) {
	nodes := make([]scheduling.Node, 0, len(d.targets))
	for _, t := range d.targets {
		if !exclude[t.Name] && !d.gone[t.Name] {
			nodes = append(nodes, t)
		}
	}
	d.out.Solves++
	return scheduling.Solve(scheduling.Input{Pods: pods, Nodes: nodes, Pools: pools, DaemonSetPods: d.in.DaemonSetPods, Requests: d.reqs})
}

// firstFitPools are the pools packing by FirstFit (made once a pass).
func (d *decider) firstFitPools() []scheduling.Pool {
	if d.ffPools == nil {
		d.ffPools = make([]scheduling.Pool, len(d.in.Pools))
		for i, p := range d.in.Pools {
			np := *p.NodePool
			np.Spec.Packing = provisionerv1.PackingFirstFit
			p.NodePool = &np
			d.ffPools[i] = p
		}
	}
	return d.ffPools
}

// apply records a command in the simulated cluster: its candidates are
// gone, their pods are where the solve put them, its replacements exist.
func (d *decider) apply(cmd Command, names map[string]bool, res *scheduling.Result) {
	for i := range d.in.Nodes {
		n := &d.in.Nodes[i]
		if names[n.Claim] {
			d.gone[n.Node.Name] = true
			d.disrupting[n.Pool]++
		}
	}
	if res != nil {
		cmd.Placements = res.Placements
		for _, pl := range res.Placements {
			if pl.Kind == scheduling.ExistingNode || pl.Kind == scheduling.InFlightNode {
				t := &d.targets[d.index[pl.Node]]
				t.Pods = append(t.Pods[:len(t.Pods):len(t.Pods)], pl.Pod)
			}
		}
	}
	for i, c := range cmd.Replacements {
		d.addTarget(claimNode(fmt.Sprintf("%s/replacement-%d-%d", cmd.Method, len(d.out.Commands), i), c))
	}
	d.out.Commands = append(d.out.Commands, cmd)
}

// claimNode is a planned claim as a node in flight: its cheapest type.
func claimNode(name string, c *scheduling.Claim) scheduling.Node {
	it := c.InstanceTypes[0]
	reqs := c.Requirements.Intersect(requirements.FromLabels(it.Labels))
	return scheduling.Node{Name: name, Requirements: reqs, Allocatable: it.Allocatable, Pods: c.Pods, InFlight: true}
}

// interruption replaces nodes the cloud is taking away. The instance goes
// whatever Tailor does, so neither budgets, do-not-disrupt nor PDBs stop
// the command (the drain still evicts through the Eviction API, so PDBs
// hold until the instance is gone); pods that fit nowhere are still moved
// off, and wait pending for new capacity.
func (d *decider) interruption() error {
	for i := range d.in.Nodes {
		n := &d.in.Nodes[i]
		if !d.eligible(n) || n.Interrupted == "" {
			continue
		}
		res, err := d.solve(n.Pods, map[string]bool{n.Node.Name: true})
		if err != nil {
			return err
		}
		cmd := Command{Method: Interruption, Candidates: []string{n.Claim}, Replacements: res.Claims,
			PriceBefore: n.Price, PriceAfter: res.Cost(), Pods: len(n.Pods)}
		cmd.Message = "interrupted: " + n.Interrupted + "; " + moveText(&cmd)
		if bad := unplaced(res); bad != "" {
			cmd.Message += "; " + bad + ", it waits pending"
		}
		d.apply(cmd, map[string]bool{n.Claim: true}, res)
	}
	return nil
}

// expiration replaces nodes older than their expireAfter, oldest first.
func (d *decider) expiration() error {
	var cands []*Node
	for i := range d.in.Nodes {
		n := &d.in.Nodes[i]
		if d.eligible(n) && n.ExpireAfter > 0 && !d.in.Now.Before(n.Created.Add(n.ExpireAfter)) {
			cands = append(cands, n)
		}
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].Created.Before(cands[j].Created) })
	for _, n := range cands {
		why := fmt.Sprintf("expired: created %s ago, expireAfter %s", d.in.Now.Sub(n.Created).Round(1e9), n.ExpireAfter)
		if err := d.replace(n, Expiration, "", why); err != nil {
			return err
		}
	}
	return nil
}

// drift replaces nodes that no longer match their pool or node class.
func (d *decider) drift() error {
	for i := range d.in.Nodes {
		n := &d.in.Nodes[i]
		if !d.eligible(n) || n.Drifted == "" {
			continue
		}
		if err := d.replace(n, Drift, provisionerv1.DisruptionReasonDrifted, "drifted: "+n.Drifted); err != nil {
			return err
		}
	}
	return nil
}

// replace makes a command that moves n's pods to other nodes and to as
// many new nodes as they need, whatever the price (expiration, drift).
func (d *decider) replace(n *Node, m Method, reason provisionerv1.DisruptionReason, why string) error {
	if r, msg := Blocked(n, d.pdbs); r != "" {
		d.refuse(n, m, r, why+"; but "+msg)
		return nil
	}
	if ok, msg := d.budget(n.Pool, reason); !ok {
		d.refuse(n, m, RefusedBudget, why+"; but "+msg)
		return nil
	}
	res, err := d.solve(n.Pods, map[string]bool{n.Node.Name: true})
	if err != nil {
		return err
	}
	if bad := unplaced(res); bad != "" {
		d.refuse(n, m, RefusedPodsDoNotFit, why+"; but "+bad)
		return nil
	}
	cmd := Command{Method: m, Reason: reason, Candidates: []string{n.Claim}, Replacements: res.Claims,
		PriceBefore: n.Price, PriceAfter: res.Cost(), Pods: len(n.Pods)}
	cmd.Message = why + "; " + moveText(&cmd)
	d.apply(cmd, map[string]bool{n.Claim: true}, res)
	return nil
}

// unplaced explains the first pod the solve could not place ("" if none).
func unplaced(res *scheduling.Result) string {
	for _, pl := range res.Placements {
		if pl.Kind == scheduling.Unschedulable {
			return fmt.Sprintf("pod %s/%s fits no other node and no NodePool can make one (%s)", pl.Pod.Namespace, pl.Pod.Name, pl.Reason)
		}
	}
	return ""
}

func moveText(c *Command) string {
	if len(c.Replacements) == 0 {
		if c.Pods == 0 {
			return fmt.Sprintf("delete (no pods), saving %s", price(c.PriceBefore))
		}
		return fmt.Sprintf("delete: its %d pods fit on other nodes; %s → $0, saving %s", c.Pods, price(c.PriceBefore), price(c.Savings()))
	}
	types := make([]string, 0, len(c.Replacements))
	for _, r := range c.Replacements {
		types = append(types, r.InstanceTypes[0].Name)
	}
	return fmt.Sprintf("replace by %s for %d pods; %s → %s", strings.Join(types, ", "), c.Pods, price(c.PriceBefore), price(c.PriceAfter))
}

// emptiness deletes nodes without pods (DaemonSet pods aside) once
// consolidateAfter has passed, whatever the pool's policy.
func (d *decider) emptiness() error {
	for i := range d.in.Nodes {
		n := &d.in.Nodes[i]
		if !d.eligible(n) || len(n.Pods) > 0 || !quiet(n, d.pools[n.Pool].NodePool, d.in.Now) {
			continue
		}
		why := fmt.Sprintf("empty (no pods but DaemonSet pods) for the pool's consolidateAfter (%s)", consolidateAfter(d.pools[n.Pool].NodePool))
		if d.awaited(n, Emptiness, why) {
			continue
		}
		if r, msg := Blocked(n, d.pdbs); r != "" {
			d.refuse(n, Emptiness, r, why+"; but "+msg)
			continue
		}
		if ok, msg := d.budget(n.Pool, provisionerv1.DisruptionReasonEmpty); !ok {
			d.refuse(n, Emptiness, RefusedBudget, why+"; but "+msg)
			continue
		}
		cmd := Command{Method: Emptiness, Reason: provisionerv1.DisruptionReasonEmpty, Candidates: []string{n.Claim}, PriceBefore: n.Price}
		cmd.Message = why + "; " + moveText(&cmd)
		d.apply(cmd, map[string]bool{n.Claim: true}, nil)
	}
	return nil
}

func consolidateAfter(np *provisionerv1.NodePool) string {
	if np.Spec.Disruption.ConsolidateAfter == "" {
		return "0s"
	}
	return string(np.Spec.Disruption.ConsolidateAfter)
}

// Threshold is the least saving, USD per hour, a consolidation of nodes
// of np priced before, evicting pods, must bring: the largest of
// minimumSavings' fraction × before, perHour and perPod × pods (0 unset).
func Threshold(np *provisionerv1.NodePool, before float64, pods int) float64 {
	ms := np.Spec.Disruption.MinimumSavings
	if ms == nil {
		return 0
	}
	num := func(s string) float64 {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0
		}
		return f
	}
	return max(num(ms.Fraction)*before, num(ms.PerHour), num(ms.PerPod)*float64(pods))
}
