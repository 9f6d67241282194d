package sizing

import (
	"strconv"
	"strings"

	jsonpatch "gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// maxAnnotation keeps the summary compact even for pods with many containers.
const maxAnnotation = 2048

// delta is one changed value of one container: a request or a limit of one
// resource whose new value differs from the submitted one.
type delta struct {
	set      bool   // the value changes
	had      bool   // the key was present in the submitted map
	old, new string // canonical spellings; old is "" when !had
}

// itemDeltas are the changed requests and limits of one container, by kind.
type itemDeltas struct {
	req, lim [numKinds]delta
}

func (x *itemDeltas) any(lim bool) bool {
	ds := &x.req
	if lim {
		ds = &x.lim
	}
	for ki := range ds {
		if ds[ki].set {
			return true
		}
	}
	return false
}

// build renders the decision: the per-container changes, the JSON patch and
// the annotation. The patch paths of all containers are written into one
// buffer and sliced from a single string afterwards, and the annotation is
// written in place, to keep the admission path's allocations down.
func (d *decider) build() Decision {
	var dec Decision
	// On the stack for most pods: only the two strings made of them at
	// the end reach the heap.
	var annBuf [512]byte
	var pathBuf [768]byte
	var endBuf [16]int
	ann, paths := annBuf[:0], pathBuf[:0]
	ends := endBuf[:0] // end offset in paths of each op's path, by op index
	omitted, changes := 0, 0
	for i := range d.items {
		it := &d.items[i]
		var x itemDeltas
		ch, ok := d.change(it, &x)
		if !ok {
			continue
		}
		if changes++; changes == 1 {
			rest := len(d.items) - i
			if !d.patchOnly {
				dec.Changes = make([]ContainerChange, 0, rest)
			}
			// Room for up to four ops per container and the caller's annotation op.
			dec.Patch = make([]jsonpatch.JsonPatchOperation, 0, 4*rest+1)
		}
		dec.Patch, paths, ends = appendPatch(dec.Patch, paths, ends, it, &ch, &x)

		start := len(ann)
		if start > 0 {
			ann = append(ann, "; "...)
		}
		segStart := len(ann)
		ann = appendSummary(ann, it, &ch, &x)
		if start+len(ann)-segStart > maxAnnotation {
			ann = ann[:start]
			omitted++
		}
		if !d.patchOnly {
			dec.Changes = append(dec.Changes, ch)
		}
	}
	if changes == 0 {
		dec.Skipped = SkipNoChange
		return dec
	}
	all := string(paths)
	from := 0
	for j, end := range ends {
		dec.Patch[j].Path = all[from:end]
		from = end
	}
	if omitted > 0 {
		ann = append(ann, "; +"...)
		ann = strconv.AppendInt(ann, int64(omitted), 10)
		ann = append(ann, " more"...)
	}
	ann = append(ann, " (vpa "...)
	ann = append(ann, d.vpa.Name...)
	ann = append(ann, ')')
	dec.Annotation = string(ann)
	return dec
}

// change returns the container's change, and false when nothing differs; x
// receives the changed values. Maps of After that do not change are shared
// with Before (and so with the input pod); the ones that do are copies.
func (d *decider) change(it *item, x *itemDeltas) (ContainerChange, bool) {
	changed := false
	for ki := range it.slots {
		s := &it.slots[ki]
		if !s.active {
			continue
		}
		if !s.reqKey || s.req != s.newReq || s.setLim && (!s.limKey || s.lim != s.newLim) {
			changed = true
		}
	}
	if !changed {
		return ContainerChange{}, false
	}
	ch := ContainerChange{Name: it.c.Name, Init: it.init, Index: it.index}
	ch.Before = it.c.Resources
	ch.After = it.c.Resources
	var newReq, newLim [numKinds]resource.Quantity
	for ki := range it.slots {
		s := &it.slots[ki]
		if !s.active {
			continue
		}
		k, lr := &kinds[ki], &d.lr[ki]
		if !s.reqKey || s.req != s.newReq {
			newReq[ki] = k.quantity(s.newReq, s.targetQ, s.polMin.q, s.polMax.q, lr.min.q, lr.max.q, qptr(s.reqKey, &s.reqQ))
			x.req[ki].set = true
		}
		if s.setLim && (!s.limKey || s.lim != s.newLim) {
			newLim[ki] = k.quantity(s.newLim, qptr(s.limKey, &s.limQ), lr.def.q, lr.max.q, s.targetQ)
			x.lim[ki].set = true
		}
		ch.Reasons = append(ch.Reasons, s.reasons...)
		if s.podWhy != "" {
			ch.Reasons = append(ch.Reasons, s.podWhy)
		}
	}
	if !d.patchOnly && x.any(false) {
		ch.After.Requests = withValues(ch.Before.Requests, &newReq, &x.req)
	}
	if !d.patchOnly && x.any(true) {
		ch.After.Limits = withValues(ch.Before.Limits, &newLim, &x.lim)
	}
	// Record what differs from the submitted value, as the patch and the
	// summary show it.
	for ki := range it.slots {
		s := &it.slots[ki]
		if r := &x.req[ki]; r.set {
			r.had = s.reqKey
			if r.had && s.reqQ.Cmp(newReq[ki]) == 0 {
				r.set = false
			} else {
				if r.had {
					r.old = s.reqQ.String()
				}
				r.new = newReq[ki].String()
			}
		}
		if l := &x.lim[ki]; l.set {
			l.had = s.limKey
			if l.had && s.limQ.Cmp(newLim[ki]) == 0 {
				l.set = false
			} else {
				if l.had {
					l.old = s.limQ.String()
				}
				l.new = newLim[ki].String()
			}
		}
	}
	if d.inPlace {
		// The patch needs only which keys were there (x) and whether a map
		// was empty, which a write cannot change: an empty map stays
		// empty in ch.Before (a new one is made) or was nil.
		writeValues(&it.c.Resources.Requests, &newReq, &x.req)
		writeValues(&it.c.Resources.Limits, &newLim, &x.lim)
	}
	return ch, true
}

// writeValues sets the changed values in *l, making the map when needed.
func writeValues(l *corev1.ResourceList, vals *[numKinds]resource.Quantity, ds *[numKinds]delta) {
	for ki := range ds {
		if !ds[ki].set {
			continue
		}
		if len(*l) == 0 {
			*l = make(corev1.ResourceList, numKinds)
		}
		(*l)[kinds[ki].name] = vals[ki]
	}
}

// withValues returns a copy of before with the set values replaced.
func withValues(before corev1.ResourceList, vals *[numKinds]resource.Quantity, ds *[numKinds]delta) corev1.ResourceList {
	out := make(corev1.ResourceList, len(before)+numKinds)
	for name, q := range before {
		out[name] = q.DeepCopy()
	}
	for ki := range ds {
		if ds[ki].set {
			out[kinds[ki].name] = vals[ki]
		}
	}
	return out
}

func qptr(ok bool, q *resource.Quantity) *resource.Quantity {
	if ok {
		return q
	}
	return nil
}

// appendPatch adds the operations that turn ch.Before into ch.After. A map
// that is absent (or empty, which JSON omits) is added whole, since RFC 6902
// cannot add a key under a missing parent. Paths are appended to paths and
// their end offsets to ends; build sets each op's Path from them.
func appendPatch(ops []jsonpatch.JsonPatchOperation, paths []byte, ends []int, it *item, ch *ContainerChange, x *itemDeltas) ([]jsonpatch.JsonPatchOperation, []byte, []int) {
	base := len(paths)
	if it.init {
		paths = append(paths, "/spec/initContainers/"...)
	} else {
		paths = append(paths, "/spec/containers/"...)
	}
	paths = strconv.AppendInt(paths, int64(it.index), 10)
	paths = append(paths, "/resources"...)
	hasReq, hasLim := x.any(false), x.any(true)
	if len(ch.Before.Requests) == 0 && len(ch.Before.Limits) == 0 && len(ch.Before.Claims) == 0 {
		// Nothing in resources to keep: set it whole, which also works when
		// the resources object itself is absent.
		v := map[string]any{}
		if hasReq {
			v["requests"] = valueMap(&x.req)
		}
		if hasLim {
			v["limits"] = valueMap(&x.lim)
		}
		return append(ops, jsonpatch.Operation{Operation: "add", Value: v}), paths, append(ends, len(paths))
	}
	// The prefix is copied out and dropped from paths: each op's path repeats it.
	var pb [64]byte
	prefix := append(pb[:0], paths[base:]...)
	paths = paths[:base]
	ops, paths, ends = appendMapPatch(ops, paths, ends, prefix, "/requests", ch.Before.Requests, &x.req, hasReq)
	return appendMapPatch(ops, paths, ends, prefix, "/limits", ch.Before.Limits, &x.lim, hasLim)
}

func appendMapPatch(ops []jsonpatch.JsonPatchOperation, paths []byte, ends []int, prefix []byte, field string, before corev1.ResourceList, ds *[numKinds]delta, has bool) ([]jsonpatch.JsonPatchOperation, []byte, []int) {
	if !has {
		return ops, paths, ends
	}
	if len(before) == 0 {
		paths = append(append(paths, prefix...), field...)
		return append(ops, jsonpatch.Operation{Operation: "add", Value: valueMap(ds)}), paths, append(ends, len(paths))
	}
	for ki := range kinds { // fixed order keeps the patch deterministic
		dl := &ds[ki]
		if !dl.set {
			continue
		}
		op := "add"
		if dl.had {
			op = "replace"
		}
		paths = append(append(append(append(paths, prefix...), field...), '/'), EscapePointer(string(kinds[ki].name))...)
		ops = append(ops, jsonpatch.Operation{Operation: op, Value: dl.new})
		ends = append(ends, len(paths))
	}
	return ops, paths, ends
}

// valueMap returns the changed values as the JSON object a patch adds.
func valueMap(ds *[numKinds]delta) map[string]string {
	out := make(map[string]string, numKinds)
	for ki := range ds {
		if ds[ki].set {
			out[string(kinds[ki].name)] = ds[ki].new
		}
	}
	return out
}

// EscapePointer escapes one JSON pointer segment per RFC 6901 (a resource
// name here, an annotation key in the webhook).
func EscapePointer(s string) string {
	if !strings.ContainsAny(s, "~/") {
		return s
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// appendSummary renders e.g. "hamster: cpu 100m->587m, memory 50Mi->262144k, cpu limit 200m->1174m".
func appendSummary(b []byte, it *item, ch *ContainerChange, x *itemDeltas) []byte {
	b = append(b, ch.Name...)
	b = append(b, ':')
	first := true
	write := func(name corev1.ResourceName, limit bool, dl *delta) {
		if !dl.set {
			return
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, ' ')
		b = append(b, name...)
		if limit {
			b = append(b, " limit"...)
		}
		b = append(b, ' ')
		if dl.had {
			b = append(b, dl.old...)
		} else {
			b = append(b, "unset"...)
		}
		b = append(b, "->"...)
		b = append(b, dl.new...)
	}
	for ki := range kinds {
		if it.slots[ki].active {
			write(kinds[ki].name, false, &x.req[ki])
		}
	}
	for ki := range kinds {
		if it.slots[ki].active {
			write(kinds[ki].name, true, &x.lim[ki])
		}
	}
	return b
}
