package webhook

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
)

// Reviews only count their Events; a flush emits one per VPA and reason,
// saying how many pods it stands for and the last one's change.
func TestEventsBatchPerObjectAndReason(t *testing.T) {
	rec := events.NewFakeRecorder(10)
	h := floorSizer()
	h.Events = NewEvents(rec, EventInterval)
	body := floorReview(t, 3)
	for range 3 {
		if code, resp := serve(t, h, body, "application/json"); code != 200 || len(resp.Patch) == 0 {
			t.Fatalf("HTTP %d %+v", code, resp)
		}
	}
	if len(rec.Events) != 0 {
		t.Fatalf("an Event emitted per review: %d", len(rec.Events))
	}
	h.Events.Flush()
	close(rec.Events)
	var got []string
	for e := range rec.Events {
		got = append(got, e)
	}
	slices.Sort(got)
	want := "Normal PodSized 3 pods in 10s, the last pod " + floorReplicaSet + "-*: hamster: cpu 100m->587m, memory 50Mi->262144k"
	if len(got) != 1 || !strings.HasPrefix(got[0], want) {
		t.Fatalf("events %q\nwant one starting %q", got, want)
	}
	rec = events.NewFakeRecorder(10)
	h.Events = NewEvents(rec, EventInterval)
	h.Events.Flush()
	if len(rec.Events) != 0 {
		t.Fatalf("a flush without reviews emitted %d Events", len(rec.Events))
	}
}

// A dry-run review is answered like any other but records nothing: the
// webhooks declare sideEffects: None.
func TestDryRunRecordsNoEvents(t *testing.T) {
	rec := events.NewFakeRecorder(10)
	h := floorSizer()
	h.Events = NewEvents(rec, EventInterval)
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(floorReview(t, 3), &review); err != nil {
		t.Fatal(err)
	}
	review.Request.DryRun = ptr.To(true)
	body, err := json.Marshal(&review)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := parseReview(body); err != nil || !r.dryRun {
		t.Fatalf("dryRun not read (error %v)", err)
	}
	if code, resp := serve(t, h, body, "application/json"); code != 200 || len(resp.Patch) == 0 {
		t.Fatalf("HTTP %d %+v: a dry run is sized like any pod", code, resp)
	}
	h.Events.Flush()
	if len(rec.Events) != 0 {
		t.Fatalf("a dry run emitted %d Events", len(rec.Events))
	}
}
