package nodegroup

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/catalog"
	"github.com/tailor-dev/tailor/provisioner/scheduling"
)

func TestParseTags(t *testing.T) {
	for _, tc := range []struct {
		name      string
		tags      map[string]string
		labels    map[string]string
		taints    []corev1.Taint
		resources corev1.ResourceList
		errs      []string
	}{
		{name: "none", tags: map[string]string{"Name": "x", TagEnabled: "true"}},
		{name: "label", tags: map[string]string{TagLabel + "workload": "batch", TagLabel + "kubernetes.io/arch": "arm64"},
			labels: map[string]string{"workload": "batch", "kubernetes.io/arch": "arm64"}},
		{name: "taint with value", tags: map[string]string{TagTaint + "dedicated": "gpu:NoSchedule"},
			taints: []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}},
		{name: "taint effect only", tags: map[string]string{TagTaint + "example.com/spot": "NoExecute"},
			taints: []corev1.Taint{{Key: "example.com/spot", Effect: corev1.TaintEffectNoExecute}}},
		{name: "taints sorted by key", tags: map[string]string{TagTaint + "b": "x:PreferNoSchedule", TagTaint + "a": "y:NoSchedule"},
			taints: []corev1.Taint{{Key: "a", Value: "y", Effect: corev1.TaintEffectNoSchedule}, {Key: "b", Value: "x", Effect: corev1.TaintEffectPreferNoSchedule}}},
		{name: "resources", tags: map[string]string{TagResource + "ephemeral-storage": "100Gi", TagResource + "nvidia.com/gpu": "1"},
			resources: corev1.ResourceList{corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"), "nvidia.com/gpu": resource.MustParse("1")}},
		{name: "bad ones left out, good kept", tags: map[string]string{
			TagLabel + "ok": "yes", TagLabel + "bad key!": "x", TagLabel + "v": "not valid!",
			TagTaint + "t": "x:Sometimes", TagResource + "cpu": "lots", TagResource + "memory": "-1Gi"},
			labels: map[string]string{"ok": "yes"},
			errs:   []string{"label value", "label key", "quantity \"-1Gi\"", "quantity \"lots\"", "the effect must be"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nt, errs := ParseTags(tc.tags)
			if tc.labels == nil {
				tc.labels = map[string]string{}
			}
			if tc.resources == nil {
				tc.resources = corev1.ResourceList{}
			}
			if !reflect.DeepEqual(nt.Labels, tc.labels) || !reflect.DeepEqual(nt.Taints, tc.taints) {
				t.Errorf("labels %v taints %v, want %v %v", nt.Labels, nt.Taints, tc.labels, tc.taints)
			}
			if len(nt.Resources) != len(tc.resources) {
				t.Errorf("resources %v, want %v", nt.Resources, tc.resources)
			}
			for n, q := range tc.resources {
				if got := nt.Resources[n]; got.Cmp(q) != 0 {
					t.Errorf("resource %s = %v, want %v", n, got.String(), q.String())
				}
			}
			if len(errs) != len(tc.errs) {
				t.Fatalf("errors %v, want %d", errs, len(tc.errs))
			}
			all := ""
			for _, e := range errs {
				all += e.Error() + "\n"
			}
			for _, want := range tc.errs {
				if !strings.Contains(all, want) {
					t.Errorf("errors %q lack %q", all, want)
				}
			}
		})
	}
}

func TestCapacityTypeAndLaunchOrder(t *testing.T) {
	prices := map[string]float64{"c5.2xlarge": 0.34, "r5.xlarge": 0.252, "m5.xlarge": 0.192}
	price := func(typ string) float64 { return prices[typ] }
	for _, tc := range []struct {
		name  string
		g     Group
		ct    string
		order []string
	}{
		{name: "single type", g: Group{Types: []string{"m5.xlarge"}, OnDemandPercent: 100}, ct: "on-demand", order: []string{"m5.xlarge"}},
		{name: "prioritized keeps the overrides' order", g: Group{Mixed: true, Types: []string{"c5.2xlarge", "r5.xlarge", "m5.xlarge"}, OnDemandPercent: 100, OnDemandStrategy: "prioritized"},
			ct: "on-demand", order: []string{"c5.2xlarge", "r5.xlarge", "m5.xlarge"}},
		{name: "unset on-demand strategy is prioritized", g: Group{Mixed: true, Types: []string{"c5.2xlarge", "m5.xlarge"}, OnDemandPercent: 100},
			ct: "on-demand", order: []string{"c5.2xlarge", "m5.xlarge"}},
		{name: "lowest-price on-demand: cheapest first", g: Group{Mixed: true, Types: []string{"c5.2xlarge", "r5.xlarge", "m5.xlarge"}, OnDemandPercent: 100, OnDemandStrategy: "lowest-price"},
			ct: "on-demand", order: []string{"m5.xlarge", "r5.xlarge", "c5.2xlarge"}},
		{name: "spot: cheapest first", g: Group{Mixed: true, Types: []string{"c5.2xlarge", "r5.xlarge"}, OnDemandPercent: 0, SpotStrategy: "price-capacity-optimized"},
			ct: "spot", order: []string{"r5.xlarge", "c5.2xlarge"}},
		{name: "on-demand base not reached", g: Group{Mixed: true, Types: []string{"c5.2xlarge", "r5.xlarge"}, OnDemandBase: 2, OnDemandPercent: 0, Instances: []GroupInstance{{ID: "i-1"}}},
			ct: "on-demand", order: []string{"c5.2xlarge", "r5.xlarge"}},
		{name: "mostly spot above base", g: Group{Mixed: true, Types: []string{"m5.xlarge"}, OnDemandPercent: 25}, ct: "spot", order: []string{"m5.xlarge"}},
		{name: "half on-demand counts as on-demand", g: Group{Mixed: true, Types: []string{"m5.xlarge"}, OnDemandPercent: 50}, ct: "on-demand", order: []string{"m5.xlarge"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if ct := tc.g.CapacityType(); ct != tc.ct {
				t.Errorf("capacity type %s, want %s", ct, tc.ct)
			}
			if got := tc.g.LaunchOrder(price); !reflect.DeepEqual(got, tc.order) {
				t.Errorf("launch order %v, want %v", got, tc.order)
			}
		})
	}
}

func typeOf(t *testing.T, name string) *scheduling.InstanceType {
	t.Helper()
	ct, ok := catalog.Lookup(name)
	if !ok {
		t.Fatalf("%s not in the catalogue", name)
	}
	o := catalog.DefaultOptions()
	return &scheduling.InstanceType{Name: name, Labels: ct.Labels(o), Capacity: ct.Capacity(o), Allocatable: ct.Allocatable(o)}
}

func TestTemplate(t *testing.T) {
	base := typeOf(t, "g4dn.xlarge")
	g := &Group{Name: "gpu", Zones: []string{"us-east-1a", "us-east-1b"}, Types: []string{"g4dn.xlarge"}, OnDemandPercent: 100}
	nt, errs := ParseTags(map[string]string{TagLabel + "workload": "ml", TagLabel + provisionerv1.LabelNodePool: "other",
		TagResource + "ephemeral-storage": "200Gi", TagResource + "example.com/fpga": "2", TagResource + "memory": "8Gi"})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	it := Template(base, g, nt, func(z string) float64 { return map[string]float64{"us-east-1a": 0.5, "us-east-1b": 0.6}[z] }, true)
	if it.Labels["workload"] != "ml" || it.Labels[provisionerv1.LabelInstanceType] != "g4dn.xlarge" {
		t.Errorf("labels %v", it.Labels)
	}
	if _, ok := it.Labels[provisionerv1.LabelNodePool]; ok {
		t.Errorf("a node-template tag set %s: Tailor's to set", provisionerv1.LabelNodePool)
	}
	fpga := it.Allocatable["example.com/fpga"]
	storage := it.Capacity[corev1.ResourceEphemeralStorage]
	if fpga.Value() != 2 || storage.Cmp(resource.MustParse("200Gi")) != 0 {
		t.Errorf("capacity %v allocatable %v", it.Capacity, it.Allocatable)
	}
	// memory: capacity replaced, allocatable less what the type reserves.
	reserved := base.Capacity[corev1.ResourceMemory]
	reserved.Sub(base.Allocatable[corev1.ResourceMemory])
	want := resource.MustParse("8Gi")
	want.Sub(reserved)
	if got := it.Allocatable[corev1.ResourceMemory]; got.Cmp(want) != 0 {
		t.Errorf("allocatable memory %s, want %s (8Gi less the %s reserved)", got.String(), want.String(), reserved.String())
	}
	if len(it.Offerings) != 2 || it.Offerings[1].Price != 0.6 || it.Offerings[0].CapacityType != "on-demand" || !it.Offerings[0].Available {
		t.Errorf("offerings %+v", it.Offerings)
	}
	if base.Labels["workload"] != "" || base.Allocatable.Name("example.com/fpga", resource.DecimalSI).Value() != 0 {
		t.Errorf("the base type was modified")
	}
}

func FuzzParseTags(f *testing.F) {
	for _, s := range [][2]string{{TagLabel + "a", "b"}, {TagTaint + "k", "v:NoSchedule"}, {TagTaint + "k", "NoExecute"}, {TagResource + "nvidia.com/gpu", "4"},
		{TagResource + "memory", "1e3Mi"}, {TagLabel + "", ""}, {TagTaint + "k", "::"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, k, v string) {
		nt, errs := ParseTags(map[string]string{k: v, TagLabel + "fixed": "yes"})
		if nt.Labels["fixed"] != "yes" {
			t.Fatalf("a good tag was lost beside %q=%q", k, v)
		}
		n := len(nt.Labels) + len(nt.Taints) + len(nt.Resources) + len(errs)
		if n > 2 {
			t.Fatalf("%d results from 2 tags", n)
		}
		for _, tt := range nt.Taints {
			if tt.Effect != corev1.TaintEffectNoSchedule && tt.Effect != corev1.TaintEffectPreferNoSchedule && tt.Effect != corev1.TaintEffectNoExecute {
				t.Fatalf("taint effect %q", tt.Effect)
			}
		}
		for name, q := range nt.Resources {
			if q.Sign() < 0 {
				t.Fatalf("negative resource %s=%s", name, q.String())
			}
		}
	})
}

func TestWithManaged(t *testing.T) {
	tags := NodeTemplate{Labels: map[string]string{"team": "tag"}, Taints: []corev1.Taint{{Key: "gpu", Value: "tag", Effect: corev1.TaintEffectNoSchedule}}}
	for _, tc := range []struct {
		name       string
		m          *ManagedNodeGroup
		wantLabels string
		wantTaints string
	}{
		{"self-managed", nil, "team=tag", "gpu=tag:NoSchedule"},
		{"labels merged, tags win", &ManagedNodeGroup{Labels: map[string]string{"team": "eks", "workload": "ml"}}, "team=tag,workload=ml", "gpu=tag:NoSchedule"},
		{"taints merged, tags win on key and effect", &ManagedNodeGroup{Taints: []corev1.Taint{
			{Key: "gpu", Value: "eks", Effect: corev1.TaintEffectNoSchedule},
			{Key: "gpu", Value: "eks", Effect: corev1.TaintEffectNoExecute},
			{Key: "a", Effect: corev1.TaintEffectPreferNoSchedule},
		}}, "team=tag", "a=:PreferNoSchedule,gpu=eks:NoExecute,gpu=tag:NoSchedule"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tags.WithManaged(tc.m)
			var ls, ts []string
			for k, v := range got.Labels {
				ls = append(ls, k+"="+v)
			}
			sort.Strings(ls)
			for _, x := range got.Taints {
				ts = append(ts, x.Key+"="+x.Value+":"+string(x.Effect))
			}
			if strings.Join(ls, ",") != tc.wantLabels || strings.Join(ts, ",") != tc.wantTaints {
				t.Errorf("labels %v taints %v; want %s and %s", ls, ts, tc.wantLabels, tc.wantTaints)
			}
		})
	}
	if tags.Labels["workload"] != "" || len(tags.Taints) != 1 {
		t.Errorf("WithManaged changed its receiver: %+v", tags)
	}
}

func TestManagedTaintEffect(t *testing.T) {
	for in, want := range map[string]corev1.TaintEffect{"NO_SCHEDULE": corev1.TaintEffectNoSchedule, "NO_EXECUTE": corev1.TaintEffectNoExecute,
		"PREFER_NO_SCHEDULE": corev1.TaintEffectPreferNoSchedule, "NoSchedule": "", "": ""} {
		if got, ok := ManagedTaintEffect(in); got != want || ok != (want != "") {
			t.Errorf("ManagedTaintEffect(%q) = %q %v, want %q", in, got, ok, want)
		}
	}
}

func BenchmarkParseTags(b *testing.B) {
	tags := map[string]string{TagEnabled: "true", TagCluster + "prod": "owned", "Name": "nodes"}
	for i := 0; i < 20; i++ {
		tags[fmt.Sprintf("%sexample.com/l%d", TagLabel, i)] = "v"
	}
	tags[TagTaint+"dedicated"] = "gpu:NoSchedule"
	tags[TagResource+"nvidia.com/gpu"] = "4"
	b.ReportAllocs()
	for b.Loop() {
		ParseTags(tags)
	}
}
