package cloud

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/scheduling"
)

func types() []*scheduling.InstanceType {
	mk := func(name string, cpu string, prices ...float64) *scheduling.InstanceType {
		it := &scheduling.InstanceType{Name: name, Labels: map[string]string{provisionerv1.LabelInstanceType: name},
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}}
		for i, p := range prices {
			it.Offerings = append(it.Offerings, scheduling.Offering{Zone: []string{"a", "b"}[i], CapacityType: "on-demand", Price: p, Available: true})
		}
		return it
	}
	return []*scheduling.InstanceType{mk("big", "8", 0.4, 0.4), mk("small", "2", 0.1, 0.09)}
}

func TestCandidatesCheapestFirstWithinRequirements(t *testing.T) {
	nc := &provisionerv1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Spec: provisionerv1.NodeClaimSpec{
		Requirements: []provisionerv1.NodeSelectorRequirementWithMinValues{{Key: provisionerv1.LabelInstanceType, Operator: corev1.NodeSelectorOpIn, Values: []string{"big", "small"}}},
		Resources:    provisionerv1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}},
	}}
	got, err := Candidates(nc, types())
	if err != nil || len(got) != 4 || got[0].Offering() != (Offering{"small", "b", "on-demand"}) || got[1].Offering() != (Offering{"small", "a", "on-demand"}) {
		t.Fatalf("candidates %v %v", got, err)
	}
	nc.Spec.Resources.Requests[corev1.ResourceCPU] = resource.MustParse("4")
	if got, _ := Candidates(nc, types()); len(got) != 2 || got[0].Type.Name != "big" {
		t.Errorf("4 CPUs: %v, want only big", got)
	}
}

func TestUnavailableExpires(t *testing.T) {
	now := time.Unix(0, 0)
	u := NewUnavailable()
	u.Now = func() time.Time { return now }
	u.Mark(Offering{"small", "b", "on-demand"})
	in := types()
	its := u.Apply(in)
	if its[1].Offerings[1].Available || !in[1].Offerings[1].Available {
		t.Error("Apply must mark a copy, not the input")
	}
	now = now.Add(UnavailableTTL)
	if u.Is(Offering{"small", "b", "on-demand"}) {
		t.Error("still unavailable after the TTL")
	}
}

type selective struct{ Provider }

func (selective) Serves(np *provisionerv1.NodePool) bool { return np.Spec.AutoScalingGroups != nil }

func TestServes(t *testing.T) {
	fleet := &provisionerv1.NodePool{Spec: provisionerv1.NodePoolSpec{Template: provisionerv1.NodeClaimTemplate{Spec: provisionerv1.NodeClaimTemplateSpec{
		NodeClassRef: &provisionerv1.NodeClassReference{Name: "default"}}}}}
	groups := &provisionerv1.NodePool{Spec: provisionerv1.NodePoolSpec{AutoScalingGroups: &provisionerv1.AutoScalingGroups{Names: []string{"ng"}}}}
	var plain Provider
	if !Serves(plain, fleet) || Serves(plain, groups) {
		t.Error("a backend that does not say serves the pools with a nodeClassRef only")
	}
	if Serves(selective{}, fleet) || !Serves(selective{}, groups) {
		t.Error("a Selective backend decides")
	}
}
