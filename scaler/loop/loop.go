// Package loop is what every background loop of Tailor (recommender,
// updater, scaler, provisioner) shares to survive bad data: one object that
// panics the decision logic costs that object's pass, not the process and
// with it the webhook server of the replica. It is a library, not a loop:
// loops import it, and so may any component.
package loop

import (
	"fmt"
	"runtime/debug"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// ReasonInternalError is the Event reason on an object whose processing
// panicked.
const ReasonInternalError = "TailorInternalError"

var panicsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "tailor_panics_total",
	Help: "Panics recovered in a background loop, by component; each cost one object's (or one pass's) work, not the process.",
}, []string{"component"})

var skippedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "tailor_skipped_objects_total",
	Help: "Objects a loop leaves alone, counted once per object, by component and reason (namespace_not_opted_in).",
}, []string{"component", "reason"})

func init() { ctrlmetrics.Registry.MustRegister(panicsTotal, skippedTotal) }

// Guard runs fn and turns a panic inside it into an error: counted under
// component, logged with its stack, and returned so that the caller can
// mark the object it was working on (an Event, a condition) and go on.
func Guard(component string, log logr.Logger, fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			panicsTotal.WithLabelValues(component).Inc()
			err = fmt.Errorf("internal error (recovered panic): %v", r)
			log.Error(err, "recovered a panic; the object is skipped this pass", "component", component, "stack", string(debug.Stack()))
		}
	}()
	fn()
	return nil
}

// ListFailed logs why a pass could not list the objects it works on (kind,
// e.g. "VerticalPodAutoscaler"), naming the fix when the API is not
// installed at all.
func ListFailed(log logr.Logger, err error, kind string) {
	if meta.IsNoMatchError(err) {
		log.Error(err, "the "+kind+" API is not installed (kubectl apply -f deploy/crds/)")
		return
	}
	log.Error(err, "list "+kind+"s")
}
