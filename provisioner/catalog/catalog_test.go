package catalog

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/scheduling"
)

func TestTable(t *testing.T) {
	ts := Types()
	if len(ts) < 1000 {
		t.Fatalf("%d types", len(ts))
	}
	m5, ok := Lookup("m5.large")
	if !ok {
		t.Fatal("m5.large missing")
	}
	want := Type{Name: "m5.large", Family: "m5", Category: "m", Generation: 5, Size: "large", VCPU: 2, MemoryMiB: 8192, Arch: "amd64", MaxPods: 29, OnDemandPrice: 0.096}
	if m5 != want {
		t.Errorf("m5.large = %+v, want %+v", m5, want)
	}
	for name, cat := range map[string][2]string{"inf1.xlarge": {"inf", "1"}, "c7i-flex.large": {"c", "7"}, "u-3tb1.56xlarge": {"u", "0"}, "hpc7g.4xlarge": {"hpc", "7"}} {
		it, ok := Lookup(name)
		if !ok {
			t.Errorf("%s missing", name)
			continue
		}
		if it.Category != cat[0] || itoa(it.Generation) != cat[1] {
			t.Errorf("%s: category %s generation %d, want %v", name, it.Category, it.Generation, cat)
		}
	}
	if _, ok := Lookup("m5.huge"); ok {
		t.Error("found m5.huge")
	}
}

func itoa(i int) string { return resource.NewQuantity(int64(i), resource.DecimalSI).String() }

func TestKubeReserved(t *testing.T) {
	for vcpu, want := range map[int64]int64{1: 60, 2: 70, 4: 80, 8: 90, 16: 110, 96: 310} {
		if got := KubeReservedCPU(vcpu); got != want {
			t.Errorf("KubeReservedCPU(%d) = %d, want %d", vcpu, got, want)
		}
	}
	if got := KubeReservedMemory(29); got != 574<<20 {
		t.Errorf("KubeReservedMemory(29) = %d MiB, want 574", got>>20)
	}
}

func TestAllocatable(t *testing.T) {
	m5, _ := Lookup("m5.large")
	o := DefaultOptions()
	a := m5.Allocatable(o)
	// 8192 MiB less 7.5% (615 MiB) = 7577 MiB capacity; less 574 MiB
	// kube-reserved and 100 MiB eviction = 6903 MiB.
	if q := a[corev1.ResourceMemory]; q.Value() != 6903<<20 {
		t.Errorf("memory %d MiB, want 6903", q.Value()>>20)
	}
	if q := a[corev1.ResourceCPU]; q.MilliValue() != 1930 {
		t.Errorf("cpu %dm, want 1930m", q.MilliValue())
	}
	if q := a[corev1.ResourcePods]; q.Value() != 29 {
		t.Errorf("pods %d", q.Value())
	}
	o.MaxPods, o.PodsPerCore = 110, 10
	if n := m5.Pods(o); n != 20 {
		t.Errorf("pods with maxPods 110 and podsPerCore 10: %d, want 20", n)
	}
	g5, _ := Lookup("g5.xlarge")
	if q := g5.Capacity(DefaultOptions())["nvidia.com/gpu"]; q.Value() != 1 {
		t.Errorf("g5.xlarge gpus %v", q)
	}
}

func TestOfferings(t *testing.T) {
	o := DefaultOptions()
	o.SpotUnavailable = map[string]bool{"m5.large/us-east-1b": true}
	m5, _ := Lookup("m5.large")
	offs := m5.Offerings(o)
	if len(offs) != 6 {
		t.Fatalf("%d offerings", len(offs))
	}
	for _, of := range offs {
		switch of.CapacityType {
		case provisionerv1.CapacityTypeOnDemand:
			if of.Price != 0.096 || !of.Available {
				t.Errorf("on-demand %+v", of)
			}
		case provisionerv1.CapacityTypeSpot:
			if r := of.Price / 0.096; r < 0.285 || r > 0.4725 {
				t.Errorf("spot %+v is %.2f of on-demand", of, r)
			}
			if of.Available == (of.Zone == "us-east-1b") {
				t.Errorf("availability %+v", of)
			}
			if of.Price != SpotPrice(m5, of.Zone) {
				t.Error("spot price not deterministic")
			}
		}
	}
	its := InstanceTypes(o)
	if len(its) != len(Types()) || its[0].Labels[provisionerv1.LabelRegion] != "us-east-1" {
		t.Errorf("InstanceTypes: %d, labels %v", len(its), its[0].Labels)
	}
}

