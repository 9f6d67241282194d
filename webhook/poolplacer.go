package webhook

import (
	"strconv"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/placement"
	"github.com/tailor-dev/tailor/provisioner/scope"
)

// PoolPlacer is the Placer over NodePools: the provisioner's pure
// placement, compiled on every Set (a NodePool changed: rare) so that
// admission only runs Place. cmd/tailor feeds it from the NodePool
// informer.
type PoolPlacer struct {
	// Pools: only the installation's NodePools are chosen
	// (--nodepool-selector); set before the first Set.
	Pools scope.Pools
	snap  atomic.Pointer[poolSnapshot]
}

type poolSnapshot struct {
	placer *placement.Placer
	// why of each pool, for the annotation: built here, not per pod.
	why map[string]string
}

// Set compiles pools (their status.resources the usage limits count);
// pools being deleted, and other installations' pools, are left out.
func (p *PoolPlacer) Set(pools []*provisionerv1.NodePool) {
	s := &poolSnapshot{why: make(map[string]string, len(pools))}
	in := make([]placement.Pool, 0, len(pools))
	for _, np := range pools {
		if np.DeletionTimestamp != nil || !p.Pools.Pool(np) {
			continue
		}
		in = append(in, placement.Pool{NodePool: np, Usage: np.Status.Resources})
		weight := "no weight"
		if np.Spec.Weight != nil {
			weight = "weight " + strconv.Itoa(int(*np.Spec.Weight))
		}
		s.why[np.Name] = "the highest-weight pool (" + weight + ") whose requirements, taints and limits the pod fits"
	}
	s.placer = placement.New(in)
	p.snap.Store(s)
}

// Place implements Placer; before the first Set there are no pools.
func (p *PoolPlacer) Place(pod *corev1.Pod) Placement {
	s := p.snap.Load()
	if s == nil {
		return Placement{}
	}
	res := s.placer.Place(pod)
	out := Placement{Pool: res.Pool, Why: s.why[res.Pool]}
	if len(res.Rejected) > 0 {
		out.Rejected = make([]string, len(res.Rejected))
		for i, r := range res.Rejected {
			out.Rejected[i] = r.String()
		}
	}
	return out
}
