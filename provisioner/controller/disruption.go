package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/disruption"
	"github.com/tailor-dev/tailor/provisioner/scheduling"
	"github.com/tailor-dev/tailor/scaler/loop"
)

// The disruption loop (leader only). Every DisruptionInterval it moves
// the running commands on from what the API server shows, then asks the
// pure decision (provisioner/disruption) for new ones and starts them.
//
// A command lives in the API server, so a restarted Tailor resumes or
// rolls it back and never does it twice: each candidate NodeClaim carries
// the annotation tailor.dev/disruption (the command's id, method,
// replacements and prices) and the condition Disrupting, each replacement
// tailor.dev/replaces. Its phases:
//
//  1. launching: the candidates are marked, then the replacements created;
//     a replacement that is gone (insufficient capacity, registration
//     timeout, never created before a crash) rolls the command back;
//  2. validating: every replacement initialized, the candidates' nodes are
//     tainted tailor.dev/disrupted:NoSchedule; after DisruptionValidation
//     the candidates are checked again (do-not-disrupt, pods not Running,
//     PDBs) — a failed check rolls back, untainting them;
//  3. draining: the candidates' NodeClaims are deleted; their finalizer
//     drains through the Eviction API and terminates the instances;
//  4. done when the candidates are gone: tailor.dev/replaces is removed.

// disruptionRecord is the tailor.dev/disruption annotation.
type disruptionRecord struct {
	ID           string   `json:"id"`
	Method       string   `json:"method"`
	Reason       string   `json:"reason,omitempty"`
	Candidates   []string `json:"candidates"`
	Replacements []string `json:"replacements,omitempty"`
	PriceBefore  float64  `json:"priceBefore"`
	PriceAfter   float64  `json:"priceAfter"`
	Message      string   `json:"message,omitempty"`
	// TaintedAt is when the candidates were tainted (RFC 3339).
	TaintedAt string `json:"taintedAt,omitempty"`
}

func recordOf(nc *provisionerv1.NodeClaim) (*disruptionRecord, bool) {
	s, ok := nc.Annotations[provisionerv1.AnnotationDisruption]
	if !ok {
		return nil, false
	}
	r := &disruptionRecord{}
	if err := json.Unmarshal([]byte(s), r); err != nil || r.ID == "" {
		// Unreadable: a command of unknown shape; treated as one of its own,
		// rolled back.
		return &disruptionRecord{ID: "unreadable-" + nc.Name, Candidates: []string{nc.Name}, Method: "unknown"}, true
	}
	return r, true
}

type disrupter struct {
	opts        Options
	client      client.Client
	recorder    recorder.EventRecorder
	log         logr.Logger
	now         func() time.Time
	provisioner *Provisioner
	// told: per claim, the refusal last told (one Event per change).
	told map[string]string
	// offset moves single-node consolidation on, pass after pass.
	offset int
}

// NeedLeaderElection: one disrupter per cluster.
func (d *disrupter) NeedLeaderElection() bool { return true }

// Start runs a pass every DisruptionInterval until ctx ends.
func (d *disrupter) Start(ctx context.Context) error {
	d.log.Info("disruption started", "interval", d.opts.DisruptionInterval, "validation", d.opts.DisruptionValidation)
	tick := time.NewTicker(d.opts.DisruptionInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		start := d.now()
		var err error
		if gerr := loop.Guard("disruption", d.log, func() { err = d.pass(ctx) }); gerr != nil {
			err = gerr
		}
		disruptionPassDuration.Observe(d.now().Sub(start).Seconds())
		if err != nil && ctx.Err() == nil {
			d.log.Error(err, "disruption pass")
		}
	}
}

// cluster is what one pass reads from the caches.
type cluster struct {
	claims  []provisionerv1.NodeClaim
	byName  map[string]*provisionerv1.NodeClaim
	nodes   map[string]*corev1.Node // by name
	pods    map[string][]*corev1.Pod
	pools   map[string]*provisionerv1.NodePool
	classes map[string]string // AWSNodeClass name → spec hash
	pdbs    []*policyv1.PodDisruptionBudget
	in      disruption.Input
}

