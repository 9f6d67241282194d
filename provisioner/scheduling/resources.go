package scheduling

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	resourcehelper "k8s.io/component-helpers/resource"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
)

// maxDims bounds the resources one solve can track: cpu, memory, pods,
// ephemeral-storage and a few extended resources. A fixed array keeps the
// fit test of the inner loop free of maps and allocations.
const maxDims = 10

// Dimensions 0–2 are fixed; the rest are assigned as resources appear.
const (
	dimCPU = iota
	dimMemory
	dimPods
)

// vec is a resource amount: CPU in millicores, everything else in units.
type vec [maxDims]int64

func (v *vec) add(o *vec) {
	for i := range v {
		v[i] += o[i]
	}
}

func (v *vec) sub(o *vec) {
	for i := range v {
		v[i] -= o[i]
	}
}

// fits reports whether v+w ≤ capacity in every dimension.
func fits(v, w, capacity *vec) bool {
	for i := range v {
		if v[i]+w[i] > capacity[i] {
			return false
		}
	}
	return true
}

func maxVec(a, b *vec) {
	for i := range a {
		if b[i] > a[i] {
			a[i] = b[i]
		}
	}
}

// dims maps resource names to vec indexes for one solve.
type dims struct {
	index map[corev1.ResourceName]int
	names []corev1.ResourceName
}

func newDims() *dims {
	d := &dims{index: map[corev1.ResourceName]int{}}
	for _, n := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourcePods} {
		d.index[n] = len(d.names)
		d.names = append(d.names, n)
	}
	return d
}

// register adds the names of rl; it fails past maxDims.
func (d *dims) register(rl corev1.ResourceList) error {
	for n := range rl {
		if _, ok := d.index[n]; ok || n == provisionerv1.ResourceNodes {
			continue
		}
		if len(d.names) == maxDims {
			return fmt.Errorf("more than %d distinct resources (at %s)", maxDims, n)
		}
		d.index[n] = len(d.names)
		d.names = append(d.names, n)
	}
	return nil
}

// vec converts rl; names not registered are ignored ("nodes" always is).
func (d *dims) vec(rl corev1.ResourceList) vec {
	var v vec
	for n, q := range rl {
		i, ok := d.index[n]
		if !ok {
			continue
		}
		v[i] = amount(i, q)
	}
	return v
}

func amount(i int, q resource.Quantity) int64 {
	if i == dimCPU {
		return q.MilliValue()
	}
	return q.Value()
}

// list converts v back, leaving zeros out.
func (d *dims) list(v *vec) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i, n := range d.names {
		if v[i] == 0 {
			continue
		}
		if i == dimCPU {
			out[n] = *resource.NewMilliQuantity(v[i], resource.DecimalSI)
		} else if i == dimMemory {
			out[n] = *resource.NewQuantity(v[i], resource.BinarySI)
		} else {
			out[n] = *resource.NewQuantity(v[i], resource.DecimalSI)
		}
	}
	return out
}

// podRequests are the pod's effective requests (the larger of the regular
// containers' sum and each init container, sidecars included, plus pod
// overhead: the kubelet's rule) and one pod slot.
func podRequests(pod *corev1.Pod) corev1.ResourceList {
	rl := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
	rl[corev1.ResourcePods] = *resource.NewQuantity(1, resource.DecimalSI)
	return rl
}
