// Package promsource reads container usage from a Prometheus server that
// scrapes the kubelets' cAdvisor (or kwok's emulation of it): the live usage
// of a namespace's containers, as metrics.k8s.io PodMetrics, where
// metrics-server is absent, and the usage history of given pods, to bootstrap
// the recommender's histograms for VPAs that have no checkpoint yet.
//
// The package fetches and converts; it keeps no state besides a running count
// of the samples it dropped. The conversions from Prometheus results to plain
// types (LiveOf, HistoryOf, PodMetricsOf) are pure functions.
package promsource

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// MaxPointsPerSeries is Prometheus' own limit on the points of one series in
// a range query (HistoryLength / HistoryResolution must stay below it).
const MaxPointsPerSeries = 11000

// Config configures a Source. The zero value is not usable: start from
// DefaultConfig and set Address. Every field maps to a flag; its comment is
// written to serve as the flag's help text.
type Config struct {
	// Address is the base URL of the Prometheus HTTP API, e.g.
	// http://prometheus.monitoring.svc:9090 (a path prefix such as
	// /prometheus is kept). Required.
	Address string
	// Timeout bounds each query, both on the client and on the server (sent
	// as the query's timeout parameter). Default 10s.
	Timeout time.Duration

	// CPUMetric is the cumulative CPU-seconds counter per container.
	// Default container_cpu_usage_seconds_total (cAdvisor).
	CPUMetric string
	// MemoryMetric is the memory working-set gauge per container, in bytes.
	// Default container_memory_working_set_bytes (cAdvisor).
	MemoryMetric string
	// ThrottledPeriodsMetric and PeriodsMetric are the CFS counters whose
	// rates' ratio is a container's CPU throttling. Defaults
	// container_cpu_cfs_throttled_periods_total and
	// container_cpu_cfs_periods_total (cAdvisor); both empty turns throttling
	// off.
	ThrottledPeriodsMetric string
	PeriodsMetric          string

	// NamespaceLabel, PodLabel and ContainerLabel name the labels that carry
	// a series' namespace, pod and container name. Defaults namespace, pod,
	// container (the kubelet's cAdvisor since Kubernetes 1.16).
	NamespaceLabel string
	PodLabel       string
	ContainerLabel string
	// Selector holds extra label matchers added to every query, in PromQL
	// syntax (values double-quoted or in backquotes), braces optional, e.g.
	// job="kubelet",metrics_path="/metrics/cadvisor".
	// Use it when several jobs scrape the same containers. Default empty.
	Selector string

	// RateWindow is the range of rate() for live CPU usage and throttling:
	// it must hold at least two scrapes (four is safer). A container's CPU
	// is reported once its series is older than the window. Default 5m;
	// with a 1 s scrape interval 10s–20s works.
	RateWindow time.Duration
	// HistoryLength is how far back the history of a VPA's pods is read
	// when it has no checkpoint. Default 8d (upstream VPA's history-length).
	HistoryLength time.Duration
	// HistoryResolution is the step of history range queries: one CPU and
	// one memory sample per container per step (CPU as the rate over the
	// step, or over RateWindow if longer; memory as the peak within the
	// step). Default 1h (upstream VPA's history-resolution).
	HistoryResolution time.Duration
}

// DefaultConfig returns the defaults (cAdvisor metric and label names,
// upstream VPA's history settings) with no Address.
func DefaultConfig() Config {
	return Config{
		Timeout:                10 * time.Second,
		CPUMetric:              "container_cpu_usage_seconds_total",
		MemoryMetric:           "container_memory_working_set_bytes",
		ThrottledPeriodsMetric: "container_cpu_cfs_throttled_periods_total",
		PeriodsMetric:          "container_cpu_cfs_periods_total",
		NamespaceLabel:         "namespace",
		PodLabel:               "pod",
		ContainerLabel:         "container",
		RateWindow:             5 * time.Minute,
		HistoryLength:          8 * 24 * time.Hour,
		HistoryResolution:      time.Hour,
	}
}

