package main

import (
	"os"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// Every permission the start-up check insists on is one the shipped
// ClusterRole grants; otherwise a correct install would refuse to start.
func TestRequiredAccessIsGranted(t *testing.T) {
	raw, err := os.ReadFile("../../deploy/base/rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.Unmarshal([]byte(strings.Split(string(raw), "\n---\n")[0]), role); err != nil || role.Kind != "ClusterRole" {
		t.Fatalf("rbac.yaml's first document: %v %s", err, role.Kind)
	}
	granted := func(a access) bool {
		for _, r := range role.Rules {
			if len(r.ResourceNames) > 0 {
				continue // the check asks about every object
			}
			if (slices.Contains(r.APIGroups, a.group) || slices.Contains(r.APIGroups, "*")) &&
				slices.Contains(r.Resources, a.resource) && slices.Contains(r.Verbs, a.verb) {
				return true
			}
		}
		return false
	}
	for c, list := range requiredAccess {
		if _, ok := components[c]; !ok {
			t.Errorf("requiredAccess names unknown component %q", c)
		}
		for _, a := range list {
			if !granted(a) {
				t.Errorf("component %s needs %s, which deploy/base/rbac.yaml does not grant", c, a)
			}
		}
	}
}