func (d *disrupter) read(ctx context.Context) (*cluster, error) {
	var claims provisionerv1.NodeClaimList
	var nodes corev1.NodeList
	var pods corev1.PodList
	var pools provisionerv1.NodePoolList
	var classes provisionerv1.AWSNodeClassList
	var pdbs policyv1.PodDisruptionBudgetList
	var dss appsv1.DaemonSetList
	for _, l := range []client.ObjectList{&claims, &nodes, &pods, &pools, &classes, &pdbs, &dss} {
		if err := d.client.List(ctx, l); err != nil {
			return nil, fmt.Errorf("list: %w", err)
		}
	}
	// Nodes of any installation's claims are nobody's spare room; of the
	// claims, only this installation's are candidates (--nodepool-selector).
	claimed := map[string]bool{}
	for i := range claims.Items {
		if name := claims.Items[i].Status.NodeName; name != "" {
			claimed[name] = true
		}
	}
	claims.Items = ownClaims(d.opts.Pools, claims.Items, pools.Items)
	c := &cluster{claims: claims.Items, byName: map[string]*provisionerv1.NodeClaim{}, nodes: map[string]*corev1.Node{},
		pods: map[string][]*corev1.Pod{}, classes: map[string]string{}}
	for i := range claims.Items {
		c.byName[claims.Items[i].Name] = &claims.Items[i]
	}
	for i := range nodes.Items {
		c.nodes[nodes.Items[i].Name] = &nodes.Items[i]
	}
	for i := range pods.Items {
		if p := &pods.Items[i]; p.Spec.NodeName != "" && !terminal(p) {
			c.pods[p.Spec.NodeName] = append(c.pods[p.Spec.NodeName], p)
		}
	}
	for i := range classes.Items {
		c.classes[classes.Items[i].Name] = disruption.NodeClassHash(&classes.Items[i].Spec)
	}
	for i := range pdbs.Items {
		c.pdbs = append(c.pdbs, &pdbs.Items[i])
	}
	c.in = disruption.Input{Now: d.now(), PDBs: c.pdbs, DaemonSetPods: daemonSetPods(dss.Items)}
	c.in.Pools, c.pools = d.provisioner.poolsOf(ctx, pools.Items, claims.Items)
	for i := range claims.Items {
		nc := &claims.Items[i]
		if nc.Labels[provisionerv1.LabelNodePool] == "" || !isTrue(nc, provisionerv1.ConditionLaunched) {
			continue
		}
		c.in.Nodes = append(c.in.Nodes, d.nodeOf(c, nc))
	}
	foreign := map[string]bool{} // pools of other installations
	for i := range pools.Items {
		if !d.opts.Pools.Pool(&pools.Items[i]) {
			foreign[pools.Items[i].Name] = true
		}
	}
	for _, node := range c.nodes {
		// Another installation's pool's nodes (an Auto Scaling group's,
		// say) are not room to move pods to: it may remove them.
		if !claimed[node.Name] && node.Labels[provisionerv1.LabelNodeClaim] == "" && node.DeletionTimestamp == nil && !foreign[node.Labels[provisionerv1.LabelNodePool]] {
			c.in.Others = append(c.in.Others, scheduling.NodeFromCore(node, c.pods[node.Name]))
		}
	}
	sort.Slice(c.in.Others, func(i, j int) bool { return c.in.Others[i].Name < c.in.Others[j].Name })
	return c, nil
}

