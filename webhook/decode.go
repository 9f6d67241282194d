package webhook

import (
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	kjson "sigs.k8s.io/json"

	"github.com/tailor-dev/tailor/recommender/sizing"
)

// decodePod decodes the fields of a pod that sizing, the boost and
// placement read, in one pass of the review's scanner over the object:
// metadata (names, labels, annotations, ownerReferences) and spec
// (containers and init containers with their resources, restart and
// resize policies; nodeName, nodeSelector, affinity, tolerations,
// overhead, pod-level resources). Everything else (env, probes, volumes,
// managedFields, …) is skipped without being decoded. Keys match
// case-sensitively, as the API server writes them; null is an absent
// field; a value of the wrong type is an error, as encoding/json would
// make it. The rarely set, deeply structured fields (affinity, resource
// claims, resize policies, pod-level resources) go through the API
// machinery's JSON decoder. Strings repeated from pod to pod (label keys
// and values, owner and container names, quantities) come from in, so
// that a steady stream of one workload's pods allocates only its maps and
// slices — and those it decodes into b's, kept from the review before
// (nil b: fresh ones). The pod is b's: valid until b decodes the next.
func decodePod(raw []byte, b *podBuffers) (*corev1.Pod, error) {
	if b == nil {
		b = &podBuffers{}
	}
	b.reset()
	d := podDecoder{s: scanner{data: raw}, in: &b.intern, b: b}
	pod := &b.pod
	d.object(func(key []byte) {
		switch string(key) {
		case "metadata":
			d.metadata(pod)
		case "spec":
			d.spec(&pod.Spec)
		default:
			d.s.skip()
		}
	})
	d.s.end()
	if d.s.err != nil {
		return nil, fmt.Errorf("decode pod: %w", d.s.err)
	}
	return pod, nil
}

type podDecoder struct {
	s  scanner
	in *interner
	b  *podBuffers
}

// podBuffers is a decoded pod and the memory inside it, kept by a pooled
// review state from one review to the next: a steady stream of pods then
// decodes into slices and maps already there (cleared), and the
// collector has less to do on the API server's critical path. Nothing may
// keep a pointer into the pod past its review: Events and logs copy the
// strings they keep (which are immutable).
type podBuffers struct {
	pod                        corev1.Pod
	containers, initContainers []corev1.Container
	owners                     []metav1.OwnerReference
	tolerations                []corev1.Toleration
	ints                       []int64
	lists                      []corev1.ResourceList
	strMaps                    []map[string]string
	nLists, nStrMaps           int
	intern                     interner
}

// maxPooledMaps bounds the maps a state keeps (a pod with hundreds of
// containers gets fresh ones beyond it).
const maxPooledMaps = 64

func (b *podBuffers) reset() {
	b.pod = corev1.Pod{}
	b.nLists, b.nStrMaps = 0, 0
	b.ints = b.ints[:0]
}

// list is an empty ResourceList: a cleared one of an earlier review when
// there is one.
func (b *podBuffers) list() corev1.ResourceList {
	if b.nLists < len(b.lists) {
		l := b.lists[b.nLists]
		clear(l)
		b.nLists++
		return l
	}
	l := make(corev1.ResourceList, 2)
	if len(b.lists) < maxPooledMaps {
		b.lists = append(b.lists, l)
		b.nLists++
	}
	return l
}

func (b *podBuffers) strMap() map[string]string {
	if b.nStrMaps < len(b.strMaps) {
		m := b.strMaps[b.nStrMaps]
		clear(m)
		b.nStrMaps++
		return m
	}
	m := make(map[string]string, 4)
	if len(b.strMaps) < maxPooledMaps {
		b.strMaps = append(b.strMaps, m)
		b.nStrMaps++
	}
	return m
}

// int64Ptr points at n in b's slab while it has room (pointers into it
// stay valid: the slab is never grown in place).
func (b *podBuffers) int64Ptr(n int64) *int64 {
	if len(b.ints) == cap(b.ints) {
		if cap(b.ints) >= 16 {
			return ptr.To(n) // not &n: n itself would move to the heap on every call
		}
		b.ints = make([]int64, 0, 16)
	}
	b.ints = append(b.ints, n)
	return &b.ints[len(b.ints)-1]
}

