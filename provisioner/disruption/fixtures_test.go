package disruption

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/requirements"
	"github.com/tailor-dev/tailor/provisioner/scheduling"
)

var (
	t0    = time.Date(2026, 3, 2, 10, 10, 0, 0, time.UTC) // a Monday, 10:10 UTC
	types = scheduling.SyntheticTypes(16)                 // type i: i+1 vCPU, $0.3(i+1)/h
)

func pool(name string, mutate ...func(*provisionerv1.NodePool)) scheduling.Pool {
	np := &provisionerv1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: name}}
	np.Spec.Template.Spec.NodeClassRef = &provisionerv1.NodeClassReference{Group: "tailor.dev", Kind: "AWSNodeClass", Name: "default"}
	np.Spec.Disruption = provisionerv1.Disruption{ConsolidationPolicy: provisionerv1.ConsolidationPolicyWhenEmptyOrUnderutilized, ConsolidateAfter: "30s",
		Budgets: []provisionerv1.Budget{{Nodes: "100%"}}}
	for _, m := range mutate {
		m(np)
	}
	return scheduling.Pool{NodePool: np, InstanceTypes: types}
}

func runningPod(name, cpu string, mutate ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("128Mi")},
		}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

// node is an initialized node of pool on synthetic type typ (typ+1 vCPU)
// in test-zone-1, on-demand, quiet for an hour, holding pods.
func node(claim, poolName string, typ int, pods ...*corev1.Pod) Node {
	return nodeOn(claim, poolName, types[typ], pods...)
}

// nodeOn is node on instance type it (its second offering's price).
func nodeOn(claim, poolName string, it *scheduling.InstanceType, pods ...*corev1.Pod) Node {
	labels := map[string]string{}
	for k, v := range it.Labels {
		labels[k] = v
	}
	labels[provisionerv1.LabelZone] = scheduling.MixZones[0]
	labels[provisionerv1.LabelCapacityType] = provisionerv1.CapacityTypeOnDemand
	labels[provisionerv1.LabelNodePool] = poolName
	labels[corev1.LabelHostname] = "node-" + claim
	core := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-" + claim, Labels: labels}}
	return Node{
		Claim: claim, Pool: poolName, Price: it.Offerings[1].Price,
		Created: t0.Add(-2 * time.Hour), LastPodEvent: t0.Add(-time.Hour), Initialized: true,
		Node: scheduling.Node{Name: core.Name, Requirements: requirements.ForNode(core), Allocatable: it.Allocatable, Pods: pods},
		Pods: pods,
	}
}

func budgetOf(name string, allowed int32, app string) *policyv1.PodDisruptionBudget {
	zero := intstr.FromInt32(0)
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec:       policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &zero, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}},
		Status:     policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: allowed},
	}
}

// summary renders a decision for comparison: one line per command and refusal.
func summary(d *Decision) []string {
	var out []string
	for _, c := range d.Commands {
		var reps []string
		for _, r := range c.Replacements {
			reps = append(reps, r.InstanceTypes[0].Name)
		}
		out = append(out, fmt.Sprintf("%s %s %v→%v $%.2f→$%.2f", c.Method, c.Action(), c.Candidates, reps, c.PriceBefore, c.PriceAfter))
	}
	for _, r := range d.Refusals {
		out = append(out, fmt.Sprintf("refused %s %s %s", r.Method, r.Claim, r.Reason))
	}
	return out
}

// steepTypes are the synthetic types priced as GPU ladders often are:
// type i costs (1 + (i+1)/8) times its synthetic price, so a larger type
// costs more than the smaller ones it could replace.
func steepTypes() []*scheduling.InstanceType {
	out := make([]*scheduling.InstanceType, len(types))
	for i, it := range types {
		c := *it
		c.Name = fmt.Sprintf("steep-%d", i)
		c.Labels = map[string]string{}
		for k, v := range it.Labels {
			c.Labels[k] = v
		}
		c.Labels[provisionerv1.LabelInstanceType] = c.Name
		c.Offerings = append([]scheduling.Offering(nil), it.Offerings...)
		for k := range c.Offerings {
			c.Offerings[k].Price *= 1 + float64(i+1)/8
		}
		out[i] = &c
	}
	return out
}