// nodeOf describes a launched claim for the decision.
func (d *disrupter) nodeOf(c *cluster, nc *provisionerv1.NodeClaim) disruption.Node {
	price, _ := strconv.ParseFloat(nc.Status.PricePerHour, 64)
	n := disruption.Node{
		Claim: nc.Name, Pool: nc.Labels[provisionerv1.LabelNodePool], Price: price,
		Created: nc.CreationTimestamp.Time, LastPodEvent: nc.Status.LastPodEventTime.Time,
		Disrupting:   nc.DeletionTimestamp != nil || nc.Annotations[provisionerv1.AnnotationDisruption] != "",
		Replacement:  nc.Annotations[provisionerv1.AnnotationReplaces] != "",
		DoNotDisrupt: disruption.DoNotDisrupt(nc.Annotations),
		Nominated:    d.provisioner.hasNominated(nc.Name),
	}
	if n.LastPodEvent.IsZero() {
		n.LastPodEvent = n.Created
	}
	n.ExpireAfter, _ = disruption.ExpireAfter(nc)
	node := c.nodes[nc.Status.NodeName]
	if node == nil {
		n.Node, _ = scheduling.NodeFromClaim(nc, nil)
		return n
	}
	n.Initialized = isTrue(nc, provisionerv1.ConditionInitialized)
	if c := meta.FindStatusCondition(nc.Status.Conditions, provisionerv1.ConditionInterrupted); c != nil && c.Status == metav1.ConditionTrue {
		n.Interrupted = c.Message
	}
	n.Disrupting = n.Disrupting || node.DeletionTimestamp != nil
	n.DoNotDisrupt = n.DoNotDisrupt || disruption.DoNotDisrupt(node.Annotations)
	n.Node = scheduling.NodeFromCore(node, c.pods[node.Name])
	if !n.Initialized {
		n.Node.InFlight = true
	}
	for _, pod := range c.pods[node.Name] {
		if disruption.Reschedulable(pod) {
			n.Pods = append(n.Pods, pod)
		}
	}
	if np := c.pools[n.Pool]; np != nil {
		class := ""
		if ref := np.Spec.Template.Spec.NodeClassRef; ref != nil {
			class = c.classes[ref.Name]
		}
		n.Drifted = disruption.DriftReason(np, nc, node, class)
	}
	return n
}

// pass: move running commands on, keep conditions, decide, start.
func (d *disrupter) pass(ctx context.Context) error {
	c, err := d.read(ctx)
	if err != nil {
		return err
	}
	running := map[string][]*provisionerv1.NodeClaim{}
	records := map[string]*disruptionRecord{}
	for i := range c.claims {
		if r, ok := recordOf(&c.claims[i]); ok {
			running[r.ID] = append(running[r.ID], &c.claims[i])
			records[r.ID] = r
		}
	}
	phases := map[string]float64{"launching": 0, "validating": 0, "draining": 0}
	ids := make([]string, 0, len(running))
	for id := range running {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		phase, err := d.progress(ctx, c, records[id], running[id])
		if err != nil {
			d.log.Error(err, "disruption command", "command", id)
		}
		phases[phase]++
	}
	for p, n := range phases {
		disruptionCommands.WithLabelValues(p).Set(n)
	}
	d.finish(ctx, c, running)
	d.conditions(ctx, c)
	c.in.Options = disruption.DefaultOptions()
	c.in.Options.Offset = d.offset
	d.offset++
	dec, err := disruption.Decide(c.in)
	if err != nil {
		return fmt.Errorf("decide: %w", err)
	}
	for i := range dec.Commands {
		if err := d.start(ctx, c, &dec.Commands[i]); err != nil {
			d.log.Error(err, "start disruption command", "candidates", dec.Commands[i].Candidates)
		}
	}
	d.refusals(ctx, c, dec.Refusals, dec.Deferred)
	return nil
}

