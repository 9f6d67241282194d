// Package awsfake is a local HTTP fake of the AWS APIs Tailor calls, for
// tests that drive the real aws-sdk-go-v2 clients over the wire (endpoint
// override, fake credentials): EC2 and Auto Scaling speak the query
// protocols with XML responses, SSM and Pricing AWS JSON 1.1, SQS AWS JSON
// 1.0, EKS REST-JSON — so the SDK's serialisation, pagination, retries and error decoding
// all run. One server answers every service (it tells them apart by the
// query Version or the X-Amz-Target header), listens on 127.0.0.1 only and
// records every action called ("ec2:CreateFleet"), which the IAM policy
// test compares with the shipped policy.
//
// Faults: Fail makes the next calls of an action answer an AWS error
// (RequestLimitExceeded, InternalError, …), optionally after doing the work
// (a lost response); InsufficientCapacity makes offerings fail in
// CreateFleet as EC2 does. Launched instances are handed to OnLaunch (the
// e2e suite makes a kwok Node of each), terminated ones to OnTerminate.
//
// Nothing in the product imports this package.
package awsfake

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fault is an error the next Times calls of Action answer.
type Fault struct {
	// Action as recorded ("ec2:CreateFleet").
	Action string
	// Code is the AWS error code (RequestLimitExceeded, InternalError).
	Code string
	// Status is the HTTP status (503 for throttling, 500 for InternalError).
	Status int
	// Times is how many calls fail.
	Times int
	// AfterApply does the work first and then answers the error: the
	// caller never sees the result (a lost response, a crash).
	AfterApply bool
}

// Server is the fake. Zero values of the exported fields are fine; set
// them before the first request or under Lock.
type Server struct {
	URL string

	srv *http.Server
	ln  net.Listener

	mu     sync.Mutex
	calls  []string
	faults []*Fault

	ec2 *ec2State
	asg *asgState
	// SSM parameters by name.
	params map[string]string
	// queues by URL.
	queues map[string]*queue
	// pageSize: the most items an EC2 Describe* page holds (SetPageSize).
	pageSize int
	// nodeGroups: EKS managed node groups by cluster/name.
	nodeGroups map[string]NodeGroup
}

// SetPageSize makes every paginated EC2 Describe* answer at most n items a
// page (a nextToken for the rest), so a test shows the caller reads every
// page; the default is 100.
func (s *Server) SetPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageSize = n
}

// paged is one page of items, wrapped in the list element name, from the
// request's NextToken: at most MaxResults or the page size (but not less
// than floor), whichever is smaller, followed by the nextToken element
// when more are left. The catalogue-sized lists (types, offerings, spot
// prices) take a floor of 100, EC2's default, and still span pages.
func (s *Server) paged(q query, name string, floor int, items []string) (string, *apiError) {
	size := max(s.pageSize, floor)
	if m, err := strconv.Atoi(q.get("MaxResults")); err == nil && m > 0 && m < size {
		size = m
	}
	start := 0
	if tok := q.get("NextToken"); tok != "" {
		n, err := strconv.Atoi(tok)
		if err != nil || n < 0 || n > len(items) {
			return "", errorf(400, "InvalidParameterValue", "bad NextToken %q", tok)
		}
		start = n
	}
	end := min(start+size, len(items))
	out := el(name, strings.Join(items[start:end], ""))
	if end < len(items) {
		out += tx("nextToken", strconv.Itoa(end))
	}
	return out, nil
}

// New starts a fake on a free 127.0.0.1 port with a small VPC: subnets
// in us-east-1a–c tagged tailor.dev/discovery=<cluster>, one security
// group likewise, the EKS-optimized AL2023 and AL2 and the Bottlerocket
// AMI parameters, and the
// instance types, offerings and prices of the built-in catalogue (spot
// and on-demand prices a little off the catalogue's, so a test can tell
// live prices from the fallback).
func New(cluster string) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{ln: ln, URL: "http://" + ln.Addr().String(), params: map[string]string{}, queues: map[string]*queue{}, pageSize: 100}
	s.ec2 = newEC2State(cluster)
	s.asg = newASGState()
	for _, v := range []string{"1.30", "1.31", "1.32", "1.33", "1.34", "1.35", "1.36", "1.37"} {
		s.params["/aws/service/eks/optimized-ami/"+v+"/amazon-linux-2023/x86_64/standard/recommended/image_id"] = "ami-0a1b2c3d4e5f60001"
		s.params["/aws/service/eks/optimized-ami/"+v+"/amazon-linux-2023/arm64/standard/recommended/image_id"] = "ami-0a1b2c3d4e5f60002"
		s.params["/aws/service/eks/optimized-ami/"+v+"/amazon-linux-2/recommended/image_id"] = "ami-0a1b2c3d4e5f60003"
		s.params["/aws/service/eks/optimized-ami/"+v+"/amazon-linux-2-arm64/recommended/image_id"] = "ami-0a1b2c3d4e5f60004"
		s.params["/aws/service/bottlerocket/aws-k8s-"+v+"/x86_64/latest/image_id"] = "ami-0a1b2c3d4e5f60005"
		s.params["/aws/service/bottlerocket/aws-k8s-"+v+"/arm64/latest/image_id"] = "ami-0a1b2c3d4e5f60006"
	}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the server.
