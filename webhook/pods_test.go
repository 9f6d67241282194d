package webhook

import (
	"context"
	"errors"
	"reflect"
	"testing"

	jsonpatch "gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// fakeStep adds one patch op and one annotation, or fails.
type fakeStep struct {
	key  string
	fail bool
}

func (s fakeStep) apply(_ context.Context, r *podReview) {
	if s.fail {
		r.fail("fake", errors.New("fake failed"))
		return
	}
	r.patch = append(r.patch, jsonpatch.NewOperation("add", "/spec/"+s.key, "x"))
	r.annotations = append(r.annotations, annotation{"tailor.dev/" + s.key, s.key + " done"})
	r.summaries = append(r.summaries, s.key)
}

// Steps add patches and annotations; the annotations are emitted once, as
// a whole map when the pod has none (JSON patch cannot add under a missing
// parent) and key by key otherwise, so no step overwrites another's.
func TestStepsEmitAnnotationsOnce(t *testing.T) {
	steps := []podStep{fakeStep{key: "a"}, fakeStep{key: "b"}}
	bare := &corev1.Pod{}
	r := &podReview{}
	runSteps(context.Background(), r, "ns", bare, steps)
	got := appendAnnotations(r.patch, bare, r.annotations)
	want := []jsonpatch.JsonPatchOperation{
		jsonpatch.NewOperation("add", "/spec/a", "x"),
		jsonpatch.NewOperation("add", "/spec/b", "x"),
		jsonpatch.NewOperation("add", "/metadata/annotations", map[string]string{"tailor.dev/a": "a done", "tailor.dev/b": "b done"}),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("bare pod:\n got %v\nwant %v", got, want)
	}

	annotated := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"keep": "me"}}}
	runSteps(context.Background(), r, "ns", annotated, steps)
	got = appendAnnotations(r.patch, annotated, r.annotations)
	want = append(want[:2:2],
		jsonpatch.NewOperation("add", "/metadata/annotations/tailor.dev~1a", "a done"),
		jsonpatch.NewOperation("add", "/metadata/annotations/tailor.dev~1b", "b done"))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("annotated pod:\n got %v\nwant %v", got, want)
	}

	runSteps(context.Background(), r, "ns", bare, []podStep{fakeStep{key: "a"}, fakeStep{fail: true}, fakeStep{key: "c"}})
	if r.errReason != "fake" || len(r.summaries) != 1 {
		t.Errorf("a failing step stops the pipeline: %+v", r)
	}
}

// With --namespace-selector, pods of namespaces it does not match pass
// unchanged, whatever the webhook configuration sent.
func TestScopeSelectorLeavesOtherNamespaces(t *testing.T) {
	sel, err := labels.Parse("team=a")
	if err != nil {
		t.Fatal(err)
	}
	body := floorReview(t, 1)
	for _, tc := range []struct {
		labels map[string]string
		sized  bool
	}{
		{map[string]string{"team": "a"}, true},
		{map[string]string{"team": "b"}, false},
		{nil, false},
	} {
		h := floorSizer()
		h.Scope.Selector = sel
		h.Namespaces = fakeNamespaces{floorNamespace: tc.labels}
		code, resp := serve(t, h, body, "application/json")
		if code != 200 || !resp.Allowed {
			t.Fatalf("HTTP %d %+v", code, resp)
		}
		if sized := len(resp.Patch) > 0; sized != tc.sized {
			t.Errorf("namespace labels %v: sized %v, want %v (%s)", tc.labels, sized, tc.sized, resp.Result.Message)
		}
	}
}