// conditions keeps Drifted and Expired on the claims, and records the
// hashes on claims made before they were recorded (not drifted, then).
func (d *disrupter) conditions(ctx context.Context, c *cluster) {
	for i := range c.in.Nodes {
		n := &c.in.Nodes[i]
		nc := c.byName[n.Claim]
		if nc.DeletionTimestamp != nil {
			continue
		}
		if np := c.pools[n.Pool]; np != nil && nc.Annotations[provisionerv1.AnnotationNodePoolHash] == "" {
			patched := nc.DeepCopy()
			if patched.Annotations == nil {
				patched.Annotations = map[string]string{}
			}
			d.provisioner.stampHashes(ctx, patched, np)
			if err := d.client.Patch(ctx, patched, client.MergeFrom(nc)); err != nil {
				d.log.Error(err, "record hashes", "nodeclaim", nc.Name)
			}
			continue
		}
		status := nc.Status.DeepCopy()
		if n.Drifted != "" {
			setCondition(status, provisionerv1.ConditionDrifted, metav1.ConditionTrue, "Drifted", n.Drifted)
		} else {
			meta.RemoveStatusCondition(&status.Conditions, provisionerv1.ConditionDrifted)
		}
		if at, ok := disruption.ExpiresAt(nc); ok && !c.in.Now.Before(at) {
			setCondition(status, provisionerv1.ConditionExpired, metav1.ConditionTrue, "Expired", fmt.Sprintf("created %s, expireAfter %s", nc.CreationTimestamp.UTC().Format(time.RFC3339), nc.Spec.ExpireAfter))
		} else {
			meta.RemoveStatusCondition(&status.Conditions, provisionerv1.ConditionExpired)
		}
		if err := d.patchStatus(ctx, nc, status); err != nil {
			d.log.V(1).Info("conditions", "nodeclaim", nc.Name, "error", err.Error())
		}
	}
}

func (d *disrupter) patchStatus(ctx context.Context, nc *provisionerv1.NodeClaim, status *provisionerv1.NodeClaimStatus) error {
	if conditionsEqual(nc.Status.Conditions, status.Conditions) {
		return nil
	}
	patched := nc.DeepCopy()
	patched.Status = *status
	err := d.client.Status().Patch(ctx, patched, client.MergeFromWithOptions(nc, client.MergeFromWithOptimisticLock{}))
	if err != nil {
		return client.IgnoreNotFound(err)
	}
	*nc = *patched
	return nil
}

func conditionsEqual(a, b []metav1.Condition) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		y := meta.FindStatusCondition(b, x.Type)
		if y == nil || y.Status != x.Status || y.Reason != x.Reason || y.Message != x.Message {
			return false
		}
	}
	return true
}

// setDisrupting sets the Disrupting condition, optimistically locked.
func (d *disrupter) setDisrupting(ctx context.Context, nc *provisionerv1.NodeClaim, s metav1.ConditionStatus, reason, msg string) {
	status := nc.Status.DeepCopy()
	setCondition(status, provisionerv1.ConditionDisrupting, s, reason, truncate(msg, 1000))
	if err := d.patchStatus(ctx, nc, status); err != nil {
		d.log.V(1).Info("Disrupting condition", "nodeclaim", nc.Name, "error", err.Error())
	}
}

// tell gives an Event on the claim and on its node (related to the claim,
// so that a new note after a change of the claim is a new Event).
func (d *disrupter) tell(c *cluster, nc *provisionerv1.NodeClaim, typ, reason, format string, args ...any) {
	d.recorder.Eventf(nc, nil, typ, reason, "Disrupt", format, args...)
	if node := c.nodes[nc.Status.NodeName]; node != nil {
		d.recorder.Eventf(node, nc, typ, reason, "Disrupt", format, args...)
	}
}

