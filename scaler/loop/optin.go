package loop

import (
	"context"
	"fmt"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/tailor-dev/tailor/scaler/coordination"
)

// OptIn applies the installation's coordination.Scope for a loop: it reads
// namespaces from the cache once per pass and tells each object left alone
// why, once (a Warning Event), counting it in tailor_skipped_objects_total.
type OptIn struct {
	Component string
	Reader    client.Reader
	Recorder  recorder.EventRecorder
	Scope     coordination.Scope
	// SelectorOnly: the scope's selector alone decides (Scope.Selects), not
	// opt-in — for replica counts, which need no admission, and for undoing
	// a startup boost, which must happen even if the namespace opted out
	// since.
	SelectorOnly bool
	Log          logr.Logger

	pass map[string]bool
	told map[types.UID]bool
}

// NewPass forgets the namespaces read in the previous pass.
func (o *OptIn) NewPass() { o.pass = map[string]bool{} }

// Allows reports whether the loop may act on obj; when not, the first time
// for obj, an Event says what is left undone (doing) and why.
func (o *OptIn) Allows(ctx context.Context, obj client.Object, doing string) bool {
	ns := obj.GetNamespace()
	in, seen := o.pass[ns]
	if !seen {
		in = o.read(ctx, ns)
		if o.pass == nil {
			o.pass = map[string]bool{}
		}
		o.pass[ns] = in
	}
	if in {
		return true
	}
	if o.told == nil {
		o.told = map[types.UID]bool{}
	}
	if !o.told[obj.GetUID()] {
		o.told[obj.GetUID()] = true
		skippedTotal.WithLabelValues(o.Component, "namespace_not_opted_in").Inc()
		why := fmt.Sprintf("namespace %s is not opted in (label %s=true; never kube-system or Tailor's own), so pods there are not sized at admission", ns, coordination.EnabledLabel)
		if o.SelectorOnly {
			why = fmt.Sprintf("namespace %s is not this installation's", ns)
		}
		if o.Scope.Selective() {
			why += fmt.Sprintf("; this installation acts only in namespaces matching --namespace-selector %q", o.Scope.Selector.String())
		}
		o.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, coordination.ReasonNotOptedIn, "Skip", "%s: %s", doing, why)
	}
	return false
}

// InScope reports whether the rule holds for namespace, read from the
// cache now; no Event (for loops that run per object, not per pass).
func (o *OptIn) InScope(ctx context.Context, namespace string) bool { return o.read(ctx, namespace) }

// read is the namespace rule on the cached namespace (metadata only: the
// labels are all it needs, and the webhook's placement reads the same
// informer); one that cannot be
// read counts as not opted in: leave its objects alone this pass.
func (o *OptIn) read(ctx context.Context, name string) bool {
	if o.SelectorOnly && !o.Scope.Selective() {
		return true // every namespace: nothing to read
	}
	if !o.SelectorOnly && o.Scope.Excluded(name) {
		return false
	}
	ns := &metav1.PartialObjectMetadata{}
	ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	if err := o.Reader.Get(ctx, client.ObjectKey{Name: name}, ns); err != nil {
		o.Log.Error(err, "read namespace; its objects are left alone this pass", "namespace", name)
		return false
	}
	if o.SelectorOnly {
		return o.Scope.Selects(ns.Labels)
	}
	return o.Scope.OptedIn(name, ns.Labels)
}
