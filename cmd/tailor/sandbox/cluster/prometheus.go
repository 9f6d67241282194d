package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PrometheusOptions shape StartPrometheus.
type PrometheusOptions struct {
	// ScrapeInterval of the kwok job; default 1s, so a rate() over 10-20 s
	// has enough samples and tests wait little.
	ScrapeInterval time.Duration
}

// Prometheus is a Prometheus server scraping the cluster's kwok nodes.
type Prometheus struct {
	// URL is its HTTP API base, http://127.0.0.1:PORT.
	URL            string
	Process        *Process
	ScrapeInterval time.Duration
	// Dir holds its configuration and TSDB; Stop removes it.
	Dir string

	cluster *Cluster
}

// prometheusConfig scrapes every kwok node's kubelet /metrics/resource
// emulation, found through kwok's HTTP service discovery
// (/discovery/prometheus on its server address answers one target per node
// and Metric: address 127.0.0.1:PORT, __scheme__ https, __metrics_path__
// /metrics/nodes/<node>/metrics/resource, label metrics_name). kwok's
// serving certificate is self-signed, hence insecure_skip_verify, for the
// discovery and the scrapes alike. All nodes share one address, so the node
// name taken from the path tells their series apart (node-level metrics
// such as node_cpu_usage_seconds_total carry no other label).
const prometheusConfig = `global:
  scrape_interval: %[1]s
  scrape_timeout: %[1]s
  evaluation_interval: 1m
scrape_configs:
- job_name: kwok
  scheme: https
  tls_config:
    insecure_skip_verify: true
  http_sd_configs:
  - url: https://127.0.0.1:%[2]d/discovery/prometheus
    refresh_interval: 2s
    tls_config:
      insecure_skip_verify: true
  relabel_configs:
  - source_labels: [metrics_name]
    regex: metrics-resource
    action: keep
  - source_labels: [__metrics_path__]
    regex: /metrics/nodes/([^/]+)/.*
    target_label: node
`

// StartPrometheus runs the pinned Prometheus (test/tools/prometheus) on a free loopback port with a
// fresh TSDB, scraping kwok (see prometheusConfig), as a process of the
// cluster (its log is logs/prometheus.log; Cluster.Stop stops it too). It
// returns once Prometheus is ready and a target per kwok node is up. kwok
// computes container_cpu_usage_seconds_total at each scrape as the previous
// value plus the annotated usage times the time since the last scrape (any
// scraper's: metrics-server's too), so the counter grows at the annotated
// rate; container_memory_working_set_bytes is the annotated memory. There
// are no CFS throttling metrics.
func (c *Cluster) StartPrometheus(ctx context.Context, o PrometheusOptions) (p *Prometheus, err error) {
	if c.KubeletPort == 0 {
		return nil, fmt.Errorf("prometheus: the cluster's kwok serves no metrics (no kubelet port)")
	}
	if o.ScrapeInterval <= 0 {
		o.ScrapeInterval = time.Second
	}
	bin := Binaries{Dir: c.BinDir}.Path("prometheus")
	ports, err := FreePorts(1)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(c.Dir, "prometheus-")
	if err != nil {
		return nil, err
	}
	prom := &Prometheus{URL: "http://127.0.0.1:" + strconv.Itoa(ports[0]), ScrapeInterval: o.ScrapeInterval, Dir: dir, cluster: c}
	// Not p: a failing return has set it to nil by the time this runs.
	defer func() {
		if err != nil {
			prom.Stop()
		}
	}()
	p = prom
	config := filepath.Join(dir, "prometheus.yml")
	interval := model.Duration(o.ScrapeInterval.Truncate(time.Millisecond)).String() // e.g. 1s500ms: Go's "1.5s" is not a Prometheus duration
	if err := os.WriteFile(config, fmt.Appendf(nil, prometheusConfig, interval, c.KubeletPort), 0o644); err != nil {
		return nil, err
	}
	p.Process, err = c.Run("prometheus", bin,
		"--config.file", config,
		"--storage.tsdb.path", filepath.Join(dir, "tsdb"),
		"--web.listen-address", "127.0.0.1:"+strconv.Itoa(ports[0]),
		"--storage.tsdb.retention.time", "1d")
	if err != nil {
		return nil, err
	}
	plain := &http.Client{Timeout: 2 * time.Second}
	if err := WaitFor(ctx, 30*time.Second, p.Process, func() error { return HTTPOK(plain, p.URL+"/-/ready") }); err != nil {
		return nil, err
	}
	// The kwok nodes there now, less those gone by each look: tests
	// running beside this one add and delete nodes all the time.
	initial, err := c.kwokNodes(ctx)
	if err != nil {
		return nil, err
	}
	if err := WaitFor(ctx, 30*time.Second, p.Process, func() error {
		now, err := c.kwokNodes(ctx)
		if err != nil {
			return err
		}
		want := map[string]bool{}
		for name := range initial {
			if now[name] {
				want[name] = true
			}
		}
		return p.targetsUp(plain, want)
	}); err != nil {
		return nil, err
	}
	return p, nil
}

// kwokNodes are the names of the cluster's kwok nodes.
func (c *Cluster) kwokNodes(ctx context.Context) (map[string]bool, error) {
	nodes, err := c.Clientset().CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, n := range nodes.Items {
		if n.Annotations["kwok.x-k8s.io/node"] == "fake" {
			names[n.Name] = true
		}
	}
	return names, nil
}

// targetNode is the node of a kwok scrape URL (…/metrics/nodes/<node>/…).
var targetNode = regexp.MustCompile(`/metrics/nodes/([^/]+)/`)

// targetsUp fails unless the target of every node named is up (its last
// scrape succeeded).
func (p *Prometheus) targetsUp(client *http.Client, nodes map[string]bool) error {
	resp, err := client.Get(p.URL + "/api/v1/targets?state=active")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			ActiveTargets []struct {
				ScrapeURL string `json:"scrapeUrl"`
				Health    string `json:"health"`
				LastError string `json:"lastError"`
			} `json:"activeTargets"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return fmt.Errorf("targets: %w", err)
	}
	up := map[string]bool{}
	var problems []string
	for _, t := range body.Data.ActiveTargets {
		m := targetNode.FindStringSubmatch(t.ScrapeURL)
		if m == nil || !nodes[m[1]] {
			continue
		}
		if t.Health == "up" {
			up[m[1]] = true
		} else {
			problems = append(problems, fmt.Sprintf("%s %s %s", t.ScrapeURL, t.Health, t.LastError))
		}
	}
	if len(up) < len(nodes) {
		return fmt.Errorf("%d of %d kwok nodes' targets up; %v", len(up), len(nodes), problems)
	}
	return nil
}

// Stop stops Prometheus, forgets it as a process of the cluster and removes
// its folder. Safe to call more than once.
func (p *Prometheus) Stop() {
	if p.Process != nil {
		p.Process.Stop(10 * time.Second)
		c := p.cluster
		c.Processes = slices.DeleteFunc(c.Processes, func(q *Process) bool { return q == p.Process })
		_ = c.saveState()
	}
	_ = os.RemoveAll(p.Dir)
}
