package promsource

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// DefaultMaxRegexBytes bounds the pod-name regular expression of one
// history query; longer pod lists are split into several queries. Queries
// are POSTed, so the bound is about keeping each query's cost moderate and
// the GET fallback (for servers that refuse POST) under common URL limits.
const DefaultMaxRegexBytes = 4096

// Source reads container usage from Prometheus. It is safe for concurrent
// use; it keeps no state besides the count of dropped samples.
type Source struct {
	cfg    Config
	labels Labels
	base   []matcher // Config.Selector
	api    v1.API
	now    func() time.Time
	// maxRegexBytes is DefaultMaxRegexBytes but for tests.
	maxRegexBytes int

	mu      sync.Mutex
	dropped Dropped
}

// New validates cfg and returns a Source. It does not contact Prometheus.
func New(cfg Config) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	base, _ := parseMatchers(cfg.Selector) // validated
	transport := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: cfg.Timeout,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
	}
	c, err := api.NewClient(api.Config{Address: cfg.Address, RoundTripper: transport})
	if err != nil {
		return nil, fmt.Errorf("prometheus address %q: %w", cfg.Redacted(), err)
	}
	return &Source{
		cfg: cfg, labels: LabelsOf(cfg), base: base,
		api:           v1.NewAPI(statusClient{c}),
		now:           time.Now,
		maxRegexBytes: DefaultMaxRegexBytes,
	}, nil
}

// Config returns the Source's configuration.
func (s *Source) Config() Config { return s.cfg }

