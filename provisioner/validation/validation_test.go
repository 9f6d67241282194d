package validation

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
)

func validPool() *provisionerv1.NodePool {
	np := &provisionerv1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	np.Spec.Template.Spec.NodeClassRef = &provisionerv1.NodeClassReference{Group: "tailor.dev", Kind: "AWSNodeClass", Name: "default"}
	np.Spec.Template.Spec.Requirements = []provisionerv1.NodeSelectorRequirementWithMinValues{
		{Key: provisionerv1.LabelCapacityType, Operator: corev1.NodeSelectorOpIn, Values: []string{"spot", "on-demand"}},
	}
	np.Spec.Template.Spec.ExpireAfter = "720h"
	np.Spec.Disruption = provisionerv1.Disruption{ConsolidationPolicy: provisionerv1.ConsolidationPolicyWhenEmptyOrUnderutilized, ConsolidateAfter: "30s",
		Budgets: []provisionerv1.Budget{{Nodes: "10%"}}}
	return np
}

func ptr[T any](v T) *T { return &v }

// wantErr checks that errs has exactly one error, at path, whose text has sub.
func wantErr(t *testing.T, errs field.ErrorList, path, sub string) {
	t.Helper()
	if path == "" {
		if len(errs) != 0 {
			t.Errorf("unexpected errors: %v", errs)
		}
		return
	}
	if len(errs) != 1 {
		t.Fatalf("got %d errors %v, want one at %s", len(errs), errs, path)
	}
	if errs[0].Field != path || !strings.Contains(errs[0].Error(), sub) {
		t.Errorf("got %q at %s, want %q at %s", errs[0].Error(), errs[0].Field, sub, path)
	}
}

