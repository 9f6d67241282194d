package controller

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tailor-dev/tailor/recommender/adaptive"
	"github.com/tailor-dev/tailor/recommender/logic"
	"github.com/tailor-dev/tailor/recommender/model"
)

// Checkpoints are the recommender's memory across restarts, leader changes
// and rollouts: one VerticalPodAutoscalerCheckpoint per (VPA, container),
// named and shaped as upstream's recommender writes them, so history moves
// between upstream VPA and Tailor in both directions.
//
// They are never read through the informer cache: at 100k containers the
// objects (a few KB each) would double the recommender's memory for
// nothing. They are listed page by page from the API server at start and
// on each garbage collection, and written with merge patches.

// checkpointName is upstream's: "<vpa>-<container>".
func checkpointName(vpa, container string) string { return vpa + "-" + container }

// written is what the last successful checkpoint write of an aggregate
// recorded.
type written struct {
	at      time.Time
	samples int64
}

// shutdownBudget bounds the final checkpoint write when the recommender
// stops (within the manager's graceful shutdown timeout).
const shutdownBudget = 10 * time.Second

// checkpointPage is the page size when listing checkpoints.
const checkpointPage = 500

// listCheckpoints lists every checkpoint (all namespaces) page by page.
func (r *Recommender) listCheckpoints(ctx context.Context, f func(*vpav1.VerticalPodAutoscalerCheckpoint)) error {
	opts := []client.ListOption{client.Limit(checkpointPage)}
	for {
		var l vpav1.VerticalPodAutoscalerCheckpointList
		if err := r.reader.List(ctx, &l, opts...); err != nil {
			return err
		}
		for i := range l.Items {
			f(&l.Items[i])
		}
		if l.Continue == "" {
			return nil
		}
		opts = []client.ListOption{client.Limit(checkpointPage), client.Continue(l.Continue)}
	}
}

// loadCheckpoints restores the aggregates of every handled VPA from its
// checkpoints; it runs once when this replica becomes the leader. A
// checkpoint that does not restore (unknown version, corrupt histogram) is
// logged and left for the next write to replace.
func (r *Recommender) loadCheckpoints(ctx context.Context) error {
	var vpas vpav1.VerticalPodAutoscalerList
	if err := r.client.List(ctx, &vpas); err != nil {
		sourceErrorsTotal.WithLabelValues(SourceKubeAPI).Inc()
		return fmt.Errorf("list VPAs to restore checkpoints: %w", err)
	}
	handled := map[types.NamespacedName]bool{}
	adaptivePolicy := map[types.NamespacedName]bool{}
	for i := range vpas.Items {
		if v := &vpas.Items[i]; r.Handles(v) {
			handled[types.NamespacedName{Namespace: v.Namespace, Name: v.Name}] = true
			adaptivePolicy[types.NamespacedName{Namespace: v.Namespace, Name: v.Name}] = logic.PolicyOf(v) == logic.PolicyAdaptive
		}
	}
	now := r.now()
	var ok, bad int
	err := r.listCheckpoints(ctx, func(cp *vpav1.VerticalPodAutoscalerCheckpoint) {
		vpa := types.NamespacedName{Namespace: cp.Namespace, Name: cp.Spec.VPAObjectName}
		if !handled[vpa] || cp.Spec.ContainerName == "" {
			return
		}
		k := model.Key{Namespace: vpa.Namespace, VPA: vpa.Name, Container: cp.Spec.ContainerName}
		if adaptivePolicy[vpa] {
			r.restoreAdaptive(k, cp)
		}
		a := model.NewAggregate(r.set.Params(), now)
		if err := a.Restore(&cp.Status); err != nil {
			bad++
			checkpointOpsTotal.WithLabelValues("restore", "invalid").Inc()
			r.log.Info("checkpoint not restored", "checkpoint", client.ObjectKeyFromObject(cp), "reason", err.Error())
			return
		}
		if a.Expired(now) {
			return // older than the memory window: garbage, collected below
		}
		r.set.Put(k, a)
		r.addContainer(vpa, k.Container)
		r.written[k] = written{at: cp.Status.LastUpdateTime.Time, samples: a.TotalSamples()}
		ok++
		checkpointOpsTotal.WithLabelValues("restore", "ok").Inc()
	})
	if err != nil {
		sourceErrorsTotal.WithLabelValues(SourceKubeAPI).Inc()
		// Partly restored: a retry restores everything again from scratch.
		r.set.Reset()
		clear(r.adaptive)
		clear(r.written)
		clear(r.containers)
		return fmt.Errorf("list checkpoints (%d restored before the error, dropped): %w", ok, err)
	}
	r.log.Info("checkpoints restored", "restored", ok, "invalid", bad, "vpas", len(handled))
	return nil
}

