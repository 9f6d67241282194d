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
// ClusterRole of the component's Deployment grants (tailor-admission for the
// webhook, tailor for the loops); otherwise a correct install would refuse
// to start.
func TestRequiredAccessIsGranted(t *testing.T) {
	raw, err := os.ReadFile("../../deploy/base/rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]*rbacv1.ClusterRole{}
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		role := &rbacv1.ClusterRole{}
		if err := yaml.Unmarshal([]byte(doc), role); err != nil {
			t.Fatal(err)
		}
		if role.Kind == "ClusterRole" {
			roles[role.Name] = role
		}
	}
	granted := func(role *rbacv1.ClusterRole, a access) bool {
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
		name := "tailor"
		if components[c].everyReplica {
			name = "tailor-admission"
		}
		role := roles[name]
		if role == nil {
			t.Fatalf("deploy/base/rbac.yaml has no ClusterRole %s", name)
		}
		for _, a := range list {
			if !granted(role, a) {
				t.Errorf("component %s needs %s, which ClusterRole %s of deploy/base/rbac.yaml does not grant", c, a, name)
			}
		}
	}
}
