package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	jsonpatch "gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kjson "sigs.k8s.io/json"

	"github.com/tailor-dev/tailor/cmd/tailor/sandbox/reviewload"
	"github.com/tailor-dev/tailor/recommender/sizing"
)

// referencePod decodes the fields decodePod reads with the API machinery's
// decoder (a struct of just those fields): the oracle decodePod must agree
// with.
func referencePod(raw []byte) (*corev1.Pod, error) {
	type container struct {
		Name          string                         `json:"name"`
		Resources     corev1.ResourceRequirements    `json:"resources"`
		RestartPolicy *corev1.ContainerRestartPolicy `json:"restartPolicy"`
		ResizePolicy  []corev1.ContainerResizePolicy `json:"resizePolicy"`
	}
	var s struct {
		Metadata struct {
			Name            string                  `json:"name"`
			GenerateName    string                  `json:"generateName"`
			Namespace       string                  `json:"namespace"`
			Labels          map[string]string       `json:"labels"`
			Annotations     map[string]string       `json:"annotations"`
			OwnerReferences []metav1.OwnerReference `json:"ownerReferences"`
		} `json:"metadata"`
		Spec struct {
			Containers     []container                  `json:"containers"`
			InitContainers []container                  `json:"initContainers"`
			NodeName       string                       `json:"nodeName"`
			NodeSelector   map[string]string            `json:"nodeSelector"`
			Affinity       *corev1.Affinity             `json:"affinity"`
			Tolerations    []corev1.Toleration          `json:"tolerations"`
			Overhead       corev1.ResourceList          `json:"overhead"`
			Resources      *corev1.ResourceRequirements `json:"resources"`
		} `json:"spec"`
	}
	if err := kjson.UnmarshalCaseSensitivePreserveInts(raw, &s); err != nil {
		return nil, err
	}
	conv := func(in []container) []corev1.Container {
		if in == nil {
			return nil
		}
		out := make([]corev1.Container, len(in))
		for i, c := range in {
			out[i] = corev1.Container{Name: c.Name, Resources: c.Resources, RestartPolicy: c.RestartPolicy, ResizePolicy: c.ResizePolicy}
		}
		return out
	}
	pod := &corev1.Pod{}
	pod.Name, pod.GenerateName, pod.Namespace = s.Metadata.Name, s.Metadata.GenerateName, s.Metadata.Namespace
	pod.Labels, pod.Annotations, pod.OwnerReferences = s.Metadata.Labels, s.Metadata.Annotations, s.Metadata.OwnerReferences
	pod.Spec.Containers, pod.Spec.InitContainers = conv(s.Spec.Containers), conv(s.Spec.InitContainers)
	pod.Spec.NodeName, pod.Spec.NodeSelector, pod.Spec.Affinity = s.Spec.NodeName, s.Spec.NodeSelector, s.Spec.Affinity
	pod.Spec.Tolerations, pod.Spec.Overhead, pod.Spec.Resources = s.Spec.Tolerations, s.Spec.Overhead, s.Spec.Resources
	return pod, nil
}

