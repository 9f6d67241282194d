package aws

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/go-logr/logr"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/catalog"
	"github.com/tailor-dev/tailor/provisioner/cloud"
	"github.com/tailor-dev/tailor/provisioner/scheduling"
)

func TestClientToken(t *testing.T) {
	a := ClientToken("prod", "default-abc12", "uid-1")
	if a != ClientToken("prod", "default-abc12", "uid-1") {
		t.Fatal("the same claim must give the same token")
	}
	for _, other := range []string{ClientToken("dev", "default-abc12", "uid-1"), ClientToken("prod", "default-abc13", "uid-1"), ClientToken("prod", "default-abc12", "uid-2")} {
		if other == a {
			t.Errorf("token %s shared by another claim or cluster", a)
		}
	}
	if len(a) > 64 || !strings.HasPrefix(a, "tailor-") {
		t.Errorf("token %q: want tailor-… of at most 64 characters", a)
	}
}

func it(name, arch string, offers ...scheduling.Offering) *scheduling.InstanceType {
	return &scheduling.InstanceType{Name: name, Labels: map[string]string{provisionerv1.LabelArch: arch}, Offerings: offers}
}

func off(zone, ct string, price float64) scheduling.Offering {
	return scheduling.Offering{Zone: zone, CapacityType: ct, Price: price, Available: true}
}

func cands(its ...*scheduling.InstanceType) []cloud.Candidate {
	var out []cloud.Candidate
	for _, t := range its {
		for _, o := range t.Offerings {
			out = append(out, cloud.Candidate{Type: t, Offer: o})
		}
	}
	return out
}

func TestPlanFleet(t *testing.T) {
	const od, spot = provisionerv1.CapacityTypeOnDemand, provisionerv1.CapacityTypeSpot
	subnets := map[string]string{"a": "subnet-a", "b": "subnet-b"}
	both := map[string]bool{"amd64": true, "arm64": true}
	cases := []struct {
		name     string
		cands    []cloud.Candidate
		subnets  map[string]string
		archs    map[string]bool
		max      int
		wantCap  string
		wantOvrs []string // type/zone in order
	}{
		{"spot wins where allowed", cands(it("m5.large", "amd64", off("a", od, 0.096), off("a", spot, 0.04)), it("c5.large", "amd64", off("b", spot, 0.035))),
			subnets, both, 60, spot, []string{"c5.large/b", "m5.large/a"}},
		{"on-demand when no spot", cands(it("m5.large", "amd64", off("a", od, 0.096), off("b", od, 0.096)), it("c5.large", "amd64", off("a", od, 0.085))),
			subnets, both, 60, od, []string{"c5.large/a", "m5.large/a", "m5.large/b"}},
		{"zones without subnet left out", cands(it("m5.large", "amd64", off("c", spot, 0.01), off("a", od, 0.096))),
			subnets, both, 60, od, []string{"m5.large/a"}},
		{"architectures without AMI left out", cands(it("m7g.large", "arm64", off("a", od, 0.08)), it("m5.large", "amd64", off("a", od, 0.096))),
			subnets, map[string]bool{"amd64": true}, 60, od, []string{"m5.large/a"}},
		{"at most max types, all their zones", cands(it("t1", "amd64", off("a", od, 1), off("b", od, 1.1)), it("t2", "amd64", off("a", od, 2)), it("t3", "amd64", off("a", od, 3))),
			subnets, both, 2, od, []string{"t1/a", "t1/b", "t2/a"}},
		{"nothing usable", nil, subnets, both, 60, od, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := PlanFleet(tc.cands, tc.subnets, tc.archs, tc.max)
			var got []string
			for _, o := range p.Overrides {
				got = append(got, o.InstanceType+"/"+o.Zone)
				if o.Subnet != tc.subnets[o.Zone] {
					t.Errorf("override %v: subnet %s, want %s", o, o.Subnet, tc.subnets[o.Zone])
				}
			}
			if p.CapacityType != tc.wantCap || fmt.Sprint(got) != fmt.Sprint(tc.wantOvrs) {
				t.Errorf("got %s %v, want %s %v", p.CapacityType, got, tc.wantCap, tc.wantOvrs)
			}
		})
	}
}

