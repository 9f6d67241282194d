package scheduling

import (
	"fmt"
	"strings"
	"testing"
	"time"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
)

// BenchmarkSolve solves the benchmark mix (see MixPods, SyntheticTypes)
// from scratch and reports throughput, nodes made, their price and the LP
// lower bound of that price.
func BenchmarkSolve(b *testing.B) {
	types := SyntheticTypes(400)
	for _, bc := range []struct {
		name    string
		n       int
		generic bool
	}{
		{"pods=1000", 1000, false},
		{"pods=5000", 5000, false},
		{"pods=20000", 20000, false},
		{"generic/pods=5000", 5000, true},
		{"marginal/pods=1000", 1000, false},
		{"marginal/pods=5000", 5000, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			pods := MixPods(bc.n, 42, MixOptions{GenericOnly: bc.generic})
			np := nodePool("default")
			if strings.HasPrefix(bc.name, "marginal/") {
				np.Spec.Packing = provisionerv1.PackingMarginalCost
			}
			in := Input{Pods: pods, Pools: []Pool{{NodePool: np, InstanceTypes: types}}}
			bound := LowerBound(pods, types)
			var res *Result
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				var err error
				if res, err = Solve(in); err != nil {
					b.Fatal(err)
				}
			}
			elapsed := time.Since(start)
			b.StopTimer()
			unplaced := 0
			for _, p := range res.Placements {
				if p.Kind == Unschedulable {
					unplaced++
				}
			}
			if unplaced > 0 {
				b.Fatalf("%d pods unschedulable, first: %s", unplaced, firstReason(res))
			}
			b.ReportMetric(float64(bc.n*b.N)/elapsed.Seconds(), "pods/s")
			b.ReportMetric(float64(len(res.Claims)), "nodes")
			b.ReportMetric(res.Cost(), "$/h")
			b.ReportMetric(bound, "bound$/h")
		})
	}
}

func firstReason(r *Result) string {
	for _, p := range r.Placements {
		if p.Kind == Unschedulable {
			return fmt.Sprintf("%s: %s %v", p.Pod.Name, p.Reason, p.PoolReasons)
		}
	}
	return ""
}