// start marks the candidates, then creates the replacements.
func (d *disrupter) start(ctx context.Context, c *cluster, cmd *disruption.Command) error {
	method := string(cmd.Method)
	if i := strings.Index(method, "_"); i > 0 {
		method = method[:i]
	}
	rec := &disruptionRecord{ID: method + "-" + suffix(), Method: string(cmd.Method), Reason: string(cmd.Reason), Candidates: cmd.Candidates,
		PriceBefore: cmd.PriceBefore, PriceAfter: cmd.PriceAfter, Message: cmd.Message}
	var reps []*provisionerv1.NodeClaim
	for _, r := range cmd.Replacements {
		np := c.pools[r.Pool]
		nc := newNodeClaim(np, r, np.Name+"-"+suffix(), d.opts.MaxInstanceTypes)
		d.provisioner.stampHashes(ctx, nc, np)
		nc.Annotations[provisionerv1.AnnotationReplaces] = rec.ID
		reps = append(reps, nc)
		rec.Replacements = append(rec.Replacements, nc.Name)
	}
	body, _ := json.Marshal(rec)
	var marked []*provisionerv1.NodeClaim
	for _, name := range cmd.Candidates {
		nc := c.byName[name]
		patched := nc.DeepCopy()
		if patched.Annotations == nil {
			patched.Annotations = map[string]string{}
		}
		patched.Annotations[provisionerv1.AnnotationDisruption] = string(body)
		if err := d.client.Patch(ctx, patched, client.MergeFromWithOptions(nc, client.MergeFromWithOptimisticLock{})); err != nil {
			d.unmark(ctx, marked)
			return fmt.Errorf("mark %s: %w", name, err)
		}
		marked = append(marked, patched)
	}
	for _, nc := range reps {
		if err := d.client.Create(ctx, nc); err != nil {
			// The marks stay: the next pass finds the replacement missing
			// and rolls the command back, as after a crash here.
			return fmt.Errorf("create replacement: %w", err)
		}
	}
	decision := cmd.Action()
	disruptionDecisions.WithLabelValues(string(cmd.Method), decision, budgetReason(cmd.Method, cmd.Reason)).Inc()
	if b := cmd.Balanced; b != nil {
		consolidationScores.WithLabelValues(b.NodePool, "approved").Observe(b.Score)
	}
	for _, nc := range marked {
		delete(d.told, nc.Name)
		phase := "launching replacements " + strings.Join(rec.Replacements, ", ")
		if len(reps) == 0 {
			phase = "no replacement needed"
		}
		d.setDisrupting(ctx, nc, metav1.ConditionTrue, "Launching", fmt.Sprintf("%s (command %s): %s; %s", cmd.Method, rec.ID, cmd.Message, phase))
		d.tell(c, nc, corev1.EventTypeNormal, "DisruptionStarted", "%s %s (command %s): %s; price %s → %s",
			cmd.Method, decision, rec.ID, cmd.Message, dollars(cmd.PriceBefore), dollars(cmd.PriceAfter))
	}
	d.log.Info("disruption command started", "command", rec.ID, "method", cmd.Method, "candidates", cmd.Candidates,
		"replacements", rec.Replacements, "priceBefore", cmd.PriceBefore, "priceAfter", cmd.PriceAfter, "message", cmd.Message)
	if len(reps) == 0 {
		// Nothing to wait for: on to the taint now.
		_, err := d.progress(ctx, c, rec, marked)
		return err
	}
	return nil
}

func budgetReason(m disruption.Method, r provisionerv1.DisruptionReason) string {
	switch {
	case m == disruption.Interruption:
		return "Interrupted"
	case r == "":
		return "Expired"
	}
	return string(r)
}

func dollars(p float64) string { return "$" + formatPrice(p) + "/h" }

// unmark removes the record from claims (no other change was made); the
// claims are updated in place, so a status patch after it is not refused
// as a conflict.
func (d *disrupter) unmark(ctx context.Context, claims []*provisionerv1.NodeClaim) {
	for _, nc := range claims {
		patched := nc.DeepCopy()
		delete(patched.Annotations, provisionerv1.AnnotationDisruption)
		if err := d.client.Patch(ctx, patched, client.MergeFrom(nc)); err != nil {
			if !apierrors.IsNotFound(err) {
				d.log.Error(err, "unmark", "nodeclaim", nc.Name)
			}
			continue
		}
		*nc = *patched
	}
}

