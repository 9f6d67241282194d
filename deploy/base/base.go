// Package base embeds the webhook configurations of the kustomize base, so
// the sandbox and the e2e tests register exactly what operators install,
// pointed at a local URL instead of the in-cluster Service.
package base

import (
	"bufio"
	_ "embed"
	"fmt"
	"io"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

//go:embed webhooks.yaml
var webhooksYAML string

// Webhooks returns the shipped Mutating- and ValidatingWebhookConfiguration.
// When url is not empty, every clientConfig is rewritten to url+path (the
// Service's path kept) with caBundle, for a Tailor running outside the
// cluster on loopback.
func Webhooks(url string, caBundle []byte) (*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	var docs [][]byte
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(webhooksYAML)))
	for {
		doc, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("webhooks.yaml: %w", err)
		}
		docs = append(docs, doc)
	}
	if len(docs) != 2 {
		return nil, nil, fmt.Errorf("webhooks.yaml: %d documents, want 2", len(docs))
	}
	m := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := yaml.UnmarshalStrict(docs[0], m); err != nil {
		return nil, nil, fmt.Errorf("webhooks.yaml: %w", err)
	}
	v := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := yaml.UnmarshalStrict(docs[1], v); err != nil {
		return nil, nil, fmt.Errorf("webhooks.yaml: %w", err)
	}
	if url != "" {
		for i := range m.Webhooks {
			m.Webhooks[i].ClientConfig = toURL(m.Webhooks[i].ClientConfig, url, caBundle)
		}
		for i := range v.Webhooks {
			v.Webhooks[i].ClientConfig = toURL(v.Webhooks[i].ClientConfig, url, caBundle)
		}
	}
	return m, v, nil
}

func toURL(c admissionregistrationv1.WebhookClientConfig, url string, caBundle []byte) admissionregistrationv1.WebhookClientConfig {
	path := ""
	if c.Service != nil && c.Service.Path != nil {
		path = *c.Service.Path
	}
	full := strings.TrimSuffix(url, "/") + path
	return admissionregistrationv1.WebhookClientConfig{URL: &full, CABundle: caBundle}
}
