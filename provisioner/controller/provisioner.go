// Package controller runs Tailor's provisioner on the elected leader: it
// batches the pods the scheduler marked Unschedulable, asks the pure solver
// (provisioner/scheduling) where they go — existing nodes, NodeClaims in
// flight, new NodeClaims — and creates the NodeClaims; it then takes each
// NodeClaim through its life (launch through the cloud backend, node
// registration, initialization, emptiness, drain and termination) and keeps
// NodePool status. Decisions are pure functions (decide.go, the solver);
// this package reads caches and writes what they return.
package controller

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/cloud"
	"github.com/tailor-dev/tailor/provisioner/disruption"
	"github.com/tailor-dev/tailor/provisioner/scheduling"
	"github.com/tailor-dev/tailor/scaler/loop"
)

// Event reasons on pods.
const (
	ReasonNominated    = "Nominated"
	ReasonNoPoolFits   = "NoPoolFits"
	ReasonLimitReached = "LimitReached"
)

// Provisioner is the batching and solving runnable (leader only).
type Provisioner struct {
	opts     Options
	client   client.Client
	cloud    cloud.Provider
	recorder recorder.EventRecorder
	log      logr.Logger
	now      func() time.Time

	trigger chan struct{}

	mu sync.Mutex
	// nominated: pending pod → the claim it waits for. Lost on restart,
	// which is fine: in-flight claims are capacity, so the next solve puts
	// the same pods on them again instead of launching anew.
	nominated map[types.UID]string
	// pendingSince: nominated pods' creation, for pending-to-Running.
	pendingSince map[types.UID]time.Time
	// told: the last unschedulable message per pod, so a pod waiting for
	// long gets one Event per change, not one per batch.
	told map[types.UID]string
	// limited: pools that held pods back on a limit at the last solve.
	limited map[string]string
	// gone: consecutive GC checks that found a claim's instance gone.
	gone goneCounter
}

func newProvisioner(c client.Client, cp cloud.Provider, rec recorder.EventRecorder, log logr.Logger, o Options) *Provisioner {
	return &Provisioner{
		opts: o, client: c, cloud: cp, recorder: rec, log: log, now: time.Now,
		trigger:   make(chan struct{}, 1),
		nominated: map[types.UID]string{}, pendingSince: map[types.UID]time.Time{},
		told: map[types.UID]string{}, limited: map[string]string{}, gone: goneCounter{},
	}
}

// NeedLeaderElection: one provisioner per cluster.
func (p *Provisioner) NeedLeaderElection() bool { return true }

// Trigger asks for a batch soon (coalesced).
func (p *Provisioner) Trigger() {
	select {
	case p.trigger <- struct{}{}:
	default:
	}
}

// podHandler watches pods: an unschedulable one starts or extends a batch;
// a nominated one that starts running is measured.
func (p *Provisioner) podHandler() toolscache.ResourceEventHandler {
	on := func(obj any) {
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			return
		}
		if unschedulable(pod) {
			// The scheduler re-marks pods that wait for a nominated claim;
			// only pods not yet provided for open or extend a batch — or
			// pods whose claim is up without them (the scheduler gave its
			// room to other pods): their next step is the solver's, now,
			// not the next tick's.
			p.mu.Lock()
			claim, nominated := p.nominated[pod.UID]
			p.mu.Unlock()
			if !nominated || p.claimInitialized(claim) {
				p.Trigger()
			}
			return
		}
		if pod.Status.Phase == corev1.PodRunning || pod.DeletionTimestamp != nil {
			p.mu.Lock()
			since, ok := p.pendingSince[pod.UID]
			if ok {
				delete(p.pendingSince, pod.UID)
				delete(p.nominated, pod.UID)
				delete(p.told, pod.UID)
			}
			p.mu.Unlock()
			if ok && pod.Status.Phase == corev1.PodRunning {
				pendingToRunning.Observe(p.now().Sub(since).Seconds())
			}
		}
	}
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc:    on,
		UpdateFunc: func(_, n any) { on(n) },
		DeleteFunc: func(obj any) {
			if pod, ok := obj.(*corev1.Pod); ok {
				p.mu.Lock()
				delete(p.pendingSince, pod.UID)
				delete(p.nominated, pod.UID)
				delete(p.told, pod.UID)
				p.mu.Unlock()
			}
		},
	}
}

