// Package placement chooses, at admission time, the NodePool a pod should
// run in: the highest-weight pool whose requirements, taints and limits
// the pod is compatible with. The webhook pins the pod to it with a
// tailor.dev/nodepool node selector and records the rejections as the why.
// It is pure and allocation-light: pools are compiled once (New) and each
// Place is a few requirement intersections.
package placement

import (
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/requirements"
)

// Pool is a NodePool and the capacity its nodes have now (status.resources).
type Pool struct {
	NodePool *provisionerv1.NodePool
	Usage    corev1.ResourceList
}

// Rejection says why a pool was not chosen.
type Rejection struct {
	Pool, Reason string
	// line is String() when it was rendered once for the pool: for the
	// reasons that depend on the pool alone (a taint), every pod gets the
	// same string, not a new one.
	line string
}

// String is "pool: reason".
func (r Rejection) String() string {
	if r.line != "" {
		return r.line
	}
	return r.Pool + ": " + r.Reason
}

func taintReason(t corev1.Taint) string {
	return "does not tolerate taint " + t.Key + "=" + t.Value + ":" + string(t.Effect)
}

func wellKnown(k string) bool { return provisionerv1.WellKnownLabels[k] }

// Result is the chosen pool ("" when none fits) and, for every pool tried
// before it (or every pool, when none fits), why it was passed over.
type Result struct {
	Pool     string
	Rejected []Rejection
}

type pool struct {
	name   string
	weight int32
	reqs   requirements.Requirements
	err    error
	taints []corev1.Taint
	// taintWhy[i] and taintLine[i]: the rejection of a pod that does not
	// tolerate taints[i].
	taintWhy, taintLine []string
	limits              corev1.ResourceList
	usage               corev1.ResourceList
}

// Placer holds compiled pools, heaviest first (ties by name).
type Placer struct {
	pools []pool
}

// New compiles pools. A pool whose requirements do not parse is kept, and
// always rejected with the parse error: it is visible, not silently gone.
func New(pools []Pool) *Placer {
	p := &Placer{pools: make([]pool, 0, len(pools))}
	for _, in := range pools {
		np := in.NodePool
		c := pool{name: np.Name, taints: np.Spec.Template.Spec.Taints, limits: np.Spec.Limits, usage: in.Usage}
		if np.Spec.Weight != nil {
			c.weight = *np.Spec.Weight
		}
		c.reqs, c.err = requirements.FromNodePool(np)
		c.taintWhy, c.taintLine = make([]string, len(c.taints)), make([]string, len(c.taints))
		for i, t := range c.taints {
			c.taintWhy[i] = taintReason(t)
			c.taintLine[i] = c.name + ": " + c.taintWhy[i]
		}
		p.pools = append(p.pools, c)
	}
	sort.SliceStable(p.pools, func(i, j int) bool {
		if p.pools[i].weight != p.pools[j].weight {
			return p.pools[i].weight > p.pools[j].weight
		}
		return p.pools[i].name < p.pools[j].name
	})
	return p
}

// Place picks the pool for pod (whose requests are final: after sizing).
// The rejections are appended to rejected[:0] (nil is fine): a caller
// placing many pods passes a buffer of its own, the admission path one on
// its stack.
func (p *Placer) Place(pod *corev1.Pod, rejected []Rejection) Result {
	res := Result{Rejected: rejected[:0]}
	alts, err := requirements.ForPod(pod)
	if err != nil {
		for _, c := range p.pools {
			res.Rejected = append(res.Rejected, Rejection{Pool: c.name, Reason: "pod node affinity: " + err.Error()})
		}
		return res
	}
	for i := range p.pools {
		c := &p.pools[i]
		rj := Rejection{Pool: c.name}
		if c.err != nil {
			rj.Reason = "pool requirements: " + c.err.Error()
		} else if c.check(pod, alts, &rj) {
			res.Pool = c.name
			return res
		}
		res.Rejected = append(res.Rejected, rj)
	}
	return res
}

// check reports whether pod can go to c, filling rj when not.
func (c *pool) check(pod *corev1.Pod, alts []requirements.Requirements, rj *Rejection) bool {
	if i := requirements.UntoleratedIndex(c.taints, pod.Spec.Tolerations); i >= 0 {
		rj.Reason, rj.line = c.taintWhy[i], c.taintLine[i]
		return false
	}
	ok := false
	for _, a := range alts {
		if _, bad := c.reqs.Conflict(a, wellKnown); !bad {
			ok = true
			break
		}
	}
	if !ok { // explain with the first alternative, as the pod lists them
		rj.Reason = "requirement " + c.reqs.Compatible(alts[0], wellKnown).Error()
		return false
	}
	for name, limit := range c.limits {
		if used := c.usage[name]; used.Cmp(limit) >= 0 {
			rj.Reason = fmt.Sprintf("limit reached: %s %s of %s", name, used.String(), limit.String())
			return false
		}
		if req, ok := podRequest(pod, name); ok && req.Cmp(limit) > 0 {
			rj.Reason = fmt.Sprintf("pod requests %s %s, more than the limit %s", name, req.String(), limit.String())
			return false
		}
	}
	return true
}

// Place is New(pools).Place(pod), for one-off use.
func Place(pod *corev1.Pod, pools []Pool) Result {
	return New(pools).Place(pod, nil)
}