// duplicateKeys reports whether any object in the JSON data repeats a key
// (encoding/json then merges into what the first one decoded, which no
// API server sends and decodePod need not copy).
func duplicateKeys(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		obj     bool
		keys    map[string]bool
		wantKey bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.obj && top.wantKey {
			if k, ok := tok.(string); ok {
				if top.keys[k] {
					return true
				}
				top.keys[k] = true
				top.wantKey = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{obj: true, keys: map[string]bool{}, wantKey: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 && stack[len(stack)-1].obj {
			stack[len(stack)-1].wantKey = true
		}
	}
}

// checkDecodePod: decodePod agrees with the reference decoder on raw:
// both fail, or both give the same pod.
func checkDecodePod(t *testing.T, raw []byte) {
	t.Helper()
	// Into buffers a pod with everything was decoded into before: nothing
	// of that one may show through (the review state is pooled).
	b := &podBuffers{}
	if _, err := decodePod(dirtyPod, b); err != nil {
		t.Fatal(err)
	}
	got, err := decodePod(raw, b)
	if err == nil && !json.Valid(raw) {
		t.Fatalf("decoded invalid JSON %q", raw)
	}
	if duplicateKeys(raw) {
		return
	}
	want, werr := referencePod(raw)
	if errors.Is(err, sizing.ErrOutOfRange) && werr == nil {
		return // refused on purpose: the reference reads it
	}
	if (err == nil) != (werr == nil) {
		t.Fatalf("%q: decodePod error %v, reference error %v", raw, err, werr)
	}
	if err == nil && !equality.Semantic.DeepEqual(got, want) {
		t.Fatalf("%q:\n got %+v\nwant %+v", raw, got.Spec, want.Spec)
	}
}

// dirtyPod sets every field decodePod decodes, several with maps.
var dirtyPod = []byte(`{"metadata":{"name":"d","generateName":"d-","namespace":"dirty","labels":{"app":"d","x":"y"},"annotations":{"a":"b"},
	"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"d","uid":"u","controller":true,"blockOwnerDeletion":true},{"kind":"X","name":"x"}]},
	"spec":{"nodeName":"n","nodeSelector":{"disk":"ssd","zone":"a"},
	"tolerations":[{"key":"k","operator":"Exists","tolerationSeconds":30},{"key":"v","value":"1","effect":"NoSchedule"},{"key":"w","tolerationSeconds":7}],
	"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"z","operator":"In","values":["a"]}]}]}}},
	"overhead":{"cpu":"10m","memory":"1Mi"},"resources":{"requests":{"cpu":"1"}},
	"initContainers":[{"name":"s","restartPolicy":"Always","resources":{"requests":{"cpu":"1","memory":"1Gi"},"limits":{"memory":"2Gi"}}},{"name":"i","resources":{"requests":{"cpu":"2"}}}],
	"containers":[{"name":"a","resources":{"requests":{"cpu":"1","memory":"1Gi","example.com/x":"1"},"limits":{"cpu":"2","memory":"2Gi"}},"resizePolicy":[{"resourceName":"cpu","restartPolicy":"NotRequired"}]},
	{"name":"b","restartPolicy":"Always","resources":{"requests":{"cpu":"3"},"claims":[{"name":"c"}]}},{"name":"c"},{"name":"d","resources":{"limits":{"cpu":"9"}}}]}}`)

func TestDecodePod(t *testing.T) {
	for n := 1; n <= 3; n++ {
		raw, err := json.Marshal(reviewload.Pod("ns", "rs", n))
		if err != nil {
			t.Fatal(err)
		}
		checkDecodePod(t, raw)
		pod, _ := decodePod(raw, nil)
		if len(pod.Spec.Containers) != n || pod.Spec.Containers[0].Resources.Requests.Cpu().MilliValue() != 100 ||
			len(pod.Spec.Tolerations) != 2 || *pod.Spec.Tolerations[0].TolerationSeconds != 300 || !*pod.OwnerReferences[0].Controller {
			t.Errorf("decoded %+v", pod)
		}
	}
	for _, raw := range []string{
		`{"metadata":{"labels":{"app":"a"}},"spec":{"nodeSelector":{"disk":"ssd"},
		"tolerations":[{"key":"k","operator":"Exists"}],
		"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"z","operator":"In","values":["a"]}]}]}}},
		"overhead":{"cpu":"10m"},"resources":{"requests":{"cpu":"1"}},
		"initContainers":[{"name":"s","restartPolicy":"Always","resizePolicy":[{"resourceName":"cpu","restartPolicy":"RestartContainer"}],
		"resources":{"claims":[{"name":"gpu"}],"limits":{"memory":1e9}}}],"containers":[{"name":"c"}]}}`,
		`{"metadata":null,"spec":{"containers":null,"tolerations":[],"nodeSelector":{}}}`,
		`{"spec":{"containers":[{"name":"c","resources":{"requests":{"cpu":"1\u0030"}}}]}}`,
		`{"spec":{"containers":[{"name":"c","resources":{"requests":{"cpu":null}}}]}}`,
		`{"spec":{"containers":[{"name":"c","resources":{"requests":{"cpu":"-"}}}]}}`,
		`{"spec":{"tolerations":[{"tolerationSeconds":3e2}]}}`,
		`{"spec":{"containers":"not a list"}}`,
		`{"Spec":{"containers":"ignored: keys match case-sensitively"}}`,
		`{"metadata":{"name":"a\"b","ownerReferences":[{"controller":null,"uid":"u"}]}}`,
		`{"spec":{}} x`, `{"spec":{}`, `[]`, `null`, ``, `{"a":[1,2,{"b":[]}],"c":-0.5e+3}`,
	} {
		checkDecodePod(t, []byte(raw))
	}
	// Found by FuzzDecide: the parser keeps the exponent (20000200e1215752202),
	// and one Cmp took hours. Such a pod is not read, so it is admitted as is.
	for _, q := range []string{`"2000020E0100000000011"`, `"1e100"`, `1e100`} {
		raw := `{"spec":{"containers":[{"name":"c","resources":{"limits":{"cpu":` + q + `}}}]}}`
		if _, err := decodePod([]byte(raw), nil); !errors.Is(err, sizing.ErrOutOfRange) {
			t.Errorf("%s: error %v, want out of range", q, err)
		}
	}
	if _, err := decodePod([]byte(`{"spec":{"containers":[{"name":"c","resources":{"limits":{"cpu":"1n","memory":"8Ei"}}}]}}`), nil); err != nil {
		t.Errorf("1n and 8Ei refused: %v", err)
	}
}

// FuzzDecodePod: decodePod never panics, never accepts invalid JSON, and
// agrees with the API machinery's decoder on every pod without repeated
// keys.
func FuzzDecodePod(f *testing.F) {
	for n := 1; n <= 3; n++ {
		raw, _ := json.Marshal(reviewload.Pod("ns", "rs", n))
		f.Add(raw)
	}
	f.Add([]byte(`{"spec":{"affinity":{"nodeAffinity":{}},"tolerations":[{"key":"k","tolerationSeconds":1}],"overhead":{"cpu":"10m"}}}`))
	f.Add([]byte(`{"metadata":{"labels":{"a":"b","a":"c"}}}`))
	f.Add([]byte(strings.Repeat("[", 20000)))
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkDecodePod(t, raw)
	})
}