// claimInitialized reports whether the claim named is Initialized (its
// Node registered and Ready), from the cache.
func (p *Provisioner) claimInitialized(name string) bool {
	nc := &provisionerv1.NodeClaim{}
	if err := p.client.Get(context.Background(), types.NamespacedName{Name: name}, nc); err != nil {
		return false
	}
	return isTrue(nc, provisionerv1.ConditionInitialized)
}

// Start batches and solves until ctx ends: a batch closes after BatchIdle
// without a new trigger, or BatchMax after it opened. A tick every 30 s
// re-solves what is still pending (pools changed, offerings came back).
func (p *Provisioner) Start(ctx context.Context) error {
	p.log.Info("provisioner started", "nodepools", p.opts.Pools.Describe(), "batchIdle", p.opts.BatchIdle, "batchMax", p.opts.BatchMax, "registrationTimeout", p.opts.RegistrationTimeout)
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	gc := time.NewTicker(p.opts.GCInterval)
	defer gc.Stop()
	p.Trigger()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-gc.C:
			if gerr := loop.Guard("provisioner-gc", p.log, func() { p.collect(ctx) }); gerr != nil {
				p.log.Error(gerr, "garbage collection")
			}
			continue
		case <-p.trigger:
		case <-tick.C:
		}
		idle := time.NewTimer(p.opts.BatchIdle)
		max := time.NewTimer(p.opts.BatchMax)
	batch:
		for {
			select {
			case <-ctx.Done():
				idle.Stop()
				max.Stop()
				return nil
			case <-p.trigger:
				if !idle.Stop() {
					<-idle.C
				}
				idle.Reset(p.opts.BatchIdle)
			case <-idle.C:
				break batch
			case <-max.C:
				break batch
			}
		}
		idle.Stop()
		max.Stop()
		// A batch that panics the solver costs that batch, not the process
		// (the NodeClaim and NodePool reconcilers are recovered by
		// controller-runtime); the next trigger solves again.
		var err error
		if gerr := loop.Guard("provisioner", p.log, func() { err = p.Provision(ctx) }); gerr != nil {
			err = gerr
		}
		if err != nil && ctx.Err() == nil {
			p.log.Error(err, "provision")
		}
	}
}

// Provision is one batch: read, solve, create claims, tell.
func (p *Provisioner) Provision(ctx context.Context) error {
	start := p.now()
	in, pools, err := p.input(ctx)
	if err != nil {
		return err
	}
	pendingPods.Set(float64(len(in.Pods)))
	if len(in.Pods) == 0 {
		return nil
	}
	batchSize.Observe(float64(len(in.Pods)))
	res, err := scheduling.Solve(*in)
	solveDuration.Observe(p.now().Sub(start).Seconds())
	if err != nil {
		return fmt.Errorf("solve: %w", err)
	}
	names := make([]string, len(res.Claims))
	for i, c := range res.Claims {
		np := pools[c.Pool]
		nc := newNodeClaim(np, c, np.Name+"-"+suffix(), p.opts.MaxInstanceTypes)
		p.stampHashes(ctx, nc, np)
		if err := p.client.Create(ctx, nc); err != nil {
			p.log.Error(err, "create NodeClaim", "nodepool", c.Pool)
			continue
		}
		names[i] = nc.Name
		types := make([]string, 0, 3)
		for _, it := range c.InstanceTypes[:min(3, len(c.InstanceTypes))] {
			types = append(types, it.Name)
		}
		packing := cmp.Or(np.Spec.Packing, provisionerv1.PackingFirstFit)
		p.recorder.Eventf(nc, nil, corev1.EventTypeNormal, "Created", "Provision", "for %d pending pods (packing %s); cheapest of %d instance types: %s ($%s/h)",
			len(c.Pods), packing, len(c.InstanceTypes), strings.Join(types, ", "), formatPrice(c.Price))
		p.log.Info("NodeClaim created", "nodeclaim", nc.Name, "nodepool", c.Pool, "packing", packing, "pods", len(c.Pods), "instanceTypes", len(c.InstanceTypes), "cheapest", types, "pricePerHour", c.Price)
	}
	now := p.now()
	limited := map[string]string{}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range res.Placements {
		pl := &res.Placements[i]
		pod := pl.Pod
		var claim string
		switch pl.Kind {
		case scheduling.NewClaim:
			claim = names[pl.Claim]
		case scheduling.InFlightNode:
			claim = pl.Node
		case scheduling.Unschedulable:
			// No longer waiting for a claim (one it was nominated to came
			// up without it): its re-marks trigger batches again.
			delete(p.nominated, pod.UID)
			msg := poolReasons(pl)
			for _, pool := range limitBlocked(pl) {
				limited[pool] = pl.PoolReasons[pool]
			}
			if p.told[pod.UID] != msg {
				p.told[pod.UID] = msg
				reason, note := ReasonNoPoolFits, "no pool fits: "
				if len(limitBlocked(pl)) > 0 {
					reason, note = ReasonLimitReached, "limit reached: "
				}
				p.recorder.Eventf(pod, nil, corev1.EventTypeWarning, reason, "Provision", "%s%s", note, truncate(msg, 900))
			}
			continue
		}
		if claim == "" {
			continue
		}
		if p.nominated[pod.UID] != claim {
			p.nominated[pod.UID] = claim
			p.pendingSince[pod.UID] = pod.CreationTimestamp.Time
			delete(p.told, pod.UID)
			pendingToNodeClaim.Observe(now.Sub(pod.CreationTimestamp.Time).Seconds())
			// Related to the claim: a pod nominated again (its first claim
			// failed) gets a new Event, not a repeat of the first one's.
			p.recorder.Eventf(pod, &provisionerv1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: claim}}, corev1.EventTypeNormal, ReasonNominated, "Provision", "nominated to NodeClaim %s", claim)
		}
	}
	p.limited = limited
	return nil
}

