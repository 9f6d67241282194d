package controller

import (
	"context"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tailor-dev/tailor/recommender/adaptive"
	"github.com/tailor-dev/tailor/recommender/logic"
	"github.com/tailor-dev/tailor/recommender/model"
)

func (r *Recommender) recommend(ctx context.Context, vpa *vpav1.VerticalPodAutoscaler, pods []*corev1.Pod, targetErr, sourceErr string, hist *logic.HistoryCondition) {
	key := types.NamespacedName{Namespace: vpa.Namespace, Name: vpa.Name}
	log := r.log.WithValues("vpa", key)
	var cs []logic.Container
	for name := range r.containers[key] {
		a := r.set.Get(model.Key{Namespace: key.Namespace, VPA: key.Name, Container: name})
		if a == nil || a.Empty() {
			continue
		}
		cs = append(cs, logic.Container{Name: name, Aggregate: a})
	}
	var rec *vpav1.RecommendedPodResources
	var low []string
	if len(cs) > 0 {
		rec = r.rec.Recommend(cs, vpa.Spec.ResourcePolicy, nil)
		recommendationsTotal.Inc()
		if logic.PolicyOf(vpa) == logic.PolicyAdaptive {
			r.applyAdaptive(vpa, key, rec)
		}
		for _, c := range rec.ContainerRecommendations {
			a := r.set.Get(model.Key{Namespace: key.Namespace, VPA: key.Name, Container: c.ContainerName})
			if a != nil && r.rec.LowConfidence(a) {
				low = append(low, c.ContainerName)
			}
		}
	}
	cfg := r.rec.Config()
	status := logic.Status(logic.StatusInput{
		Previous:       vpa.Status,
		Generation:     vpa.Generation,
		Recommendation: rec,
		TargetError:    targetErr,
		SourceError:    sourceErr,
		History:        hist,
		PodsMatched:    len(pods) > 0,
		LowConfidence:  low,
		HistoryNeeded:  min(cfg.ConfidenceIntervalCPU, cfg.ConfidenceIntervalMemory),
		Now:            r.now(),
	})
	// Resources a ReplicaAutoscaler scales the target on leave the
	// recommendation, and a condition says so.
	logic.Hold(&status, r.horizontal(ctx, vpa), r.now())
	if logic.StatusEqual(status, vpa.Status) {
		return
	}
	moves := logic.Moves(vpa.Status.Recommendation, status.Recommendation, MoveEventFraction)
	patched := vpa.DeepCopy()
	patched.Status = status
	if err := r.client.Status().Patch(ctx, patched, client.MergeFrom(vpa)); err != nil {
		if apierrors.IsNotFound(err) {
			return // deleted meanwhile; gc drops its state next pass
		}
		sourceErrorsTotal.WithLabelValues(SourceKubeAPI).Inc()
		log.Error(err, "write VPA status")
		return
	}
	if len(moves) > 0 {
		parts := make([]string, len(moves))
		for i, m := range moves {
			parts[i] = m.String()
		}
		note := "target " + strings.Join(parts, ", ")
		r.recorder.Eventf(patched, nil, corev1.EventTypeNormal, "RecommendationChanged", "Recommend", "%s", note)
		log.Info("recommendation changed", "moves", note, "lowConfidence", low)
	}
	if targetErr != "" {
		log.Info("VPA target cannot be read", "reason", targetErr)
	}
}

// applyAdaptive replaces the targets of rec by the adaptive policy's
// forecast for the coming hour (its history includes the current,
// partial hour), within the container policy's bounds; the bounds widen
// to hold the target.
func (r *Recommender) applyAdaptive(vpa *vpav1.VerticalPodAutoscaler, key types.NamespacedName, rec *vpav1.RecommendedPodResources) {
	next := r.now().Truncate(time.Hour).Add(time.Hour)
	for i := range rec.ContainerRecommendations {
		c := &rec.ContainerRecommendations[i]
		st := r.adaptive[model.Key{Namespace: key.Namespace, VPA: key.Name, Container: c.ContainerName}]
		if st == nil {
			continue
		}
		f, ok := st.Recommend(&r.adaptiveCfg, next)
		if !ok {
			continue
		}
		logic.ApplyTarget(c, vpa.Spec.ResourcePolicy, [2]float64{f.Target[adaptive.CPU], f.Target[adaptive.Memory]})
		adaptiveWindowHours.WithLabelValues("cpu").Observe(float64(f.Window[adaptive.CPU]))
		adaptiveWindowHours.WithLabelValues("memory").Observe(float64(f.Window[adaptive.Memory]))
		r.log.V(1).Info("adaptive target", "vpa", key, "container", c.ContainerName, "target", f.Target,
			"windowHours", f.Window, "seasonal", f.Seasonal, "factor", f.Factor, "missRate", f.MissRate, "deficit", f.Deficit, "scored", f.Scored)
	}
}
