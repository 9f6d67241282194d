// Package interruption reads the EC2 events EventBridge delivers to
// Tailor's SQS queue (--interruption-queue): spot interruption warnings,
// rebalance recommendations, AWS Health scheduled changes and instance
// state changes, and says what each asks of the provisioner. Pure: no
// client; the aws backend's queue loop feeds it message bodies.
package interruption

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Kind of message.
type Kind string

// Kinds.
const (
	SpotInterruption Kind = "SpotInterruption"
	Rebalance        Kind = "RebalanceRecommendation"
	ScheduledChange  Kind = "ScheduledChange"
	StateChange      Kind = "StateChange"
)

// Message is one parsed event.
type Message struct {
	Kind Kind
	// InstanceIDs the event is about (i-…).
	InstanceIDs []string
	// State of a StateChange (stopping, stopped, shutting-down, terminated, …).
	State string
	// ID of the event, for logs.
	ID string
}

// Replace says whether the instance is going away, so that its NodeClaim
// must be replaced and its node drained now: a spot interruption (two
// minutes' notice), a scheduled change (retirement, maintenance) and an
// instance stopping or terminating. A rebalance recommendation only
// warns (it is recorded, not acted on).
func (m Message) Replace() bool {
	switch m.Kind {
	case SpotInterruption, ScheduledChange:
		return true
	case StateChange:
		switch m.State {
		case "stopping", "stopped", "shutting-down", "terminated":
			return true
		}
	}
	return false
}

// ErrUnknown is a well-formed event of a kind Tailor does not handle.
var ErrUnknown = errors.New("not an event Tailor handles")

type event struct {
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Detail     json.RawMessage `json:"detail"`
}

type ec2Detail struct {
	InstanceID string `json:"instance-id"`
	State      string `json:"state"`
}

type healthDetail struct {
	Service           string `json:"service"`
	EventTypeCategory string `json:"eventTypeCategory"`
	AffectedEntities  []struct {
		EntityValue string `json:"entityValue"`
	} `json:"affectedEntities"`
}

// Parse reads one SQS message body. Malformed bodies are errors; events
// of other kinds are ErrUnknown (the caller counts and deletes both).
func Parse(body []byte) (Message, error) {
	var e event
	if err := json.Unmarshal(body, &e); err != nil {
		return Message{}, fmt.Errorf("malformed message: %w", err)
	}
	m := Message{ID: e.ID}
	switch {
	case e.Source == "aws.ec2" && e.DetailType == "EC2 Spot Instance Interruption Warning":
		m.Kind = SpotInterruption
	case e.Source == "aws.ec2" && e.DetailType == "EC2 Instance Rebalance Recommendation":
		m.Kind = Rebalance
	case e.Source == "aws.ec2" && e.DetailType == "EC2 Instance State-change Notification":
		m.Kind = StateChange
	case e.Source == "aws.health" && e.DetailType == "AWS Health Event":
		var d healthDetail
		if err := json.Unmarshal(e.Detail, &d); err != nil {
			return Message{}, fmt.Errorf("malformed AWS Health event %s: %w", e.ID, err)
		}
		if d.Service != "EC2" || d.EventTypeCategory != "scheduledChange" {
			return Message{}, fmt.Errorf("AWS Health %s/%s event %s: %w", d.Service, d.EventTypeCategory, e.ID, ErrUnknown)
		}
		m.Kind = ScheduledChange
		for _, a := range d.AffectedEntities {
			if validID(a.EntityValue) {
				m.InstanceIDs = append(m.InstanceIDs, a.EntityValue)
			}
		}
		if len(m.InstanceIDs) == 0 {
			return Message{}, fmt.Errorf("AWS Health event %s names no instance", e.ID)
		}
		return m, nil
	default:
		return Message{}, fmt.Errorf("%q from %q: %w", e.DetailType, e.Source, ErrUnknown)
	}
	var d ec2Detail
	if err := json.Unmarshal(e.Detail, &d); err != nil {
		return Message{}, fmt.Errorf("malformed %s event %s: %w", m.Kind, e.ID, err)
	}
	if !validID(d.InstanceID) {
		return Message{}, fmt.Errorf("%s event %s: instance-id %q is not an instance id", m.Kind, e.ID, d.InstanceID)
	}
	m.InstanceIDs, m.State = []string{d.InstanceID}, d.State
	return m, nil
}

// validID: i- and 8 or 17 hex digits.
func validID(s string) bool {
	h, ok := strings.CutPrefix(s, "i-")
	if !ok || (len(h) != 8 && len(h) != 17) {
		return false
	}
	for _, c := range h {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