var (
	metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelNameRE  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// Validate reports every problem of c at once, each naming its field.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if c.Address == "" {
		bad("prometheus address is required")
	} else if u, err := url.Parse(c.Address); err != nil {
		bad("prometheus address: %v", err) // url's error redacts the password
	} else if u.Scheme != "http" && u.Scheme != "https" {
		bad("prometheus address %q: want an http:// or https:// URL", u.Redacted())
	} else if u.Host == "" {
		bad("prometheus address %q: no host", u.Redacted())
	} else if u.RawQuery != "" || u.Fragment != "" {
		bad("prometheus address %q: no query or fragment allowed", u.Redacted())
	}
	if err := promDuration("timeout", c.Timeout); err != nil {
		errs = append(errs, err)
	}

	for _, m := range []struct{ field, v string }{{"cpu metric", c.CPUMetric}, {"memory metric", c.MemoryMetric}} {
		if !metricNameRE.MatchString(m.v) {
			bad("prometheus %s %q is not a metric name", m.field, m.v)
		}
	}
	if (c.ThrottledPeriodsMetric == "") != (c.PeriodsMetric == "") {
		bad("prometheus throttling needs both metrics or neither, got throttled %q and periods %q", c.ThrottledPeriodsMetric, c.PeriodsMetric)
	}
	for _, m := range []struct{ field, v string }{{"throttled periods metric", c.ThrottledPeriodsMetric}, {"periods metric", c.PeriodsMetric}} {
		if m.v != "" && !metricNameRE.MatchString(m.v) {
			bad("prometheus %s %q is not a metric name", m.field, m.v)
		}
	}

	labels := []struct{ field, v string }{{"namespace label", c.NamespaceLabel}, {"pod label", c.PodLabel}, {"container label", c.ContainerLabel}}
	seen := map[string]string{}
	for _, l := range labels {
		switch {
		case !labelNameRE.MatchString(l.v) || strings.HasPrefix(l.v, "__"):
			bad("prometheus %s %q is not a label name", l.field, l.v)
		case seen[l.v] != "":
			bad("prometheus %s and %s are both %q", seen[l.v], l.field, l.v)
		default:
			seen[l.v] = l.field
		}
	}
	if _, err := parseMatchers(c.Selector); err != nil {
		bad("prometheus selector %q: %v", c.Selector, err)
	}

	if err := promDuration("rate window", c.RateWindow); err != nil {
		errs = append(errs, err)
	}
	if err := promDuration("history length", c.HistoryLength); err != nil {
		errs = append(errs, err)
	}
	if err := promDuration("history resolution", c.HistoryResolution); err != nil {
		errs = append(errs, err)
	}
	if c.HistoryLength > 0 && c.HistoryResolution > 0 {
		if c.HistoryResolution > c.HistoryLength {
			bad("prometheus history resolution %s exceeds the history length %s", c.HistoryResolution, c.HistoryLength)
		} else if n := c.HistoryLength / c.HistoryResolution; n > MaxPointsPerSeries {
			bad("prometheus history length %s at resolution %s is %d points per series; Prometheus allows %d", c.HistoryLength, c.HistoryResolution, n, MaxPointsPerSeries)
		}
	}
	return errors.Join(errs...)
}

// promDuration: PromQL ranges are whole milliseconds.
func promDuration(field string, d time.Duration) error {
	switch {
	case d <= 0:
		return fmt.Errorf("prometheus %s must be positive, got %s", field, d)
	case d%time.Millisecond != 0:
		return fmt.Errorf("prometheus %s %s is not a whole number of milliseconds", field, d)
	}
	return nil
}

// matcher is one label matcher of Config.Selector.
type matcher struct{ name, op, value string }

func (m matcher) String() string { return m.name + m.op + strconv.Quote(m.value) }

// parseMatchers reads label matchers in PromQL syntax: name op "value",
// comma-separated, optionally within braces; op is =, !=, =~ or !~; values
// are double-quoted (Go/PromQL escapes) or in backquotes. Regular
// expressions must compile (RE2, as Prometheus).
func parseMatchers(s string) ([]matcher, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "{") {
		if !strings.HasSuffix(s, "}") {
			return nil, errors.New("unbalanced braces")
		}
		s = strings.TrimSpace(s[1 : len(s)-1])
	}
	var out []matcher
	for s != "" {
		i := 0
		for i < len(s) && (s[i] == '_' || s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z' || i > 0 && s[i] >= '0' && s[i] <= '9') {
			i++
		}
		name := s[:i]
		if name == "" {
			return nil, fmt.Errorf("label name expected at %q", s)
		}
		s = strings.TrimLeft(s[i:], " \t")
		var op string
		for _, o := range []string{"=~", "!~", "!=", "="} {
			if strings.HasPrefix(s, o) {
				op = o
				break
			}
		}
		if op == "" {
			return nil, fmt.Errorf("operator =, !=, =~ or !~ expected after %s", name)
		}
		s = strings.TrimLeft(s[len(op):], " \t")
		quoted, err := strconv.QuotedPrefix(s)
		if err != nil || strings.HasPrefix(quoted, "'") {
			return nil, fmt.Errorf("quoted value expected after %s%s", name, op)
		}
		value, err := strconv.Unquote(quoted)
		if err != nil {
			return nil, fmt.Errorf("value of %s: %v", name, err)
		}
		if op == "=~" || op == "!~" {
			if _, err := regexp.Compile("^(?:" + value + ")$"); err != nil {
				return nil, fmt.Errorf("regular expression of %s: %v", name, err)
			}
		}
		out = append(out, matcher{name, op, value})
		s = strings.TrimLeft(s[len(quoted):], " \t")
		if s == "" {
			break
		}
		if s[0] != ',' {
			return nil, fmt.Errorf("comma expected at %q", s)
		}
		s = strings.TrimLeft(s[1:], " \t")
	}
	return out, nil
}

// promRange formats d as a PromQL range (e.g. 5m, 1h30m, 500ms).
func promRange(d time.Duration) string { return model.Duration(d).String() }

// Redacted is the address as Tailor prints it — in logs, errors, Events and
// status — with any password in it replaced by xxxxx.
func (c Config) Redacted() string {
	u, err := url.Parse(c.Address)
	if err != nil {
		return "(unparsable address)"
	}
	return u.Redacted()
}
