// Package controller runs Tailor's recommender: every sync period it reads
// the VPAs Tailor handles, their target's pods from the informer cache and
// the pods' usage from metrics.k8s.io, feeds the samples and OOM kills into
// the model, and writes the recommendation the logic computes to each VPA's
// status. The decisions live in recommender/model, recommender/logic and
// recommender/input; this package only fetches and writes.
package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	"k8s.io/client-go/rest"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/tailor-dev/tailor/recommender/input"
	"github.com/tailor-dev/tailor/recommender/logic"
	"github.com/tailor-dev/tailor/recommender/model"
	"github.com/tailor-dev/tailor/recommender/promsource"
	"github.com/tailor-dev/tailor/scaler/scale"
)

// Name is the recommender name VPAs select Tailor by (spec.recommenders).
const Name = "tailor"

// MoveEventFraction: a target moving by more than this (relative) gets an
// Event on the VPA.
const MoveEventFraction = 0.10

// Options configure the recommender.
type Options struct {
	// Interval is the sync period: how often usage is read and
	// recommendations written (upstream's default 1m).
	Interval time.Duration
	// HandleUnnamed: also handle VPAs whose spec.recommenders is empty.
	HandleUnnamed bool
	// CheckpointInterval: an aggregate's checkpoint is rewritten at most
	// this often (and at shutdown); stale checkpoints are collected as often.
	CheckpointInterval time.Duration
	// UsageSource is the live usage source: SourceMetricsAPI (default) or
	// SourcePrometheus.
	UsageSource string
	// Model and Logic are the aggregation and recommendation settings;
	// zero values mean upstream's defaults.
	Model *model.Config
	Logic *logic.Config
}

// PodMetricsSource lists the PodMetrics of a namespace (metrics.k8s.io).
type PodMetricsSource interface {
	PodMetrics(ctx context.Context, namespace string) ([]metricsv1beta1.PodMetrics, error)
}

type metricsAPI struct{ c metricsclient.Interface }

