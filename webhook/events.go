package webhook

import (
	"context"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
)

// Events keeps the pod path's Kubernetes Events off the review: a review
// only counts its Event (a map update under a lock); every interval one
// Event per object and reason is emitted, with how many pods it stands for
// and the last one's note. Every replica serves admission, so it is not
// leader-elected.
type Events struct {
	rec      recorder.EventRecorder
	interval time.Duration
	mu       sync.Mutex
	pending  map[eventKey]*pendingEvent
}

// EventInterval is how often the pod path's Events are emitted.
const EventInterval = 10 * time.Second

type eventKey struct {
	kind, namespace, name, reason string
}

type pendingEvent struct {
	obj                    runtime.Object
	eventType, action, sep string
	pod, detail            string // the last pod and its note
	generated              bool   // pod is a generateName prefix
	count                  int
}

// NewEvents emits the pod path's Events through rec every interval once
// started.
func NewEvents(rec recorder.EventRecorder, interval time.Duration) *Events {
	return &Events{rec: rec, interval: interval, pending: map[eventKey]*pendingEvent{}}
}

// podEvent is one Event a review asks for: about obj (kind, namespace,
// name), for pod, note "pod <pod><sep><detail>".
type podEvent struct {
	obj                            runtime.Object
	kind, namespace, name          string
	eventType, reason, action, sep string
	detail                         string
}

// record counts e for pod; nil Events (no recorder) records nothing.
func (ev *Events) record(e *podEvent, pod *corev1.Pod) {
	if ev == nil {
		return
	}
	k := eventKey{e.kind, e.namespace, e.name, e.reason}
	ev.mu.Lock()
	p := ev.pending[k]
	if p == nil {
		p = &pendingEvent{}
		ev.pending[k] = p
	}
	p.obj, p.eventType, p.action, p.sep, p.detail = e.obj, e.eventType, e.action, e.sep, e.detail
	// The name is built at flush: a pod made from generateName has none yet.
	p.pod, p.generated = pod.Name, pod.Name == ""
	if p.generated {
		p.pod = pod.GenerateName
	}
	p.count++
	ev.mu.Unlock()
}

// Flush emits the pending Events.
func (ev *Events) Flush() {
	ev.mu.Lock()
	pending := ev.pending
	ev.pending = make(map[eventKey]*pendingEvent, len(pending))
	ev.mu.Unlock()
	for k, p := range pending {
		name := p.pod
		if p.generated {
			name += "*"
		}
		note := "pod " + name + p.sep + p.detail
		if p.count > 1 {
			note = strconv.Itoa(p.count) + " pods in " + ev.interval.String() + ", the last " + note
		}
		ev.rec.Eventf(p.obj, nil, p.eventType, k.reason, p.action, "%s", truncateNote(note))
	}
}

// Start flushes every interval until ctx ends, then once more.
func (ev *Events) Start(ctx context.Context) error {
	t := time.NewTicker(ev.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			ev.Flush()
			return nil
		case <-t.C:
			ev.Flush()
		}
	}
}

// NeedLeaderElection: every replica admits pods.
func (*Events) NeedLeaderElection() bool { return false }
