package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	jsonpatch "gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/tailor-dev/tailor/cmd/tailor/sandbox/reviewload"
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

// The review state (decoded pod, its maps, the review) is pooled: reviews
// served side by side, of pods of different shapes, must each get the
// answer they get alone. Run with -race.
func TestConcurrentReviewsKeepToTheirOwnState(t *testing.T) {
	h := floorSizer()
	var bodies [][]byte
	for n := 1; n <= 3; n++ {
		bodies = append(bodies, floorReview(t, n))
	}
	// A pod the placement rejects everywhere except by its own selector,
	// with no requests in one container: other maps, other patches.
	odd := reviewload.Pod(floorNamespace, floorReplicaSet, 2)
	odd.Spec.Containers[1].Resources = corev1.ResourceRequirements{}
	odd.Spec.NodeSelector = map[string]string{"disk": "ssd"}
	body, err := reviewload.Review(odd)
	if err != nil {
		t.Fatal(err)
	}
	bodies = append(bodies, body)
	serve := func(body []byte) string {
		req := httptest.NewRequest(http.MethodPost, PodPath, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Body.String()
	}
	want := make([]string, len(bodies))
	for i, b := range bodies {
		want[i] = serve(b)
		if !strings.Contains(want[i], `"patch"`) {
			t.Fatalf("review %d not patched: %s", i, want[i])
		}
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				k := (g + i) % len(bodies)
				if got := serve(bodies[k]); got != want[k] {
					errs <- fmt.Sprintf("review %d:\n got %s\nwant %s", k, got, want[k])
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
