// Package monitoring holds the Prometheus Operator and Grafana manifests;
// its test checks them against the metrics Tailor's code declares.
package monitoring

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/prometheus/promql/parser"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// declared reads every tailor_* metric the code declares (Name: "tailor_…"
// in a prometheus *Opts literal) with its label names.
func declared(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	nameRe := regexp.MustCompile(`Name:\s*"(tailor_[a-z0-9_]+)"`)
	labelsRe := regexp.MustCompile(`^\}, \[\]string\{([^}]*)\}\)`)
	err := filepath.WalkDir("../..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "test" || strings.HasPrefix(d.Name(), ".")) && path != "../.." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		src := string(b)
		for _, m := range nameRe.FindAllStringSubmatchIndex(src, -1) {
			name := src[m[2]:m[3]]
			rest := src[m[1]:]
			// The options literal ends at the first "})" (no labels) or
			// "}, []string{…})" (a vector).
			end := strings.Index(rest, "})")
			vec := strings.Index(rest, "}, []string{")
			var labels []string
			if vec >= 0 && (end < 0 || vec < end) {
				if l := labelsRe.FindStringSubmatch(rest[vec:]); l != nil {
					for _, s := range strings.Split(l[1], ",") {
						labels = append(labels, strings.Trim(strings.TrimSpace(s), `"`))
					}
				}
			}
			out[name] = labels
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 20 {
		t.Fatalf("found %d tailor_* metrics in the code: the scan is broken", len(out))
	}
	return out
}

// TestDashboardQueriesExportedMetrics: every query of the Grafana dashboard
// parses as PromQL and names only metrics (and labels of them) that
// Tailor's code declares; a renamed metric or label fails here.
func TestDashboardQueriesExportedMetrics(t *testing.T) {
	metrics := declared(t)
	raw, err := os.ReadFile("grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Query any `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	// Grafana's variables, replaced by values PromQL accepts.
	vars := strings.NewReplacer("$__rate_interval", "5m", "$namespace", "x")
	used := map[string]bool{}
	check := func(where, expr string) {
		e, err := parser.NewParser(parser.Options{}).ParseExpr(vars.Replace(expr))
		if err != nil {
			t.Errorf("%s: %q: %v", where, expr, err)
			return
		}
		parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
			v, ok := n.(*parser.VectorSelector)
			if !ok {
				return nil
			}
			base, labels, ok := lookup(metrics, v.Name)
			if !ok {
				t.Errorf("%s: %q queries %s, which Tailor does not export", where, expr, v.Name)
				return nil
			}
			used[base] = true
			for _, m := range v.LabelMatchers {
				if m.Name != "__name__" && !slices.Contains(labels, m.Name) {
					t.Errorf("%s: %q matches label %s, which %s does not have (%v)", where, expr, m.Name, base, labels)
				}
			}
			return nil
		})
		// Grouping labels: checked against the metric the expression reads.
		for _, g := range groupings(e) {
			ok := false
			for m := range selectors(e) {
				if _, labels, found := lookup(metrics, m); found && (slices.Contains(labels, g) || g == "le" && strings.HasSuffix(m, "_bucket")) {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s: %q groups by %s, a label none of its metrics has", where, expr, g)
			}
		}
	}
	n := 0
	for _, p := range dash.Panels {
		for _, q := range p.Targets {
			n++
			check("panel "+p.Title, q.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		if q, ok := v.Query.(string); ok && strings.HasPrefix(q, "label_values(") {
			metric := strings.TrimSpace(strings.Split(strings.TrimPrefix(q, "label_values("), ",")[0])
			check("variable", metric)
		}
	}
	if n < 10 {
		t.Fatalf("only %d queries in the dashboard", n)
	}
	// The jobs the issue names each have a panel.
	for _, prefix := range []string{"tailor_admission_", "tailor_recommender_", "tailor_scaler_", "tailor_provisioner_", "tailor_disruption_"} {
		found := false
		for m := range used {
			found = found || strings.HasPrefix(m, prefix)
		}
		if !found {
			t.Errorf("no panel reads %s* metrics", prefix)
		}
	}
}

// lookup finds a queried series in the declared metrics; histogram series
// (_bucket, _sum, _count) resolve to their histogram.
func lookup(metrics map[string][]string, series string) (string, []string, bool) {
	if l, ok := metrics[series]; ok {
		return series, l, true
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(series, suf); ok {
			if l, ok := metrics[base]; ok {
				return base, l, true
			}
		}
	}
	return "", nil, false
}

func groupings(e parser.Expr) []string {
	var out []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if a, ok := n.(*parser.AggregateExpr); ok {
			out = append(out, a.Grouping...)
		}
		return nil
	})
	return out
}

func selectors(e parser.Expr) map[string]bool {
	out := map[string]bool{}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if v, ok := n.(*parser.VectorSelector); ok {
			out[v.Name] = true
		}
		return nil
	})
	return out
}

// TestServiceMonitor: the manifest decodes strictly into the Prometheus
// Operator's types and scrapes the port the metrics Service names.
func TestServiceMonitor(t *testing.T) {
	raw, err := os.ReadFile("servicemonitor.yaml")
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	var sm monitoringv1.ServiceMonitor
	strict, err := kjson.UnmarshalStrict(js, &sm)
	if err != nil || len(strict) > 0 {
		t.Fatalf("servicemonitor.yaml: %v %v", err, strict)
	}
	svc, err := os.ReadFile("../base/services.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, ep := range sm.Spec.Endpoints {
		if !strings.Contains(string(svc), "name: "+ep.Port+"\n") {
			t.Errorf("endpoint port %s is not a port of deploy/base/services.yaml", ep.Port)
		}
		if ep.Scheme == nil || *ep.Scheme != "https" {
			t.Errorf("scheme %v: Tailor serves /metrics over HTTPS", ep.Scheme)
		}
	}
}