// progress moves one command on; it returns its phase.
func (d *disrupter) progress(ctx context.Context, c *cluster, rec *disruptionRecord, cands []*provisionerv1.NodeClaim) (string, error) {
	log := d.log.WithValues("command", rec.ID, "method", rec.Method)
	draining := len(cands) < len(rec.Candidates)
	for _, nc := range cands {
		draining = draining || nc.DeletionTimestamp != nil
	}
	if draining {
		if err := d.drain(ctx, c, rec, cands); err != nil {
			return "draining", err
		}
		return "draining", nil
	}
	if rec.Method == "unknown" {
		return "launching", d.rollback(ctx, c, rec, cands, "blocked", "its record is unreadable")
	}
	for _, name := range rec.Replacements {
		r := c.byName[name]
		switch {
		case r == nil:
			return "launching", d.rollback(ctx, c, rec, cands, "replacement_failed",
				fmt.Sprintf("replacement %s is gone (out of capacity, timed out registering, or never created)", name))
		case r.DeletionTimestamp != nil:
			return "launching", d.rollback(ctx, c, rec, cands, "replacement_failed", fmt.Sprintf("replacement %s is being deleted", name))
		case !isTrue(r, provisionerv1.ConditionInitialized):
			return "launching", nil
		}
	}
	// Every replacement is up: check the candidates again, taint them, and
	// after the validation period check again and drain.
	// An interrupted instance goes whatever Tailor does: no re-check that
	// would keep it, no validation period (the drain still goes through
	// the Eviction API).
	urgent := rec.Method == string(disruption.Interruption)
	for _, nc := range cands {
		if urgent {
			break
		}
		n := d.nodeOf(c, nc)
		if reason, msg := disruption.Blocked(&n, disruption.NewPDBs(c.pdbs)); reason != "" {
			return "validating", d.rollback(ctx, c, rec, cands, "blocked", "candidate "+nc.Name+": "+msg)
		}
		if rec.Method == string(disruption.Emptiness) && len(n.Pods) > 0 {
			return "validating", d.rollback(ctx, c, rec, cands, "blocked", fmt.Sprintf("candidate %s is no longer empty: pod %s/%s arrived", nc.Name, n.Pods[0].Namespace, n.Pods[0].Name))
		}
	}
	if rec.TaintedAt == "" {
		for _, nc := range cands {
			if err := d.taint(ctx, c.nodes[nc.Status.NodeName], true); err != nil {
				return "validating", err
			}
		}
		rec.TaintedAt = d.now().UTC().Format(time.RFC3339Nano)
		body, _ := json.Marshal(rec)
		for i, nc := range cands {
			patched := nc.DeepCopy()
			patched.Annotations[provisionerv1.AnnotationDisruption] = string(body)
			if err := d.client.Patch(ctx, patched, client.MergeFrom(nc)); err != nil {
				return "validating", err
			}
			cands[i] = patched
			d.setDisrupting(ctx, patched, metav1.ConditionTrue, "Validating",
				fmt.Sprintf("%s (command %s): tainted %s:NoSchedule; drains after %s if nothing changed", rec.Method, rec.ID, provisionerv1.TaintDisrupted, d.opts.DisruptionValidation))
			d.tell(c, nc, corev1.EventTypeNormal, "Tainted", "tainted %s:NoSchedule (command %s); drains in %s unless it must stay", provisionerv1.TaintDisrupted, rec.ID, d.opts.DisruptionValidation)
		}
		log.Info("candidates tainted", "candidates", rec.Candidates)
		if rec.Method != string(disruption.Emptiness) && !urgent {
			return "validating", nil
		}
		// An empty node has no pods to move: checked again just above
		// (a pod that arrived rolls it back), it drains at once.
	}
	tainted, err := time.Parse(time.RFC3339Nano, rec.TaintedAt)
	if err == nil && rec.Method != string(disruption.Emptiness) && !urgent && d.now().Before(tainted.Add(d.opts.DisruptionValidation)) {
		return "validating", nil
	}
	return "draining", d.drain(ctx, c, rec, cands)
}

