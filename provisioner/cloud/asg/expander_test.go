package asg

import (
	"fmt"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/scope"
)

func alloc(cpu, mem string) corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}
}

func TestRank(t *testing.T) {
	opts := []Option{
		{Group: "big-od", InstanceType: "m5.2xlarge", Price: 0.384, Allocatable: alloc("7910m", "29Gi"), Weight: 10, Order: 2},
		{Group: "small-spot", InstanceType: "m5.xlarge", Price: 0.07, Allocatable: alloc("3920m", "14Gi"), Weight: 10, Order: 1},
		{Group: "small-od", InstanceType: "m5.xlarge", Price: 0.192, Allocatable: alloc("3920m", "14Gi"), Weight: 10, Order: 0},
		{Group: "c-od", InstanceType: "c5.xlarge", Price: 0.17, Allocatable: alloc("3920m", "6Gi"), Weight: 10, Order: 3},
		{Group: "twin-od", InstanceType: "m5.xlarge", Price: 0.192, Allocatable: alloc("3920m", "14Gi"), Weight: 10, Order: 4},
	}
	reqs := alloc("3", "5Gi")
	reverse := func(n int) []int {
		p := make([]int, n)
		for i := range p {
			p[i] = n - 1 - i
		}
		return p
	}
	for _, tc := range []struct {
		chain []Expander
		want  []string
	}{
		{[]Expander{Price}, []string{"small-spot", "c-od", "small-od", "twin-od", "big-od"}},
		// c5.xlarge leaves the least memory idle; the m5.xlarge trio ties and goes by name.
		{[]Expander{LeastWaste}, []string{"c-od", "small-od", "small-spot", "twin-od", "big-od"}},
		{[]Expander{Priority}, []string{"small-od", "small-spot", "big-od", "c-od", "twin-od"}},
		{[]Expander{Price, LeastWaste}, []string{"small-spot", "c-od", "small-od", "twin-od", "big-od"}},
		{[]Expander{LeastWaste, Price}, []string{"c-od", "small-spot", "small-od", "twin-od", "big-od"}},
		// random with a fixed permutation: the reverse of the name order.
		{[]Expander{Random}, []string{"twin-od", "small-spot", "small-od", "c-od", "big-od"}},
		{[]Expander{Price, Random}, []string{"small-spot", "c-od", "twin-od", "small-od", "big-od"}},
	} {
		t.Run(fmt.Sprint(tc.chain), func(t *testing.T) {
			got := Rank(opts, tc.chain, reqs, reverse)
			names := make([]string, len(got))
			for i, o := range got {
				names[i] = o.Group
			}
			if !reflect.DeepEqual(names, tc.want) {
				t.Errorf("ranked %v, want %v", names, tc.want)
			}
		})
	}
	if opts[0].Group != "big-od" {
		t.Error("Rank modified its input")
	}
	// Weight wins over order: the priority expander across pools.
	heavy := append([]Option{{Group: "z-heavy", Price: 1, Weight: 50, Order: 9}}, opts...)
	if got := Rank(heavy, []Expander{Priority}, reqs, nil); got[0].Group != "z-heavy" {
		t.Errorf("priority ranked %s first, want the heavier pool's group", got[0].Group)
	}
}

func TestWaste(t *testing.T) {
	o := Option{Allocatable: alloc("4", "8Gi")}
	for _, tc := range []struct {
		reqs corev1.ResourceList
		want float64
	}{
		{alloc("4", "8Gi"), 0},
		{alloc("2", "4Gi"), 1},
		{alloc("0", "0"), 2},
		{alloc("8", "16Gi"), 0}, // more than fits: nothing idle, not negative
	} {
		if got := Waste(o, tc.reqs); got != tc.want {
			t.Errorf("Waste(%v) = %v, want %v", tc.reqs, got, tc.want)
		}
	}
	if got := Waste(Option{}, alloc("1", "1Gi")); got != 2 {
		t.Errorf("no allocatable: waste %v, want 2 (the worst)", got)
	}
}

func TestParseExpanders(t *testing.T) {
	if got, err := ParseExpanders("priority, price,least-waste"); err != nil || !reflect.DeepEqual(got, []Expander{Priority, Price, LeastWaste}) {
		t.Errorf("got %v %v", got, err)
	}
	for _, bad := range []string{"", "cheapest", "price,price", "price,"} {
		if _, err := ParseExpanders(bad); err == nil {
			t.Errorf("ParseExpanders(%q) accepted", bad)
		}
	}
}

func BenchmarkRank(b *testing.B) {
	opts := make([]Option, 200)
	for i := range opts {
		opts[i] = Option{Group: fmt.Sprintf("g-%03d", i), Price: float64(i%17) * 0.01, Allocatable: alloc(fmt.Sprint(2+i%8), fmt.Sprintf("%dGi", 4+i%32)), Order: i}
	}
	reqs := alloc("1500m", "3Gi")
	b.ReportAllocs()
	for b.Loop() {
		Rank(opts, []Expander{Price, LeastWaste, Priority}, reqs, nil)
	}
}

// Serves: the pools with Auto Scaling groups, of the installation's share
// (--nodepool-selector) only.
func TestServesKeepsToSelectedPools(t *testing.T) {
	sel, err := scope.Parse("team=a")
	if err != nil {
		t.Fatal(err)
	}
	c := &Cloud{o: Options{Pools: sel}}
	np := func(team string, groups bool) *provisionerv1.NodePool {
		p := &provisionerv1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: team, Labels: map[string]string{"team": team}}}
		if groups {
			p.Spec.AutoScalingGroups = &provisionerv1.AutoScalingGroups{Names: []string{"g"}}
		}
		return p
	}
	for _, tc := range []struct {
		pool *provisionerv1.NodePool
		want bool
	}{{np("a", true), true}, {np("b", true), false}, {np("a", false), false}} {
		if got := c.Serves(tc.pool); got != tc.want {
			t.Errorf("pool of team %s (groups %v): Serves %v, want %v", tc.pool.Name, tc.pool.Spec.AutoScalingGroups != nil, got, tc.want)
		}
	}
	if !(&Cloud{}).Serves(np("b", true)) {
		t.Error("without a selector every pool with groups is served")
	}
}