func (m metricsAPI) PodMetrics(ctx context.Context, ns string) ([]metricsv1beta1.PodMetrics, error) {
	l, err := m.c.MetricsV1beta1().PodMetricses(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}

// NewMetricsSource returns the metrics.k8s.io source for cfg.
func NewMetricsSource(cfg *rest.Config) (PodMetricsSource, error) {
	c, err := metricsclient.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return metricsAPI{c}, nil
}

// Source label values of tailor_recommender_source_errors_total.
const (
	SourceMetricsAPI = "metrics.k8s.io"
	SourcePrometheus = "prometheus"
	SourceKubeAPI    = "kube-apiserver"
	SourceInvalid    = "invalid_sample"
)

// podContainer is the live state of one container of one pod feeding one
// VPA's aggregate.
type podContainer struct {
	c        *model.Container
	last     time.Time // last usage sample taken
	lastOOM  time.Time
	seenPass uint64
}

type pcKey struct {
	vpa       types.NamespacedName
	pod       types.UID
	container string
}

// Recommender is the leader-elected runnable.
type Recommender struct {
	opts     Options
	client   client.Client // cached reads, status writes
	reader   client.Reader // uncached reads (checkpoints)
	source   PodMetricsSource
	srcName  string             // the live source, for messages and metrics
	history  *promsource.Source // nil: no history bootstrap
	recorder recorder.EventRecorder
	log      logr.Logger
	scales   *scale.Scales // targets known only by their scale subresource; nil: unsupported

	set        *model.Set
	rec        *logic.Recommender
	containers map[types.NamespacedName]map[string]struct{} // VPA -> container names with an aggregate
	pods       map[pcKey]*podContainer
	written    map[model.Key]written              // last checkpoint write per aggregate
	fetched    map[types.NamespacedName]*fetch    // history bootstrap per VPA
	vpaUIDs    map[types.NamespacedName]types.UID // handled VPAs, to own their checkpoints
	lastGC     time.Time
	pass       uint64
	now        func() time.Time
}

// Validate reports settings the recommender cannot run with, before any
// connection is made; withPrometheus says whether a Prometheus server is
// configured (tailor run --prometheus-address).
func (o Options) Validate(withPrometheus bool) error {
	switch o.UsageSource {
	case "", SourceMetricsAPI:
	case SourcePrometheus:
		if !withPrometheus {
			return fmt.Errorf("recommender usage source %q needs --prometheus-address", SourcePrometheus)
		}
	default:
		return fmt.Errorf("recommender usage source %q: want %s or %s", o.UsageSource, SourceMetricsAPI, SourcePrometheus)
	}
	_, _, err := o.build()
	return err
}

func (o Options) build() (*model.Params, *logic.Recommender, error) {
	if o.Interval <= 0 {
		return nil, nil, fmt.Errorf("recommender interval must be positive, got %s", o.Interval)
	}
	if o.CheckpointInterval <= 0 {
		return nil, nil, fmt.Errorf("recommender checkpoint interval must be positive, got %s", o.CheckpointInterval)
	}
	mc, lc := model.Default(), logic.Default()
	if o.Model != nil {
		mc = *o.Model
	}
	if o.Logic != nil {
		lc = *o.Logic
	}
	p, err := model.NewParams(mc)
	if err != nil {
		return nil, nil, fmt.Errorf("recommender: %w", err)
	}
	r, err := logic.New(lc)
	if err != nil {
		return nil, nil, fmt.Errorf("recommender: %w", err)
	}
	return p, r, nil
}

// New returns a recommender; c reads through the informer cache, reader
// straight from the API server.
func New(c client.Client, reader client.Reader, source PodMetricsSource, rec recorder.EventRecorder, log logr.Logger, o Options) (*Recommender, error) {
	p, r, err := o.build()
	if err != nil {
		return nil, err
	}
	return &Recommender{
		opts: o, client: c, reader: reader, source: source, recorder: rec, log: log,
		set: model.NewSet(p), rec: r,
		containers: map[types.NamespacedName]map[string]struct{}{},
		pods:       map[pcKey]*podContainer{},
		written:    map[model.Key]written{},
		fetched:    map[types.NamespacedName]*fetch{},
		srcName:    SourceMetricsAPI,
		vpaUIDs:    map[types.NamespacedName]types.UID{},
		now:        time.Now,
	}, nil
}

// Setup adds the recommender to the manager; it runs on the leader only.
// scales resolves VPA targets known only by their scale subresource; prom
// (nil: none configured) reads the history of VPAs without one and, with
// UsageSource SourcePrometheus, live usage.
func Setup(mgr manager.Manager, o Options, scales *scale.Scales, prom *promsource.Source) error {
	if err := o.Validate(prom != nil); err != nil {
		return err
	}
	var src PodMetricsSource
	var err error
	if o.UsageSource == SourcePrometheus {
		src = prom
	} else if src, err = NewMetricsSource(mgr.GetConfig()); err != nil {
		return err
	}
	r, err := New(mgr.GetClient(), mgr.GetAPIReader(), src, mgr.GetEventRecorder("tailor.dev/recommender"), mgr.GetLogger().WithName("recommender"), o)
	if err != nil {
		return err
	}
	r.history = prom
	if o.UsageSource == SourcePrometheus {
		r.srcName = SourcePrometheus
	}
	r.scales = scales
	return mgr.Add(r)
}

// NeedLeaderElection: one recommender per cluster.
func (r *Recommender) NeedLeaderElection() bool { return true }

// Start restores the checkpoints, runs a pass at once and then every
// interval until ctx ends, and writes the checkpoints a last time.
func (r *Recommender) Start(ctx context.Context) error {
	r.log.Info("recommender started", "interval", r.opts.Interval, "name", Name, "handleUnnamed", r.opts.HandleUnnamed, "checkpointInterval", r.opts.CheckpointInterval)
	r.loadCheckpoints(ctx)
	t := time.NewTicker(r.opts.Interval)
	defer t.Stop()
	for {
		r.Sync(ctx)
		// Checkpoints get what is left of half an interval.
		wctx, cancel := context.WithTimeout(ctx, r.opts.Interval/2)
		r.writeCheckpoints(wctx, false)
		cancel()
		select {
		case <-ctx.Done():
			// The manager keeps the API client usable while leader
			// runnables stop; the lease is released after this returns.
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownBudget)
			r.writeCheckpoints(fctx, true)
			cancel()
			r.log.Info("recommender stopped")
			return nil
		case <-t.C:
		}
	}
}

// Handles reports whether the VPA is Tailor's to recommend for.
func (r *Recommender) Handles(v *vpav1.VerticalPodAutoscaler) bool {
	if len(v.Spec.Recommenders) == 0 {
		return r.opts.HandleUnnamed
	}
	return slices.ContainsFunc(v.Spec.Recommenders, func(s *vpav1.VerticalPodAutoscalerRecommenderSelector) bool {
		return s != nil && s.Name == Name
	})
}