// drain deletes the candidates (their finalizer drains and terminates).
// The saving counts when the first of them goes.
func (d *disrupter) drain(ctx context.Context, c *cluster, rec *disruptionRecord, cands []*provisionerv1.NodeClaim) error {
	first := len(cands) == len(rec.Candidates)
	for _, nc := range cands {
		first = first && nc.DeletionTimestamp == nil
	}
	for _, nc := range cands {
		if nc.DeletionTimestamp != nil {
			continue
		}
		// Tainted already, unless a crash came between taint and delete.
		if err := d.taint(ctx, c.nodes[nc.Status.NodeName], true); err != nil {
			return err
		}
		d.setDisrupting(ctx, nc, metav1.ConditionTrue, "Draining", fmt.Sprintf("%s (command %s): draining through the Eviction API", rec.Method, rec.ID))
		if err := d.client.Delete(ctx, nc); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		nodeClaimsTerminated.WithLabelValues(nc.Labels[provisionerv1.LabelNodePool], "disrupted").Inc()
		d.tell(c, nc, corev1.EventTypeNormal, "Draining", "%s (command %s): %s; draining", rec.Method, rec.ID, rec.Message)
	}
	if first && len(cands) > 0 {
		disruptionSavings.WithLabelValues(cands[0].Labels[provisionerv1.LabelNodePool], rec.Method).Add(rec.PriceBefore - rec.PriceAfter)
		d.log.Info("disruption command draining", "command", rec.ID, "method", rec.Method, "candidates", rec.Candidates, "saved", rec.PriceBefore-rec.PriceAfter)
	}
	return nil
}

// finish: a replacement whose command has no candidate left is an
// ordinary node from now on.
func (d *disrupter) finish(ctx context.Context, c *cluster, running map[string][]*provisionerv1.NodeClaim) {
	for i := range c.claims {
		r := &c.claims[i]
		id := r.Annotations[provisionerv1.AnnotationReplaces]
		if id == "" || len(running[id]) > 0 {
			continue
		}
		patched := r.DeepCopy()
		delete(patched.Annotations, provisionerv1.AnnotationReplaces)
		if err := d.client.Patch(ctx, patched, client.MergeFrom(r)); err != nil && !apierrors.IsNotFound(err) {
			d.log.Error(err, "finish disruption command", "command", id)
			continue
		}
		d.recorder.Eventf(patched, nil, corev1.EventTypeNormal, "Replaced", "Disrupt", "command %s done: the nodes it replaced are gone", id)
		d.log.Info("disruption command done", "command", id, "replacement", r.Name)
	}
}

// rollback leaves the candidates serving: untainted, unmarked; the
// replacements become ordinary nodes (consolidated later if empty).
func (d *disrupter) rollback(ctx context.Context, c *cluster, rec *disruptionRecord, cands []*provisionerv1.NodeClaim, reason, why string) error {
	for _, nc := range cands {
		if err := d.taint(ctx, c.nodes[nc.Status.NodeName], false); err != nil {
			return err
		}
	}
	for _, name := range rec.Replacements {
		if r := c.byName[name]; r != nil && r.Annotations[provisionerv1.AnnotationReplaces] != "" {
			patched := r.DeepCopy()
			delete(patched.Annotations, provisionerv1.AnnotationReplaces)
			if err := d.client.Patch(ctx, patched, client.MergeFrom(r)); err != nil && !apierrors.IsNotFound(err) {
				return err
			}
		}
	}
	d.unmark(ctx, cands)
	for _, nc := range cands {
		d.setDisrupting(ctx, nc, metav1.ConditionFalse, "RolledBack", fmt.Sprintf("%s (command %s) rolled back: %s", rec.Method, rec.ID, why))
		d.tell(c, nc, corev1.EventTypeWarning, "DisruptionRolledBack", "%s (command %s) rolled back, the node keeps serving untainted: %s (price %s, would have been %s)",
			rec.Method, rec.ID, why, dollars(rec.PriceBefore), dollars(rec.PriceAfter))
	}
	disruptionRollbacks.WithLabelValues(rec.Method, reason).Inc()
	d.log.Info("disruption command rolled back", "command", rec.ID, "method", rec.Method, "why", why)
	return nil
}

