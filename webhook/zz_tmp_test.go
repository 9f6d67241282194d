package webhook

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	goruntime "runtime"
	"runtime/metrics"
	"slices"
	"testing"
	"time"
)

func TestTmpTail(t *testing.T) {
	h := floorSizer()
	body := floorReview(t, 3)
	rd := bytes.NewReader(body)
	req := httptest.NewRequest(http.MethodPost, PodPath, rd)
	req.Header.Set("Content-Type", "application/json")
	w := &discardWriter{header: http.Header{}}
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	type rec struct {
		cpu, wall time.Duration
		gc        bool
	}
	n := 50000
	rs := make([]rec, 0, n)
	for i := 0; i < n; i++ {
		rd.Reset(body)
		req.Body, req.ContentLength = io.NopCloser(rd), int64(len(body))
		metrics.Read(s)
		g0 := s[0].Value.Uint64()
		c0 := threadCPU()
		st := time.Now()
		h.ServeHTTP(w, req)
		wall := time.Since(st)
		c := threadCPU() - c0
		metrics.Read(s)
		rs = append(rs, rec{c, wall, s[0].Value.Uint64() != g0})
	}
	var gcs, slowNoGC, slowGC int
	cpus := make([]time.Duration, 0, n)
	for _, r := range rs {
		cpus = append(cpus, r.cpu)
		if r.gc {
			gcs++
		}
	}
	slices.Sort(cpus)
	p99 := cpus[n*99/100]
	for _, r := range rs {
		if r.cpu >= p99 {
			if r.gc {
				slowGC++
			} else {
				slowNoGC++
			}
		}
	}
	t.Logf("p50 %v p90 %v p99 %v p99.9 %v; reviews spanning a GC start %d; slow(>=p99) with GC %d without %d", cpus[n/2], cpus[n*9/10], p99, cpus[n*999/1000], gcs, slowGC, slowNoGC)
}
