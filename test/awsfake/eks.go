package awsfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// NodeGroup is an EKS managed node group as DescribeNodegroup tells it:
// the labels and taints its nodes register with (EKS effects:
// NO_SCHEDULE, NO_EXECUTE, PREFER_NO_SCHEDULE).
type NodeGroup struct {
	Cluster, Name string
	Labels        map[string]string
	Taints        []NodeGroupTaint
}

// NodeGroupTaint is a managed node group's taint.
type NodeGroupTaint struct {
	Key, Value, Effect string
}

// AddNodeGroup registers a managed node group with EKS.
func (s *Server) AddNodeGroup(ng NodeGroup) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nodeGroups == nil {
		s.nodeGroups = map[string]NodeGroup{}
	}
	s.nodeGroups[ng.Cluster+"/"+ng.Name] = ng
}

// serveEKS answers EKS's REST-JSON protocol: the operation is the method
// and path (GET /clusters/{name}/node-groups/{nodegroupName} is
// DescribeNodegroup), errors carry their code in X-Amzn-ErrorType.
func (s *Server) serveEKS(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/")
	action := "Unknown"
	if r.Method == http.MethodGet && len(parts) == 4 && parts[0] == "clusters" && parts[2] == "node-groups" {
		action = "DescribeNodegroup"
	}
	s.mu.Lock()
	s.calls = append(s.calls, "eks:"+action)
	f := s.fault("eks:" + action)
	var out any
	var aerr *apiError
	if f == nil || f.AfterApply {
		out, aerr = s.eksAction(action, parts)
	}
	s.mu.Unlock()
	if f != nil {
		aerr = &apiError{Status: f.Status, Code: f.Code, Message: "injected fault"}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Requestid", newID("", 32))
	if aerr != nil {
		w.Header().Set("X-Amzn-ErrorType", aerr.Code)
		w.WriteHeader(aerr.Status)
		_ = json.NewEncoder(w).Encode(map[string]string{"message": aerr.Message})
		return
	}
	_ = json.NewEncoder(w).Encode(out)
}

func (s *Server) eksAction(action string, parts []string) (any, *apiError) {
	if action != "DescribeNodegroup" {
		return nil, errorf(404, "UnknownOperationException", "eks operation %s is not faked", strings.Join(parts, "/"))
	}
	cluster, _ := url.PathUnescape(parts[1])
	name, _ := url.PathUnescape(parts[3])
	ng, ok := s.nodeGroups[cluster+"/"+name]
	if !ok {
		return nil, errorf(404, "ResourceNotFoundException", "No node group found for name: %s.", name)
	}
	taints := make([]map[string]string, 0, len(ng.Taints))
	for _, t := range ng.Taints {
		taints = append(taints, map[string]string{"key": t.Key, "value": t.Value, "effect": t.Effect})
	}
	return map[string]any{"nodegroup": map[string]any{
		"nodegroupName": ng.Name, "clusterName": ng.Cluster, "status": "ACTIVE",
		"nodegroupArn": fmt.Sprintf("arn:aws:eks:us-east-1:123456789012:nodegroup/%s/%s/0", ng.Cluster, ng.Name),
		"createdAt":    float64(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Unix()),
		"labels":       ng.Labels, "taints": taints,
	}}, nil
}
