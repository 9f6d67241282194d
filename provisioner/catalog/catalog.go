// Package catalog is Tailor's built-in table of EC2 instance types (vCPU,
// memory, GPUs, architecture, EKS max pods, us-east-1 on-demand price),
// embedded at build time, and what follows from it: the well-known labels
// of each type, the allocatable a node of it has on EKS, and its offerings
// (zones × capacity types) with prices. It is the price fallback of the aws
// cloud and the whole world of the sim cloud.
//
// The table is generated from the offline facts file by ./gen (go generate)
// and committed; nothing reads the facts file at run time.
package catalog

//go:generate go run ./gen -in ../../../shared/ec2/instance-types.csv -out instance-types.csv

import (
	"bytes"
	_ "embed"
	"encoding/csv"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/scheduling"
	"github.com/tailor-dev/tailor/recommender/sizing"
)

//go:embed instance-types.csv
var table []byte

// Type is one row of the table plus what its name says.
type Type struct {
	Name     string // m5.large
	Family   string // m5
	Category string // m: the family's leading letters (c, m, r, t, inf, …)
	// Generation is the number after the category (5 of m5; 0 if none, as for u-3tb1).
	Generation int
	Size       string // large
	VCPU       int64
	MemoryMiB  int64
	GPUs       int64
	Arch       string // amd64 or arm64
	// MaxPods is EKS's max pods for the VPC CNI without prefix delegation.
	MaxPods int64
	// OnDemandPrice is the Linux on-demand price in us-east-1, USD per hour.
	OnDemandPrice float64
}

var load = sync.OnceValues(func() ([]Type, error) {
	rows, err := csv.NewReader(bytes.NewReader(table)).ReadAll()
	if err != nil {
		return nil, err
	}
	out := make([]Type, 0, len(rows))
	for _, row := range rows[1:] {
		t, err := parse(row)
		if err != nil {
			return nil, fmt.Errorf("instance-types.csv %s: %w", row[0], err)
		}
		out = append(out, t)
	}
	return out, nil
})

func parse(row []string) (Type, error) {
	var t Type
	var err error
	ints := []*int64{&t.VCPU, &t.MemoryMiB, &t.GPUs, nil, &t.MaxPods}
	for i, p := range ints {
		if p == nil {
			continue
		}
		if *p, err = strconv.ParseInt(row[2+i], 10, 64); err != nil {
			return t, err
		}
	}
	if t.OnDemandPrice, err = strconv.ParseFloat(row[7], 64); err != nil {
		return t, err
	}
	t.Name, t.Family, t.Arch = row[0], row[1], row[5]
	t.named()
	return t, nil
}

// Describe is the Type EC2 describes (DescribeInstanceTypes): family,
// category, generation and size follow from the name ("m7g.2xlarge").
func Describe(name string, vcpu, memoryMiB, gpus int64, arch string, maxPods int64, onDemandPrice float64) Type {
	t := Type{Name: name, VCPU: vcpu, MemoryMiB: memoryMiB, GPUs: gpus, Arch: arch, MaxPods: maxPods, OnDemandPrice: onDemandPrice}
	t.Family, _, _ = strings.Cut(name, ".")
	t.named()
	return t
}

// named fills Size, Category and Generation from Name and Family.
func (t *Type) named() {
	if len(t.Name) > len(t.Family) {
		t.Size = t.Name[len(t.Family)+1:]
	}
	i := 0
	for i < len(t.Family) && unicode.IsLetter(rune(t.Family[i])) {
		i++
	}
	t.Category = t.Family[:i]
	j := i
	for j < len(t.Family) && unicode.IsDigit(rune(t.Family[j])) {
		j++
	}
	t.Generation, _ = strconv.Atoi(t.Family[i:j])
}

// Types returns every instance type of the table, sorted by name.
func Types() []Type {
	ts, err := load()
	if err != nil {
		panic(err) // the table is generated and tested: this is a build defect
	}
	return ts
}

// Lookup finds an instance type by name.
func Lookup(name string) (Type, bool) {
	ts := Types()
	i := sort.Search(len(ts), func(i int) bool { return ts[i].Name >= name })
	if i < len(ts) && ts[i].Name == name {
		return ts[i], true
	}
	return Type{}, false
}

// Options are what varies between clusters and node classes.
type Options struct {
	// Region and Zones of the offerings.
	Region string
	Zones  []string
	// VMMemoryOverheadFraction of the nominal memory that the hypervisor
	// and firmware keep: a node's reported capacity is that much lower
	// than the instance type's memory. Karpenter's default, 0.075, is
	// measured on Nitro instances.
	VMMemoryOverheadFraction float64
	// MaxPods and PodsPerCore override the table's max pods (the kubelet
	// settings of an AWSNodeClass); the lower wins.
	MaxPods     int32
	PodsPerCore int32
	// SpotUnavailable lists "type/zone" offerings with no spot capacity
	// now (insufficient-capacity errors); they are offered but not Available.
	SpotUnavailable map[string]bool
	// Reserved: a node class's kubelet reservations (zero: EKS's).
	Reserved Reserved
}

