package main

import (
	"context"
	"strings"
	"testing"
)

func TestLeads(t *testing.T) {
	for _, tc := range []struct {
		components []string
		want       bool
	}{
		{[]string{"webhook"}, false},
		{nil, false},
		{[]string{"webhook", "recommender"}, true},
		{[]string{"recommender", "scaler", "updater"}, true},
		{[]string{"provisioner"}, true},
		{defaultComponents(), true},
	} {
		if got := leads(tc.components); got != tc.want {
			t.Errorf("leads(%v) = %v, want %v", tc.components, got, tc.want)
		}
	}
}

// The serving-certificate flags belong to the replicas that serve: a loops
// replica given them is a manifest mistake, refused before anything starts.
func TestRunRefusesCertFlagsWithoutWebhook(t *testing.T) {
	for _, o := range []*runOptions{
		{components: []string{"recommender", "scaler", "updater"}, certBootstrap: true},
		{components: []string{"recommender"}, certManagerCertificate: "tailor-system/tailor-webhook"},
	} {
		err := run(context.Background(), o)
		if err == nil || !strings.Contains(err.Error(), "has no webhook") {
			t.Errorf("run(%v): %v, want the webhook named", o.components, err)
		}
	}
}