// checkParseReview: parseReview accepts only valid JSON, and reads what
// the API machinery's decoder reads from a review without repeated keys;
// it refuses a valid review only for its apiVersion or kind.
func checkParseReview(t *testing.T, body []byte) {
	t.Helper()
	got, err := parseReview(body)
	if err == nil && !json.Valid(body) {
		t.Fatalf("parsed invalid JSON %q", body)
	}
	if duplicateKeys(body) {
		return
	}
	var want admissionv1.AdmissionReview
	werr := kjson.UnmarshalCaseSensitivePreserveInts(body, &want)
	if werr != nil {
		if err == nil {
			t.Fatalf("%q parsed; the reference fails: %v", body, werr)
		}
		return
	}
	if err != nil {
		if want.APIVersion != "" && want.APIVersion != reviewV1 && want.APIVersion != reviewV1beta1 ||
			want.Kind != "" && want.Kind != "AdmissionReview" {
			return
		}
		// Only fields the reference does not type strictly may differ.
		if !errors.Is(err, errReview) {
			t.Fatalf("%q: error %v not a review error", body, err)
		}
		if want.Request == nil {
			t.Fatalf("%q: refused (%v); the reference reads it", body, err)
		}
		t.Fatalf("%q: refused (%v); the reference reads it", body, err)
	}
	r := want.Request
	if r == nil {
		r = &admissionv1.AdmissionRequest{}
	}
	var uid string
	if got.uid != nil {
		if err := json.Unmarshal(append(append([]byte{'"'}, got.uid...), '"'), &uid); err != nil {
			t.Fatal(err)
		}
	}
	if uid != string(r.UID) || string(got.group) != r.Kind.Group || string(got.kind) != r.Kind.Kind ||
		string(got.operation) != string(r.Operation) || string(got.subResource) != r.SubResource || got.namespace != r.Namespace ||
		got.dryRun != (r.DryRun != nil && *r.DryRun) {
		t.Fatalf("%q: got %+v, want %+v", body, got, r)
	}
	if !bytes.Equal(got.object, r.Object.Raw) {
		t.Fatalf("%q: object %q, want %q", body, got.object, r.Object.Raw)
	}
}

func TestParseReview(t *testing.T) {
	good, err := reviewload.Review(reviewload.Pod("ns", "rs", 3))
	if err != nil {
		t.Fatal(err)
	}
	checkParseReview(t, good)
	r, err := parseReview(good)
	if err != nil || string(r.kind) != "Pod" || string(r.operation) != "CREATE" || r.namespace != "ns" || len(r.object) < 1000 {
		t.Fatalf("parsed %+v, %v", r, err)
	}
	// Repeated keys: the last counts, and null leaves a RawExtension as it
	// was, as the API machinery reads them.
	r, err = parseReview([]byte(`{"request":{"uid":"a","object":{"a":1},"uid":"b","object":null}}`))
	if err != nil || string(r.uid) != "b" || string(r.object) != `{"a":1}` {
		t.Errorf("repeated keys: %+v, %v", r, err)
	}
	for _, body := range []string{
		`{}`, `{"request":null}`, `{"request":{"uid":"a\"b","kind":null,"object":null}}`,
		`{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"u","kind":{"group":"","version":"v1","kind":"Pod"},"object":{"a":1},"object":null}}`,
		`{"apiVersion":"v1","kind":"Pod"}`, `{"request":{"uid":5}}`, `{"request":{"namespace":"\u0041"}}`,
		`{"request":{"object":{"a":[1,}}}`, `{"request":{"object":{"a":"\x"}}}`, `{"request":{"object":tru}}`,
		`{"request":{"object":01}}`, `{"request":{"object":1.}}`, `{"request":{"object":"` + "\x01" + `"}}`, `{,}`, `{"a" 1}`, `[{}]`,
		`{"request":{}} {}`, `{"request":{"uid":"u"}`, `{,"a":1}`, `{"request":{"dryRun":true}}`, `{"request":{"dryRun":false}}`, `{"request":{"dryRun":null}}`, `{"request":{"dryRun":tru}}`, `{"request":{"dryRun":"true"}}`, `{"request":{,"uid":"u"}}`, `{"x":[,1]}`, `{"x":{,"a":1}}`, `{"x":[1,]}`, strings.Repeat(`{"a":`, 12000),
	} {
		checkParseReview(t, []byte(body))
	}
}

