package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
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
			waitRunning(t, ns, "app", 2, 2*time.Minute)
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

// TestPackingMarginalCostConsolidation (issue 15): consolidation in a
// MarginalCost pool may replace a node by several cheaper ones. The pool
// may buy c6g.large (2 vCPU, $0.068/h) or m6i.2xlarge (8 vCPU, $0.384/h).
// A 5-CPU pod needs an m6i.2xlarge, two 1-CPU pods join it; once the big
// pod is gone, the node carries 2 CPUs of pods for $0.384/h. One node
// that holds both is an m6i.2xlarge again (no saving: a FirstFit pool
// keeps the node, TestConsolidationPacking in provisioner/disruption);
// two c6g.large hold one each for $0.136/h, which the MarginalCost pool
// buys before it drains the old node.
func TestPackingMarginalCostConsolidation(t *testing.T) {
	t.Parallel() // own namespaces, pool and Tailor (testLabel)
	c := provClient(t)
	ensureNodeClass(t, c)
	state := namespace(t, nil)
	startProvisioner(t, state, "--disruption-interval", "1s", "--disruption-validation-period", "1s")
	ownClaimsGoneAtCleanup(t, c)
	ns := namespace(t, nil)
	const pool = "e2e-packing-consolidation"
	p := newTestPool(pool, 0, req(provisionerv1.LabelInstanceType, corev1.NodeSelectorOpIn, "c6g.large", "m6i.2xlarge"),
		req(provisionerv1.LabelCapacityType, corev1.NodeSelectorOpIn, "on-demand"))
	p.np.Spec.Packing = provisionerv1.PackingMarginalCost
	p.np.Spec.Disruption = provisionerv1.Disruption{ConsolidationPolicy: provisionerv1.ConsolidationPolicyWhenEmptyOrUnderutilized,
		ConsolidateAfter: "5s", Budgets: []provisionerv1.Budget{{Nodes: "100%"}}}
	p.create(t, c)
	pinned(ns, "big", 1, p, func(tmpl *corev1.PodTemplateSpec) {
		tmpl.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("5")
	})
	waitRunning(t, ns, "big", 1, 2*time.Minute)
	old := onlyClaim(t, c, pool)
	if old.Status.InstanceType != "m6i.2xlarge" {
		t.Fatalf("the 5-CPU pod got a %s, want an m6i.2xlarge", old.Status.InstanceType)
	}
	pinned(ns, "small", 2, p)
	waitRunning(t, ns, "small", 2, 2*time.Minute)
	if names, _, _ := fleet(context.Background(), c, pool); len(names) != 1 {
		t.Fatalf("the small pods did not join the node: %v", names)
	}
	scaleTo(t, ns, "big", 0)
	var got []string
	eventually(t, 120*time.Second, func(ctx context.Context) (bool, string) {
		claims, err := claimsOf(ctx, c, pool)
		if err != nil {
			return false, err.Error()
		}
		got = got[:0]
		for _, nc := range claims {
			if nc.Name == old.Name || !isInitialized(&nc) {
				return false, fmt.Sprintf("claim %s still there or launching", nc.Name)
			}
			got = append(got, nc.Status.InstanceType)
		}
		return slices.Equal(got, []string{"c6g.large", "c6g.large"}), fmt.Sprintf("claims %v, want two c6g.large", got)
	})
	waitRunning(t, ns, "small", 2, 2*time.Minute)
	note := eventAbout(t, "DisruptionStarted", old.Name, time.Time{}, 10*time.Second)
	t.Logf("Event on %s: %s", old.Name, note)
	if !strings.Contains(note, "replace by c6g.large, c6g.large") {
		t.Errorf("Event %q does not name the two replacements", note)
	}
	scaleTo(t, ns, "small", 0)
}