// DroppedTotal is the sum of every sample Live, PodMetrics and History have
// dropped since New: a monotonic count, fit for a Prometheus CounterFunc.
func (s *Source) DroppedTotal() Dropped {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

func (s *Source) count(d Dropped) {
	s.mu.Lock()
	s.dropped.Add(d)
	s.mu.Unlock()
}

// LiveResult is the live usage of a namespace's containers.
type LiveResult struct {
	// Time is the queries' evaluation time; Window the CPU rate window.
	Time   time.Time
	Window time.Duration
	// Containers holds one entry per container with a valid CPU or memory
	// value, sorted by pod and container.
	Containers []ContainerUsage
	// Dropped counts the samples left out; Warnings are Prometheus' own.
	Dropped  Dropped
	Warnings []string
}

// Live reads the current usage of every container in namespace: the CPU
// rate over Config.RateWindow (for series older than the window), the
// memory working set, the time of the last
// scrape and, when configured and present, the CPU throttling ratio. The
// queries run concurrently, each within Config.Timeout; any failure fails
// the call with an *Error.
func (s *Source) Live(ctx context.Context, namespace string) (LiveResult, error) {
	t := s.now().Truncate(time.Millisecond) // Prometheus' resolution
	q := s.liveQueries(namespace)
	r := LiveResult{Time: t, Window: s.cfg.RateWindow}
	var vecs LiveVectors
	targets := []*model.Vector{&vecs.CPU, &vecs.Memory, &vecs.SampleTime, &vecs.Throttled}
	warnings := make([]v1.Warnings, len(q))
	errs := make([]error, len(q))
	var wg sync.WaitGroup
	for i, query := range q {
		if query == "" {
			continue
		}
		wg.Go(func() { *targets[i], warnings[i], errs[i] = s.instant(ctx, query, t) })
	}
	wg.Wait()
	for i := range q {
		if errs[i] != nil {
			return LiveResult{}, errs[i]
		}
		r.Warnings = append(r.Warnings, warnings[i]...)
	}
	r.Containers, r.Dropped = LiveOf(vecs, s.labels, t)
	s.count(r.Dropped)
	return r, nil
}

// PodMetrics is Live as metrics.k8s.io PodMetrics (see PodMetricsOf), so
// that a Source serves as the recommender's PodMetricsSource. What it drops
// is counted in DroppedTotal; throttling is only in Live's result.
func (s *Source) PodMetrics(ctx context.Context, namespace string) ([]metricsv1beta1.PodMetrics, error) {
	r, err := s.Live(ctx, namespace)
	if err != nil {
		return nil, err
	}
	return PodMetricsOf(r.Containers, r.Window), nil
}

// HistoryResult is the usage history of some pods' containers.
type HistoryResult struct {
	// Start and End bound the range; Step is Config.HistoryResolution and
	// CPUWindow the CPU rate window of each point.
	Start, End      time.Time
	Step, CPUWindow time.Duration
	// Series holds one entry per container with at least one valid point,
	// sorted by pod and container.
	Series []Series
	// Dropped counts the samples left out; Warnings are Prometheus' own.
	// Queries counts the range queries made (two per batch of pods).
	Dropped  Dropped
	Warnings []string
	Queries  int
}

// History reads the usage of the named pods' containers over
// [end-Config.HistoryLength, end] (end truncated to milliseconds), one point
// per Config.HistoryResolution:
// CPU as the rate over the step (or over Config.RateWindow if that is
// longer) where the series spans that whole window, memory as the peak
// working set within the step. Long pod lists
// are split into batches of pod=~"a|b|…" queries, run one batch after the
// other, each query within Config.Timeout; any failure fails the call with
// an *Error.
func (s *Source) History(ctx context.Context, namespace string, pods []string, end time.Time) (HistoryResult, error) {
	end = end.Truncate(time.Millisecond) // Prometheus rounds to milliseconds: no point after end
	step := s.cfg.HistoryResolution
	window := max(step, s.cfg.RateWindow)
	r := HistoryResult{Start: end.Add(-s.cfg.HistoryLength), End: end, Step: step, CPUWindow: window}
	rng := v1.Range{Start: r.Start, End: r.End, Step: step}
	for _, re := range podRegexps(pods, s.maxRegexBytes) {
		cpuQ, memQ := s.historyQueries(namespace, re)
		var cpu, mem model.Matrix
		var cw, mw v1.Warnings
		var cerr, merr error
		var wg sync.WaitGroup
		wg.Go(func() { cpu, cw, cerr = s.ranged(ctx, cpuQ, rng) })
		wg.Go(func() { mem, mw, merr = s.ranged(ctx, memQ, rng) })
		wg.Wait()
		r.Queries += 2
		if cerr != nil {
			return HistoryResult{}, cerr
		}
		if merr != nil {
			return HistoryResult{}, merr
		}
		r.Warnings = append(append(r.Warnings, cw...), mw...)
		series, d := HistoryOf(cpu, mem, s.labels)
		s.count(d)
		r.Dropped.Add(d)
		// Batches hold disjoint, sorted pod names: appending keeps the order.
		r.Series = append(r.Series, series...)
	}
	return r, nil
}

// selector renders the label matchers of every query: Config.Selector, the
// namespace, no cgroup aggregates, and extra.
func (s *Source) selector(namespace string, extra ...matcher) string {
	ms := slices.Concat(s.base, []matcher{
		{s.labels.Namespace, "=", namespace},
		{s.labels.Container, "!=", ""},
		{s.labels.Container, "!=", "POD"},
	}, extra)
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = m.String()
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// liveQueries returns the CPU, memory, sample-time and throttling queries
// (the last empty when throttling is off).
func (s *Source) liveQueries(namespace string) [4]string {
	sel, w := s.selector(namespace), "["+promRange(s.cfg.RateWindow)+"]"
	q := [4]string{
		fullRate(s.cfg.CPUMetric+sel, s.cfg.RateWindow),
		s.cfg.MemoryMetric + sel,
		"timestamp(" + s.cfg.CPUMetric + sel + ")",
	}
	if s.cfg.ThrottledPeriodsMetric != "" {
		// A ratio of two rates over the same scrapes needs no full window
		// (both extrapolate alike); idle limited containers have no
		// periods: "> 0" keeps 0/0 out.
		q[3] = "rate(" + s.cfg.ThrottledPeriodsMetric + sel + w + ") / (rate(" + s.cfg.PeriodsMetric + sel + w + ") > 0)"
	}
	return q
}

// historyQueries returns the CPU and memory range queries for the pods
// matching podRE.
func (s *Source) historyQueries(namespace, podRE string) (cpu, mem string) {
	sel := s.selector(namespace, matcher{s.labels.Pod, "=~", podRE})
	return fullRate(s.cfg.CPUMetric+sel, max(s.cfg.HistoryResolution, s.cfg.RateWindow)),
		"max_over_time(" + s.cfg.MemoryMetric + sel + "[" + promRange(s.cfg.HistoryResolution) + "])"
}

// fullRate is the rate of the counter series over window, for series that
// cover the whole window: present at its end (not yet stale) and at its
// start. rate() over a series that starts or stops within the window
// extrapolates by at most half a scrape interval on that side and reads
// low: a 17 s old kwok series at 0.5 cores gave 0.43 over 20 s. A new or
// finished container is better missing for one window than recorded low.
func fullRate(series string, window time.Duration) string {
	w := promRange(window)
	return "rate(" + series + "[" + w + "]) and " + series + " and " + series + " offset " + w
}

// podRegexps returns alternations of the escaped, sorted, distinct pod
// names, each at most maxBytes long (or a single name).
func podRegexps(pods []string, maxBytes int) []string {
	names := slices.Clone(pods)
	slices.Sort(names)
	names = slices.Compact(names)
	var out []string
	var b strings.Builder
	for _, p := range names {
		if p == "" {
			continue
		}
		q := regexp.QuoteMeta(p)
		if b.Len() > 0 && b.Len()+1+len(q) > maxBytes {
			out = append(out, b.String())
			b.Reset()
		}
		if b.Len() > 0 {
			b.WriteByte('|')
		}
		b.WriteString(q)
	}
	if b.Len() > 0 {
		out = append(out, b.String())
	}
	return out
}

// Query runs any instant query at t within Config.Timeout and returns its
// raw result; a failure is an *Error. The scaler's Prometheus metric
// sources use it.
func (s *Source) Query(ctx context.Context, query string, t time.Time) (model.Value, error) {
	v, _, err := s.query(ctx, query, t)
	return v, err
}

func (s *Source) query(ctx context.Context, query string, t time.Time) (model.Value, v1.Warnings, error) {
	return s.do(ctx, query, func(ctx context.Context) (model.Value, v1.Warnings, error) {
		v, w, _, err := s.api.Query(ctx, query, t, v1.WithTimeout(serverTimeout(s.cfg.Timeout)))
		return v, w, err
	})
}

// instant runs an instant query at t that must return a vector.
func (s *Source) instant(ctx context.Context, query string, t time.Time) (model.Vector, v1.Warnings, error) {
	v, w, err := s.query(ctx, query, t)
	if err != nil {
		return nil, w, err
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return nil, w, s.wrongType(query, v, model.ValVector)
	}
	return vec, w, nil
}

// ranged runs a range query that must return a matrix.
func (s *Source) ranged(ctx context.Context, query string, r v1.Range) (model.Matrix, v1.Warnings, error) {
	v, w, err := s.do(ctx, query, func(ctx context.Context) (model.Value, v1.Warnings, error) {
		v, w, _, err := s.api.QueryRange(ctx, query, r, v1.WithTimeout(serverTimeout(s.cfg.Timeout)))
		return v, w, err
	})
	if err != nil {
		return nil, w, err
	}
	m, ok := v.(model.Matrix)
	if !ok {
		return nil, w, s.wrongType(query, v, model.ValMatrix)
	}
	return m, w, nil
}

func (s *Source) wrongType(query string, v model.Value, want model.ValueType) *Error {
	got := "nothing"
	if v != nil {
		got = v.Type().String()
	}
	return &Error{Kind: BadResponse, Address: s.cfg.Redacted(), Query: query, Message: fmt.Sprintf("result is %s, want %s", got, want)}
}

// do runs one query within Config.Timeout and classifies its failure.
func (s *Source) do(parent context.Context, query string, run func(context.Context) (model.Value, v1.Warnings, error)) (model.Value, v1.Warnings, error) {
	ctx, cancel := context.WithTimeout(parent, s.cfg.Timeout)
	defer cancel()
	status := new(int)
	v, w, err := run(context.WithValue(ctx, statusKey{}, status))
	if err != nil {
		return nil, w, classify(parent, s.cfg.Redacted(), query, s.cfg.Timeout, *status, err)
	}
	return v, w, nil
}

// serverTimeout is the query's timeout parameter: the client formats it
// with Duration.String, and Prometheus reads neither "1.5s" nor
// sub-millisecond amounts, so longer timeouts are rounded up to seconds.
// The client-side timeout is exact and ends the query first.
func serverTimeout(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return (d + time.Second - 1).Truncate(time.Second)
}

// statusClient records the HTTP status of each request in the *int its
// context carries under statusKey, for error messages.
type statusClient struct{ api.Client }

type statusKey struct{}

func (c statusClient) Do(ctx context.Context, req *http.Request) (*http.Response, []byte, error) {
	resp, body, err := c.Client.Do(ctx, req)
	if p, ok := ctx.Value(statusKey{}).(*int); ok && resp != nil {
		*p = resp.StatusCode
	}
	return resp, body, err
}

// String describes the source for logs.
func (s *Source) String() string {
	return "prometheus " + s.cfg.Redacted() + " (rate window " + promRange(s.cfg.RateWindow) +
		", history " + promRange(s.cfg.HistoryLength) + " at " + promRange(s.cfg.HistoryResolution) +
		", timeout " + s.cfg.Timeout.String() + ", selector " + strconv.Quote(s.cfg.Selector) + ")"
}