func TestNodePool(t *testing.T) {
	req := func(r provisionerv1.NodeSelectorRequirementWithMinValues) func(*provisionerv1.NodePool) {
		return func(np *provisionerv1.NodePool) {
			np.Spec.Template.Spec.Requirements = []provisionerv1.NodeSelectorRequirementWithMinValues{r}
		}
	}
	const reqPath = "spec.template.spec.requirements[0]"
	cases := []struct {
		name   string
		mutate func(*provisionerv1.NodePool)
		path   string
		sub    string
	}{
		{"valid", func(*provisionerv1.NodePool) {}, "", ""},
		{"unknown operator", req(provisionerv1.NodeSelectorRequirementWithMinValues{Key: "a", Operator: "Like", Values: []string{"x"}}), reqPath + ".operator", "Unsupported value"},
		{"restricted hostname", req(provisionerv1.NodeSelectorRequirementWithMinValues{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpExists}), reqPath + ".key", "set by Tailor"},
		{"restricted nodepool", req(provisionerv1.NodeSelectorRequirementWithMinValues{Key: provisionerv1.LabelNodePool, Operator: corev1.NodeSelectorOpExists}), reqPath + ".key", "set by Tailor"},
		{"restricted nodeclaim", req(provisionerv1.NodeSelectorRequirementWithMinValues{Key: provisionerv1.LabelNodeClaim, Operator: corev1.NodeSelectorOpExists}), reqPath + ".key", "set by Tailor"},
		{"restricted karpenter.sh", req(provisionerv1.NodeSelectorRequirementWithMinValues{Key: "karpenter.sh/capacity-type", Operator: corev1.NodeSelectorOpExists}), reqPath + ".key", "set by Tailor"},
		{"In without values", req(provisionerv1.NodeSelectorRequirementWithMinValues{Key: "a", Operator: corev1.NodeSelectorOpIn}), reqPath + ".values", "needs values"},
		{"Exists with values", req(provisionerv1.NodeSelectorRequirementWithMinValues{Key: "a", Operator: corev1.NodeSelectorOpExists, Values: []string{"x"}}), reqPath + ".values", "takes no values"},
		{"Gt not an integer", req(provisionerv1.NodeSelectorRequirementWithMinValues{Key: "a", Operator: corev1.NodeSelectorOpGt, Values: []string{"big"}}), reqPath + ".values[0]", "integer"},
		{"Lt two values", req(provisionerv1.NodeSelectorRequirementWithMinValues{Key: "a", Operator: corev1.NodeSelectorOpLt, Values: []string{"1", "2"}}), reqPath + ".values", "exactly one"},
		{"minValues above values", req(provisionerv1.NodeSelectorRequirementWithMinValues{Key: "a", Operator: corev1.NodeSelectorOpIn, Values: []string{"x", "y"}, MinValues: ptr(3)}), reqPath + ".minValues", "more than the 2 values"},
		{"minValues with NotIn", req(provisionerv1.NodeSelectorRequirementWithMinValues{Key: "a", Operator: corev1.NodeSelectorOpNotIn, Values: []string{"x"}, MinValues: ptr(1)}), reqPath + ".minValues", "needs operator In"},
		{"bad capacity type", req(provisionerv1.NodeSelectorRequirementWithMinValues{Key: provisionerv1.LabelCapacityType, Operator: corev1.NodeSelectorOpIn, Values: []string{"reserved"}}), reqPath + ".values[0]", "Unsupported"},
		{"bad label value", req(provisionerv1.NodeSelectorRequirementWithMinValues{Key: "a", Operator: corev1.NodeSelectorOpIn, Values: []string{"no spaces"}}), reqPath + ".values[0]", "Invalid value"},
		{"weight 0", func(np *provisionerv1.NodePool) { np.Spec.Weight = ptr(int32(0)) }, "spec.weight", "between 1 and 100"},
		{"weight 101", func(np *provisionerv1.NodePool) { np.Spec.Weight = ptr(int32(101)) }, "spec.weight", "between 1 and 100"},
		{"weight 100", func(np *provisionerv1.NodePool) { np.Spec.Weight = ptr(int32(100)) }, "", ""},
		{"negative limit", func(np *provisionerv1.NodePool) {
			np.Spec.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("-1")}
		}, "spec.limits[cpu]", "negative"},
		{"bad expireAfter", func(np *provisionerv1.NodePool) { np.Spec.Template.Spec.ExpireAfter = "30d" }, "spec.template.spec.expireAfter", "duration"},
		{"milliseconds refused", func(np *provisionerv1.NodePool) { np.Spec.Template.Spec.ExpireAfter = "10ms" }, "spec.template.spec.expireAfter", "duration"},
		{"expireAfter Never", func(np *provisionerv1.NodePool) { np.Spec.Template.Spec.ExpireAfter = "Never" }, "", ""},
		{"bad consolidateAfter", func(np *provisionerv1.NodePool) { np.Spec.Disruption.ConsolidateAfter = "-5m" }, "spec.disruption.consolidateAfter", "duration"},
		{"bad policy", func(np *provisionerv1.NodePool) { np.Spec.Disruption.ConsolidationPolicy = "Always" }, "spec.disruption.consolidationPolicy", "Unsupported"},
		{"Balanced", func(np *provisionerv1.NodePool) {
			np.Spec.Disruption.ConsolidationPolicy = provisionerv1.ConsolidationPolicyBalanced
		}, "", ""},
		{"Balanced with consolidationThreshold 3", func(np *provisionerv1.NodePool) {
			np.Spec.Disruption.ConsolidationPolicy = provisionerv1.ConsolidationPolicyBalanced
			np.Spec.Disruption.ConsolidationThreshold = ptr(int32(3))
		}, "", ""},
		{"consolidationThreshold 4", func(np *provisionerv1.NodePool) {
			np.Spec.Disruption.ConsolidationPolicy = provisionerv1.ConsolidationPolicyBalanced
			np.Spec.Disruption.ConsolidationThreshold = ptr(int32(4))
		}, "spec.disruption.consolidationThreshold", "must be 1, 2 or 3"},
		{"consolidationThreshold without Balanced", func(np *provisionerv1.NodePool) { np.Spec.Disruption.ConsolidationThreshold = ptr(int32(2)) },
			"spec.disruption.consolidationThreshold", "needs consolidationPolicy: Balanced"},
		{"packing MarginalCost", func(np *provisionerv1.NodePool) { np.Spec.Packing = provisionerv1.PackingMarginalCost }, "", ""},
		{"packing FirstFit", func(np *provisionerv1.NodePool) { np.Spec.Packing = provisionerv1.PackingFirstFit }, "", ""},
		{"bad packing", func(np *provisionerv1.NodePool) { np.Spec.Packing = "BestFit" }, "spec.packing", `Unsupported value: "BestFit": supported values: "FirstFit", "MarginalCost"`},
		{"budget 10%", func(np *provisionerv1.NodePool) {
			np.Spec.Disruption.Budgets = []provisionerv1.Budget{{Nodes: "10%"}, {Nodes: "3"}}
		}, "", ""},
		{"budget 101%", func(np *provisionerv1.NodePool) { np.Spec.Disruption.Budgets = []provisionerv1.Budget{{Nodes: "101%"}} }, "spec.disruption.budgets[0].nodes", "percentage"},
		{"budget word", func(np *provisionerv1.NodePool) { np.Spec.Disruption.Budgets = []provisionerv1.Budget{{Nodes: "ten"}} }, "spec.disruption.budgets[0].nodes", "node count"},
		{"budget negative", func(np *provisionerv1.NodePool) { np.Spec.Disruption.Budgets = []provisionerv1.Budget{{Nodes: "-1"}} }, "spec.disruption.budgets[0].nodes", "node count"},
		{"schedule without duration", func(np *provisionerv1.NodePool) {
			np.Spec.Disruption.Budgets = []provisionerv1.Budget{{Nodes: "0", Schedule: ptr("@daily")}}
		}, "spec.disruption.budgets[0]", "go together"},
		{"bad schedule", func(np *provisionerv1.NodePool) {
			np.Spec.Disruption.Budgets = []provisionerv1.Budget{{Nodes: "0", Schedule: ptr("0 9 * *"), Duration: &metav1.Duration{Duration: time.Hour}}}
		}, "spec.disruption.budgets[0].schedule", "five fields"},
		{"good schedule", func(np *provisionerv1.NodePool) {
			np.Spec.Disruption.Budgets = []provisionerv1.Budget{{Nodes: "0", Schedule: ptr("0 9 * * mon-fri"), Duration: &metav1.Duration{Duration: 8 * time.Hour}, Reasons: []provisionerv1.DisruptionReason{"Drifted"}}}
		}, "", ""},
		{"bad reason", func(np *provisionerv1.NodePool) {
			np.Spec.Disruption.Budgets = []provisionerv1.Budget{{Nodes: "1", Reasons: []provisionerv1.DisruptionReason{"Expired"}}}
		}, "spec.disruption.budgets[0].reasons[0]", "Unsupported"},
		{"savings fraction above 1", func(np *provisionerv1.NodePool) {
			np.Spec.Disruption.MinimumSavings = &provisionerv1.MinimumSavings{Fraction: "1.5"}
		}, "spec.disruption.minimumSavings.fraction", "between 0 and 1"},
		{"schedule out of range", func(np *provisionerv1.NodePool) {
			np.Spec.Disruption.Budgets = []provisionerv1.Budget{{Nodes: "0", Schedule: ptr("61 9 * * *"), Duration: &metav1.Duration{Duration: time.Hour}}}
		}, "spec.disruption.budgets[0].schedule", "above maximum"},
		{"savings per pod negative", func(np *provisionerv1.NodePool) {
			np.Spec.Disruption.MinimumSavings = &provisionerv1.MinimumSavings{PerPod: "-1"}
		}, "spec.disruption.minimumSavings.perPod", "non-negative"},
		{"savings per hour", func(np *provisionerv1.NodePool) {
			np.Spec.Disruption.MinimumSavings = &provisionerv1.MinimumSavings{Fraction: "0.1", PerHour: "0.05"}
		}, "", ""},
		{"restricted template label", func(np *provisionerv1.NodePool) {
			np.Spec.Template.Metadata.Labels = map[string]string{provisionerv1.LabelNodePool: "x"}
		}, "spec.template.metadata.labels[tailor.dev/nodepool]", "set by Tailor"},
		{"bad taint effect", func(np *provisionerv1.NodePool) {
			np.Spec.Template.Spec.Taints = []corev1.Taint{{Key: "a", Effect: "Sometimes"}}
		}, "spec.template.spec.taints[0].effect", "Unsupported"},
		{"both nodeClassRef and ASGs", func(np *provisionerv1.NodePool) {
			np.Spec.AutoScalingGroups = &provisionerv1.AutoScalingGroups{Names: []string{"asg"}}
		}, "spec.autoScalingGroups", "mutually exclusive"},
		{"neither", func(np *provisionerv1.NodePool) { np.Spec.Template.Spec.NodeClassRef = nil }, "spec.template.spec.nodeClassRef", "Required"},
		{"ASGs alone", func(np *provisionerv1.NodePool) {
			np.Spec.Template.Spec.NodeClassRef = nil
			np.Spec.AutoScalingGroups = &provisionerv1.AutoScalingGroups{SelectorTerms: []provisionerv1.AutoScalingGroupSelectorTerm{{Tags: map[string]string{"k8s.io/cluster-autoscaler/enabled": "true"}}}}
		}, "", ""},
		{"wrong node class kind", func(np *provisionerv1.NodePool) { np.Spec.Template.Spec.NodeClassRef.Kind = "EC2NodeClass" }, "spec.template.spec.nodeClassRef.kind", "Unsupported"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			np := validPool()
			c.mutate(np)
			wantErr(t, NodePool(np), c.path, c.sub)
		})
	}
}

