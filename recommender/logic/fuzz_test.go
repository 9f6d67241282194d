package logic_test

import (
	"encoding/binary"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/tailor-dev/tailor/recommender/logic"
	"github.com/tailor-dev/tailor/recommender/model"
)

// FuzzRecommend drives arbitrary sample streams (any order, any magnitude,
// OOMs, checkpoint round trips) and checks that nothing panics, every
// value is a finite non-negative quantity, and lower <= target <= upper.
func FuzzRecommend(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	f.Add([]byte("\x00\x10\x00\x00\x00\x00\x01\xf4\x01\x20\x00\x00\x00\x0c\x80\x00\x00\x02\x00\x30"))
	f.Add(make([]byte, 200))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := model.DefaultParams()
		aggs := []*model.Aggregate{model.NewAggregate(p, t0), model.NewAggregate(p, t0)}
		conts := []*model.Container{model.NewContainer(aggs[0]), model.NewContainer(aggs[1])}
		ts := t0
		for len(data) >= 10 {
			op, ci := data[0]%5, int(data[1]%2)
			dt := time.Duration(int16(binary.BigEndian.Uint16(data[2:]))) * time.Minute * 7
			v := int64(binary.BigEndian.Uint64(data[2:10]) >> (data[1] % 64))
			data = data[10:]
			ts = ts.Add(dt)
			c := conts[ci]
			switch op {
			case 0:
				c.AddCPU(ts, v, v/3)
			case 1:
				c.AddMemory(ts, v)
			case 2:
				_ = c.RecordOOM(ts, v)
			case 3:
				cp := aggs[ci].Checkpoint(ts)
				n := model.NewAggregate(p, ts)
				if err := n.Restore(&cp); err != nil {
					t.Fatalf("own checkpoint rejected: %v", err)
				}
				aggs[ci] = n
				conts[ci] = model.NewContainer(n)
			case 4:
				c.AddCPU(ts, v%4000, 100)
				c.AddMemory(ts, v%(8<<30))
			}
		}
		r, _ := logic.New(logic.Default())
		rec := r.Recommend([]logic.Container{{Name: "a", Aggregate: aggs[0]}, {Name: "b", Aggregate: aggs[1]}}, nil, nil)
		for _, cr := range rec.ContainerRecommendations {
			for _, k := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				lo, ta, up, un := cr.LowerBound[k], cr.Target[k], cr.UpperBound[k], cr.UncappedTarget[k]
				for _, q := range []float64{lo.AsApproximateFloat64(), ta.AsApproximateFloat64(), up.AsApproximateFloat64(), un.AsApproximateFloat64()} {
					if q != q || q < 0 {
						t.Fatalf("%s: bad value %v", k, q)
					}
				}
				if lo.Cmp(ta) > 0 || ta.Cmp(up) > 0 {
					t.Fatalf("%s unordered: %s %s %s", k, lo.String(), ta.String(), up.String())
				}
			}
		}
	})
}
