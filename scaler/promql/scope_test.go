package promql

import (
	"strings"
	"testing"
)

func TestScope(t *testing.T) {
	cases := []struct {
		name, query, want, err string
	}{
		{name: "seed's requests rate", query: `sum(rate(http_requests_total[1m]))`,
			want: `sum(rate(http_requests_total{namespace="shop"}[1m]))`},
		{name: "every selector, binary op and subquery", query: `sum(a{job="x"}) / sum(max_over_time(b[5m:1m]))`,
			want: `sum(a{job="x",namespace="shop"}) / sum(max_over_time(b{namespace="shop"}[5m:1m]))`},
		{name: "own namespace already named", query: `up{namespace="shop"}`, want: `up{namespace="shop"}`},
		{name: "scalar only", query: `42`, want: `42`},
		{name: "another namespace", query: `up{namespace="payments"}`, err: `asks for namespace="payments"`},
		{name: "regexp on the namespace", query: `up{namespace=~".+"}`, err: `asks for namespace=~".+"`},
		{name: "negative matcher", query: `up{namespace!="shop"}`, err: `asks for namespace!="shop"`},
		{name: "not PromQL", query: `sum(rate(`, err: `unclosed`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Scope(c.query, "namespace", "shop")
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("Scope(%q) = %q, %v; want an error containing %q", c.query, got, err, c.err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("Scope(%q) = %q, %v; want %q", c.query, got, err, c.want)
			}
		})
	}
}

func FuzzScope(f *testing.F) {
	f.Add(`sum(rate(http_requests_total[1m]))`)
	f.Add(`up{namespace="x"} or on() vector(0)`)
	f.Fuzz(func(t *testing.T, q string) {
		out, err := Scope(q, "namespace", "shop")
		if err != nil {
			return
		}
		// The scoped query parses, and scoping it again changes nothing.
		again, err := Scope(out, "namespace", "shop")
		if err != nil || again != out {
			t.Fatalf("Scope not idempotent: %q -> %q -> %q (%v)", q, out, again, err)
		}
	})
}