// stampHashes records on a new claim the hashes of its pool's template and
// node class, against which drift is judged later.
func (p *Provisioner) stampHashes(ctx context.Context, nc *provisionerv1.NodeClaim, np *provisionerv1.NodePool) {
	nc.Annotations[provisionerv1.AnnotationNodePoolHash] = disruption.PoolHash(np)
	class := &provisionerv1.AWSNodeClass{}
	if ref := np.Spec.Template.Spec.NodeClassRef; ref != nil && p.client.Get(ctx, types.NamespacedName{Name: ref.Name}, class) == nil {
		nc.Annotations[provisionerv1.AnnotationNodeClassHash] = disruption.NodeClassHash(&class.Spec)
	}
}

// limitedPools: pools that held pods back on a limit at the last solve.
func (p *Provisioner) limitedPools() map[string]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.limited
}

// input builds the solver's input from the caches and the cloud.
func (p *Provisioner) input(ctx context.Context) (*scheduling.Input, map[string]*provisionerv1.NodePool, error) {
	var podList corev1.PodList
	if err := p.client.List(ctx, &podList); err != nil {
		return nil, nil, fmt.Errorf("list pods: %w", err)
	}
	var nodeList corev1.NodeList
	if err := p.client.List(ctx, &nodeList); err != nil {
		return nil, nil, fmt.Errorf("list nodes: %w", err)
	}
	var claimList provisionerv1.NodeClaimList
	if err := p.client.List(ctx, &claimList); err != nil {
		return nil, nil, fmt.Errorf("list nodeclaims: %w", err)
	}
	var poolList provisionerv1.NodePoolList
	if err := p.client.List(ctx, &poolList); err != nil {
		return nil, nil, fmt.Errorf("list nodepools: %w", err)
	}
	var dsList appsv1.DaemonSetList
	if err := p.client.List(ctx, &dsList); err != nil {
		return nil, nil, fmt.Errorf("list daemonsets: %w", err)
	}

	in := &scheduling.Input{}
	byNode := map[string][]*corev1.Pod{}
	var pending []*corev1.Pod
	// Only the pods whose pool is this installation's (--nodepool-selector).
	owner := p.opts.Pools.Owner(poolPointers(poolList.Items))
	for i := range podList.Items {
		pod := &podList.Items[i]
		switch {
		case pod.Spec.NodeName != "":
			if !terminal(pod) {
				byNode[pod.Spec.NodeName] = append(byNode[pod.Spec.NodeName], pod)
			}
		case unschedulable(pod) && !daemonSetPod(pod):
			// A DaemonSet pod waits for its own node, never for a new one.
			if ours, _ := owner.Pod(pod); ours {
				pending = append(pending, pod)
			}
		}
	}
	// Another installation's claims are its business; their registered
	// nodes are capacity like any other node.
	claimList.Items = ownClaims(p.opts.Pools, claimList.Items, poolList.Items)
	// Claims not yet initialized are in flight: their capacity counts,
	// with the pods bound to their node and those nominated to them.
	inFlight := map[string]bool{} // claim name
	claimOfNode := map[string]bool{}
	live := map[string]bool{}
	for i := range claimList.Items {
		nc := &claimList.Items[i]
		if nc.DeletionTimestamp != nil {
			if nc.Status.NodeName != "" {
				claimOfNode[nc.Status.NodeName] = true // draining: takes nothing
			}
			continue
		}
		live[nc.Name] = true
		if isTrue(nc, provisionerv1.ConditionInitialized) {
			continue
		}
		inFlight[nc.Name] = true
		if nc.Status.NodeName != "" {
			claimOfNode[nc.Status.NodeName] = true
		}
	}
	p.mu.Lock()
	nominatedTo := map[string][]*corev1.Pod{}
	for _, pod := range pending {
		if c, ok := p.nominated[pod.UID]; ok && inFlight[c] {
			nominatedTo[c] = append(nominatedTo[c], pod)
			continue
		}
		if c, ok := p.nominated[pod.UID]; ok && !live[c] {
			delete(p.nominated, pod.UID) // its claim is gone: solve it again
		}
		in.Pods = append(in.Pods, pod)
	}
	p.mu.Unlock()
	for i := range claimList.Items {
		nc := &claimList.Items[i]
		if nc.DeletionTimestamp != nil || !inFlight[nc.Name] {
			continue
		}
		pods := append(byNode[nc.Status.NodeName], nominatedTo[nc.Name]...)
		if nc.Status.NodeName == "" {
			pods = nominatedTo[nc.Name]
		}
		n, err := scheduling.NodeFromClaim(nc, pods)
		if err != nil {
			p.log.Error(err, "NodeClaim left out of the solve", "nodeclaim", nc.Name)
			continue
		}
		n.Name = nc.Name
		in.Nodes = append(in.Nodes, n)
	}
	for i := range nodeList.Items {
		node := &nodeList.Items[i]
		if node.DeletionTimestamp != nil || claimOfNode[node.Name] {
			continue
		}
		in.Nodes = append(in.Nodes, scheduling.NodeFromCore(node, byNode[node.Name]))
	}
	var pools map[string]*provisionerv1.NodePool
	in.Pools, pools = p.poolsOf(ctx, poolList.Items, claimList.Items)
	in.DaemonSetPods = daemonSetPods(dsList.Items)
	// Deterministic order: oldest first, so a solve is reproducible.
	sort.SliceStable(in.Pods, func(i, j int) bool {
		return in.Pods[i].CreationTimestamp.Before(&in.Pods[j].CreationTimestamp)
	})
	return in, pools, nil
}

