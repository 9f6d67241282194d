package cluster

import (
	"bufio"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// ServiceAccountPrefix is the user name prefix of ServiceAccount tokens.
const ServiceAccountPrefix = "system:serviceaccount:"

// auditPolicyYAML records every request made with a ServiceAccount token at
// Metadata level (who, verb, object, response code; no bodies) and nothing
// else: tests that run Tailor as its installed ServiceAccount read back
// exactly the calls it made and whether RBAC refused any.
const auditPolicyYAML = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  userGroups: ["system:serviceaccounts"]
- level: None
`

// AuditLog is the kube-apiserver's audit log (JSON lines).
func (c *Cluster) AuditLog() string { return filepath.Join(c.Dir, "logs", "audit.log") }

// AuditRequest is one audited request, the fields a permission check needs.
type AuditRequest struct {
	User        string
	Verb        string
	APIGroup    string
	Resource    string
	Subresource string
	Namespace   string
	Name        string
	Code        int32
	Message     string // the response's message on failure
	Time        time.Time
}

// AuditRequests returns the requests user made at or after since.
func (c *Cluster) AuditRequests(user string, since time.Time) ([]AuditRequest, error) {
	f, err := os.Open(c.AuditLog())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []AuditRequest
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		var e struct {
			Stage string `json:"stage"`
			Verb  string `json:"verb"`
			User  struct {
				Username string `json:"username"`
			} `json:"user"`
			ObjectRef *struct {
				APIGroup    string `json:"apiGroup"`
				Resource    string `json:"resource"`
				Subresource string `json:"subresource"`
				Namespace   string `json:"namespace"`
				Name        string `json:"name"`
			} `json:"objectRef"`
			ResponseStatus *struct {
				Code    int32  `json:"code"`
				Message string `json:"message"`
			} `json:"responseStatus"`
			StageTimestamp time.Time `json:"stageTimestamp"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, err
		}
		// A watch logs ResponseStarted and ResponseComplete; count it once.
		if e.User.Username != user || e.StageTimestamp.Before(since) || e.Stage == "ResponseStarted" {
			continue
		}
		r := AuditRequest{User: user, Verb: e.Verb, Time: e.StageTimestamp}
		if e.ObjectRef != nil {
			r.APIGroup, r.Resource, r.Subresource = e.ObjectRef.APIGroup, e.ObjectRef.Resource, e.ObjectRef.Subresource
			r.Namespace, r.Name = e.ObjectRef.Namespace, e.ObjectRef.Name
		}
		if e.ResponseStatus != nil {
			r.Code, r.Message = e.ResponseStatus.Code, e.ResponseStatus.Message
		}
		out = append(out, r)
	}
	return out, sc.Err()
}