// Reserved is what a node class's kubelet settings hold back from pods:
// kube-reserved by resource (replacing EKS's formula for that resource),
// system-reserved (none by default), and the memory.available hard
// eviction threshold, a quantity or a percentage of the node's memory
// (100Mi by default).
type Reserved struct {
	KubeReserved, SystemReserved corev1.ResourceList
	// EvictionMemory is the threshold; nil with EvictionMemoryPercent 0:
	// EvictionHardMemory.
	EvictionMemory        *resource.Quantity
	EvictionMemoryPercent float64
}

// ParseReserved reads kubelet settings as the AWSNodeClass holds them
// (kubeReserved and systemReserved: cpu, memory, ephemeral-storage, pid
// quantities; evictionHard: memory.available as a quantity or "N%"; other
// signals do not change what pods may request).
func ParseReserved(kubeReserved, systemReserved, evictionHard map[string]string) (Reserved, error) {
	var r Reserved
	var err error
	if r.KubeReserved, err = parseList(kubeReserved); err != nil {
		return Reserved{}, fmt.Errorf("kubeReserved: %w", err)
	}
	if r.SystemReserved, err = parseList(systemReserved); err != nil {
		return Reserved{}, fmt.Errorf("systemReserved: %w", err)
	}
	if v, ok := evictionHard["memory.available"]; ok {
		if p, ok := strings.CutSuffix(v, "%"); ok {
			f, err := strconv.ParseFloat(p, 64)
			if err != nil || f < 0 || f > 100 {
				return Reserved{}, fmt.Errorf("evictionHard memory.available %q: not a percentage", v)
			}
			r.EvictionMemoryPercent = f
		} else {
			q, err := sizing.ParseQuantity(v)
			if err != nil || q.Sign() < 0 {
				return Reserved{}, fmt.Errorf("evictionHard memory.available %q: not a non-negative quantity", v)
			}
			r.EvictionMemory = &q
		}
	}
	return r, nil
}

func parseList(m map[string]string) (corev1.ResourceList, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := corev1.ResourceList{}
	for k, v := range m {
		q, err := sizing.ParseQuantity(v)
		if err != nil || q.Sign() < 0 {
			return nil, fmt.Errorf("%s %q: not a non-negative quantity", k, v)
		}
		out[corev1.ResourceName(k)] = q
	}
	return out, nil
}

// DefaultOptions: us-east-1a–c, 7.5% VM memory overhead.
func DefaultOptions() Options {
	return Options{Region: "us-east-1", Zones: []string{"us-east-1a", "us-east-1b", "us-east-1c"}, VMMemoryOverheadFraction: 0.075}
}

// Pods is the max pods of a node of t under o.
func (t Type) Pods(o Options) int64 {
	n := t.MaxPods
	if o.MaxPods > 0 {
		n = int64(o.MaxPods)
	}
	if o.PodsPerCore > 0 {
		n = min(n, int64(o.PodsPerCore)*t.VCPU)
	}
	return n
}

// Capacity is what the kubelet of a node of t reports.
func (t Type) Capacity(o Options) corev1.ResourceList {
	memMiB := t.MemoryMiB - int64(float64(t.MemoryMiB)*o.VMMemoryOverheadFraction+0.999999)
	rl := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewQuantity(t.VCPU, resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(memMiB<<20, resource.BinarySI),
		corev1.ResourcePods:   *resource.NewQuantity(t.Pods(o), resource.DecimalSI),
	}
	if t.GPUs > 0 {
		rl[t.GPUResource()] = *resource.NewQuantity(t.GPUs, resource.DecimalSI)
	}
	return rl
}

// GPUResource is the extended resource its device plugin registers:
// AMD for g4ad, Habana Gaudi for dl1, NVIDIA for the other GPU families.
func (t Type) GPUResource() corev1.ResourceName {
	switch t.Family {
	case "g4ad":
		return "amd.com/gpu"
	case "dl1":
		return "habana.ai/gaudi"
	}
	return "nvidia.com/gpu"
}