// object calls field for each member of an object (null: none).
func (d *podDecoder) object(field func(key []byte)) {
	if d.s.null() {
		return
	}
	d.s.enter('{')
	for first := true; d.s.more('}', &first); {
		field(d.s.key())
	}
}

// array calls elem for each element of an array (null: none).
func (d *podDecoder) array(elem func()) {
	if d.s.null() {
		return
	}
	d.s.enter('[')
	for first := true; d.s.more(']', &first); {
		elem()
	}
}

func (d *podDecoder) str() string {
	if d.s.err != nil {
		return ""
	}
	b := d.s.text()
	if b == nil {
		return ""
	}
	return d.in.str(b)
}

func (d *podDecoder) boolPtr() *bool {
	switch d.s.peek() {
	case 't':
		d.s.literal("true")
		return &trueVal
	case 'f':
		d.s.literal("false")
		return &falseVal
	case 'n':
		d.s.literal("null")
		return nil
	}
	d.s.syntax("want a bool")
	return nil
}

// trueVal and falseVal back decoded *bool fields, which the webhook only
// reads.
var trueVal, falseVal = true, false

func (d *podDecoder) int64Ptr() *int64 {
	if d.s.null() || d.s.err != nil {
		return nil
	}
	start := d.s.ws()
	d.s.number()
	if d.s.err != nil {
		return nil
	}
	n, err := strconv.ParseInt(string(d.s.data[start:d.s.pos]), 10, 64)
	if err != nil {
		d.s.fail(fmt.Errorf("number %s: %w", d.s.data[start:d.s.pos], err))
		return nil
	}
	return d.b.int64Ptr(n)
}

// stringMap decodes an object of strings into *m, adding to a map already
// there (a repeated key), as encoding/json does.
func (d *podDecoder) stringMap(m *map[string]string) {
	if d.s.null() {
		return
	}
	if *m == nil {
		*m = d.b.strMap()
	}
	d.object(func(key []byte) {
		k := d.in.str(key)
		(*m)[k] = d.str()
	})
}

// resourceList decodes quantities, written as strings or numbers.
func (d *podDecoder) resourceList(l *corev1.ResourceList) {
	if d.s.null() {
		return
	}
	if *l == nil {
		*l = d.b.list()
	}
	d.object(func(key []byte) {
		name := corev1.ResourceName(d.in.str(key))
		var v string
		switch c := d.s.peek(); {
		case c == '"':
			// As written, escapes included: Quantity.UnmarshalJSON does
			// not unescape either.
			v = d.in.str(d.s.rawText())
		case c == '-' || isDigit(c):
			start := d.s.ws()
			d.s.number()
			v = d.in.str(d.s.data[start:d.s.pos])
		case c == 'n':
			d.s.literal("null")
			(*l)[name] = resource.Quantity{}
			return
		default:
			d.s.syntax("want a quantity")
			return
		}
		// Out of range (sizing.ErrOutOfRange), the pod is not read: every
		// comparison or sum would take hours.
		q, err := sizing.ParseQuantity(strings.TrimSpace(v))
		if err != nil {
			d.s.fail(fmt.Errorf("quantity %s %q: %w", name, v, err))
			return
		}
		(*l)[name] = q
	})
}

// sub decodes the next value into v with the API machinery's decoder.
func (d *podDecoder) sub(v any) {
	start := d.s.ws()
	d.s.skip()
	if d.s.err != nil {
		return
	}
	if err := kjson.UnmarshalCaseSensitivePreserveInts(d.s.data[start:d.s.pos], v); err != nil {
		d.s.fail(err)
	}
}

func (d *podDecoder) metadata(pod *corev1.Pod) {
	d.object(func(key []byte) {
		switch string(key) {
		case "name":
			pod.Name = string(d.s.text()) // unique: not interned
		case "generateName":
			pod.GenerateName = d.str()
		case "namespace":
			pod.Namespace = d.str()
		case "labels":
			d.stringMap(&pod.Labels)
		case "annotations":
			d.stringMap(&pod.Annotations)
		case "ownerReferences":
			if d.s.null() {
				pod.OwnerReferences = nil
				break
			}
			pod.OwnerReferences = d.b.owners[:0:cap(d.b.owners)]
			if pod.OwnerReferences == nil {
				pod.OwnerReferences = make([]metav1.OwnerReference, 0, 1)
			}
			d.array(func() {
				var o metav1.OwnerReference
				d.object(func(key []byte) {
					switch string(key) {
					case "apiVersion":
						o.APIVersion = d.str()
					case "kind":
						o.Kind = d.str()
					case "name":
						o.Name = d.str()
					case "uid":
						o.UID = types.UID(d.str())
					case "controller":
						o.Controller = d.boolPtr()
					case "blockOwnerDeletion":
						o.BlockOwnerDeletion = d.boolPtr()
					default:
						d.s.skip()
					}
				})
				pod.OwnerReferences = append(pod.OwnerReferences, o)
			})
			d.b.owners = pod.OwnerReferences
		default:
			d.s.skip()
		}
	})
}

