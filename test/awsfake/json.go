package awsfake

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// pricingAction: GetProducts for AmazonEC2, the fake's on-demand prices
// in the Price List format (one JSON document per SKU), in pages of 100.
func (s *Server) pricingAction(action string, in map[string]any) (any, *apiError) {
	if action != "GetProducts" {
		return nil, errorf(400, "InvalidAction", "pricing action %s is not faked", action)
	}
	if in["ServiceCode"] != "AmazonEC2" {
		return nil, errorf(400, "InvalidParameterException", "service code %v", in["ServiceCode"])
	}
	names := sortedKeys(s.ec2.od)
	start := 0
	if tok, ok := in["NextToken"].(string); ok {
		start, _ = strconv.Atoi(tok)
	}
	end := min(start+100, len(names))
	list := make([]string, 0, end-start)
	for _, n := range names[start:end] {
		sku := "SKU" + n
		doc := map[string]any{
			"product": map[string]any{"productFamily": "Compute Instance", "sku": sku, "attributes": map[string]any{
				"instanceType": n, "operatingSystem": "Linux", "tenancy": "Shared", "regionCode": "us-east-1", "capacitystatus": "Used", "preInstalledSw": "NA",
			}},
			"serviceCode": "AmazonEC2",
			"terms": map[string]any{"OnDemand": map[string]any{sku + ".JRTCKXETXF": map[string]any{
				"sku": sku, "offerTermCode": "JRTCKXETXF",
				"priceDimensions": map[string]any{sku + ".JRTCKXETXF.6YS6EN2CT7": map[string]any{
					"unit": "Hrs", "pricePerUnit": map[string]any{"USD": strconv.FormatFloat(s.ec2.od[n], 'f', 10, 64)},
				}},
			}}},
		}
		b, _ := json.Marshal(doc)
		list = append(list, string(b))
	}
	out := map[string]any{"FormatVersion": "aws_v1", "PriceList": list}
	if end < len(names) {
		out["NextToken"] = strconv.Itoa(end)
	}
	return out, nil
}

type message struct {
	id, body, receipt string
	// invisibleUntil: received and not yet deleted.
	invisibleUntil time.Time
}

type queue struct {
	name     string
	messages []*message
}

// CreateQueue makes a queue and returns its URL.
func (s *Server) CreateQueue(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.URL + "/123456789012/" + name
	s.queues[u] = &queue{name: name}
	return u
}

// SendMessage puts a message on a queue (as EventBridge would).
func (s *Server) SendMessage(queueURL, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queues[queueURL]
	q.messages = append(q.messages, &message{id: newID("", 32), body: body})
}

// QueueDepth is how many messages are on the queue, received or not.
func (s *Server) QueueDepth(queueURL string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queues[queueURL].messages)
}

// sqsAction: GetQueueUrl, DeleteMessage (ReceiveMessage is receive).
func (s *Server) sqsAction(action string, in map[string]any) (any, *apiError) {
	switch action {
	case "GetQueueUrl":
		for u, q := range s.queues {
			if q.name == in["QueueName"] {
				return map[string]any{"QueueUrl": u}, nil
			}
		}
		return nil, errorf(400, "QueueDoesNotExist", "The specified queue does not exist.")
	case "DeleteMessage":
		q, ok := s.queues[fmt.Sprint(in["QueueUrl"])]
		if !ok {
			return nil, errorf(400, "QueueDoesNotExist", "The specified queue does not exist.")
		}
		for i, m := range q.messages {
			if m.receipt != "" && m.receipt == in["ReceiptHandle"] {
				q.messages = append(q.messages[:i], q.messages[i+1:]...)
				return map[string]any{}, nil
			}
		}
		return nil, errorf(400, "ReceiptHandleIsInvalid", "The input receipt handle is invalid.")
	}
	return nil, errorf(400, "InvalidAction", "sqs action %s is not faked", action)
}

// receive long-polls up to WaitTimeSeconds (at most 20) for visible
// messages; a received message is invisible for VisibilityTimeout
// (default 30 s) unless deleted.
func (s *Server) receive(in map[string]any) (any, *apiError) {
	u := fmt.Sprint(in["QueueUrl"])
	maxN := 1
	if v, ok := in["MaxNumberOfMessages"].(float64); ok && v >= 1 {
		maxN = min(int(v), 10)
	}
	wait := 0.0
	if v, ok := in["WaitTimeSeconds"].(float64); ok {
		wait = min(v, 20)
	}
	vis := 30.0
	if v, ok := in["VisibilityTimeout"].(float64); ok {
		vis = v
	}
	deadline := time.Now().Add(time.Duration(wait * float64(time.Second)))
	for {
		s.mu.Lock()
		q, ok := s.queues[u]
		if !ok {
			s.mu.Unlock()
			return nil, errorf(400, "QueueDoesNotExist", "The specified queue does not exist.")
		}
		now := time.Now()
		var out []map[string]any
		for _, m := range q.messages {
			if len(out) == maxN {
				break
			}
			if now.Before(m.invisibleUntil) {
				continue
			}
			m.receipt = newID("rh-", 40)
			m.invisibleUntil = now.Add(time.Duration(vis * float64(time.Second)))
			sum := md5.Sum([]byte(m.body))
			out = append(out, map[string]any{"MessageId": m.id, "ReceiptHandle": m.receipt, "Body": m.body, "MD5OfBody": hex.EncodeToString(sum[:])})
		}
		s.mu.Unlock()
		if len(out) > 0 || !time.Now().Before(deadline) {
			return map[string]any{"Messages": out}, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}