// Allocatable is Capacity less kube-reserved (EKS's formula,
// KubeReservedCPU and KubeReservedMemory, unless o.Reserved overrides a
// resource), system-reserved (none on EKS AMIs unless o.Reserved says)
// and the memory.available hard eviction threshold (EvictionHardMemory
// unless o.Reserved says); never below zero.
func (t Type) Allocatable(o Options) corev1.ResourceList {
	rl := t.Capacity(o)
	r := o.Reserved
	kube := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewMilliQuantity(KubeReservedCPU(t.VCPU), resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(KubeReservedMemory(t.Pods(o)), resource.BinarySI),
	}
	for n, q := range r.KubeReserved {
		kube[n] = q
	}
	mem := rl[corev1.ResourceMemory]
	eviction := *resource.NewQuantity(EvictionHardMemory, resource.BinarySI)
	switch {
	case r.EvictionMemory != nil:
		eviction = *r.EvictionMemory
	case r.EvictionMemoryPercent > 0:
		eviction = *resource.NewQuantity(int64(float64(mem.Value())*r.EvictionMemoryPercent/100+0.999999), resource.BinarySI)
	}
	for _, n := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		q := rl[n]
		q.Sub(kube[n])
		if s, ok := r.SystemReserved[n]; ok {
			q.Sub(s)
		}
		if n == corev1.ResourceMemory {
			q.Sub(eviction)
		}
		if q.Sign() < 0 {
			q = *resource.NewQuantity(0, q.Format)
		}
		rl[n] = q
	}
	return rl
}

// KubeReservedCPU is the EKS AMIs' kube-reserved CPU in millicores for n
// vCPUs: 6% of the first core, 1% of the second, 0.5% of the third and
// fourth, 0.25% of every further core (m5.large: 70m; m5.4xlarge: 90m).
func KubeReservedCPU(n int64) int64 {
	var milli float64
	for core := int64(1); core <= n; core++ {
		switch {
		case core == 1:
			milli += 60
		case core == 2:
			milli += 10
		case core <= 4:
			milli += 5
		default:
			milli += 2.5
		}
	}
	return int64(milli)
}

// KubeReservedMemory is the EKS AMIs' kube-reserved memory in bytes:
// 255 MiB plus 11 MiB per pod the node may run (m5.large, 29 pods: 574 MiB).
func KubeReservedMemory(maxPods int64) int64 { return (255 + 11*maxPods) << 20 }

// EvictionHardMemory is the kubelet's default memory.available hard
// eviction threshold, 100 MiB.
const EvictionHardMemory = 100 << 20

// SpotPrice is the simulated spot price of t in zone: on-demand times a
// discount that is fixed per family (between 55% and 70% off, from an
// FNV hash of the family name) and varies ±5% per zone (hash of family and
// zone). Real spot prices move every few minutes and are not in the table;
// a flat 70% would make every family's spot/on-demand ratio the same and
// hide offering-selection bugs, and a hash keeps the prices identical on
// every run and machine.
func SpotPrice(t Type, zone string) float64 {
	family := 0.30 + 0.15*unit(t.Family)
	zonal := 0.95 + 0.10*unit(t.Family+"/"+zone)
	return round6(t.OnDemandPrice * family * zonal)
}

func unit(s string) float64 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return float64(h.Sum32()) / (1 << 32)
}

func round6(f float64) float64 {
	p, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', 6, 64), 64)
	return p
}

// Labels are the well-known labels of a node of t (zone and capacity
// type aside: they depend on the offering).
func (t Type) Labels(o Options) map[string]string {
	l := map[string]string{
		provisionerv1.LabelInstanceType:     t.Name,
		provisionerv1.LabelInstanceFamily:   t.Family,
		provisionerv1.LabelInstanceCategory: t.Category,
		provisionerv1.LabelInstanceSize:     t.Size,
		provisionerv1.LabelInstanceCPU:      strconv.FormatInt(t.VCPU, 10),
		provisionerv1.LabelInstanceMemory:   strconv.FormatInt(t.MemoryMiB, 10),
		provisionerv1.LabelInstanceGPUCount: strconv.FormatInt(t.GPUs, 10),
		provisionerv1.LabelArch:             t.Arch,
		provisionerv1.LabelOS:               "linux",
	}
	if t.Generation > 0 {
		l[provisionerv1.LabelInstanceGeneration] = strconv.Itoa(t.Generation)
	}
	if o.Region != "" {
		l[provisionerv1.LabelRegion] = o.Region
	}
	return l
}

// Offerings of t: on-demand at the list price and spot at SpotPrice, in
// every zone of o.
func (t Type) Offerings(o Options) []scheduling.Offering {
	out := make([]scheduling.Offering, 0, 2*len(o.Zones))
	for _, z := range o.Zones {
		out = append(out,
			scheduling.Offering{Zone: z, CapacityType: provisionerv1.CapacityTypeOnDemand, Price: t.OnDemandPrice, Available: true},
			scheduling.Offering{Zone: z, CapacityType: provisionerv1.CapacityTypeSpot, Price: SpotPrice(t, z), Available: !o.SpotUnavailable[t.Name+"/"+z]})
	}
	return out
}

// InstanceTypes is the whole table as the scheduler's input.
func InstanceTypes(o Options) []*scheduling.InstanceType {
	ts := Types()
	out := make([]*scheduling.InstanceType, len(ts))
	for i, t := range ts {
		out[i] = &scheduling.InstanceType{
			Name:        t.Name,
			Labels:      t.Labels(o),
			Capacity:    t.Capacity(o),
			Allocatable: t.Allocatable(o),
			Offerings:   t.Offerings(o),
		}
	}
	return out
}
