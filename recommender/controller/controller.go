// Package controller runs Tailor's recommender: every sync period it reads
// the VPAs Tailor handles, their target's pods from the informer cache and
// the pods' usage from metrics.k8s.io, feeds the samples and OOM kills into
// the model, and writes the recommendation the logic computes to each VPA's
// status. The decisions live in recommender/model, recommender/logic and
// recommender/input; this package only fetches and writes.
package controller

import (
	"context"
	"math"
	"slices"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/tailor-dev/tailor/recommender/adaptive"
	"github.com/tailor-dev/tailor/recommender/logic"
	"github.com/tailor-dev/tailor/recommender/model"
	"github.com/tailor-dev/tailor/recommender/promsource"
	"github.com/tailor-dev/tailor/scaler/loop"
	"github.com/tailor-dev/tailor/scaler/scale"
)

// Name is the recommender name VPAs select Tailor by (spec.recommenders).
const Name = "tailor"

// MoveEventFraction: a target moving by more than this (relative) gets an
// Event on the VPA.
const MoveEventFraction = 0.10

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

	set *model.Set
	rec *logic.Recommender
	// adaptive holds the adaptive policy's history of each container of a
	// VPA annotated tailor.dev/policy: adaptive (recommender/adaptive).
	adaptive    map[model.Key]*adaptive.State
	adaptiveCfg adaptive.Config
	containers  map[types.NamespacedName]map[string]struct{} // VPA -> container names with an aggregate
	pods        map[pcKey]*podContainer
	written     map[model.Key]written              // last checkpoint write per aggregate
	fetched     map[types.NamespacedName]*fetch    // history bootstrap per VPA
	vpaUIDs     map[types.NamespacedName]types.UID // handled VPAs, to own their checkpoints
	optIn       *loop.OptIn
	lastGC      time.Time
	pass        uint64
	now         func() time.Time
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
		adaptive: map[model.Key]*adaptive.State{}, adaptiveCfg: adaptive.Default(),
		containers: map[types.NamespacedName]map[string]struct{}{},
		pods:       map[pcKey]*podContainer{},
		written:    map[model.Key]written{},
		fetched:    map[types.NamespacedName]*fetch{},
		srcName:    SourceMetricsAPI,
		vpaUIDs:    map[types.NamespacedName]types.UID{},
		optIn:      &loop.OptIn{Component: "recommender", Reader: c, Recorder: rec, Scope: o.Scope, Log: log},
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
	// History first: a pass before the checkpoints are restored would
	// overwrite them with a few fresh samples, and a collection would
	// delete those of VPAs not restored yet. So no pass until a full load.
	backoff := wait.Backoff{Duration: time.Second, Factor: 2, Steps: math.MaxInt32, Cap: r.opts.Interval}
	for {
		err := r.loadCheckpoints(ctx)
		if err == nil {
			break
		}
		delay := backoff.Step()
		r.log.Error(err, "cannot restore checkpoints; no recommendation pass until they are", "retryIn", delay)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
	}
	r.lastGC = r.now() // the first collection one interval after a full load
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
