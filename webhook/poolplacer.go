package webhook

import (
	"strconv"
	"strings"
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
	// The answer's fixed parts for each pool, built here, not per pod.
	chosen map[string]chosenPool
}

type chosenPool struct {
	note, summary string // "nodepool P: why", "nodepool P"
	selector      map[string]string
}

// Set compiles pools (their status.resources the usage limits count);
// pools being deleted, and other installations' pools, are left out.
func (p *PoolPlacer) Set(pools []*provisionerv1.NodePool) {
	s := &poolSnapshot{chosen: make(map[string]chosenPool, len(pools))}
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
		s.chosen[np.Name] = chosenPool{
			note:     "nodepool " + np.Name + ": the highest-weight pool (" + weight + ") whose requirements, taints and limits the pod fits",
			summary:  "nodepool " + np.Name,
			selector: map[string]string{provisionerv1.LabelNodePool: np.Name},
		}
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
	var rejected [4]placement.Rejection
	res := s.placer.Place(pod, rejected[:])
	if res.Pool == "" && len(res.Rejected) == 0 {
		return Placement{}
	}
	out := Placement{Pool: res.Pool, Summary: "no pool fits"}
	head := "no pool fits: "
	if res.Pool != "" {
		c := s.chosen[res.Pool]
		out.NodeSelector, out.Summary, head = c.selector, c.summary, c.note
		if len(res.Rejected) == 0 {
			out.Note = head
			return out
		}
		head += "; passed over "
	}
	// One allocation: the reasons of a pool's taints are rendered once, at
	// Set; the rest only for the pod they concern.
	var partBuf [8]string
	parts := partBuf[:0]
	n := len(head)
	for i := range res.Rejected {
		parts = append(parts, res.Rejected[i].String())
		n += len(parts[i]) + 2
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(head)
	for i, part := range parts {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(part)
	}
	out.Note = b.String()
	return out
}