func (s *Server) Close() { _ = s.srv.Close() }

// Calls is every action called so far, in order, failed ones included.
func (s *Server) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

// Count is how many times action was called.
func (s *Server) Count(action string) int {
	n := 0
	for _, c := range s.Calls() {
		if c == action {
			n++
		}
	}
	return n
}

// Actions is the set of distinct actions called, sorted.
func (s *Server) Actions() []string {
	seen := map[string]bool{}
	for _, c := range s.Calls() {
		seen[c] = true
	}
	out := make([]string, 0, len(seen))
	for a := range seen {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// Fail adds a fault.
func (s *Server) Fail(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// SetParameter sets an SSM parameter.
func (s *Server) SetParameter(name, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.params[name] = value
}

// fault takes one use of the first fault of action, if any.
func (s *Server) fault(action string) *Fault {
	for _, f := range s.faults {
		if f.Action == action && f.Times > 0 {
			f.Times--
			c := *f
			return &c
		}
	}
	return nil
}

// ServeHTTP dispatches by protocol.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		s.serveJSON(w, target, body)
		return
	}
	if strings.HasPrefix(r.URL.Path, "/clusters/") {
		s.serveEKS(w, r)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	action := form.Get("Action")
	switch form.Get("Version") {
	case "2016-11-15":
		s.serveQuery(w, "ec2", action, form, s.ec2Action)
	case "2011-01-01":
		s.serveQuery(w, "autoscaling", action, form, s.asgAction)
	default:
		http.Error(w, "unknown service version "+form.Get("Version"), http.StatusBadRequest)
	}
}

// apiError is an AWS error answer.
type apiError struct {
	Status        int
	Code, Message string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func errorf(status int, code, format string, a ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, a...)}
}

// queryHandler answers one query action: the XML inside the response
// element, or an error. Called with s.mu held.
type queryHandler func(action string, q query) (string, *apiError)

func (s *Server) serveQuery(w http.ResponseWriter, service, action string, form url.Values, h queryHandler) {
	s.mu.Lock()
	s.calls = append(s.calls, service+":"+action)
	f := s.fault(service + ":" + action)
	var out string
	var aerr *apiError
	if f == nil || f.AfterApply {
		out, aerr = h(action, query(form))
	}
	s.mu.Unlock()
	if f != nil {
		aerr = &apiError{Status: f.Status, Code: f.Code, Message: "injected fault"}
	}
	reqID := newID("", 32)
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	if aerr != nil {
		w.WriteHeader(aerr.Status)
		if service == "ec2" {
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>%s</RequestID></Response>`,
				esc(aerr.Code), esc(aerr.Message), reqID)
			return
		}
		typ := "Sender"
		if aerr.Status >= 500 {
			typ = "Receiver"
		}
		fmt.Fprintf(w, `<ErrorResponse><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`,
			typ, esc(aerr.Code), esc(aerr.Message), reqID)
		return
	}
	if service == "ec2" {
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><%sResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>%s</requestId>%s</%sResponse>`,
			action, reqID, out, action)
		return
	}
	fmt.Fprintf(w, `<%sResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><%sResult>%s</%sResult><ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>`,
		action, action, out, action, reqID, action)
}

// jsonHandler answers one JSON action. Called with s.mu held.
type jsonHandler func(action string, in map[string]any) (any, *apiError)

func (s *Server) serveJSON(w http.ResponseWriter, target string, body []byte) {
	prefix, action, _ := strings.Cut(target, ".")
	var service string
	var h jsonHandler
	var namespace string
	switch prefix {
	case "AmazonSSM":
		service, h, namespace = "ssm", s.ssmAction, ""
	case "AWSPriceListService":
		service, h, namespace = "pricing", s.pricingAction, ""
	case "AmazonSQS":
		service, h, namespace = "sqs", s.sqsAction, "com.amazonaws.sqs#"
	default:
		http.Error(w, "unknown target "+target, http.StatusBadRequest)
		return
	}
	in := map[string]any{}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	var out any
	var aerr *apiError
	if service == "sqs" && action == "ReceiveMessage" {
		// Long polling waits outside the lock.
		s.mu.Lock()
		s.calls = append(s.calls, service+":"+action)
		f := s.fault(service + ":" + action)
		s.mu.Unlock()
		if f != nil {
			aerr = &apiError{Status: f.Status, Code: f.Code, Message: "injected fault"}
		} else {
			out, aerr = s.receive(in)
		}
	} else {
		s.mu.Lock()
		s.calls = append(s.calls, service+":"+action)
		f := s.fault(service + ":" + action)
		if f == nil || f.AfterApply {
			out, aerr = h(action, in)
		}
		s.mu.Unlock()
		if f != nil {
			aerr = &apiError{Status: f.Status, Code: f.Code, Message: "injected fault"}
		}
	}
	ct := "application/x-amz-json-1.1"
	if service == "sqs" {
		ct = "application/x-amz-json-1.0"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("X-Amzn-RequestId", newID("", 32))
	if aerr != nil {
		w.Header().Set("X-Amzn-ErrorType", aerr.Code)
		w.WriteHeader(aerr.Status)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": namespace + aerr.Code, "message": aerr.Message})
		return
	}
	if out == nil {
		out = map[string]any{}
	}
	_ = json.NewEncoder(w).Encode(out)
}

// ssmAction: GetParameter.
func (s *Server) ssmAction(action string, in map[string]any) (any, *apiError) {
	switch action {
	case "GetParameter":
		name, _ := in["Name"].(string)
		v, ok := s.params[name]
		if !ok {
			return nil, errorf(400, "ParameterNotFound", "parameter %s not found", name)
		}
		return map[string]any{"Parameter": map[string]any{"Name": name, "Type": "String", "Value": v, "Version": 1}}, nil
	}
	return nil, errorf(400, "InvalidAction", "ssm action %s is not faked", action)
}

// query is a parsed query-protocol request.
type query url.Values

func (q query) get(k string) string { return url.Values(q).Get(k) }

// list is the values of prefix.1, prefix.2, … (a flattened list).
func (q query) list(prefix string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := q[fmt.Sprintf("%s.%d", prefix, i)]
		if !ok {
			return out
		}
		out = append(out, v[0])
	}
}

// items counts prefix.N.* entries: how many members a list of structures has.
func (q query) items(prefix string) int {
	n := 0
	for i := 1; ; i++ {
		p := fmt.Sprintf("%s.%d.", prefix, i)
		found := false
		for k := range q {
			if strings.HasPrefix(k, p) {
				found = true
				break
			}
		}
		if !found {
			return n
		}
		n++
	}
}

// filter is a query filter (Filter.N.Name, Filter.N.Value.M).
type filter struct {
	Name   string
	Values []string
}

func (q query) filters(prefix string) []filter {
	var out []filter
	for i := 1; i <= q.items(prefix); i++ {
		p := fmt.Sprintf("%s.%d", prefix, i)
		out = append(out, filter{Name: q.get(p + ".Name"), Values: q.list(p + ".Value")})
	}
	return out
}

// matchTags reports whether a resource with tags passes the tag filters
// (tag:K, tag-key) of fs; other filter names are the caller's.
func matchTags(fs []filter, tags map[string]string) bool {
	for _, f := range fs {
		switch {
		case strings.HasPrefix(f.Name, "tag:"):
			v, ok := tags[strings.TrimPrefix(f.Name, "tag:")]
			if !ok || !matchValue(f.Values, v) {
				return false
			}
		case f.Name == "tag-key":
			ok := false
			for _, k := range f.Values {
				if _, has := tags[k]; has {
					ok = true
				}
			}
			if !ok {
				return false
			}
		}
	}
	return true
}

// matchValue: any of the filter's values (EC2 wildcards * and ?) matches v.
func matchValue(values []string, v string) bool {
	for _, p := range values {
		if ok, _ := path.Match(p, v); ok {
			return true
		}
	}
	return false
}

func esc(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '"':
			b.WriteString("&quot;")
		case '\'':
			b.WriteString("&apos;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// el is <tag>inner</tag>; inner is XML already.
func el(tag string, inner ...string) string {
	return "<" + tag + ">" + strings.Join(inner, "") + "</" + tag + ">"
}

// tx is <tag>text</tag> with text escaped.
func tx(tag, text string) string { return "<" + tag + ">" + esc(text) + "</" + tag + ">" }

func tagSet(name, item string, tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(el(item, tx("key", k), tx("value", tags[k])))
	}
	return el(name, b.String())
}

func newID(prefix string, n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)[:n]
}