// taint puts (or takes off) tailor.dev/disrupted:NoSchedule.
func (d *disrupter) taint(ctx context.Context, node *corev1.Node, on bool) error {
	if node == nil {
		return nil
	}
	t := corev1.Taint{Key: provisionerv1.TaintDisrupted, Effect: corev1.TaintEffectNoSchedule}
	if hasTaint(node.Spec.Taints, t) == on {
		return nil
	}
	patched := node.DeepCopy()
	if on {
		patched.Spec.Taints = append(patched.Spec.Taints, t)
	} else {
		patched.Spec.Taints = patched.Spec.Taints[:0]
		for _, x := range node.Spec.Taints {
			if x.Key != t.Key {
				patched.Spec.Taints = append(patched.Spec.Taints, x)
			}
		}
	}
	if err := d.client.Patch(ctx, patched, client.MergeFromWithOptions(node, client.MergeFromWithOptimisticLock{})); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("taint %s: %w", node.Name, err)
	}
	*node = *patched
	return nil
}

// refusals: per claim, the Disrupting condition (False, Blocked: why) and
// one Event (claim and node) and one count until its refusal changes. The
// condition is written first: client-go's events.k8s.io series are keyed
// on the regarding and related objects' references (resourceVersion
// included) but not on the note, so a new refusal of an unchanged claim
// would only count as a repeat of the last one, under its old note.
func (d *disrupter) refusals(ctx context.Context, c *cluster, refusals []disruption.Refusal, deferred []string) {
	seen := map[string]bool{}
	for _, r := range refusals {
		nc := c.byName[r.Claim]
		if nc == nil || seen[r.Claim] {
			continue
		}
		seen[r.Claim] = true
		msg := string(r.Method) + " refused: " + r.Message + "; price " + dollars(r.PriceBefore)
		if r.Priced {
			msg += fmt.Sprintf(", with the move %s (saving %s)", dollars(r.PriceAfter), dollars(r.PriceBefore-r.PriceAfter))
		}
		if d.told[r.Claim] == msg {
			continue
		}
		if !meta.IsStatusConditionTrue(nc.Status.Conditions, provisionerv1.ConditionDisrupting) {
			status := nc.Status.DeepCopy()
			setCondition(status, provisionerv1.ConditionDisrupting, metav1.ConditionFalse, provisionerv1.ReasonBlocked, truncate(msg, 1000))
			if err := d.patchStatus(ctx, nc, status); err != nil {
				// Told next pass, once the condition is written.
				d.log.V(1).Info("Disrupting condition", "nodeclaim", nc.Name, "error", err.Error())
				continue
			}
		}
		d.told[r.Claim] = msg
		disruptionDecisions.WithLabelValues(string(r.Method), "refused", r.Reason).Inc()
		if b := r.Balanced; b != nil {
			consolidationScores.WithLabelValues(b.NodePool, "rejected").Observe(b.Score)
		}
		d.tell(c, nc, corev1.EventTypeNormal, "DisruptionBlocked", "%s", truncate(msg, 1000))
		d.log.V(1).Info("disruption refused", "nodeclaim", r.Claim, "method", r.Method, "reason", r.Reason, "message", r.Message)
	}
	// A claim the pass did not reach keeps its refusal.
	for _, name := range deferred {
		seen[name] = true
	}
	for name := range d.told {
		if seen[name] {
			continue
		}
		delete(d.told, name)
		// No longer refused (full again, or disrupted): the condition
		// would only mislead.
		nc := c.byName[name]
		if nc == nil {
			continue
		}
		if cond := meta.FindStatusCondition(nc.Status.Conditions, provisionerv1.ConditionDisrupting); cond != nil && cond.Reason == provisionerv1.ReasonBlocked {
			status := nc.Status.DeepCopy()
			meta.RemoveStatusCondition(&status.Conditions, provisionerv1.ConditionDisrupting)
			if err := d.patchStatus(ctx, nc, status); err != nil {
				d.log.V(1).Info("Disrupting condition", "nodeclaim", nc.Name, "error", err.Error())
			}
		}
	}
}
