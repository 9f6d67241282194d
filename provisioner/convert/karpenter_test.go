package convert

import (
	"os"
	"slices"
	"strings"
	"testing"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
)

func TestKarpenterDocumentedExample(t *testing.T) {
	data, err := os.ReadFile("testdata/karpenter-v1.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r, err := Karpenter(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.NodePools) != 1 || len(r.NodeClasses) != 1 {
		t.Fatalf("%d pools, %d classes", len(r.NodePools), len(r.NodeClasses))
	}
	np := r.NodePools[0]
	if np.APIVersion != "tailor.dev/v1alpha1" || np.Kind != "NodePool" || np.Name != "default" {
		t.Errorf("type/name %s %s %s", np.APIVersion, np.Kind, np.Name)
	}
	if _, ok := np.Annotations["karpenter.sh/nodepool-hash"]; ok || np.Annotations["kubernetes.io/description"] == "" {
		t.Errorf("annotations %v: Karpenter's own dropped, the user's kept", np.Annotations)
	}
	spec := np.Spec.Template.Spec
	if ref := spec.NodeClassRef; ref == nil || ref.Group != "tailor.dev" || ref.Kind != "AWSNodeClass" || ref.Name != "default" {
		t.Errorf("nodeClassRef %+v", spec.NodeClassRef)
	}
	keys := []string{}
	for _, r := range spec.Requirements {
		keys = append(keys, r.Key)
	}
	want := []string{provisionerv1.LabelInstanceCategory, provisionerv1.LabelInstanceFamily, provisionerv1.LabelInstanceCPU,
		provisionerv1.LabelInstanceGeneration, "topology.kubernetes.io/zone", "kubernetes.io/arch", provisionerv1.LabelCapacityType}
	if !slices.Equal(keys, want) {
		t.Errorf("requirement keys %v, want %v", keys, want)
	}
	if spec.Requirements[0].MinValues == nil || *spec.Requirements[0].MinValues != 2 {
		t.Errorf("minValues lost: %+v", spec.Requirements[0])
	}
	if len(spec.Taints) != 1 || len(spec.StartupTaints) != 1 || spec.TerminationGracePeriod == nil || spec.TerminationGracePeriod.Hours() != 48 {
		t.Errorf("template spec %+v", spec)
	}
	if np.Spec.Template.Metadata.Labels["billing-team"] != "my-team" {
		t.Errorf("template labels %v", np.Spec.Template.Metadata.Labels)
	}
	d := np.Spec.Disruption
	if d.ConsolidationPolicy != provisionerv1.ConsolidationPolicyWhenEmptyOrUnderutilized || len(d.Budgets) != 2 ||
		d.Budgets[1].Schedule == nil || *d.Budgets[1].Schedule != "0 9 * * mon-fri" || len(d.Budgets[1].Reasons) != 2 {
		t.Errorf("disruption %+v", d)
	}
	if np.Spec.Weight == nil || *np.Spec.Weight != 10 || np.Spec.Limits.Cpu().Value() != 1000 {
		t.Errorf("weight/limits %v %v", np.Spec.Weight, np.Spec.Limits)
	}
	if np.Status.Resources != nil {
		t.Errorf("status carried over")
	}

	nc := r.NodeClasses[0]
	if nc.Kind != "AWSNodeClass" || nc.Spec.Role != "KarpenterNodeRole-my-cluster" || len(nc.Spec.SubnetSelectorTerms) != 2 ||
		len(nc.Spec.SecurityGroupSelectorTerms) != 2 || nc.Spec.AMISelectorTerms[0].Alias != "al2023@latest" ||
		nc.Spec.Kubelet == nil || *nc.Spec.Kubelet.MaxPods != 20 || nc.Spec.MetadataOptions == nil || *nc.Spec.MetadataOptions.HTTPTokens != "required" ||
		len(nc.Spec.BlockDeviceMappings) != 1 || nc.Spec.Tags["team"] != "team-a" {
		t.Errorf("node class %+v", nc.Spec)
	}

	// What does not map is said, field by field.
	notes := strings.Join(r.Notes, "\n")
	for _, w := range []string{
		`NodePool "default": spec.template.spec.requirements[3]: karpenter.k8s.aws/instance-hypervisor has no Tailor equivalent`,
		`EC2NodeClass "default": spec.instanceStorePolicy: no Tailor equivalent; dropped`,
		`EC2NodeClass "default": spec.associatePublicIPAddress: no Tailor equivalent; dropped`,
	} {
		if !strings.Contains(notes, w) {
			t.Errorf("notes lack %q:\n%s", w, notes)
		}
	}
	if len(r.Notes) != 3 {
		t.Errorf("%d notes, want 3:\n%s", len(r.Notes), notes)
	}
}