func (d *podDecoder) spec(spec *corev1.PodSpec) {
	d.object(func(key []byte) {
		switch string(key) {
		case "containers":
			spec.Containers = d.containers(&d.b.containers)
		case "initContainers":
			spec.InitContainers = d.containers(&d.b.initContainers)
		case "nodeName":
			spec.NodeName = d.str()
		case "nodeSelector":
			d.stringMap(&spec.NodeSelector)
		case "affinity":
			spec.Affinity = nil
			d.sub(&spec.Affinity)
		case "tolerations":
			if d.s.null() {
				spec.Tolerations = nil
				break
			}
			spec.Tolerations = d.b.tolerations[:0:cap(d.b.tolerations)]
			if spec.Tolerations == nil {
				spec.Tolerations = make([]corev1.Toleration, 0, 2)
			}
			d.array(func() {
				var t corev1.Toleration
				d.object(func(key []byte) {
					switch string(key) {
					case "key":
						t.Key = d.str()
					case "operator":
						t.Operator = corev1.TolerationOperator(d.str())
					case "value":
						t.Value = d.str()
					case "effect":
						t.Effect = corev1.TaintEffect(d.str())
					case "tolerationSeconds":
						t.TolerationSeconds = d.int64Ptr()
					default:
						d.s.skip()
					}
				})
				spec.Tolerations = append(spec.Tolerations, t)
			})
			d.b.tolerations = spec.Tolerations
		case "overhead":
			d.resourceList(&spec.Overhead)
		case "resources":
			spec.Resources = nil
			d.sub(&spec.Resources)
		default:
			d.s.skip()
		}
	})
}

// containers decodes a containers array (null: nil, [] an empty slice)
// into *buf's memory.
func (d *podDecoder) containers(buf *[]corev1.Container) []corev1.Container {
	if d.s.null() {
		return nil
	}
	out := (*buf)[:0:cap(*buf)]
	if out == nil {
		out = make([]corev1.Container, 0, 4)
	}
	defer func() { *buf = out }()
	d.array(func() {
		var c corev1.Container
		d.object(func(key []byte) {
			switch string(key) {
			case "name":
				c.Name = d.str()
			case "resources":
				d.object(func(key []byte) {
					switch string(key) {
					case "requests":
						d.resourceList(&c.Resources.Requests)
					case "limits":
						d.resourceList(&c.Resources.Limits)
					case "claims":
						// Decoded apart: c itself would escape to the heap.
						var claims []corev1.ResourceClaim
						d.sub(&claims)
						c.Resources.Claims = claims
					default:
						d.s.skip()
					}
				})
			case "restartPolicy":
				if d.s.null() {
					c.RestartPolicy = nil
					break
				}
				p := corev1.ContainerRestartPolicy(d.str())
				c.RestartPolicy = &p
			case "resizePolicy":
				var policy []corev1.ContainerResizePolicy
				d.sub(&policy)
				c.ResizePolicy = policy
			default:
				d.s.skip()
			}
		})
		out = append(out, c)
	})
	return out
}

// interner hands out one string for equal byte sequences: the strings of
// a workload's pods repeat from review to review. Each pooled review state
// has its own, so no lock is taken; it is bounded and starts over when
// full.
type interner struct {
	m map[string]string
}

const (
	maxInterned   = 4096
	maxInternSize = 128
)

func (in *interner) str(b []byte) string {
	if in == nil || len(b) > maxInternSize {
		return string(b)
	}
	if s, ok := in.m[string(b)]; ok {
		return s
	}
	if in.m == nil {
		in.m = make(map[string]string, 64)
	} else if len(in.m) >= maxInterned {
		clear(in.m)
	}
	s := string(b)
	in.m[s] = s
	return s
}
