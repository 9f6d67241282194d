package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	jsonpatch "gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// serve posts body to the pod webhook the way the API server does and
// returns the HTTP status and the decoded response (nil if none).
func serve(t testing.TB, h *PodSizer, body []byte, contentType string) (int, *admissionv1.AdmissionResponse) {
	var r io.Reader = http.NoBody
	if body != nil {
		r = bytes.NewReader(body)
	}
	req := httptest.NewRequest(http.MethodPost, PodPath, r)
	req.Header.Set("Content-Type", contentType)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	review := &admissionv1.AdmissionReview{}
	if err := json.Unmarshal(rec.Body.Bytes(), review); err != nil || review.Response == nil {
		return rec.Code, nil
	}
	return rec.Code, review.Response
}

// handle posts req to h as the API server does and returns the answer,
// its patch decoded into Patches.
func handle(t testing.TB, h *PodSizer, req admission.Request) admission.Response {
	t.Helper()
	code, resp := serve(t, h, reviewOf(t, req), "application/json")
	if resp == nil {
		t.Fatalf("HTTP %d without a review", code)
	}
	if resp.UID != req.UID {
		t.Fatalf("response uid %q, want %q", resp.UID, req.UID)
	}
	out := admission.Response{AdmissionResponse: *resp}
	if len(resp.Patch) > 0 {
		if resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
			t.Fatalf("patch type %v", resp.PatchType)
		}
		if err := json.Unmarshal(resp.Patch, &out.Patches); err != nil {
			t.Fatalf("patch %s: %v", resp.Patch, err)
		}
	}
	return out
}

func reviewOf(t testing.TB, req admission.Request) []byte {
	review := admissionv1.AdmissionReview{Request: &req.AdmissionRequest}
	review.APIVersion, review.Kind = "admission.k8s.io/v1", "AdmissionReview"
	data, err := json.Marshal(review)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestBadReviewsNeverBlockOrPanic(t *testing.T) {
	h, good := benchFixture(t)
	withPod := func(mutate func(*corev1.Pod)) []byte {
		pod := &corev1.Pod{}
		if err := json.Unmarshal(good.Object.Raw, pod); err != nil {
			t.Fatal(err)
		}
		mutate(pod)
		req := good
		req.Object.Raw, _ = json.Marshal(pod)
		return reviewOf(t, req)
	}
	wrongKind := good
	wrongKind.Kind.Group, wrongKind.Kind.Kind = "apps", "Deployment"
	garbage := good
	garbage.Object.Raw = []byte(`{"spec":{"containers":"not a list"}}`)

	cases := []struct {
		name        string
		body        []byte
		contentType string
		// wantAllowed: a response that admits the pod unchanged; otherwise an
		// HTTP error the API server treats per failurePolicy (Ignore).
		wantAllowed bool
		wantPatch   bool
	}{
		{"empty body", nil, "application/json", false, false},
		{"not JSON", []byte("{{{"), "application/json", false, false},
		{"wrong content type", reviewOf(t, good), "text/plain", false, false},
		{"review without request", []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), "application/json", true, false},
		{"wrong kind", reviewOf(t, wrongKind), "application/json", true, false},
		{"pod that does not decode", reviewOf(t, garbage), "application/json", true, false},
		{"absurd request", withPod(func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("1e30")
		}), "application/json", true, false},
		{"negative limit", withPod(func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory] = resource.MustParse("-1Gi")
		}), "application/json", true, false},
		{"100 containers", withPod(func(p *corev1.Pod) {
			base := p.Spec.Containers[0]
			p.Spec.Containers = nil
			for i := range 100 {
				c := *base.DeepCopy()
				c.Name = fmt.Sprintf("c%d", i)
				p.Spec.Containers = append(p.Spec.Containers, c)
			}
			p.Spec.Containers[0].Name = "hamster"
		}), "application/json", true, true},
		{"good", reviewOf(t, good), "application/json", true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, resp := serve(t, h, tc.body, tc.contentType)
			if !tc.wantAllowed {
				if resp != nil && resp.Allowed {
					t.Fatalf("HTTP %d allowed; want a clear error", code)
				}
				if resp != nil && (resp.Result == nil || resp.Result.Message == "") {
					t.Fatalf("HTTP %d error without a message", code)
				}
				return
			}
			if resp == nil || !resp.Allowed {
				t.Fatalf("HTTP %d response %+v: want the pod admitted", code, resp)
			}
			if hasPatch := len(resp.Patch) > 0; hasPatch != tc.wantPatch {
				t.Fatalf("patch %s, want patch %v", resp.Patch, tc.wantPatch)
			}
			if !tc.wantPatch && (resp.Result == nil || !strings.HasPrefix(resp.Result.Message, "tailor: ")) {
				t.Fatalf("unchanged pod without a reason: %+v", resp.Result)
			}
		})
	}
}

