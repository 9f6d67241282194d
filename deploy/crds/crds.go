// Package crds embeds the CRD manifests of deploy/crds so that the sandbox
// and the e2e tests install exactly what operators apply.
package crds

import (
	"bufio"
	"bytes"
	"embed"
	"fmt"
	"io"
	"io/fs"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

//go:embed *.yaml
var files embed.FS

// Objects returns every CustomResourceDefinition in the folder.
func Objects() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	names, err := fs.Glob(files, "*.yaml")
	if err != nil {
		return nil, err
	}
	var out []*apiextensionsv1.CustomResourceDefinition
	for _, name := range names {
		if name == "kustomization.yaml" {
			continue
		}
		data, err := files.ReadFile(name)
		if err != nil {
			return nil, err
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for i := 0; ; i++ {
			doc, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			var probe map[string]any
			if err := yaml.Unmarshal(doc, &probe); err != nil {
				return nil, fmt.Errorf("%s document %d: %w", name, i, err)
			}
			if len(probe) == 0 {
				continue // comments only
			}
			crd := &apiextensionsv1.CustomResourceDefinition{}
			if err := yaml.UnmarshalStrict(doc, crd); err != nil {
				return nil, fmt.Errorf("%s document %d: %w", name, i, err)
			}
			if crd.Kind != "CustomResourceDefinition" {
				return nil, fmt.Errorf("%s document %d: kind %q, want CustomResourceDefinition", name, i, crd.Kind)
			}
			out = append(out, crd)
		}
	}
	return out, nil
}
