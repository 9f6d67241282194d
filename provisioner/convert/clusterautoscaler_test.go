package convert

import (
	"os"
	"strings"
	"testing"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
)

func TestClusterAutoscalerDocumentedAutoDiscovery(t *testing.T) {
	data, err := os.ReadFile("testdata/cluster-autoscaler-autodiscover.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r, err := ClusterAutoscaler(data, "node-groups")
	if err != nil {
		t.Fatal(err)
	}
	np := r.NodePool
	if np.Name != "node-groups" || np.Kind != "NodePool" || np.Spec.AutoScalingGroups == nil {
		t.Fatalf("pool %+v", np)
	}
	terms := np.Spec.AutoScalingGroups.SelectorTerms
	if len(terms) != 1 || terms[0].Tags["k8s.io/cluster-autoscaler/enabled"] != "*" || terms[0].Tags["k8s.io/cluster-autoscaler/my-cluster"] != "*" {
		t.Errorf("selector terms %+v", terms)
	}
	if np.Spec.Disruption.ConsolidationPolicy != provisionerv1.ConsolidationPolicyWhenEmptyOrUnderutilized || np.Spec.Disruption.ConsolidateAfter != "10m0s" {
		t.Errorf("disruption %+v: CA's default scale-down (10 min unneeded)", np.Spec.Disruption)
	}
	if len(r.Flags) != 1 || r.Flags[0] != "--asg-expander=least-waste" {
		t.Errorf("flags %v", r.Flags)
	}
	if len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "--skip-nodes-with-local-storage=false") {
		t.Errorf("notes %v", r.Notes)
	}
}

func TestClusterAutoscalerFlags(t *testing.T) {
	in := `--cloud-provider=aws --nodes=1:10:k8s-worker-asg-1 --nodes 0:3:k8s-worker-asg-2 \
  --expander=priority,most-pods --scale-down-unneeded-time=5m --scale-down-utilization-threshold=0.6`
	r, err := ClusterAutoscaler([]byte(in), "workers")
	if err != nil {
		t.Fatal(err)
	}
	if names := r.NodePool.Spec.AutoScalingGroups.Names; len(names) != 2 || names[0] != "k8s-worker-asg-1" || names[1] != "k8s-worker-asg-2" {
		t.Errorf("names %v", names)
	}
	if r.NodePool.Spec.Disruption.ConsolidateAfter != "5m0s" {
		t.Errorf("consolidateAfter %s", r.NodePool.Spec.Disruption.ConsolidateAfter)
	}
	if len(r.Flags) != 1 || r.Flags[0] != "--asg-expander=priority" {
		t.Errorf("flags %v", r.Flags)
	}
	notes := strings.Join(r.Notes, "\n")
	for _, w := range []string{`"most-pods"`, "--scale-down-utilization-threshold=0.6", "--nodes=1:10:k8s-worker-asg-1", "--nodes=0:3:k8s-worker-asg-2"} {
		if !strings.Contains(notes, w) {
			t.Errorf("notes lack %s:\n%s", w, notes)
		}
	}

	slow, err := ClusterAutoscaler([]byte("--nodes=1:2:g --max-node-provision-time=20m"), "p")
	if err != nil || strings.Join(slow.Flags, " ") != "--asg-launch-timeout=20m0s --provisioner-registration-timeout=20m0s" {
		t.Errorf("--max-node-provision-time: %v, flags %v", err, slow)
	}

	off, err := ClusterAutoscaler([]byte("--nodes=1:2:g --scale-down-enabled=false"), "p")
	if err != nil || off.NodePool.Spec.Disruption.ConsolidateAfter != provisionerv1.Never {
		t.Errorf("scale-down disabled: %v %+v", err, off)
	}
	for _, bad := range []string{"", "--v=4", "--nodes=1:2", "--node-group-auto-discovery=mig:namePrefix=x", "--nodes=1:2:g --scale-down-unneeded-time=soon", "--nodes=1:2:g --max-node-provision-time=0s",
		"apiVersion: apps/v1\nkind: Deployment\nspec: {template: {spec: {containers: [{name: x, command: [nginx]}]}}}\n"} {
		if _, err := ClusterAutoscaler([]byte(bad), "p"); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func FuzzClusterAutoscaler(f *testing.F) {
	data, _ := os.ReadFile("testdata/cluster-autoscaler-autodiscover.yaml")
	f.Add(data)
	f.Add([]byte("--nodes=1:10:a --expander=price"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := ClusterAutoscaler(in, "p")
		if err == nil && r.NodePool.Spec.AutoScalingGroups == nil {
			t.Fatal("a pool without groups")
		}
	})
}
