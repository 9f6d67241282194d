package demo

import (
	"testing"

	"github.com/tailor-dev/tailor/provisioner/catalog"
)

// BenchmarkCheckHPA: judging a 10-minute run polled every second.
func BenchmarkCheckHPA(b *testing.B) {
	var points []HPAPoint
	for i := range 600 {
		p := seedRun()[i%len(seedRun())]
		points = append(points, p)
	}
	b.ReportAllocs()
	for b.Loop() {
		CheckHPA(points, SeedHPA)
		HPASettled(points, SeedHPA, 0, 15*s)
	}
}

// BenchmarkCheapestPacking: the karpenter scenario's bound over the whole
// catalogue.
func BenchmarkCheapestPacking(b *testing.B) {
	types := catalog.InstanceTypes(catalog.DefaultOptions())
	np := karpenterScenario.mustPool()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := CheapestPacking(types, np, 10, 1000, 0); err != nil {
			b.Fatal(err)
		}
	}
}
