package loop

import (
	"context"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/tailor-dev/tailor/scaler/coordination"
)

// OptIn applies coordination.OptedIn for a loop: it reads namespaces from
// the cache once per pass and tells each object left alone why, once (a
// Warning Event), counting it in tailor_skipped_objects_total.
type OptIn struct {
	Component       string
	Reader          client.Reader
	Recorder        recorder.EventRecorder
	TailorNamespace string
	Log             logr.Logger

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
		o.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, coordination.ReasonNotOptedIn, "Skip",
			"%s: namespace %s is not opted in (label %s=true; never kube-system or Tailor's own), so pods there are not sized at admission",
			doing, ns, coordination.EnabledLabel)
	}
	return false
}

// read is the namespace rule on the cached namespace (metadata only: the
// labels are all it needs, and the webhook's placement reads the same
// informer); one that cannot be
// read counts as not opted in: leave its objects alone this pass.
func (o *OptIn) read(ctx context.Context, name string) bool {
	ns := &metav1.PartialObjectMetadata{}
	ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	if err := o.Reader.Get(ctx, client.ObjectKey{Name: name}, ns); err != nil {
		o.Log.Error(err, "read namespace; its objects are left alone this pass", "namespace", name)
		return false
	}
	return coordination.OptedIn(name, ns.Labels, o.TailorNamespace)
}