// poolsOf are the installation's pools the cloud launches for (ASG pools
// belong to the asg backend), with their instance types and usage, for the solver.
func (p *Provisioner) poolsOf(ctx context.Context, list []provisionerv1.NodePool, claims []provisionerv1.NodeClaim) ([]scheduling.Pool, map[string]*provisionerv1.NodePool) {
	var out []scheduling.Pool
	byName := map[string]*provisionerv1.NodePool{}
	usage := poolUsages(claims)
	for i := range list {
		np := &list[i]
		if np.DeletionTimestamp != nil || !p.opts.Pools.Pool(np) || !cloud.Serves(p.cloud, np) {
			continue
		}
		its, err := p.cloud.InstanceTypes(ctx, np)
		if err != nil {
			p.log.Error(err, "instance types of a pool", "nodepool", np.Name)
			continue
		}
		byName[np.Name] = np
		out = append(out, scheduling.Pool{NodePool: np, InstanceTypes: its, Usage: usage[np.Name]})
	}
	return out, byName
}

// daemonSetPods are one pod per DaemonSet, its template: the overhead a
// new node must have room for.
func daemonSetPods(list []appsv1.DaemonSet) []*corev1.Pod {
	out := make([]*corev1.Pod, 0, len(list))
	for i := range list {
		ds := &list[i]
		out = append(out, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ds.Namespace, Name: ds.Name, Labels: ds.Spec.Template.Labels},
			Spec:       ds.Spec.Template.Spec,
		})
	}
	return out
}

