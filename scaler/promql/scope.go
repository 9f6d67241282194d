// Package promql confines a ReplicaAutoscaler's PromQL to its own namespace,
// as prom-label-proxy does for a tenant: every series selector of the query
// gets the matcher namespace="<the object's namespace>". Without it, anyone
// allowed to write a ReplicaAutoscaler could read any series Tailor's
// Prometheus access reaches, through its status and Events. Pure: it parses
// and rewrites text, nothing else.
package promql

import (
	"fmt"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// Parse checks that query is PromQL, for admission: the error says where.
func Parse(query string) error {
	_, err := parser.NewParser(parser.Options{}).ParseExpr(query)
	return err
}

// Scope returns query with label=namespace added to every series selector.
// A selector that already names the label must name exactly that
// namespace; one that asks for another (or any regexp) is refused rather
// than silently narrowed, so the author learns why the number is not what
// they meant.
func Scope(query, label, namespace string) (string, error) {
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(query)
	if err != nil {
		return "", err
	}
	var scopeErr error
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		vs, ok := node.(*parser.VectorSelector)
		if !ok || scopeErr != nil {
			return nil
		}
		kept := vs.LabelMatchers[:0:0]
		for _, m := range vs.LabelMatchers {
			if m.Name != label {
				kept = append(kept, m)
				continue
			}
			if m.Type != labels.MatchEqual || m.Value != namespace {
				scopeErr = fmt.Errorf("selector %s asks for %s%s%q: a ReplicaAutoscaler in namespace %s reads only series with %s=%q (Tailor adds that matcher itself)",
					vs.String(), label, m.Type, m.Value, namespace, label, namespace)
				return scopeErr
			}
		}
		vs.LabelMatchers = append(kept, labels.MustNewMatcher(labels.MatchEqual, label, namespace))
		return nil
	})
	if scopeErr != nil {
		return "", scopeErr
	}
	return expr.String(), nil
}
