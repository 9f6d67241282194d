package promsource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
)

// Kind classifies a failed query. Its values are CamelCase so that they can
// serve as a condition's or an Event's reason as they are.
type Kind string

const (
	// Unreachable: no HTTP answer (connection refused, DNS, TLS, reset).
	Unreachable Kind = "PrometheusUnreachable"
	// Timeout: no answer within Config.Timeout, or Prometheus gave up on
	// the query itself (errorType "timeout").
	Timeout Kind = "PrometheusTimeout"
	// APIError: Prometheus (or a proxy in front of it) answered with an
	// error: an HTTP error status, with Prometheus' errorType and error when
	// the body carries them (bad_data for a bad query, execution, internal,
	// unavailable, ...).
	APIError Kind = "PrometheusError"
	// BadResponse: an answer that is not the Prometheus API's (undecodable
	// JSON, a result of the wrong type).
	BadResponse Kind = "PrometheusBadResponse"
	// Canceled: the caller's context ended (shutdown); not Prometheus' fault.
	Canceled Kind = "Canceled"
)

// Error is a failed query. Use errors.As to get it from any error a Source
// returns.
type Error struct {
	Kind Kind
	// Address is the Prometheus queried; Query the PromQL.
	Address, Query string
	// Status is the HTTP status, 0 without an answer.
	Status int
	// Type and Message are Prometheus' errorType and error (Type is empty
	// when the answer had none); for other kinds, Message describes the
	// failure.
	Type, Message string
	// Err is the underlying error.
	Err error
}

func (e *Error) Error() string {
	var what string
	switch e.Kind {
	case Unreachable:
		what = "unreachable"
	case Timeout:
		what = "timed out"
	case APIError:
		what = "error"
	case BadResponse:
		what = "bad response"
	case Canceled:
		what = "canceled"
	default:
		what = string(e.Kind)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "prometheus %s: %s", e.Address, what)
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	if e.Type != "" {
		fmt.Fprintf(&b, ": %s", e.Type)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	fmt.Fprintf(&b, "; query: %s", e.Query)
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the Kind of a Source error, "" for nil or another error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return ""
}

// classify turns what the client returned into an *Error. parent is the
// caller's context (to tell its cancellation from the per-query timeout),
// status the HTTP status seen (0 if none).
func classify(parent context.Context, address, query string, timeout time.Duration, status int, err error) *Error {
	e := &Error{Address: address, Query: query, Status: status, Err: err, Message: err.Error()}
	var apiErr *v1.Error
	var netErr net.Error
	switch {
	case parent.Err() != nil:
		e.Kind = Canceled
	case errors.As(err, &apiErr):
		e.Type, e.Message = string(apiErr.Type), apiErr.Msg
		switch apiErr.Type {
		case v1.ErrBadResponse:
			e.Kind, e.Type = BadResponse, ""
		case v1.ErrServer, v1.ErrClient:
			// The client decodes only 400 and 422 bodies; Prometheus sends
			// errorType and error with 5xx too (internal, unavailable,
			// timeout), and a proxy sends text.
			e.Kind, e.Type, e.Message = APIError, "", bodyText(apiErr.Detail)
			var body struct {
				ErrorType string `json:"errorType"`
				Error     string `json:"error"`
			}
			if json.Unmarshal([]byte(apiErr.Detail), &body) == nil && body.ErrorType != "" {
				e.Type, e.Message = body.ErrorType, body.Error
			}
		default:
			e.Kind = APIError
		}
		if e.Type == string(v1.ErrTimeout) {
			e.Kind = Timeout
		}
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		e.Kind, e.Message = Timeout, "no answer within the query timeout of "+timeout.String()+": "+err.Error()
	default:
		e.Kind = Unreachable
	}
	return e
}

// bodyText shortens an error body for a message.
func bodyText(b string) string {
	b = strings.TrimSpace(b)
	if len(b) > 300 {
		b = b[:300] + "…"
	}
	return b
}