func isTrue(nc *provisionerv1.NodeClaim, cond string) bool {
	for _, c := range nc.Status.Conditions {
		if c.Type == cond {
			return c.Status == metav1.ConditionTrue
		}
	}
	return false
}

func suffix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:5]
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// orphanGrace: an instance is not an orphan while its claim may still be
// on its way into the cache (or its launch status write on the way out).
const orphanGrace = time.Minute

// collect terminates instances whose NodeClaim is gone (a crash between
// launch and the finalizer's termination, or a claim deleted with its
// finalizer removed by hand), and deletes NodeClaims whose instance is
// gone (terminated out of band: by hand, by the Auto Scaling group, by
// EC2, with no interruption message) once InstanceGoneChecks checks in a
// row found it so; the claim's finalizer drains and cleans as usual.
func (p *Provisioner) collect(ctx context.Context) {
	instances, err := p.cloud.List(ctx)
	if err != nil {
		p.log.Error(err, "list instances")
		return
	}
	var claims provisionerv1.NodeClaimList
	if err := p.client.List(ctx, &claims); err != nil {
		p.log.Error(err, "list nodeclaims")
		return
	}
	var pools provisionerv1.NodePoolList
	if err := p.client.List(ctx, &pools); err != nil {
		p.log.Error(err, "list nodepools")
		return
	}
	// An instance with a claim of any installation is no orphan; only this
	// installation's claims are checked for a vanished instance (another's
	// may live in a cloud this one does not see, as the sim cloud's state).
	for _, id := range orphans(instances, claims.Items, p.now(), orphanGrace) {
		if err := p.cloud.Delete(ctx, id); err != nil && !cloud.IsNotFound(err) {
			p.log.Error(err, "terminate orphan instance", "providerID", id)
			continue
		}
		p.log.Info("terminated an instance without NodeClaim", "providerID", id)
	}
	claims.Items = ownClaims(p.opts.Pools, claims.Items, pools.Items)
	suspects := goneSuspects(instances, claims.Items, p.now(), p.opts.InstanceGoneGrace)
	ids := make([]string, 0, len(suspects))
	for id := range suspects {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	checked := map[string]bool{}
	for _, id := range ids {
		_, err := p.cloud.Get(ctx, id)
		switch {
		case cloud.IsNotFound(err):
			checked[suspects[id]] = true
		case err != nil:
			p.log.Error(err, "look up a NodeClaim's instance", "providerID", id, "nodeclaim", suspects[id])
		default:
			checked[suspects[id]] = false
		}
	}
	byName := map[string]*provisionerv1.NodeClaim{}
	for i := range claims.Items {
		byName[claims.Items[i].Name] = &claims.Items[i]
	}
	for _, name := range p.gone.observe(checked, p.opts.InstanceGoneChecks) {
		nc := byName[name]
		p.recorder.Eventf(nc, nil, corev1.EventTypeWarning, "InstanceGone", "Delete",
			"instance %s is terminated or unknown to the cloud (%d checks in a row, no interruption message): deleting the NodeClaim, its node is drained and its pods solved again",
			nc.Status.ProviderID, p.opts.InstanceGoneChecks)
		p.log.Info("instance gone: deleting its NodeClaim", "nodeclaim", name, "providerID", nc.Status.ProviderID)
		if err := p.client.Delete(ctx, nc); err != nil && !apierrors.IsNotFound(err) {
			p.log.Error(err, "delete NodeClaim of a gone instance", "nodeclaim", name)
			continue
		}
		nodeClaimsTerminated.WithLabelValues(nc.Labels[provisionerv1.LabelNodePool], "instance_gone").Inc()
		p.Trigger()
	}
}