// FuzzAdmissionReview feeds arbitrary bodies and pod objects through the
// HTTP handler: it must never panic and every answer must be a decodable
// review or an HTTP error.
func FuzzAdmissionReview(f *testing.F) {
	h, good := benchFixture(f)
	f.Add(reviewOf(f, good), good.Object.Raw)
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}}`), []byte(`{}`))
	f.Add([]byte("{{"), []byte(`{"spec":{"containers":[{"name":"hamster","resources":{"requests":{"cpu":"1e30"}}}]}}`))
	f.Fuzz(func(t *testing.T, body, podJSON []byte) {
		serve(t, h, body, "application/json")
		if !json.Valid(podJSON) {
			return // the API server only ever sends JSON objects
		}
		req := good
		req.Object.Raw = podJSON
		code, resp := serve(t, h, reviewOf(t, req), "application/json")
		if resp == nil && code == http.StatusOK {
			t.Fatalf("HTTP 200 without a review")
		}
		if resp != nil && !resp.Allowed {
			t.Fatalf("a pod was refused: %+v", resp.Result)
		}
	})
}

// The pod path's own response encoding answers as controller-runtime's
// admission.Webhook would for the same decision: the same review, uid,
// status and patch, in the review's own apiVersion.
func TestResponseAsControllerRuntimeWrites(t *testing.T) {
	h := floorSizer()
	for _, version := range []string{reviewV1, reviewV1beta1} {
		body := bytes.Replace(floorReview(t, 3), []byte(`"apiVersion":"admission.k8s.io/v1"`), []byte(`"apiVersion":"`+version+`"`), 1)
		var in admissionv1.AdmissionReview
		if err := json.Unmarshal(body, &in); err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, PodPath, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var got admissionv1.AdmissionReview
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got.Response == nil {
			t.Fatalf("%s: %v: %s", version, err, rec.Body.String())
		}
		if got.APIVersion != version || got.Kind != "AdmissionReview" || rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("answered %s %s (%s), want %s", got.APIVersion, got.Kind, rec.Header().Get("Content-Type"), version)
		}
		// controller-runtime's encoding of the same decision.
		var ops []jsonpatch.JsonPatchOperation
		if err := json.Unmarshal(got.Response.Patch, &ops); err != nil {
			t.Fatal(err)
		}
		want := admission.Patched(got.Response.Result.Message, ops...)
		if err := want.Complete(admission.Request{AdmissionRequest: *in.Request}); err != nil {
			t.Fatal(err)
		}
		// The patches are the same JSON (encoding/json also escapes <, >
		// and & in strings, which JSON does not require).
		var gotPatch, wantPatch any
		_ = json.Unmarshal(got.Response.Patch, &gotPatch)
		_ = json.Unmarshal(want.Patch, &wantPatch)
		if !reflect.DeepEqual(gotPatch, wantPatch) {
			t.Errorf("%s: patch %s, want %s", version, got.Response.Patch, want.Patch)
		}
		got.Response.Patch, want.Patch = nil, nil
		wantJSON, _ := json.Marshal(admissionv1.AdmissionReview{TypeMeta: in.TypeMeta, Response: &want.AdmissionResponse})
		gotJSON, _ := json.Marshal(got)
		if !bytes.Equal(gotJSON, wantJSON) {
			t.Errorf("%s:\n got %s\nwant %s", version, gotJSON, wantJSON)
		}
		if !strings.HasPrefix(got.Response.Result.Message, "tailor: hamster: cpu 100m->587m") || len(ops) < 4 {
			t.Errorf("message %q, %d ops", got.Response.Result.Message, len(ops))
		}
	}
}