// FuzzParseReview: the envelope reader never panics, accepts only valid
// JSON and agrees with the API machinery's decoder; the handler answers
// every body with a review that admits the pod, or an HTTP error (which
// failurePolicy Ignore turns into admission unchanged), and a pod it
// cannot read is admitted unchanged.
func FuzzParseReview(f *testing.F) {
	good, _ := reviewload.Review(reviewload.Pod(floorNamespace, floorReplicaSet, 3))
	f.Add(good)
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"kind":"Pod"},"operation":"CREATE","namespace":"bench","object":{"spec":{"containers":[{"name":"hamster","resources":{"requests":{"cpu":"1e30"}}}]}}}}`))
	f.Add([]byte(`{"request":{"object":{"spec":{"containers":[{"name":"x"}],"containers":[{}]}}}}`))
	h := floorSizer()
	f.Fuzz(func(t *testing.T, body []byte) {
		checkParseReview(t, body)
		code, resp := serve(t, h, body, "application/json")
		if code != http.StatusOK {
			return
		}
		if resp == nil || !resp.Allowed {
			t.Fatalf("HTTP 200 with %+v: want the pod admitted", resp)
		}
		req, _ := parseReview(body)
		if _, err := decodePod(req.object, nil); err != nil && len(resp.Patch) > 0 {
			t.Fatalf("a pod that does not decode (%v) was patched", err)
		}
	})
}

// appendPatchJSON writes what encoding/json writes for the patch values
// the steps build (and anything else through it).
func TestAppendPatchJSON(t *testing.T) {
	ops := []jsonpatch.JsonPatchOperation{
		jsonpatch.NewOperation("add", "/spec/containers/0/resources", map[string]any{
			"requests": map[string]string{"memory": "262144k", "cpu": "587m"}, "limits": map[string]string{"cpu": "1"}}),
		jsonpatch.NewOperation("replace", "/metadata/annotations/tailor.dev~1sizing", "a: cpu 100m->587m \"quoted\" \\ \n\t\x01 é \xff"),
		jsonpatch.NewOperation("add", "/spec/nodeSelector", map[string]string{"tailor.dev/nodepool": "<default>&"}),
		jsonpatch.NewOperation("add", "/x", true),
		jsonpatch.NewOperation("add", "/y", []int{1, 2}),
		{Operation: "remove", Path: "/z"},
	}
	got, err := appendPatchJSON(nil, ops)
	if err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: %v", got, err)
	}
	_ = json.Unmarshal(want, &w)
	if !reflect.DeepEqual(g, w) {
		t.Errorf("\n got %s\nwant %s", got, want)
	}
}

// FuzzPlainRun: the eight-bytes-at-a-time scan stops exactly where a byte
// loop stops, from every start.
func FuzzPlainRun(f *testing.F) {
	f.Add([]byte(`"metadata":{"name":"hamster-7d9f"}`))
	f.Add([]byte("abcdefgh\x1fijklmnop\"qrstuvw\\xyz\xc3\xa9\x7f\x80 \x20\x21"))
	f.Add([]byte(strings.Repeat("a", 17) + `"`))
	f.Fuzz(func(t *testing.T, d []byte) {
		for start := 0; start <= len(d) && start < 24; start++ {
			want := start
			for want < len(d) && d[want] >= 0x20 && d[want] != '"' && d[want] != '\\' && d[want] < 0x80 {
				want++
			}
			if got := plainRun(d, start); got != want {
				t.Fatalf("plainRun(%q, %d) = %d, want %d", d, start, got, want)
			}
		}
	})
}