// writeCheckpoints writes the checkpoints that are due — never written, or
// last written more than CheckpointInterval ago with new samples since —
// oldest first, until ctx's deadline. all (at shutdown) writes every
// aggregate with new samples regardless of age.
func (r *Recommender) writeCheckpoints(ctx context.Context, all bool) {
	now := r.now()
	type due struct {
		k    model.Key
		a    *model.Aggregate
		last time.Time
	}
	var ds []due
	r.set.Range(func(k model.Key, a *model.Aggregate) bool {
		w, seen := r.written[k]
		if a.Empty() || (seen && w.samples == a.TotalSamples()) {
			return true
		}
		if all || !seen || now.Sub(w.at) >= r.opts.CheckpointInterval {
			ds = append(ds, due{k, a, w.at})
		}
		return true
	})
	slices.SortFunc(ds, func(a, b due) int { return a.last.Compare(b.last) })
	var n int
	for _, d := range ds {
		if ctx.Err() != nil {
			break
		}
		if err := r.writeCheckpoint(ctx, d.k, d.a, now); err != nil {
			checkpointOpsTotal.WithLabelValues("write", "error").Inc()
			sourceErrorsTotal.WithLabelValues(SourceKubeAPI).Inc()
			r.log.Error(err, "write checkpoint", "vpa", d.k.Namespace+"/"+d.k.VPA, "container", d.k.Container)
			continue
		}
		checkpointOpsTotal.WithLabelValues("write", "ok").Inc()
		r.written[d.k] = written{at: now, samples: d.a.TotalSamples()}
		n++
	}
	if n > 0 || len(ds) > 0 {
		r.log.V(1).Info("checkpoints written", "written", n, "due", len(ds), "final", all)
	}
}

// writeCheckpoint creates or overwrites one checkpoint. The VPA owns it, so
// Kubernetes' garbage collector removes it with the VPA even while Tailor
// is down.
func (r *Recommender) writeCheckpoint(ctx context.Context, k model.Key, a *model.Aggregate, now time.Time) error {
	cp := &vpav1.VerticalPodAutoscalerCheckpoint{
		TypeMeta: metav1.TypeMeta{APIVersion: vpav1.SchemeGroupVersion.String(), Kind: "VerticalPodAutoscalerCheckpoint"},
		ObjectMeta: metav1.ObjectMeta{
			Name: checkpointName(k.VPA, k.Container), Namespace: k.Namespace,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "tailor"},
		},
		Spec:   vpav1.VerticalPodAutoscalerCheckpointSpec{VPAObjectName: k.VPA, ContainerName: k.Container},
		Status: a.Checkpoint(now),
	}
	if uid, ok := r.vpaUIDs[types.NamespacedName{Namespace: k.Namespace, Name: k.VPA}]; ok {
		cp.OwnerReferences = []metav1.OwnerReference{{
			APIVersion: vpav1.SchemeGroupVersion.String(), Kind: "VerticalPodAutoscaler", Name: k.VPA, UID: uid,
		}}
	}
	// The adaptive policy's history rides along as an annotation (upstream
	// ignores it); null removes one a policy change left behind.
	var hist any
	if st := r.adaptive[k]; st != nil {
		h := base64.StdEncoding.EncodeToString(st.Marshal())
		cp.Annotations = map[string]string{AnnotationAdaptiveHistory: h}
		hist = h
	}
	// The status is part of the object (the CRD has no status
	// subresource): one merge patch replaces spec, status and owner.
	body, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"labels": cp.Labels, "ownerReferences": cp.OwnerReferences,
			"annotations": map[string]any{AnnotationAdaptiveHistory: hist}},
		"spec": cp.Spec, "status": cp.Status,
	})
	if err != nil {
		return err
	}
	err = r.client.Patch(ctx, cp.DeepCopy(), client.RawPatch(types.MergePatchType, body))
	if apierrors.IsNotFound(err) {
		err = r.client.Create(ctx, cp)
	}
	return err
}

// AnnotationAdaptiveHistory on a checkpoint holds the adaptive policy's
// history of its container (base64 of recommender/adaptive's versioned
// encoding), for VPAs annotated tailor.dev/policy: adaptive.
const AnnotationAdaptiveHistory = "tailor.dev/adaptive-history"

