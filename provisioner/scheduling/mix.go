package scheduling

import (
	"fmt"
	"math/rand"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
)

// The benchmark mix: a synthetic catalogue and pod population that the
// solver's and the disruption decision's benchmarks (and fuzzers) share,
// and the LP lower bound their cost is compared with.

// MixZones are the zones of SyntheticTypes.
var MixZones = []string{"test-zone-1", "test-zone-2", "test-zone-3"}

// SyntheticTypes is the benchmark catalogue: type i has i+1 vCPU,
// 2(i+1) GiB, 10(i+1) pods, 100m/10Mi reserved, spot in zones 1–2 and
// on-demand in zones 1–3, all at 0.1 per vCPU + 0.1 per GiB.
func SyntheticTypes(n int) []*InstanceType {
	out := make([]*InstanceType, n)
	for i := range out {
		cpu, gib := int64(i+1), int64(2*(i+1))
		price := 0.1*float64(cpu) + 0.1*float64(gib)
		name := fmt.Sprintf("fake-it-%d", i)
		it := &InstanceType{
			Name: name,
			Labels: map[string]string{
				provisionerv1.LabelInstanceType: name,
				provisionerv1.LabelArch:         "amd64",
				provisionerv1.LabelOS:           "linux",
				provisionerv1.LabelInstanceCPU:  fmt.Sprint(cpu),
			},
			Capacity: corev1.ResourceList{
				corev1.ResourceCPU:    *resource.NewQuantity(cpu, resource.DecimalSI),
				corev1.ResourceMemory: *resource.NewQuantity(gib<<30, resource.BinarySI),
				corev1.ResourcePods:   *resource.NewQuantity(10*cpu, resource.DecimalSI),
			},
			Allocatable: corev1.ResourceList{
				corev1.ResourceCPU:    *resource.NewMilliQuantity(cpu*1000-100, resource.DecimalSI),
				corev1.ResourceMemory: *resource.NewQuantity(gib<<30-10<<20, resource.BinarySI),
				corev1.ResourcePods:   *resource.NewQuantity(10*cpu, resource.DecimalSI),
			},
		}
		for z, zone := range MixZones {
			if z < 2 {
				it.Offerings = append(it.Offerings, Offering{Zone: zone, CapacityType: provisionerv1.CapacityTypeSpot, Price: price, Available: true})
			}
			it.Offerings = append(it.Offerings, Offering{Zone: zone, CapacityType: provisionerv1.CapacityTypeOnDemand, Price: price, Available: true})
		}
		out[i] = it
	}
	return out
}

// MixOptions vary the mix.
type MixOptions struct {
	// GenericOnly leaves out every topology constraint.
	GenericOnly bool
	// AntiAffinityApps splits the hostname anti-affinity fifth into this
	// many apps (each one pod per node); 0 or 1: one app, so n/5 nodes at
	// least.
	AntiAffinityApps int
	// NoHostnameTerms makes the hostname spread and anti-affinity fifths
	// generic (each of them needs n/5 nodes at least).
	NoHostnameTerms bool
}

// MixPods is the benchmark mix: fifths of generic, zone spread, hostname
// spread, zone self-affinity and hostname anti-affinity pods, requests
// drawn from 100m–1500m CPU and 100Mi–4Gi memory.
func MixPods(n int, seed int64, o MixOptions) []*corev1.Pod {
	rng := rand.New(rand.NewSource(seed))
	cpus := []string{"100m", "250m", "500m", "1000m", "1500m"}
	mems := []string{"100Mi", "256Mi", "512Mi", "1024Mi", "2048Mi", "4096Mi"}
	out := make([]*corev1.Pod, n)
	for i := range out {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p-%d", i), Namespace: "default", Labels: map[string]string{}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{
					corev1.ResourceCPU:    resource.MustParse(cpus[rng.Intn(len(cpus))]),
					corev1.ResourceMemory: resource.MustParse(mems[rng.Intn(len(mems))]),
				},
			}}}},
		}
		p.Labels["my-label"] = string(rune('a' + rng.Intn(7)))
		kind := i % 5
		if o.GenericOnly || o.NoHostnameTerms && (kind == 2 || kind == 4) {
			kind = 0
		}
		switch kind {
		case 1:
			p.Labels["spread"] = "zone"
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
				MaxSkew: 1, TopologyKey: corev1.LabelTopologyZone, WhenUnsatisfiable: corev1.DoNotSchedule,
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"spread": "zone"}},
			}}
		case 2:
			p.Labels["spread"] = "host"
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
				MaxSkew: 1, TopologyKey: corev1.LabelHostname, WhenUnsatisfiable: corev1.DoNotSchedule,
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"spread": "host"}},
			}}
		case 3:
			p.Labels["affinity"] = "zone"
			p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
					TopologyKey:   corev1.LabelTopologyZone,
					LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"affinity": "zone"}},
				}},
			}}
		case 4:
			app := "nginx"
			if o.AntiAffinityApps > 1 {
				app = fmt.Sprintf("nginx-%d", (i/5)%o.AntiAffinityApps)
			}
			p.Labels["app"] = app
			p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
					TopologyKey:   corev1.LabelHostname,
					LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
				}},
			}}
		}
		out[i] = p
	}
	return out
}