func validClass() *provisionerv1.AWSNodeClass {
	nc := &provisionerv1.AWSNodeClass{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	nc.Spec = provisionerv1.AWSNodeClassSpec{
		SubnetSelectorTerms:        []provisionerv1.SubnetSelectorTerm{{Tags: map[string]string{"karpenter.sh/discovery": "demo"}}},
		SecurityGroupSelectorTerms: []provisionerv1.SecurityGroupSelectorTerm{{ID: "sg-0123"}},
		AMISelectorTerms:           []provisionerv1.AMISelectorTerm{{Alias: "al2023@latest"}},
		Role:                       "KarpenterNodeRole-demo",
	}
	return nc
}

func TestAWSNodeClass(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*provisionerv1.AWSNodeClass)
		path   string
		sub    string
	}{
		{"valid", func(*provisionerv1.AWSNodeClass) {}, "", ""},
		{"no subnets", func(nc *provisionerv1.AWSNodeClass) { nc.Spec.SubnetSelectorTerms = nil }, "spec.subnetSelectorTerms", "Required"},
		{"subnet tags and id", func(nc *provisionerv1.AWSNodeClass) { nc.Spec.SubnetSelectorTerms[0].ID = "subnet-1" }, "spec.subnetSelectorTerms[0]", "exactly one"},
		{"sg empty term", func(nc *provisionerv1.AWSNodeClass) { nc.Spec.SecurityGroupSelectorTerms[0].ID = "" }, "spec.securityGroupSelectorTerms[0]", "exactly one"},
		{"bad alias", func(nc *provisionerv1.AWSNodeClass) { nc.Spec.AMISelectorTerms[0].Alias = "ubuntu@latest" }, "spec.amiSelectorTerms[0].alias", "family@version"},
		{"alias with id", func(nc *provisionerv1.AWSNodeClass) { nc.Spec.AMISelectorTerms[0].ID = "ami-1" }, "spec.amiSelectorTerms[0]", "cannot be combined"},
		{"alias not alone", func(nc *provisionerv1.AWSNodeClass) {
			nc.Spec.AMISelectorTerms = append(nc.Spec.AMISelectorTerms, provisionerv1.AMISelectorTerm{ID: "ami-1"})
		}, "spec.amiSelectorTerms", "only term"},
		{"id needs amiFamily", func(nc *provisionerv1.AWSNodeClass) {
			nc.Spec.AMISelectorTerms = []provisionerv1.AMISelectorTerm{{ID: "ami-1"}}
		}, "spec.amiFamily", "Required"},
		{"id with amiFamily", func(nc *provisionerv1.AWSNodeClass) {
			nc.Spec.AMISelectorTerms = []provisionerv1.AMISelectorTerm{{ID: "ami-1"}}
			nc.Spec.AMIFamily = ptr("AL2023")
		}, "", ""},
		{"role and profile", func(nc *provisionerv1.AWSNodeClass) { nc.Spec.InstanceProfile = ptr("p") }, "spec.role", "exactly one"},
		{"reserved tag", func(nc *provisionerv1.AWSNodeClass) {
			nc.Spec.Tags = map[string]string{"kubernetes.io/cluster/demo": "owned"}
		}, "spec.tags[kubernetes.io/cluster/demo]", "set by Tailor"},
		{"two root volumes", func(nc *provisionerv1.AWSNodeClass) {
			nc.Spec.BlockDeviceMappings = []provisionerv1.BlockDeviceMapping{{DeviceName: "/dev/xvda", RootVolume: ptr(true)}, {DeviceName: "/dev/xvdb", RootVolume: ptr(true)}}
		}, "spec.blockDeviceMappings", "at most one"},
		{"tiny volume", func(nc *provisionerv1.AWSNodeClass) {
			q := resource.MustParse("100Mi")
			nc.Spec.BlockDeviceMappings = []provisionerv1.BlockDeviceMapping{{DeviceName: "/dev/xvda", EBS: provisionerv1.BlockDevice{VolumeSize: &q}}}
		}, "spec.blockDeviceMappings[0].ebs.volumeSize", "between 1Gi and 64Ti"},
		{"volume beyond any size", func(nc *provisionerv1.AWSNodeClass) {
			q := resource.MustParse("1E100000000011") // one Cmp of it takes hours
			nc.Spec.BlockDeviceMappings = []provisionerv1.BlockDeviceMapping{{DeviceName: "/dev/xvda", EBS: provisionerv1.BlockDevice{VolumeSize: &q}}}
		}, "spec.blockDeviceMappings[0].ebs.volumeSize", "between 1Gi and 64Ti"},
		{"kubeReserved key", func(nc *provisionerv1.AWSNodeClass) {
			nc.Spec.Kubelet = &provisionerv1.KubeletConfiguration{KubeReserved: map[string]string{"gpu": "1"}}
		}, "spec.kubelet.kubeReserved[gpu]", "Unsupported"},
		{"evictionHard percentage", func(nc *provisionerv1.AWSNodeClass) {
			nc.Spec.Kubelet = &provisionerv1.KubeletConfiguration{EvictionHard: map[string]string{"memory.available": "5%", "nodefs.available": "10Gi"}}
		}, "", ""},
		{"evictionHard bad", func(nc *provisionerv1.AWSNodeClass) {
			nc.Spec.Kubelet = &provisionerv1.KubeletConfiguration{EvictionHard: map[string]string{"memory.available": "lots"}}
		}, "spec.kubelet.evictionHard[memory.available]", "quantity or a percentage"},
		{"evictionSoft needs grace", func(nc *provisionerv1.AWSNodeClass) {
			nc.Spec.Kubelet = &provisionerv1.KubeletConfiguration{EvictionSoft: map[string]string{"memory.available": "500Mi"}}
		}, "spec.kubelet.evictionSoftGracePeriod[memory.available]", "grace period"},
		{"image GC thresholds", func(nc *provisionerv1.AWSNodeClass) {
			nc.Spec.Kubelet = &provisionerv1.KubeletConfiguration{ImageGCHighThresholdPercent: ptr(int32(50)), ImageGCLowThresholdPercent: ptr(int32(60))}
		}, "spec.kubelet.imageGCHighThresholdPercent", "greater than"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			nc := validClass()
			c.mutate(nc)
			wantErr(t, AWSNodeClass(nc), c.path, c.sub)
		})
	}
}

func TestNodeClaim(t *testing.T) {
	nc := &provisionerv1.NodeClaim{}
	nc.Spec.Requirements = []provisionerv1.NodeSelectorRequirementWithMinValues{
		{Key: provisionerv1.LabelNodePool, Operator: corev1.NodeSelectorOpIn, Values: []string{"default"}}, // allowed on claims
	}
	nc.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
	wantErr(t, NodeClaim(nc), "", "")
	nc.Spec.Resources.Requests[corev1.ResourceMemory] = resource.MustParse("-1Gi")
	wantErr(t, NodeClaim(nc), "spec.resources.requests[memory]", "negative")
}