// restoreAdaptive restores the adaptive history a checkpoint carries; one
// that does not decode (another version or candidate grid, corrupt) is
// logged and counted, and the history starts over.
func (r *Recommender) restoreAdaptive(k model.Key, cp *vpav1.VerticalPodAutoscalerCheckpoint) {
	h, ok := cp.Annotations[AnnotationAdaptiveHistory]
	if !ok {
		return
	}
	data, err := base64.StdEncoding.DecodeString(h)
	var st *adaptive.State
	if err == nil {
		st, err = adaptive.Unmarshal(&r.adaptiveCfg, data)
	}
	if err != nil {
		checkpointOpsTotal.WithLabelValues("restore_adaptive", "invalid").Inc()
		r.log.Info("adaptive history not restored; it starts over", "checkpoint", client.ObjectKeyFromObject(cp), "reason", err.Error())
		return
	}
	r.adaptive[k] = st
	checkpointOpsTotal.WithLabelValues("restore_adaptive", "ok").Inc()
}

// collectCheckpoints deletes the checkpoints no aggregate stands behind:
// those of VPAs that no longer exist (whoever wrote them, as upstream
// does), and, for VPAs Tailor handles, those of containers whose history
// expired. exists holds every VPA in the cluster, handled or not.
func (r *Recommender) collectCheckpoints(ctx context.Context, handled map[types.NamespacedName]bool) {
	var stale []*vpav1.VerticalPodAutoscalerCheckpoint
	err := r.listCheckpoints(ctx, func(cp *vpav1.VerticalPodAutoscalerCheckpoint) {
		vpa := types.NamespacedName{Namespace: cp.Namespace, Name: cp.Spec.VPAObjectName}
		k := model.Key{Namespace: vpa.Namespace, VPA: vpa.Name, Container: cp.Spec.ContainerName}
		if !handled[vpa] || r.set.Get(k) == nil {
			stale = append(stale, cp.DeepCopy())
		}
	})
	if err != nil {
		sourceErrorsTotal.WithLabelValues(SourceKubeAPI).Inc()
		r.log.Error(err, "list checkpoints for garbage collection")
		return
	}
	if len(stale) == 0 {
		return
	}
	// Which VPAs exist is read after the checkpoints, from the API server:
	// a VPA created meanwhile (its checkpoint just written) keeps it.
	var vpas vpav1.VerticalPodAutoscalerList
	if err := r.reader.List(ctx, &vpas); err != nil {
		sourceErrorsTotal.WithLabelValues(SourceKubeAPI).Inc()
		r.log.Error(err, "list VPAs for checkpoint garbage collection; nothing deleted")
		return
	}
	exists := make(map[types.NamespacedName]bool, len(vpas.Items))
	for i := range vpas.Items {
		exists[types.NamespacedName{Namespace: vpas.Items[i].Namespace, Name: vpas.Items[i].Name}] = true
	}
	for _, cp := range stale {
		vpa := types.NamespacedName{Namespace: cp.Namespace, Name: cp.Spec.VPAObjectName}
		if exists[vpa] && !handled[vpa] {
			continue // another recommender's, or a VPA Tailor has not seen yet
		}
		r.deleteCheckpoint(ctx, cp)
	}
}

// deleteCheckpoint deletes cp as it was read: a checkpoint rewritten since
// (another recommender, a new leader) fails the preconditions and stays.
func (r *Recommender) deleteCheckpoint(ctx context.Context, cp *vpav1.VerticalPodAutoscalerCheckpoint) {
	var opts []client.DeleteOption
	if cp.UID != "" {
		opts = append(opts, client.Preconditions{UID: &cp.UID, ResourceVersion: &cp.ResourceVersion})
	}
	err := r.client.Delete(ctx, cp, opts...)
	switch {
	case err == nil:
		checkpointOpsTotal.WithLabelValues("delete", "ok").Inc()
		r.log.Info("checkpoint deleted", "checkpoint", client.ObjectKeyFromObject(cp), "vpa", cp.Spec.VPAObjectName, "container", cp.Spec.ContainerName)
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
	default:
		checkpointOpsTotal.WithLabelValues("delete", "error").Inc()
		r.log.Error(err, "delete checkpoint", "checkpoint", client.ObjectKeyFromObject(cp))
	}
	delete(r.written, model.Key{Namespace: cp.Namespace, VPA: cp.Spec.VPAObjectName, Container: cp.Spec.ContainerName})
}

// dropCheckpoint deletes the checkpoint of an aggregate the recommender
// just dropped (its VPA is gone or its history expired).
func (r *Recommender) dropCheckpoint(ctx context.Context, k model.Key) {
	if _, ok := r.written[k]; !ok {
		return
	}
	cp := &vpav1.VerticalPodAutoscalerCheckpoint{ObjectMeta: metav1.ObjectMeta{Namespace: k.Namespace, Name: checkpointName(k.VPA, k.Container)}}
	cp.Spec = vpav1.VerticalPodAutoscalerCheckpointSpec{VPAObjectName: k.VPA, ContainerName: k.Container}
	r.deleteCheckpoint(ctx, cp)
}