func ovr(typ, subnet, zone string) *ec2types.LaunchTemplateAndOverridesResponse {
	return &ec2types.LaunchTemplateAndOverridesResponse{Overrides: &ec2types.FleetLaunchTemplateOverrides{
		InstanceType: ec2types.InstanceType(typ), SubnetId: aws.String(subnet), AvailabilityZone: optional(zone)}}
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func TestFleetOutcome(t *testing.T) {
	zoneOf := map[string]string{"subnet-a": "us-east-1a", "subnet-b": "us-east-1b"}
	ice := func(typ, subnet, zone string) ec2types.CreateFleetError {
		return ec2types.CreateFleetError{LaunchTemplateAndOverrides: ovr(typ, subnet, zone), ErrorCode: aws.String("InsufficientInstanceCapacity"), ErrorMessage: aws.String("no capacity")}
	}
	launched := ec2types.CreateFleetInstance{InstanceIds: []string{"i-0abc"}, InstanceType: "c5.large", Lifecycle: ec2types.InstanceLifecycleSpot, LaunchTemplateAndOverrides: ovr("c5.large", "subnet-b", "")}
	cases := []struct {
		name      string
		instances []ec2types.CreateFleetInstance
		errs      []ec2types.CreateFleetError
		want      string
	}{
		{"launched", []ec2types.CreateFleetInstance{launched}, nil, "i-0abc c5.large us-east-1b spot [] []"},
		{"partial: cheaper offerings out of capacity", []ec2types.CreateFleetInstance{launched},
			[]ec2types.CreateFleetError{ice("m5.large", "subnet-a", "us-east-1a"), ice("m5.large", "subnet-a", "us-east-1a")},
			"i-0abc c5.large us-east-1b spot [m5.large/us-east-1a/spot] []"},
		{"all out of capacity", nil, []ec2types.CreateFleetError{ice("m5.large", "subnet-a", ""), ice("c5.large", "subnet-b", "us-east-1b")},
			"    [m5.large/us-east-1a/spot c5.large/us-east-1b/spot] []"},
		{"other errors surface", nil, []ec2types.CreateFleetError{{ErrorCode: aws.String("InvalidLaunchTemplateName.NotFoundException"), ErrorMessage: aws.String("gone")}},
			"    [] [InvalidLaunchTemplateName.NotFoundException: gone]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := FleetOutcome(tc.instances, tc.errs, provisionerv1.CapacityTypeSpot, zoneOf)
			if o.InstanceID == "" {
				o.CapacityType = ""
			}
			got := fmt.Sprintf("%s %s %s %s %v %v", o.InstanceID, o.InstanceType, o.Zone, o.CapacityType, o.Unavailable, o.Errors)
			if got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestAliasParameters(t *testing.T) {
	fam, ps, err := AliasParameters("al2023@latest", "1.37")
	if err != nil || fam != "AL2023" || ps["amd64"] != "/aws/service/eks/optimized-ami/1.37/amazon-linux-2023/x86_64/standard/recommended/image_id" ||
		ps["arm64"] != "/aws/service/eks/optimized-ami/1.37/amazon-linux-2023/arm64/standard/recommended/image_id" {
		t.Errorf("latest: %s %v %v", fam, ps, err)
	}
	_, ps, _ = AliasParameters("al2023@v20260101", "1.37")
	if ps["amd64"] != "/aws/service/eks/optimized-ami/1.37/amazon-linux-2023/x86_64/standard/amazon-eks-node-al2023-x86_64-standard-1.37-v20260101/image_id" {
		t.Errorf("pinned: %v", ps)
	}
	for alias, want := range map[string][2]string{
		"al2@latest":           {"AL2", "/aws/service/eks/optimized-ami/1.37/amazon-linux-2/recommended/image_id /aws/service/eks/optimized-ami/1.37/amazon-linux-2-arm64/recommended/image_id"},
		"al2@v20260101":        {"AL2", "/aws/service/eks/optimized-ami/1.37/amazon-linux-2/amazon-eks-node-1.37-v20260101/image_id /aws/service/eks/optimized-ami/1.37/amazon-linux-2-arm64/amazon-eks-arm64-node-1.37-v20260101/image_id"},
		"bottlerocket@latest":  {"Bottlerocket", "/aws/service/bottlerocket/aws-k8s-1.37/x86_64/latest/image_id /aws/service/bottlerocket/aws-k8s-1.37/arm64/latest/image_id"},
		"bottlerocket@v1.40.0": {"Bottlerocket", "/aws/service/bottlerocket/aws-k8s-1.37/x86_64/1.40.0/image_id /aws/service/bottlerocket/aws-k8s-1.37/arm64/1.40.0/image_id"},
	} {
		fam, ps, err := AliasParameters(alias, "1.37")
		if err != nil || fam != want[0] || ps["amd64"]+" "+ps["arm64"] != want[1] {
			t.Errorf("%s: %s %v %v, want %v", alias, fam, ps, err, want)
		}
	}
	for _, bad := range []string{"ubuntu@latest", "al2023", "al2@"} {
		if _, _, err := AliasParameters(bad, "1.37"); err == nil {
			t.Errorf("%s: want an error", bad)
		}
	}
}

func TestTypeOf(t *testing.T) {
	info := ec2types.InstanceTypeInfo{InstanceType: "m7g.2xlarge",
		ProcessorInfo: &ec2types.ProcessorInfo{SupportedArchitectures: []ec2types.ArchitectureType{ec2types.ArchitectureTypeArm64}},
		VCpuInfo:      &ec2types.VCpuInfo{DefaultVCpus: aws.Int32(8)}, MemoryInfo: &ec2types.MemoryInfo{SizeInMiB: aws.Int64(32768)},
		NetworkInfo: &ec2types.NetworkInfo{MaximumNetworkInterfaces: aws.Int32(4), Ipv4AddressesPerInterface: aws.Int32(15)}}
	typ, ok := typeOf(info)
	want := catalog.Type{Name: "m7g.2xlarge", Family: "m7g", Category: "m", Generation: 7, Size: "2xlarge", VCPU: 8, MemoryMiB: 32768, Arch: "arm64", MaxPods: 58}
	if !ok || typ != want {
		t.Errorf("got %+v %v, want %+v", typ, ok, want)
	}
	info.ProcessorInfo.SupportedArchitectures = []ec2types.ArchitectureType{ec2types.ArchitectureTypeX8664Mac}
	if _, ok := typeOf(info); ok {
		t.Error("a mac type must be left out")
	}
}

func BenchmarkInstanceTypesFullCatalogue(b *testing.B) {
	c, err := New(nil, Clients{}, Options{ClusterName: "bench", Region: "us-east-1", MaxTypes: 60, PriceRefresh: 1, NodeClassRefresh: 1, LaunchTemplateTTL: 1}, discard())
	if err != nil {
		b.Fatal(err)
	}
	r := &resolved{subnetByZone: map[string]string{"us-east-1a": "s-a", "us-east-1b": "s-b", "us-east-1c": "s-c"}, amiByArch: map[string]string{"amd64": "ami-1", "arm64": "ami-2"}}
	class := &provisionerv1.AWSNodeClass{}
	b.ReportAllocs()
	for b.Loop() {
		c.mu.Lock()
		c.version++ // no cache: the whole conversion each time
		c.mu.Unlock()
		if n := len(c.instanceTypes(class, r)); n < 1000 {
			b.Fatalf("%d types", n)
		}
	}
	b.ReportMetric(float64(len(catalog.Types())), "types/op")
}

func discard() logr.Logger { return logr.Discard() }
