package logic_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tailor-dev/tailor/recommender/logic"
	"github.com/tailor-dev/tailor/recommender/model"
)

// BenchmarkRecommendPass times one full recommendation pass (Recommend for
// every VPA, one container each, producing the VPA status structs) over
// n containers with two days of 30-minute samples each.
func BenchmarkRecommendPass(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("containers=%d", n), func(b *testing.B) {
			p := model.DefaultParams()
			r, _ := logic.New(logic.Default())
			rnd := rand.New(rand.NewPCG(7, 8))
			vpas := make([][]logic.Container, n)
			for i := range vpas {
				a := model.NewAggregate(p, t0)
				c := model.NewContainer(a)
				base := 10 * math.Pow(400, rnd.Float64())
				for e := time.Duration(0); e < 48*time.Hour; e += 30 * time.Minute {
					c.AddCPU(t0.Add(e), int64(base*math.Exp(0.4*rnd.NormFloat64())), 100)
					c.AddMemory(t0.Add(e), int64(base*(1<<20)*(1+0.1*rnd.Float64())))
				}
				vpas[i] = []logic.Container{{Name: "app", Aggregate: a}}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				for _, cs := range vpas {
					if rec := r.Recommend(cs, nil, nil); len(rec.ContainerRecommendations) != 1 {
						b.Fatal("no recommendation")
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/container")
		})
	}
}
