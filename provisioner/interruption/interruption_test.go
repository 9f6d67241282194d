package interruption

import (
	"errors"
	"fmt"
	"testing"
)

const (
	spot      = `{"version":"0","id":"1e5527d7","detail-type":"EC2 Spot Instance Interruption Warning","source":"aws.ec2","account":"123456789012","time":"2026-01-01T00:00:00Z","region":"us-east-1","resources":["arn:aws:ec2:us-east-1a:instance/i-0b662ef9931388ba0"],"detail":{"instance-id":"i-0b662ef9931388ba0","instance-action":"terminate"}}`
	rebalance = `{"version":"0","id":"2","detail-type":"EC2 Instance Rebalance Recommendation","source":"aws.ec2","detail":{"instance-id":"i-0b662ef9931388ba0"}}`
	health    = `{"version":"0","id":"3","detail-type":"AWS Health Event","source":"aws.health","detail":{"service":"EC2","eventTypeCategory":"scheduledChange","affectedEntities":[{"entityValue":"i-0b662ef9931388ba0"},{"entityValue":"i-1234abcd"}]}}`
	stopping  = `{"version":"0","id":"4","detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","detail":{"instance-id":"i-0b662ef9931388ba0","state":"stopping"}}`
	running   = `{"version":"0","id":"5","detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","detail":{"instance-id":"i-0b662ef9931388ba0","state":"running"}}`
)

func TestParse(t *testing.T) {
	cases := []struct {
		name, body string
		want       string // kind ids state replace, or "unknown"/"error"
	}{
		{"spot interruption", spot, "SpotInterruption [i-0b662ef9931388ba0]  true"},
		{"rebalance", rebalance, "RebalanceRecommendation [i-0b662ef9931388ba0]  false"},
		{"scheduled change", health, "ScheduledChange [i-0b662ef9931388ba0 i-1234abcd]  true"},
		{"stopping", stopping, "StateChange [i-0b662ef9931388ba0] stopping true"},
		{"running", running, "StateChange [i-0b662ef9931388ba0] running false"},
		{"health, not EC2", `{"detail-type":"AWS Health Event","source":"aws.health","detail":{"service":"RDS","eventTypeCategory":"scheduledChange"}}`, "unknown"},
		{"health, issue", `{"detail-type":"AWS Health Event","source":"aws.health","detail":{"service":"EC2","eventTypeCategory":"issue"}}`, "unknown"},
		{"other event", `{"detail-type":"Object Created","source":"aws.s3","detail":{}}`, "unknown"},
		{"garbage", `not json`, "error"},
		{"no instance", `{"detail-type":"EC2 Spot Instance Interruption Warning","source":"aws.ec2","detail":{}}`, "error"},
		{"bad instance id", `{"detail-type":"EC2 Spot Instance Interruption Warning","source":"aws.ec2","detail":{"instance-id":"i-../../x"}}`, "error"},
		{"detail not an object", `{"detail-type":"EC2 Spot Instance Interruption Warning","source":"aws.ec2","detail":[1]}`, "error"},
		{"health without instances", `{"detail-type":"AWS Health Event","source":"aws.health","detail":{"service":"EC2","eventTypeCategory":"scheduledChange","affectedEntities":[{"entityValue":"vol-1"}]}}`, "error"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse([]byte(tc.body))
			got := fmt.Sprintf("%s %v %s %v", m.Kind, m.InstanceIDs, m.State, m.Replace())
			switch {
			case errors.Is(err, ErrUnknown):
				got = "unknown"
			case err != nil:
				got = "error"
			}
			if got != tc.want {
				t.Errorf("got %q (%v), want %q", got, err, tc.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{spot, rebalance, health, stopping, running, `{}`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := Parse(body)
		if err != nil {
			return
		}
		if m.Kind == "" || len(m.InstanceIDs) == 0 {
			t.Fatalf("accepted %q as %+v", body, m)
		}
		for _, id := range m.InstanceIDs {
			if !validID(id) {
				t.Fatalf("accepted instance id %q", id)
			}
		}
	})
}

// BenchmarkParse: messages parsed per second (Karpenter's published
// figure is 15,000 messages handled).
func BenchmarkParse(b *testing.B) {
	bodies := [][]byte{[]byte(spot), []byte(rebalance), []byte(health), []byte(stopping)}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if _, err := Parse(bodies[n%len(bodies)]); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
}
