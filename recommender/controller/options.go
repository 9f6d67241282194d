package controller

import (
	"fmt"
	"time"

	"github.com/tailor-dev/tailor/recommender/logic"
	"github.com/tailor-dev/tailor/recommender/model"
	"github.com/tailor-dev/tailor/scaler/coordination"
)

// Options configure the recommender.
type Options struct {
	// Interval is the sync period: how often usage is read and
	// recommendations written (upstream's default 1m).
	Interval time.Duration
	// HandleUnnamed: also handle VPAs whose spec.recommenders is empty.
	HandleUnnamed bool
	// Scope is the namespaces this installation acts in
	// (coordination.Scope.OptedIn); set by cmd/tailor.
	Scope coordination.Scope
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
