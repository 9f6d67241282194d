package controller

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tailor-dev/tailor/recommender/input"
	"github.com/tailor-dev/tailor/recommender/logic"
	"github.com/tailor-dev/tailor/recommender/promsource"
)

// fetch is the history bootstrap state of one VPA.
type fetch struct {
	attempts int
	done     bool
}

// maxFetchAttempts: after this many failed passes the VPA is recommended
// from live usage only (the condition says so).
const maxFetchAttempts = 3

// bootstrap reads the past usage of a VPA's pods from Prometheus the first
// time the VPA is seen without any history (no checkpoint restored, nothing
// ingested), so a workload that ran before Tailor or its VPA gets a
// recommendation on the first pass instead of after days. It returns the
// FetchingHistory condition to write, or nil when nothing was attempted.
func (r *Recommender) bootstrap(ctx context.Context, vpa types.NamespacedName, pods []*corev1.Pod) *logic.HistoryCondition {
	f := r.fetched[vpa]
	if r.history == nil || len(pods) == 0 || (f != nil && f.done) {
		return nil
	}
	if f == nil {
		f = &fetch{}
		r.fetched[vpa] = f
	}
	if len(r.containers[vpa]) > 0 {
		f.done = true // history restored from a checkpoint
		return nil
	}
	names := make([]string, len(pods))
	byName := make(map[string]*corev1.Pod, len(pods))
	for i, p := range pods {
		names[i], byName[p.Name] = p.Name, p
	}
	now := r.now()
	res, err := r.history.History(ctx, vpa.Namespace, names, now)
	if err != nil {
		if promsource.KindOf(err) == promsource.Canceled {
			return nil
		}
		f.attempts++
		sourceErrorsTotal.WithLabelValues(SourcePrometheus).Inc()
		r.log.Error(err, "read usage history from Prometheus", "vpa", vpa, "attempt", f.attempts)
		reason := string(promsource.KindOf(err))
		var pe *promsource.Error
		if !errors.As(err, &pe) {
			reason = string(promsource.BadResponse)
		}
		if f.attempts < maxFetchAttempts {
			return &logic.HistoryCondition{Fetching: true, Reason: reason, Message: fmt.Sprintf("attempt %d of %d failed, retrying next pass: %v", f.attempts, maxFetchAttempts, err)}
		}
		f.done = true
		return &logic.HistoryCondition{Reason: reason, Message: fmt.Sprintf("history not loaded after %d attempts; recommending from live usage only: %v", f.attempts, err)}
	}
	f.done = true
	var cpu, mem, containers int
	for _, s := range res.Series {
		p := byName[s.Pod]
		if p == nil || len(s.Points) == 0 {
			continue
		}
		var request int64
		if c := input.SpecContainer(p, s.Container); c != nil {
			request = c.Resources.Requests.Cpu().MilliValue()
		}
		pc := r.container(vpa, p.UID, s.Container, now)
		containers++
		for _, pt := range s.Points {
			if pt.CPUMillicores >= 0 && pc.c.AddCPU(pt.Time, pt.CPUMillicores, request) {
				cpu++
			}
			if pt.MemoryBytes >= 0 && pc.c.AddMemory(pt.Time, pt.MemoryBytes) {
				mem++
			}
			// Live samples up to the last history point are already in.
			if pt.Time.After(pc.last) {
				pc.last = pt.Time
			}
		}
	}
	samplesTotal.WithLabelValues("cpu").Add(float64(cpu))
	samplesTotal.WithLabelValues("memory").Add(float64(mem))
	if n := res.Dropped.Invalid(); n > 0 {
		sourceErrorsTotal.WithLabelValues(SourceInvalid).Add(float64(n))
	}
	msg := fmt.Sprintf("%d cpu and %d memory samples of %d containers over %s (step %s) from Prometheus", cpu, mem, containers, res.End.Sub(res.Start), res.Step)
	r.log.Info("usage history loaded", "vpa", vpa, "cpuSamples", cpu, "memorySamples", mem, "containers", containers, "dropped", res.Dropped.Total(), "warnings", res.Warnings)
	return &logic.HistoryCondition{Reason: logic.ReasonHistoryLoaded, Message: msg}
}
