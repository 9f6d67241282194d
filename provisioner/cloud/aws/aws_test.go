package aws

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

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

func TestUserData(t *testing.T) {
	maxPods := int32(58)
	b := Bootstrap{ClusterName: "prod", Endpoint: "https://ABC.gr7.us-east-1.eks.amazonaws.com", CA: []byte("-----BEGIN CERTIFICATE-----\n"), ServiceCIDR: "10.100.0.0/16",
		Labels:  map[string]string{"team": "web", provisionerv1.LabelNodePool: "default"},
		Taints:  []corev1.Taint{{Key: provisionerv1.TaintUnregistered, Effect: corev1.TaintEffectNoExecute}, {Key: "gpu", Value: "true", Effect: corev1.TaintEffectNoSchedule}},
		Kubelet: &provisionerv1.KubeletConfiguration{MaxPods: &maxPods}, UserData: "#!/bin/bash\necho hi"}
	ud, err := UserData(b)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(ud, "--"+mimeBoundary)
	if len(parts) != 4 || !strings.HasPrefix(ud, "MIME-Version: 1.0\n") || !strings.HasSuffix(ud, "--"+mimeBoundary+"--\n") {
		t.Fatalf("not a 2-part MIME document:\n%s", ud)
	}
	head, doc, _ := strings.Cut(parts[1], "\n\n")
	if !strings.Contains(head, "application/node.eks.aws") {
		t.Errorf("first part type: %q", head)
	}
	var nc nodeConfig
	if err := yaml.Unmarshal([]byte(doc), &nc); err != nil {
		t.Fatalf("NodeConfig does not parse: %v\n%s", err, doc)
	}
	if nc.Spec.Cluster.Name != "prod" || nc.Spec.Cluster.CIDR != "10.100.0.0/16" || nc.Spec.Cluster.CertificateAuthority != "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==" {
		t.Errorf("cluster: %+v", nc.Spec.Cluster)
	}
	flags := strings.Join(nc.Spec.Kubelet.Flags, " ")
	for _, want := range []string{"--node-labels=tailor.dev/nodepool=default,team=web", "--register-with-taints=tailor.dev/unregistered:NoExecute,gpu=true:NoSchedule"} {
		if !strings.Contains(flags, want) {
			t.Errorf("kubelet flags %q lack %q", flags, want)
		}
	}
	if fmt.Sprint(nc.Spec.Kubelet.Config["maxPods"]) != "58" {
		t.Errorf("kubelet config %v", nc.Spec.Kubelet.Config)
	}
	if !strings.Contains(parts[2], "text/x-shellscript") || !strings.Contains(parts[2], "echo hi") {
		t.Errorf("class user data part: %q", parts[2])
	}
	if ud, err := UserData(Bootstrap{Family: "Custom", UserData: "as is"}); err != nil || ud != "as is" {
		t.Errorf("Custom: %q %v", ud, err)
	}
	for _, bad := range []Bootstrap{{Family: "Bottlerocket"}, {ClusterName: "x"}, {Family: "Windows2022"}} {
		if _, err := UserData(bad); err == nil {
			t.Errorf("%+v: want an error", bad)
		}
	}
}

func TestParsePriceListItem(t *testing.T) {
	doc := `{"product":{"attributes":{"instanceType":"m5.large"}},"terms":{"OnDemand":{"A.B":{"priceDimensions":{"A.B.C":{"unit":"Hrs","pricePerUnit":{"USD":"0.0960000000"}}}}}}}`
	cases := []struct {
		doc     string
		typ     string
		price   float64
		wantErr bool
	}{
		{doc, "m5.large", 0.096, false},
		{strings.Replace(doc, `"Hrs"`, `"Quantity"`, 1), "", 0, true},
		{strings.Replace(doc, `0.0960000000`, `NaN`, 1), "", 0, true},
		{strings.Replace(doc, `0.0960000000`, `-1`, 1), "", 0, true},
		{strings.Replace(doc, `m5.large`, ``, 1), "", 0, true},
		{`{`, "", 0, true},
	}
	for _, tc := range cases {
		typ, price, err := ParsePriceListItem(tc.doc)
		if (err != nil) != tc.wantErr || typ != tc.typ || price != tc.price {
			t.Errorf("%s: got %q %v %v", tc.doc, typ, price, err)
		}
	}
}