// Sync is one pass over every handled VPA. Errors are logged and counted;
// a pass never fails as a whole.
func (r *Recommender) Sync(ctx context.Context) {
	start := r.now()
	r.pass++
	defer func() { syncDuration.Observe(time.Since(start).Seconds()) }()

	var list vpav1.VerticalPodAutoscalerList
	if err := r.client.List(ctx, &list); err != nil {
		sourceErrorsTotal.WithLabelValues(SourceKubeAPI).Inc()
		if meta.IsNoMatchError(err) {
			r.log.Error(err, "the VerticalPodAutoscaler API is not installed (kubectl apply -f deploy/crds/)")
		} else {
			r.log.Error(err, "list VPAs")
		}
		return
	}
	byNS := map[string][]*vpav1.VerticalPodAutoscaler{}
	live := map[types.NamespacedName]bool{}   // handled by Tailor
	exists := map[types.NamespacedName]bool{} // any VPA
	clear(r.vpaUIDs)
	for i := range list.Items {
		v := &list.Items[i]
		key := types.NamespacedName{Namespace: v.Namespace, Name: v.Name}
		exists[key] = true
		if !r.Handles(v) || v.DeletionTimestamp != nil {
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
		r.collectCheckpoints(ctx, exists, live)
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
		r.touch(key, w.pods)
		hist := r.bootstrap(ctx, key, w.pods) // before live samples: time order
		if sourceErr == "" && len(w.pods) > 0 {
			r.ingest(key, w.pods, usage)
		}
		r.recommend(ctx, w.vpa, w.pods, w.targetErr, sourceErr, hist)
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

// container returns the live state of a pod container feeding vpa's
// aggregate for it, creating both if needed.
func (r *Recommender) container(vpa types.NamespacedName, pod types.UID, name string, now time.Time) *podContainer {
	k := pcKey{vpa, pod, name}
	pc := r.pods[k]
	if pc == nil {
		a := r.set.GetOrCreate(model.Key{Namespace: vpa.Namespace, VPA: vpa.Name, Container: name}, now)
		r.addContainer(vpa, name)
		pc = &podContainer{c: model.NewContainer(a)}
		r.pods[k] = pc
	}
	pc.seenPass = r.pass
	return pc
}

// addContainer records that vpa has an aggregate for the container name.
func (r *Recommender) addContainer(vpa types.NamespacedName, name string) {
	names := r.containers[vpa]
	if names == nil {
		names = map[string]struct{}{}
		r.containers[vpa] = names
	}
	names[name] = struct{}{}
}

func (r *Recommender) ingest(vpa types.NamespacedName, pods []*corev1.Pod, metrics []metricsv1beta1.PodMetrics) {
	now := r.now()
	samples, dropped := input.UsageOf(pods, metrics)
	if dropped.Invalid > 0 {
		sourceErrorsTotal.WithLabelValues(SourceInvalid).Add(float64(dropped.Invalid))
		r.log.Info("dropped invalid usage samples", "vpa", vpa, "count", dropped.Invalid)
	}
	var cpu, mem, ooms int
	for _, s := range samples {
		pc := r.container(vpa, s.Pod, s.Container, now)
		if !s.Time.After(pc.last) {
			continue // the same metrics-server window as last pass
		}
		pc.last = s.Time
		if s.CPUMillicores >= 0 && pc.c.AddCPU(s.Time, s.CPUMillicores, s.CPURequestMillicores) {
			cpu++
		}
		if s.MemoryBytes >= 0 && pc.c.AddMemory(s.Time, s.MemoryBytes) {
			mem++
		}
	}
	for _, o := range input.OOMs(pods) {
		pc := r.container(vpa, o.Pod, o.Container, now)
		if !o.Time.After(pc.lastOOM) {
			continue
		}
		pc.lastOOM = o.Time
		if err := pc.c.RecordOOM(o.Time, o.MemoryRequestBytes); err != nil {
			r.log.Info("OOM kill not recorded", "vpa", vpa, "container", o.Container, "reason", err.Error())
			continue
		}
		ooms++
		r.log.Info("OOM kill recorded", "vpa", vpa, "container", o.Container, "at", o.Time)
	}
	samplesTotal.WithLabelValues("cpu").Add(float64(cpu))
	samplesTotal.WithLabelValues("memory").Add(float64(mem))
	samplesTotal.WithLabelValues("oom").Add(float64(ooms))
}

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

// touch keeps the pod-container state of live pods when no samples were
// taken for them this pass.
func (r *Recommender) touch(vpa types.NamespacedName, pods []*corev1.Pod) {
	for _, p := range pods {
		for _, c := range p.Spec.Containers {
			if pc := r.pods[pcKey{vpa, p.UID, c.Name}]; pc != nil {
				pc.seenPass = r.pass
			}
		}
	}
}

// stalePasses: pod-container state unseen for this many passes (the pod
// is gone, or its namespace could not be listed for a while) is dropped.
const stalePasses = 3

// gc drops the state of VPAs that are gone, of pod containers not seen
// lately, and of aggregates without samples for a whole memory window.
// Checkpoints go with the aggregate when the VPA is gone or the history
// expired; a VPA handed to another recommender keeps them.
func (r *Recommender) gc(ctx context.Context, live, exists map[types.NamespacedName]bool) {
	for k, pc := range r.pods {
		if !live[k.vpa] || r.pass-pc.seenPass >= stalePasses {
			delete(r.pods, k)
		}
	}
	for k := range r.fetched {
		if !live[k] {
			delete(r.fetched, k)
		}
	}
	for vpa, names := range r.containers {
		for name := range names {
			k := model.Key{Namespace: vpa.Namespace, VPA: vpa.Name, Container: name}
			a := r.set.Get(k)
			expired := a == nil || a.Expired(r.now())
			if !live[vpa] || expired {
				r.set.Delete(k)
				delete(names, name)
				if expired || !exists[vpa] {
					r.dropCheckpoint(ctx, k)
				} else {
					delete(r.written, k)
				}
			}
		}
		if len(names) == 0 {
			delete(r.containers, vpa)
		}
	}
}
