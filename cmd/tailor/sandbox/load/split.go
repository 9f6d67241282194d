// Package load puts simulated demand on a sandbox workload: the stand-in for
// the seed's busybox load-generator. A workload annotated with a total
// demand (AnnotationCPU, AnnotationMemory) has it spread evenly over its
// ready pods, each capped at its limit, through kwok's usage annotations,
// which kwok reports as the pods' usage and metrics-server serves from there.
package load

import (
	"sort"
)

// Share is one pod's part of a total demand.
type Share struct {
	Pod string
	// Limit is the pod's limit of the resource in milli-units; 0 means none.
	Limit int64
}

// Split spreads total (milli-units) evenly over pods and caps each share at
// its pod's limit. What a capped pod cannot take is dropped, not moved to
// the others: a round-robin balancer keeps sending a throttled pod its share,
// and the throttled part of the work is simply not done (which is why the
// seed's single php-apache pod shows about 250 % of its 200m request, its
// 500m limit, under a demand it could not serve). The first total mod n
// pods by name get one milli-unit more, so the shares add up to total when
// nothing is capped.
func Split(total int64, pods []Share) map[string]int64 {
	out := make(map[string]int64, len(pods))
	if len(pods) == 0 {
		return out
	}
	if total < 0 {
		total = 0
	}
	sorted := append([]Share(nil), pods...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Pod < sorted[j].Pod })
	n := int64(len(sorted))
	each, rest := total/n, total%n
	for i, p := range sorted {
		v := each
		if int64(i) < rest {
			v++
		}
		if p.Limit > 0 && v > p.Limit {
			v = p.Limit
		}
		out[p.Pod] = v
	}
	return out
}