func FuzzParsePriceListItem(f *testing.F) {
	f.Add(`{"product":{"attributes":{"instanceType":"m5.large"}},"terms":{"OnDemand":{"A.B":{"priceDimensions":{"A.B.C":{"unit":"Hrs","pricePerUnit":{"USD":"0.0960000000"}}}}}}}`)
	f.Add(`{"terms":{"OnDemand":null}}`)
	f.Fuzz(func(t *testing.T, doc string) {
		typ, price, err := ParsePriceListItem(doc)
		if err == nil && (typ == "" || price < 0 || price >= 1e4 || price != price) {
			t.Fatalf("accepted %q: %q %v", doc, typ, price)
		}
	})
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

func familyBootstrap(family, userData string) Bootstrap {
	maxPods := int32(58)
	return Bootstrap{ClusterName: "prod", Endpoint: "https://ABC.gr7.us-east-1.eks.amazonaws.com", CA: []byte("CA"), ServiceCIDR: "172.20.0.0/16",
		Labels: map[string]string{"team": "web", provisionerv1.LabelNodePool: "default"},
		Taints: []corev1.Taint{{Key: provisionerv1.TaintUnregistered, Effect: corev1.TaintEffectNoExecute}, {Key: "gpu", Value: "true", Effect: corev1.TaintEffectNoSchedule}},
		Kubelet: &provisionerv1.KubeletConfiguration{MaxPods: &maxPods, KubeReserved: map[string]string{"cpu": "200m", "memory": "1Gi"},
			SystemReserved: map[string]string{"memory": "300Mi"}, EvictionHard: map[string]string{"memory.available": "5%"}},
		Family: family, UserData: userData}
}

func TestUserDataAL2(t *testing.T) {
	ud, err := UserData(familyBootstrap("AL2", "echo 'before'"))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(ud, "--"+mimeBoundary)
	if len(parts) != 4 || !strings.Contains(parts[1], "echo 'before'") {
		t.Fatalf("want the class's script, then the bootstrap, in a MIME document:\n%s", ud)
	}
	for _, want := range []string{
		"/etc/eks/bootstrap.sh 'prod' --apiserver-endpoint 'https://ABC.gr7.us-east-1.eks.amazonaws.com' --b64-cluster-ca 'Q0E=' --dns-cluster-ip '172.20.0.10' --use-max-pods false",
		"--kubelet-extra-args '--eviction-hard=memory.available<5% --kube-reserved=cpu=200m,memory=1Gi --max-pods=58 --node-labels=tailor.dev/nodepool=default,team=web " +
			"--register-with-taints=tailor.dev/unregistered:NoExecute,gpu=true:NoSchedule --system-reserved=memory=300Mi'",
	} {
		if !strings.Contains(parts[2], want) {
			t.Errorf("bootstrap part lacks %q:\n%s", want, parts[2])
		}
	}
	if q := shellQuote("it's"); q != `'it'\''s'` {
		t.Errorf("shellQuote: %s", q)
	}
}

func TestUserDataBottlerocket(t *testing.T) {
	ud, err := UserData(familyBootstrap("Bottlerocket", "[settings.host-containers.admin]\nenabled = true"))
	if err != nil {
		t.Fatal(err)
	}
	want := `[settings.kubernetes]
cluster-name = "prod"
api-server = "https://ABC.gr7.us-east-1.eks.amazonaws.com"
cluster-certificate = "Q0E="
cluster-dns-ip = "172.20.0.10"
max-pods = 58

[settings.kubernetes.node-labels]
"tailor.dev/nodepool" = "default"
"team" = "web"

[settings.kubernetes.node-taints]
"gpu" = ["true:NoSchedule"]
"tailor.dev/unregistered" = [":NoExecute"]

[settings.kubernetes.kube-reserved]
"cpu" = "200m"
"memory" = "1Gi"

[settings.kubernetes.system-reserved]
"memory" = "300Mi"

[settings.kubernetes.eviction-hard]
"memory.available" = "5%"

[settings.host-containers.admin]
enabled = true
`
	if ud != want {
		t.Errorf("Bottlerocket settings:\n%s\nwant:\n%s", ud, want)
	}
	for _, bad := range []string{"[settings.kubernetes]\nmax-pods = 1", "[ settings . \"kubernetes\" . node-labels ]\na = \"b\"", "[settings.kubernetes"} {
		if _, err := UserData(familyBootstrap("Bottlerocket", bad)); err == nil {
			t.Errorf("class TOML %q: want an error", bad)
		}
	}
}

func TestClusterDNS(t *testing.T) {
	for cidr, want := range map[string]string{"10.100.0.0/16": "10.100.0.10", "172.20.0.0/16": "172.20.0.10", "fd00::/108": "fd00::a", "10.0.0.0/29": ""} {
		got, err := ClusterDNS(cidr, nil)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("ClusterDNS(%s) = %q %v, want %q", cidr, got, err, want)
		}
	}
	if got, _ := ClusterDNS("bad", &provisionerv1.KubeletConfiguration{ClusterDNS: []string{"10.0.0.2"}}); got != "10.0.0.2" {
		t.Errorf("the class's clusterDNS first: %s", got)
	}
}

func TestTOMLTables(t *testing.T) {
	doc := "a = 1\n[settings.kubernetes]\nx = \"\"\"\n[not.a.table]\n\"\"\"\n[[ settings.\"bootstrap-containers\" ]]\n"
	got, err := TOMLTables(doc)
	if err != nil || strings.Join(got, " ") != "settings.kubernetes settings.bootstrap-containers" {
		t.Errorf("tables %v %v", got, err)
	}
}

// FuzzTOMLTables: any document parses or errs without panicking, and no
// header found keeps its brackets.
func FuzzTOMLTables(f *testing.F) {
	f.Add("[settings.kubernetes]\nmax-pods = 1")
	f.Add("[[a]]\n'''\n[b]\n'''\n[c")
	f.Fuzz(func(t *testing.T, doc string) {
		tables, err := TOMLTables(doc)
		if err != nil {
			return
		}
		for _, tb := range tables {
			if strings.ContainsAny(tb, "[]") {
				t.Fatalf("table %q of %q keeps a bracket", tb, doc)
			}
		}
	})
}
