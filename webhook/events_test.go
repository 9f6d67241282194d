package webhook

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/client-go/tools/events"
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