func TestKarpenterRefusals(t *testing.T) {
	for name, tc := range map[string]struct{ in, want string }{
		"v1beta1":        {"apiVersion: karpenter.sh/v1beta1\nkind: NodePool\nmetadata: {name: a}\n", "v1 migration"},
		"not karpenter":  {"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n", "not a Karpenter object"},
		"empty":          {"---\n", "no objects"},
		"bad yaml":       {"apiVersion: [\n", "document 1"},
		"other class":    {"apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: a}\nspec:\n  template:\n    spec:\n      nodeClassRef: {group: karpenter.azure.com, kind: AKSNodeClass, name: x}\n  disruption: {consolidateAfter: 1m}\n", "not a karpenter.k8s.aws EC2NodeClass"},
		"invalid result": {"apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: a}\nspec:\n  template:\n    spec:\n      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: x}\n      requirements: [{key: karpenter.sh/capacity-type, operator: In, values: []}]\n  disruption: {consolidateAfter: 1m}\n", "not valid"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Karpenter([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestKarpenterList(t *testing.T) {
	in := `apiVersion: v1
kind: List
items:
- apiVersion: karpenter.k8s.aws/v1
  kind: EC2NodeClass
  metadata: {name: a}
  spec:
    role: r
    amiSelectorTerms: [{alias: al2023@latest}]
    subnetSelectorTerms: [{tags: {k: v}}]
    securityGroupSelectorTerms: [{tags: {k: v}}]
- apiVersion: karpenter.k8s.aws/v1
  kind: EC2NodeClass
  metadata: {name: b}
  spec:
    role: r
    amiSelectorTerms: [{alias: bottlerocket@latest}]
    subnetSelectorTerms: [{id: subnet-1}]
    securityGroupSelectorTerms: [{id: sg-1}]
`
	r, err := Karpenter([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	// Every alias family Karpenter's v1 validation and Tailor's share
	// (al2023, al2, bottlerocket) is bootstrapped: nothing to say.
	if len(r.NodeClasses) != 2 || len(r.Notes) != 0 {
		t.Errorf("classes %d, notes %v", len(r.NodeClasses), r.Notes)
	}
}

func FuzzKarpenter(f *testing.F) {
	data, _ := os.ReadFile("testdata/karpenter-v1.yaml")
	f.Add(data)
	f.Add([]byte("apiVersion: karpenter.sh/v1\nkind: NodePool\n"))
	f.Add([]byte(`{"apiVersion":"v1","kind":"List","items":[null,1,"x"]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := Karpenter(in)
		if err == nil && len(r.NodePools)+len(r.NodeClasses) == 0 {
			t.Fatal("no error and no object")
		}
	})
}

// TestKarpenterBalanced: Karpenter's Balanced consolidation and its
// threshold carry over as they are.
func TestKarpenterBalanced(t *testing.T) {
	doc := "apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: a}\nspec:\n  template:\n    spec:\n      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: x}\n  disruption: {consolidationPolicy: Balanced, consolidationThreshold: 3, consolidateAfter: 30s}\n"
	r, err := Karpenter([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	d := r.NodePools[0].Spec.Disruption
	if d.ConsolidationPolicy != provisionerv1.ConsolidationPolicyBalanced || d.ConsolidationThreshold == nil || *d.ConsolidationThreshold != 3 || len(r.Notes) != 0 {
		t.Errorf("disruption %+v, notes %v", d, r.Notes)
	}
}
