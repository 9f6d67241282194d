package simulate

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/tailor-dev/tailor/provisioner/requirements"
	"github.com/tailor-dev/tailor/provisioner/scheduling"
)

// FFD is the textbook baseline the issue measures the provisioner
// against, first-fit decreasing: a batch's pods, largest CPU request
// first (then memory), each go on the first node (oldest first, then the
// batch's new ones) with room for its CPU, memory, GPUs and a pod slot;
// a pod that fits none opens a node of the cheapest type that holds it
// alone. It knows nothing of node requirements or topology: it is for
// traces of plain pods, like the shared ones.
type FFD struct{}

// Name of the policy.
func (FFD) Name() string { return "ffd" }

var ffdResources = [4]corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, gpuResource, corev1.ResourcePods}

type ffdBin struct {
	name  string
	kind  scheduling.Kind
	claim int
	free  [4]int64
	// taints and unschedulable keep pods off (a disruption command's
	// tainted candidates, cordoned nodes), as they keep the solver's.
	taints        []corev1.Taint
	unschedulable bool
}

// takes: the bin takes pod p (taints and cordon; not its room).
func (b *ffdBin) takes(p *corev1.Pod) bool {
	if b.unschedulable {
		return false
	}
	_, bad := requirements.Untolerated(b.taints, p.Spec.Tolerations)
	return !bad
}

func ffdVec(rl corev1.ResourceList) [4]int64 {
	var v [4]int64
	for i, n := range ffdResources {
		q := rl[n]
		if n == corev1.ResourceCPU {
			v[i] = q.MilliValue()
		} else {
			v[i] = q.Value()
		}
	}
	return v
}

func fits(free, req [4]int64) bool {
	for i := range free {
		if req[i] > free[i] {
			return false
		}
	}
	return true
}

// Solve places in.Pods first-fit decreasing (one pool: the first).
func (FFD) Solve(in scheduling.Input) (*scheduling.Result, error) {
	if len(in.Pools) != 1 {
		return nil, fmt.Errorf("ffd: want one pool, got %d", len(in.Pools))
	}
	pool := in.Pools[0]
	reqs, err := requirements.FromNodePool(pool.NodePool)
	if err != nil {
		return nil, err
	}
	allowed := allowedCapacityTypes(pool.NodePool)
	var bins []ffdBin
	for _, n := range in.Nodes {
		b := ffdBin{name: n.Name, kind: scheduling.ExistingNode, free: ffdVec(n.Allocatable), taints: n.Taints, unschedulable: n.Unschedulable}
		if n.InFlight {
			b.kind = scheduling.InFlightNode
		}
		for _, p := range n.Pods {
			r := ffdVec(in.Requests.Of(p))
			r[3] = 1
			for i := range b.free {
				b.free[i] -= r[i]
			}
		}
		bins = append(bins, b)
	}
	req := make([][4]int64, len(in.Pods))
	order := make([]int, len(in.Pods))
	for i, p := range in.Pods {
		req[i] = ffdVec(in.Requests.Of(p))
		req[i][3] = 1
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Or(cmp.Compare(req[b][0], req[a][0]), cmp.Compare(req[b][1], req[a][1]))
	})
	res := &scheduling.Result{Placements: make([]scheduling.Placement, len(in.Pods))}
	for _, i := range order {
		pl := scheduling.Placement{Pod: in.Pods[i]}
		k := slices.IndexFunc(bins, func(b ffdBin) bool { return fits(b.free, req[i]) && b.takes(in.Pods[i]) })
		if k < 0 {
			var best *scheduling.InstanceType
			price := math.Inf(1)
			for _, it := range pool.InstanceTypes {
				if p := cheapest(it, allowed); p < price && fits(ffdVec(it.Allocatable), req[i]) {
					best, price = it, p
				}
			}
			if best == nil {
				pl.Kind, pl.Reason = scheduling.Unschedulable, "no instance type holds it"
				res.Placements[i] = pl
				continue
			}
			res.Claims = append(res.Claims, &scheduling.Claim{Pool: pool.NodePool.Name, Requirements: reqs,
				InstanceTypes: []*scheduling.InstanceType{best}, Price: price})
			bins = append(bins, ffdBin{kind: scheduling.NewClaim, claim: len(res.Claims) - 1, free: ffdVec(best.Allocatable)})
			k = len(bins) - 1
		}
		b := &bins[k]
		for j := range b.free {
			b.free[j] -= req[i][j]
		}
		pl.Kind, pl.Node, pl.Claim = b.kind, b.name, b.claim
		if b.kind == scheduling.NewClaim {
			c := res.Claims[b.claim]
			c.Pods = append(c.Pods, in.Pods[i])
		}
		res.Placements[i] = pl
	}
	return res, nil
}
