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

func (d *decider) build() Decision {
	var dec Decision
	var ann strings.Builder
	ann.Grow(128)
	omitted := 0
	for i := range d.items {
		it := &d.items[i]
		ch, ok := d.change(it)
		if !ok {
			continue
		}
		dec.Patch = appendPatch(dec.Patch, it, &ch)
		if seg := summary(it, &ch); ann.Len()+len(seg) <= maxAnnotation {
			if ann.Len() > 0 {
				ann.WriteString("; ")
			}
			ann.WriteString(seg)
		} else {
			omitted++
		}
		dec.Changes = append(dec.Changes, ch)
	}
	if len(dec.Changes) == 0 {
		dec.Skipped = SkipNoChange
		return dec
	}
	if omitted > 0 {
		ann.WriteString("; +" + strconv.Itoa(omitted) + " more")
	}
	ann.WriteString(" (vpa " + d.vpa.Name + ")")
	dec.Annotation = ann.String()
	return dec
}

// change returns the container's change, and false when nothing differs.
func (d *decider) change(it *item) (ContainerChange, bool) {
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
	// Before shares the input pod's maps (Decide never writes them); only
	// After, which is edited below, gets copies.
	ch.Before = it.c.Resources
	it.c.Resources.DeepCopyInto(&ch.After)
	for ki := range it.slots {
		s := &it.slots[ki]
		if !s.active {
			continue
		}
		k, lr := &kinds[ki], &d.lr[ki]
		if !s.reqKey || s.req != s.newReq {
			if ch.After.Requests == nil {
				ch.After.Requests = corev1.ResourceList{}
			}
			ch.After.Requests[k.name] = k.quantity(s.newReq, s.targetQ, s.polMin.q, s.polMax.q, lr.min.q, lr.max.q, qptr(s.reqKey, &s.reqQ))
		}
		if s.setLim && (!s.limKey || s.lim != s.newLim) {
			if ch.After.Limits == nil {
				ch.After.Limits = corev1.ResourceList{}
			}
			ch.After.Limits[k.name] = k.quantity(s.newLim, qptr(s.limKey, &s.limQ), lr.def.q, lr.max.q, s.targetQ)
		}
		ch.Reasons = append(ch.Reasons, s.reasons...)
		if s.podWhy != "" {
			ch.Reasons = append(ch.Reasons, s.podWhy)
		}
	}
	return ch, true
}

func qptr(ok bool, q *resource.Quantity) *resource.Quantity {
	if ok {
		return q
	}
	return nil
}

// appendPatch adds the operations that turn ch.Before into ch.After. A map
// that is absent (or empty, which JSON omits) is added whole, since RFC 6902
// cannot add a key under a missing parent.
func appendPatch(ops []jsonpatch.JsonPatchOperation, it *item, ch *ContainerChange) []jsonpatch.JsonPatchOperation {
	base := "/spec/containers/"
	if it.init {
		base = "/spec/initContainers/"
	}
	base += strconv.Itoa(it.index) + "/resources"
	req := changed(ch.Before.Requests, ch.After.Requests)
	lim := changed(ch.Before.Limits, ch.After.Limits)
	if len(ch.Before.Requests) == 0 && len(ch.Before.Limits) == 0 && len(ch.Before.Claims) == 0 {
		// Nothing in resources to keep: set it whole, which also works when
		// the resources object itself is absent.
		v := map[string]any{}
		if len(req) > 0 {
			v["requests"] = req
		}
		if len(lim) > 0 {
			v["limits"] = lim
		}
		return append(ops, jsonpatch.NewOperation("add", base, v))
	}
	ops = appendMapPatch(ops, base+"/requests", ch.Before.Requests, req)
	return appendMapPatch(ops, base+"/limits", ch.Before.Limits, lim)
}

func appendMapPatch(ops []jsonpatch.JsonPatchOperation, path string, before corev1.ResourceList, vals map[string]string) []jsonpatch.JsonPatchOperation {
	if len(vals) == 0 {
		return ops
	}
	if len(before) == 0 {
		return append(ops, jsonpatch.NewOperation("add", path, vals))
	}
	for ki := range kinds { // fixed order keeps the patch deterministic
		name := kinds[ki].name
		v, ok := vals[string(name)]
		if !ok {
			continue
		}
		op := "add"
		if _, had := before[name]; had {
			op = "replace"
		}
		ops = append(ops, jsonpatch.NewOperation(op, path+"/"+escapePointer(string(name)), v))
	}
	return ops
}

// changed returns the entries of after that differ from before, as strings.
func changed(before, after corev1.ResourceList) map[string]string {
	var out map[string]string
	for ki := range kinds {
		name := kinds[ki].name
		a, ok := after[name]
		if !ok {
			continue
		}
		if b, had := before[name]; had && b.Cmp(a) == 0 {
			continue
		}
		if out == nil {
			out = make(map[string]string, numKinds)
		}
		out[string(name)] = a.String()
	}
	return out
}

// escapePointer escapes one JSON pointer segment per RFC 6901.
func escapePointer(s string) string {
	if !strings.ContainsAny(s, "~/") {
		return s
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// summary renders e.g. "hamster: cpu 100m->587m, memory 50Mi->262144k, cpu limit 200m->1174m".
func summary(it *item, ch *ContainerChange) string {
	var b strings.Builder
	b.Grow(len(ch.Name) + 96)
	b.WriteString(ch.Name)
	b.WriteString(":")
	first := true
	write := func(label string, before, after corev1.ResourceList, name corev1.ResourceName) {
		a, ok := after[name]
		if !ok {
			return
		}
		old, had := before[name]
		if had && old.Cmp(a) == 0 {
			return
		}
		if !first {
			b.WriteString(",")
		}
		first = false
		b.WriteByte(' ')
		b.WriteString(label)
		b.WriteByte(' ')
		if had {
			b.WriteString(old.String())
		} else {
			b.WriteString("unset")
		}
		b.WriteString("->")
		b.WriteString(a.String())
	}
	for ki := range kinds {
		if it.slots[ki].active {
			write(string(kinds[ki].name), ch.Before.Requests, ch.After.Requests, kinds[ki].name)
		}
	}
	for ki := range kinds {
		if it.slots[ki].active {
			write(string(kinds[ki].name)+" limit", ch.Before.Limits, ch.After.Limits, kinds[ki].name)
		}
	}
	return b.String()
}
