// Package convert turns other node autoscalers' objects into Tailor's:
// Karpenter v1 NodePools and EC2NodeClasses, for "tailor convert karpenter".
// Pure functions over the documents; what cannot be carried over is
// returned as notes, never silently dropped.
package convert

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/validation"
)

// Karpenter's API groups (v1).
const (
	karpenterGroup = "karpenter.sh"
	awsGroup       = "karpenter.k8s.aws"
)

// labelKeys maps Karpenter's well-known label keys to Tailor's; both sides
// mean the same property of the node. Kubernetes' own keys (zone, arch,
// instance type…) are shared and pass unchanged.
var labelKeys = map[string]string{
	karpenterGroup + "/capacity-type": provisionerv1.LabelCapacityType,
	karpenterGroup + "/nodepool":      provisionerv1.LabelNodePool,
	awsGroup + "/instance-family":     provisionerv1.LabelInstanceFamily,
	awsGroup + "/instance-category":   provisionerv1.LabelInstanceCategory,
	awsGroup + "/instance-generation": provisionerv1.LabelInstanceGeneration,
	awsGroup + "/instance-size":       provisionerv1.LabelInstanceSize,
	awsGroup + "/instance-cpu":        provisionerv1.LabelInstanceCPU,
	awsGroup + "/instance-memory":     provisionerv1.LabelInstanceMemory,
	awsGroup + "/instance-gpu-count":  provisionerv1.LabelInstanceGPUCount,
}

// mapKey returns Tailor's key for a Karpenter one; ok is false for a key in
// Karpenter's groups that Tailor has no equivalent of.
func mapKey(k string) (string, bool) {
	if t, ok := labelKeys[k]; ok {
		return t, true
	}
	prefix, _, _ := strings.Cut(k, "/")
	if prefix == karpenterGroup || prefix == awsGroup || strings.HasSuffix(prefix, "."+karpenterGroup) || strings.HasSuffix(prefix, "."+awsGroup) {
		return "", false
	}
	return k, true
}

// Result is what a conversion made.
type Result struct {
	NodePools   []*provisionerv1.NodePool
	NodeClasses []*provisionerv1.AWSNodeClass
	// Notes say, per object, what did not carry over and why.
	Notes []string
}

// Karpenter converts the NodePools (karpenter.sh/v1) and EC2NodeClasses
// (karpenter.k8s.aws/v1) in data — YAML documents, JSON, or a List as
// kubectl get -o yaml prints — into Tailor's NodePools and AWSNodeClasses.
// Anything else is an error naming the document; a result that Tailor's
// validation refuses is an error naming the field.
func Karpenter(data []byte) (*Result, error) {
	docs, err := documents(data)
	if err != nil {
		return nil, err
	}
	r := &Result{}
	for i, doc := range docs {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(doc, &head); err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		what := fmt.Sprintf("%s %q", head.Kind, head.Metadata.Name)
		switch {
		case head.APIVersion == karpenterGroup+"/v1" && head.Kind == "NodePool":
			np, notes, err := nodePool(doc)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", what, err)
			}
			r.NodePools = append(r.NodePools, np)
			r.Notes = append(r.Notes, prefixed(what, notes)...)
		case head.APIVersion == awsGroup+"/v1" && head.Kind == "EC2NodeClass":
			nc, notes, err := nodeClass(doc)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", what, err)
			}
			r.NodeClasses = append(r.NodeClasses, nc)
			r.Notes = append(r.Notes, prefixed(what, notes)...)
		case strings.HasPrefix(head.APIVersion, karpenterGroup+"/") || strings.HasPrefix(head.APIVersion, awsGroup+"/"):
			return nil, fmt.Errorf("document %d: %s %s is not a Karpenter v1 NodePool or EC2NodeClass (convert v1beta1 objects with Karpenter's own v1 migration first)", i+1, head.APIVersion, what)
		default:
			return nil, fmt.Errorf("document %d: %s/%s is not a Karpenter object", i+1, head.APIVersion, head.Kind)
		}
	}
	return r, nil
}

func prefixed(what string, notes []string) []string {
	out := make([]string, len(notes))
	for i, n := range notes {
		out[i] = what + ": " + n
	}
	return out
}

// documents splits YAML or JSON into one JSON object per document,
// unwrapping Lists.
func documents(data []byte) ([][]byte, error) {
	var out [][]byte
	for i, part := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
		if strings.TrimSpace(part) == "" {
			continue
		}
		doc, err := yaml.YAMLToJSON([]byte(part))
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		if bytes.Equal(bytes.TrimSpace(doc), []byte("null")) {
			continue
		}
		var list struct {
			Kind  string            `json:"kind"`
			Items []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(doc, &list); err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		if strings.HasSuffix(list.Kind, "List") {
			for _, it := range list.Items {
				out = append(out, it)
			}
			continue
		}
		out = append(out, doc)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no objects in the input")
	}
	return out, nil
}

// object is a decoded document as generic JSON.
type object = map[string]any

