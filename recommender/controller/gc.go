package controller

import (
	"context"

	"k8s.io/apimachinery/pkg/types"

	"github.com/tailor-dev/tailor/recommender/model"
)

// stalePasses: pod-container state unseen for this many passes (the pod
// is gone, or its namespace could not be listed for a while) is dropped.
const stalePasses = 3

// gc drops the state of VPAs that are gone, of pod containers not seen
// lately, and of aggregates without samples for a whole memory window.
// Checkpoints go with the aggregate when the VPA is gone or the history
// expired; a VPA handed to another recommender keeps them.
func (r *Recommender) gc(ctx context.Context, live, exists map[types.NamespacedName]bool) {
	for k, pc := range r.pods {
		if !live[k.vpa] || r.pass-pc.seenPass >= stalePasses {
			delete(r.pods, k)
		}
	}
	for k := range r.fetched {
		if !live[k] {
			delete(r.fetched, k)
		}
	}
	for vpa, names := range r.containers {
		for name := range names {
			k := model.Key{Namespace: vpa.Namespace, VPA: vpa.Name, Container: name}
			a := r.set.Get(k)
			expired := a == nil || a.Expired(r.now())
			if !live[vpa] || expired {
				r.set.Delete(k)
				delete(r.adaptive, k)
				delete(names, name)
				if expired || !exists[vpa] {
					r.dropCheckpoint(ctx, k)
				} else {
					delete(r.written, k)
				}
			}
		}
		if len(names) == 0 {
			delete(r.containers, vpa)
		}
	}
}
