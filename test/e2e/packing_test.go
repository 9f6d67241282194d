package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
)

// TestPackingMarginalCost (issue 15): a NodePool with spec.packing
// MarginalCost provisions by it. Two pools may buy c6g.large (2 vCPU,
// $0.068/h) or m6i.xlarge (4 vCPU, $0.192/h); two 1-CPU pods do not fit
// one c6g.large. FirstFit (the default) grows the planned node to an
// m6i.xlarge for both pods; MarginalCost sees that the rise ($0.124/h) is
// more than a c6g.large of the second pod's own and plans two of those.
func TestPackingMarginalCost(t *testing.T) {
	t.Parallel() // own namespaces, pools and Tailor (testLabel, --nodepool-selector)
	c := provClient(t)
	ensureNodeClass(t, c)
	state := namespace(t, nil)
	inst := startProvisioner(t, state)
	registerWebhooks(t, inst)
	enabled := map[string]string{"tailor.dev/enabled": "true"}
	types := req(provisionerv1.LabelInstanceType, corev1.NodeSelectorOpIn, "c6g.large", "m6i.xlarge")
	onDemand := req(provisionerv1.LabelCapacityType, corev1.NodeSelectorOpIn, "on-demand")
	for _, tc := range []struct {
		pool    string
		packing provisionerv1.Packing
		want    []string // the pool's nodes' instance types, sorted
	}{
		{"e2e-packing-firstfit", "", []string{"m6i.xlarge"}},
		{"e2e-packing-marginal", provisionerv1.PackingMarginalCost, []string{"c6g.large", "c6g.large"}},
	} {
		t.Run(string(tc.pool), func(t *testing.T) {
			t.Parallel()
			ns := namespace(t, enabled)
			p := newTestPool(tc.pool, 0, types, onDemand)
			p.np.Spec.Packing = tc.packing
			p.create(t, c)
			t.Cleanup(func() { waitPoolEmpty(t, c, tc.pool, 90*time.Second) })
			d := inflate(ns, "app", 2, "1", p)
			if _, err := env.Clientset().AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_ = env.Clientset().AppsV1().Deployments(ns).Delete(context.Background(), "app", metav1.DeleteOptions{})
			})
			waitRunning(t, ns, "app", 2, 60*time.Second)
			var got []string
			eventually(t, 30*time.Second, func(ctx context.Context) (bool, string) {
				nodes, err := nodesOf(ctx, tc.pool)
				if err != nil {
					return false, err.Error()
				}
				got = got[:0]
				for _, n := range nodes {
					got = append(got, n.Labels[provisionerv1.LabelInstanceType])
				}
				slices.Sort(got)
				return slices.Equal(got, tc.want), fmt.Sprintf("nodes %v, want %v", got, tc.want)
			})
			t.Logf("packing %q: nodes %v", tc.packing, got)
		})
	}
}