// nodePool converts one Karpenter NodePool.
func nodePool(doc []byte) (*provisionerv1.NodePool, []string, error) {
	var o object
	if err := json.Unmarshal(doc, &o); err != nil {
		return nil, nil, err
	}
	var notes []string
	delete(o, "status")
	o["apiVersion"], o["kind"] = provisionerv1.GroupVersion.String(), "NodePool"
	notes = append(notes, cleanMetadata(o)...)
	tmpl := dig(o, "spec", "template")
	if md := dig(tmpl, "metadata"); md != nil {
		notes = append(notes, mapLabelKeys(md, "labels", "spec.template.metadata.labels")...)
	}
	spec := dig(tmpl, "spec")
	if reqs, ok := spec["requirements"].([]any); ok {
		kept := reqs[:0]
		for i, r := range reqs {
			req, ok := r.(object)
			if !ok {
				return nil, nil, fmt.Errorf("spec.template.spec.requirements[%d]: not an object", i)
			}
			key, _ := req["key"].(string)
			t, ok := mapKey(key)
			if !ok {
				notes = append(notes, fmt.Sprintf("spec.template.spec.requirements[%d]: %s has no Tailor equivalent; requirement dropped (the pool may now choose instance types it excluded)", i, key))
				continue
			}
			req["key"] = t
			kept = append(kept, req)
		}
		spec["requirements"] = kept
	}
	if ref := dig(spec, "nodeClassRef"); ref != nil {
		if g, k := ref["group"], ref["kind"]; g != awsGroup || k != "EC2NodeClass" {
			return nil, nil, fmt.Errorf("spec.template.spec.nodeClassRef: %v/%v is not a karpenter.k8s.aws EC2NodeClass", g, k)
		}
		ref["group"], ref["kind"] = provisionerv1.GroupVersion.Group, "AWSNodeClass"
	}
	np := &provisionerv1.NodePool{}
	dropped, err := decode(o, np)
	if err != nil {
		return nil, nil, err
	}
	for _, f := range dropped {
		notes = append(notes, f+": no Tailor equivalent; dropped")
	}
	if errs := validation.NodePool(np); len(errs) > 0 {
		return nil, nil, fmt.Errorf("the converted NodePool is not valid: %w", errs.ToAggregate())
	}
	return np, notes, nil
}

// nodeClass converts one EC2NodeClass: the fields have the same names and
// meanings in AWSNodeClass.
func nodeClass(doc []byte) (*provisionerv1.AWSNodeClass, []string, error) {
	var o object
	if err := json.Unmarshal(doc, &o); err != nil {
		return nil, nil, err
	}
	var notes []string
	delete(o, "status")
	o["apiVersion"], o["kind"] = provisionerv1.GroupVersion.String(), "AWSNodeClass"
	notes = append(notes, cleanMetadata(o)...)
	nc := &provisionerv1.AWSNodeClass{}
	dropped, err := decode(o, nc)
	if err != nil {
		return nil, nil, err
	}
	for _, f := range dropped {
		notes = append(notes, f+": no Tailor equivalent; dropped")
	}
	if errs := validation.AWSNodeClass(nc); len(errs) > 0 {
		return nil, nil, fmt.Errorf("the converted AWSNodeClass is not valid: %w", errs.ToAggregate())
	}
	return nc, notes, nil
}

// cleanMetadata keeps what belongs to the object's intent (name, labels,
// annotations the user set) and drops what the server or Karpenter set.
func cleanMetadata(o object) []string {
	md := dig(o, "metadata")
	if md == nil {
		return nil
	}
	for _, k := range []string{"uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp", "managedFields", "finalizers", "ownerReferences", "selfLink"} {
		delete(md, k)
	}
	var notes []string
	if ann, ok := md["annotations"].(object); ok {
		for k := range ann {
			prefix, _, _ := strings.Cut(k, "/")
			if k == "kubectl.kubernetes.io/last-applied-configuration" || prefix == karpenterGroup || prefix == awsGroup {
				delete(ann, k)
			}
		}
		if len(ann) == 0 {
			delete(md, "annotations")
		}
	}
	notes = append(notes, mapLabelKeys(md, "labels", "metadata.labels")...)
	return notes
}

// mapLabelKeys rewrites the keys of the map at parent[name].
func mapLabelKeys(parent object, name, path string) []string {
	labels, ok := parent[name].(object)
	if !ok {
		return nil
	}
	var notes []string
	out := object{}
	for k, v := range labels {
		t, ok := mapKey(k)
		if !ok {
			notes = append(notes, fmt.Sprintf("%s[%s]: no Tailor equivalent; dropped", path, k))
			continue
		}
		out[t] = v
	}
	parent[name] = out
	sort.Strings(notes)
	return notes
}

// decode fills into from o and returns the JSON paths of o that into has
// no field for.
func decode(o object, into any) ([]string, error) {
	data, err := json.Marshal(o)
	if err != nil {
		return nil, err
	}
	strict, err := kjson.UnmarshalStrict(data, into)
	if err != nil {
		return nil, err
	}
	var dropped []string
	for _, e := range strict {
		// "unknown field \"spec.foo\""
		if _, f, ok := strings.Cut(e.Error(), `unknown field "`); ok {
			dropped = append(dropped, strings.TrimSuffix(f, `"`))
			continue
		}
		return nil, field.Invalid(field.NewPath(""), "", e.Error())
	}
	sort.Strings(dropped)
	return dropped, nil
}

// dig walks o along keys; nil when a step is missing or not an object.
func dig(o object, keys ...string) object {
	for _, k := range keys {
		if o == nil {
			return nil
		}
		o, _ = o[k].(object)
	}
	return o
}
