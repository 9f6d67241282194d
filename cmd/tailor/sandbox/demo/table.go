package demo

import (
	"context"
	"fmt"
	"io"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/rest"
)

// tableAccept asks the API server for its table rendering (the printer
// columns of built-in kinds and CRDs): what kubectl get prints.
const tableAccept = "application/json;as=Table;v=v1;g=meta.k8s.io"

// Resource names a list for "kubectl get": its API path without the
// namespace part, e.g. /apis/tailor.dev/v1alpha1 and replicaautoscalers.
type Resource struct {
	// Short is how the seed's kubectl names it (ra, vpa, nodeclaims).
	Short           string
	GroupVersion    string // "v1" for the core group, else group/version
	Plural          string
	Namespaced      bool
	LabelSelector   string
	FieldSelector   string
	Wide            bool
	NamespaceHeader bool
}

// ResourceRA is kubectl get ra.
var ResourceRA = resRA

var (
	resRA         = Resource{Short: "ra", GroupVersion: "tailor.dev/v1alpha1", Plural: "replicaautoscalers", Namespaced: true}
	resVPA        = Resource{Short: "vpa", GroupVersion: "autoscaling.k8s.io/v1", Plural: "verticalpodautoscalers", Namespaced: true}
	resPods       = Resource{Short: "pods", GroupVersion: "v1", Plural: "pods", Namespaced: true}
	resNodeClaims = Resource{Short: "nodeclaims", GroupVersion: "tailor.dev/v1alpha1", Plural: "nodeclaims"}
	resNodes      = Resource{Short: "nodes", GroupVersion: "v1", Plural: "nodes"}
)

func (r Resource) path(ns string) string {
	prefix := "/apis/" + r.GroupVersion
	if r.GroupVersion == "v1" {
		prefix = "/api/v1"
	}
	if r.Namespaced {
		return prefix + "/namespaces/" + ns + "/" + r.Plural
	}
	return prefix + "/" + r.Plural
}

// Command is the kubectl command line the table stands for.
func (r Resource) Command(ns string) string {
	cmd := "kubectl get " + r.Short
	if r.Namespaced {
		cmd += " -n " + ns
	}
	if r.LabelSelector != "" {
		cmd += " -l " + r.LabelSelector
	}
	if r.Wide {
		cmd += " -o wide"
	}
	return cmd
}

// GetTable lists r in ns as the API server renders it for kubectl.
func GetTable(ctx context.Context, rc rest.Interface, r Resource, ns string) (*metav1.Table, error) {
	req := rc.Get().AbsPath(r.path(ns)).SetHeader("Accept", tableAccept)
	if r.LabelSelector != "" {
		req = req.Param("labelSelector", r.LabelSelector)
	}
	if r.FieldSelector != "" {
		req = req.Param("fieldSelector", r.FieldSelector)
	}
	t := &metav1.Table{}
	body, err := req.DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.Command(ns), err)
	}
	if err := decodeTable(body, t); err != nil {
		return nil, fmt.Errorf("%s: %w", r.Command(ns), err)
	}
	return t, nil
}

// FormatTable prints t with kubectl's table printer (cli-runtime), so it
// reads exactly as kubectl get's output.
func FormatTable(t *metav1.Table, wide bool) (string, error) {
	var b strings.Builder
	if len(t.Rows) == 0 {
		return "No resources found.\n", nil
	}
	p := printers.NewTablePrinter(printers.PrintOptions{Wide: wide})
	if err := p.PrintObj(t, &b); err != nil {
		return "", err
	}
	return b.String(), nil
}

// writeColumns writes rows aligned as kubectl aligns its tables.
func writeColumns(out io.Writer, rows [][]string) {
	w := printers.GetNewTabWriter(out)
	for _, r := range rows {
		fmt.Fprintln(w, strings.Join(r, "\t"))
	}
	_ = w.Flush()
}
