package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tailor-dev/tailor/recommender/logic"
	"github.com/tailor-dev/tailor/scaler/loop"
	"github.com/tailor-dev/tailor/scaler/scale"
)

// Sync is one pass over every handled VPA. Errors are logged and counted;
// a pass never fails as a whole.
func (r *Recommender) Sync(ctx context.Context) {
	start := r.now()
	r.pass++
	defer func() { syncDuration.Observe(time.Since(start).Seconds()) }()

	var list vpav1.VerticalPodAutoscalerList
	if err := r.client.List(ctx, &list); err != nil {
		sourceErrorsTotal.WithLabelValues(SourceKubeAPI).Inc()
		loop.ListFailed(r.log, err, "VerticalPodAutoscaler")
		return
	}
	byNS := map[string][]*vpav1.VerticalPodAutoscaler{}
	live := map[types.NamespacedName]bool{}   // handled by Tailor
	exists := map[types.NamespacedName]bool{} // any VPA
	clear(r.vpaUIDs)
	r.optIn.NewPass()
	for i := range list.Items {
		v := &list.Items[i]
		key := types.NamespacedName{Namespace: v.Namespace, Name: v.Name}
		exists[key] = true
		if !r.Handles(v) || v.DeletionTimestamp != nil {
			continue
		}
		if !r.optIn.Allows(ctx, v, "no recommendation from Tailor") {
			continue
		}
		byNS[v.Namespace] = append(byNS[v.Namespace], v)
		live[key] = true
		r.vpaUIDs[key] = v.UID
	}
	namespaces := make([]string, 0, len(byNS))
	for ns := range byNS {
		namespaces = append(namespaces, ns)
	}
	slices.Sort(namespaces)
	for _, ns := range namespaces {
		if ctx.Err() != nil {
			return
		}
		r.syncNamespace(ctx, ns, byNS[ns])
	}
	r.gc(ctx, live, exists)
	if r.now().Sub(r.lastGC) >= r.opts.CheckpointInterval {
		r.collectCheckpoints(ctx, live)
		r.lastGC = r.now()
	}
}

func (r *Recommender) syncNamespace(ctx context.Context, ns string, vpas []*vpav1.VerticalPodAutoscaler) {
	log := r.log.WithValues("namespace", ns)
	var podList corev1.PodList
	if err := r.client.List(ctx, &podList, client.InNamespace(ns)); err != nil {
		sourceErrorsTotal.WithLabelValues(SourceKubeAPI).Inc()
		log.Error(err, "list pods; recommendations kept")
		return
	}
	// The target of each VPA and its live pods.
	type work struct {
		vpa       *vpav1.VerticalPodAutoscaler
		pods      []*corev1.Pod
		targetErr string
		skip      bool
	}
	ws := make([]work, 0, len(vpas))
	anyPods := false
	for _, v := range vpas {
		w := work{vpa: v}
		sel, err := scale.SelectorOf(ctx, r.client, r.scales, v)
		var te scale.TargetError
		switch {
		case errors.As(err, &te):
			w.targetErr = te.Msg
		case err != nil:
			sourceErrorsTotal.WithLabelValues(SourceKubeAPI).Inc()
			log.Error(err, "read VPA target; recommendation kept", "vpa", v.Name)
			w.skip = true
		default:
			w.pods = matching(podList.Items, sel)
			anyPods = anyPods || len(w.pods) > 0
		}
		ws = append(ws, w)
	}
	var usage []metricsv1beta1.PodMetrics
	sourceErr := ""
	if anyPods {
		var err error
		if usage, err = r.source.PodMetrics(ctx, ns); err != nil {
			sourceErr = fmt.Sprintf("reading usage from %s failed: %v", r.srcName, err)
			sourceErrorsTotal.WithLabelValues(r.srcName).Inc()
			log.Error(err, "read usage from "+r.srcName+"; recommendations kept, retrying next pass")
		}
	}
	for _, w := range ws {
		if w.skip {
			continue
		}
		key := types.NamespacedName{Namespace: ns, Name: w.vpa.Name}
		err := loop.Guard("recommender", log.WithValues("vpa", w.vpa.Name), func() {
			r.touch(key, w.pods)
			hist := r.bootstrap(ctx, key, w.pods) // before live samples: time order
			if sourceErr == "" && len(w.pods) > 0 {
				r.ingest(key, w.pods, usage, logic.PolicyOf(w.vpa) == logic.PolicyAdaptive)
			}
			r.recommend(ctx, w.vpa, w.pods, w.targetErr, sourceErr, hist)
		})
		if err != nil {
			r.recorder.Eventf(w.vpa, nil, corev1.EventTypeWarning, loop.ReasonInternalError, "Recommend", "recommendation kept as it is this pass: %v", err)
		}
	}
}

// matching returns the pods of the selector that are not finished.
func matching(pods []corev1.Pod, sel labels.Selector) []*corev1.Pod {
	var out []*corev1.Pod
	for i := range pods {
		p := &pods[i]
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed || !sel.Matches(labels.Set(p.Labels)) {
			continue
		}
		out = append(out, p)
	}
	return out
}
