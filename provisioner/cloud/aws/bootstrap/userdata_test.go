package bootstrap

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
)

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