func TestAllocatableWithClassReservations(t *testing.T) {
	m5, _ := Lookup("m5.large") // 2 vCPU, 7577 MiB capacity, 29 pods
	for _, tc := range []struct {
		name                 string
		kube, system, evict  map[string]string
		wantCPUMilli, wantMi int64
	}{
		// EKS: 70m and 574 MiB kube-reserved, 100 MiB eviction.
		{"EKS defaults", nil, nil, nil, 1930, 6903},
		{"kubeReserved replaces the formula per resource", map[string]string{"cpu": "200m"}, nil, nil, 1800, 6903},
		{"kubeReserved memory", map[string]string{"memory": "1Gi"}, nil, nil, 1930, 7577 - 1024 - 100},
		{"systemReserved adds", nil, map[string]string{"cpu": "100m", "memory": "500Mi"}, nil, 1830, 6903 - 500},
		{"evictionHard as a quantity", nil, nil, map[string]string{"memory.available": "500Mi", "nodefs.available": "10%"}, 1930, 7577 - 574 - 500},
		// 5% of 7577 MiB is 378.85 MiB: rounded up to the byte.
		{"evictionHard as a percentage", nil, nil, map[string]string{"memory.available": "5%"}, 1930, -1},
		{"never below zero", map[string]string{"cpu": "3", "memory": "10Gi"}, nil, nil, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseReserved(tc.kube, tc.system, tc.evict)
			if err != nil {
				t.Fatal(err)
			}
			o := DefaultOptions()
			o.Reserved = r
			a := m5.Allocatable(o)
			cpu, mem := a[corev1.ResourceCPU], a[corev1.ResourceMemory]
			want := tc.wantMi << 20
			if tc.wantMi == -1 {
				want = (7577-574)<<20 - 397253018 // ⌈5% of 7577 MiB⌉ bytes
			}
			if cpu.MilliValue() != tc.wantCPUMilli || mem.Value() != want {
				t.Errorf("allocatable cpu %dm memory %d bytes, want %dm %d", cpu.MilliValue(), mem.Value(), tc.wantCPUMilli, want)
			}
		})
	}
	for _, bad := range []map[string]string{{"memory.available": "lots"}, {"memory.available": "120%"}, {"memory.available": "-1Mi"}} {
		if _, err := ParseReserved(nil, nil, bad); err == nil {
			t.Errorf("evictionHard %v: want an error", bad)
		}
	}
	if _, err := ParseReserved(map[string]string{"cpu": "x"}, nil, nil); err == nil {
		t.Error("kubeReserved cpu x: want an error")
	}
}

// TestSolverKeepsToReservedAllocatable: with a class that reserves 300m
// CPU and 1.5 GiB more than EKS's defaults, the solver puts no pod on
// m5.large that its real allocatable cannot hold.
func TestSolverKeepsToReservedAllocatable(t *testing.T) {
	m5, _ := Lookup("m5.large")
	r, err := ParseReserved(map[string]string{"cpu": "300m"}, map[string]string{"cpu": "100m", "memory": "1536Mi"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions()
	o.Reserved = r
	alloc := m5.Allocatable(o) // 1600m, 7577-574-1536-100 = 5367 MiB
	np := &provisionerv1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: "p"}}
	it := &scheduling.InstanceType{Name: m5.Name, Labels: m5.Labels(o), Capacity: m5.Capacity(o), Allocatable: alloc,
		Offerings: []scheduling.Offering{{Zone: "us-east-1a", CapacityType: provisionerv1.CapacityTypeOnDemand, Price: 0.096, Available: true}}}
	for _, tc := range []struct {
		cpu, mem string
		fits     bool
	}{
		{"1600m", "1Gi", true}, {"1601m", "1Gi", false}, {"1", "5367Mi", true}, {"1", "5368Mi", false},
	} {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "d", UID: "u"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(tc.cpu), corev1.ResourceMemory: resource.MustParse(tc.mem)}}}}}}
		res, err := scheduling.Solve(scheduling.Input{Pods: []*corev1.Pod{p}, Pools: []scheduling.Pool{{NodePool: np, InstanceTypes: []*scheduling.InstanceType{it}}}})
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Placements[0].Kind == scheduling.NewClaim; got != tc.fits {
			t.Errorf("pod %s/%s on m5.large (allocatable %v): placed %v, want %v", tc.cpu, tc.mem, alloc, got, tc.fits)
		}
	}
}

// FuzzParseReserved: any kubelet settings either fail to parse or give an
// allocatable between zero and the capacity.
func FuzzParseReserved(f *testing.F) {
	f.Add("200m", "1Gi", "5%")
	f.Add("3", "100Gi", "500Mi")
	f.Add("x", "", "120%")
	f.Fuzz(func(t *testing.T, cpu, mem, evict string) {
		r, err := ParseReserved(map[string]string{"cpu": cpu}, map[string]string{"memory": mem}, map[string]string{"memory.available": evict})
		if err != nil {
			return
		}
		m5, _ := Lookup("m5.large")
		o := DefaultOptions()
		o.Reserved = r
		capacity, alloc := m5.Capacity(o), m5.Allocatable(o)
		for _, n := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			a, c := alloc[n], capacity[n]
			if a.Sign() < 0 || a.Cmp(c) > 0 {
				t.Fatalf("%s allocatable %v of capacity %v (settings %q %q %q)", n, a.String(), c.String(), cpu, mem, evict)
			}
		}
	})
}
