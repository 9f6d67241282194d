// Package bootstrap writes the EC2 user data that joins a node to its EKS
// cluster, per AMI family (AL2023 nodeadm, AL2, Bottlerocket, Custom):
// pure functions of a Bootstrap, apart from the SDK-backed aws cloud.
package bootstrap

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
)

// Bootstrap is what a node needs to join the cluster.
type Bootstrap struct {
	ClusterName string
	// Endpoint of the API server and its CA (PEM).
	Endpoint string
	CA       []byte
	// ServiceCIDR of the cluster (nodeadm's cidr: the cluster DNS address
	// follows from it).
	ServiceCIDR string
	// Labels and Taints the kubelet registers with.
	Labels map[string]string
	Taints []corev1.Taint
	// Kubelet settings of the node class (max pods, cluster DNS).
	Kubelet *provisionerv1.KubeletConfiguration
	// Family is AL2023 or Custom; UserData is the node class's.
	Family   string
	UserData string
}

// nodeConfig is nodeadm's NodeConfig (node.eks.aws/v1alpha1), the part
// Tailor writes.
type nodeConfig struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Spec       struct {
		Cluster struct {
			Name                 string `json:"name"`
			APIServerEndpoint    string `json:"apiServerEndpoint"`
			CertificateAuthority string `json:"certificateAuthority"`
			CIDR                 string `json:"cidr"`
		} `json:"cluster"`
		Kubelet struct {
			Config map[string]any `json:"config,omitempty"`
			Flags  []string       `json:"flags,omitempty"`
		} `json:"kubelet"`
	} `json:"spec"`
}

const mimeBoundary = "//tailor//"

// AMI families (amiFamily, or implied by an alias).
const (
	FamilyAL2023       = "AL2023"
	FamilyAL2          = "AL2"
	FamilyBottlerocket = "Bottlerocket"
	FamilyCustom       = "Custom"
)

// UserData is the EC2 user data of a node, by AMI family: AL2023 (the
// default), nodeadm's NodeConfig (nodeadmUserData); AL2, a shell script
// calling /etc/eks/bootstrap.sh (al2UserData); Bottlerocket, TOML
// settings (bottlerocketUserData); Custom, the class's user data as is.
// A pure function.
func UserData(b Bootstrap) (string, error) {
	switch b.Family {
	case FamilyCustom:
		return b.UserData, nil
	case FamilyAL2023, "", FamilyAL2, FamilyBottlerocket:
	default:
		return "", fmt.Errorf("amiFamily %s: Tailor writes user data for AL2023, AL2, Bottlerocket and Custom", b.Family)
	}
	if b.ClusterName == "" || b.Endpoint == "" || len(b.CA) == 0 || b.ServiceCIDR == "" {
		return "", fmt.Errorf("node bootstrap needs the cluster name, endpoint, CA and service CIDR")
	}
	switch b.Family {
	case FamilyAL2:
		return al2UserData(b)
	case FamilyBottlerocket:
		return bottlerocketUserData(b)
	}
	return nodeadmUserData(b)
}

// nodeadmUserData: a MIME multi-part document whose NodeConfig part tells
// nodeadm the cluster (endpoint, CA, service CIDR) and the kubelet's
// labels, taints and settings, followed by the node class's own user data
// as a further part.
func nodeadmUserData(b Bootstrap) (string, error) {
	nc := nodeConfig{APIVersion: "node.eks.aws/v1alpha1", Kind: "NodeConfig"}
	nc.Spec.Cluster.Name = b.ClusterName
	nc.Spec.Cluster.APIServerEndpoint = b.Endpoint
	nc.Spec.Cluster.CertificateAuthority = base64.StdEncoding.EncodeToString(b.CA)
	nc.Spec.Cluster.CIDR = b.ServiceCIDR
	if k := b.Kubelet; k != nil {
		cfg := map[string]any{}
		if k.MaxPods != nil {
			cfg["maxPods"] = *k.MaxPods
		}
		if k.PodsPerCore != nil {
			cfg["podsPerCore"] = *k.PodsPerCore
		}
		if len(k.ClusterDNS) > 0 {
			cfg["clusterDNS"] = k.ClusterDNS
		}
		if len(k.KubeReserved) > 0 {
			cfg["kubeReserved"] = k.KubeReserved
		}
		if len(k.SystemReserved) > 0 {
			cfg["systemReserved"] = k.SystemReserved
		}
		if len(k.EvictionHard) > 0 {
			cfg["evictionHard"] = k.EvictionHard
		}
		if len(cfg) > 0 {
			nc.Spec.Kubelet.Config = cfg
		}
	}
	if len(b.Labels) > 0 {
		keys := slices.Sorted(maps.Keys(b.Labels))
		kv := make([]string, len(keys))
		for i, k := range keys {
			kv[i] = k + "=" + b.Labels[k]
		}
		nc.Spec.Kubelet.Flags = append(nc.Spec.Kubelet.Flags, "--node-labels="+strings.Join(kv, ","))
	}
	if len(b.Taints) > 0 {
		ts := make([]string, len(b.Taints))
		for i, t := range b.Taints {
			ts[i] = t.ToString()
		}
		nc.Spec.Kubelet.Flags = append(nc.Spec.Kubelet.Flags, "--register-with-taints="+strings.Join(ts, ","))
	}
	doc, err := yaml.Marshal(nc)
	if err != nil {
		return "", err
	}
	var s strings.Builder
	s.WriteString("MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"" + mimeBoundary + "\"\n\n")
	s.WriteString("--" + mimeBoundary + "\nContent-Type: application/node.eks.aws\n\n")
	s.Write(doc)
	if u := strings.TrimSpace(b.UserData); u != "" {
		ct := "text/x-shellscript; charset=\"us-ascii\""
		if strings.Contains(u, "kind: NodeConfig") {
			ct = "application/node.eks.aws"
		}
		s.WriteString("\n--" + mimeBoundary + "\nContent-Type: " + ct + "\n\n" + u + "\n")
	}
	s.WriteString("\n--" + mimeBoundary + "--\n")
	return s.String(), nil
}

// kubeletArgs are the kubelet flags of the node's labels, taints and the
// class's settings, for the families that take flags (AL2), sorted.
func kubeletArgs(b Bootstrap) []string {
	var out []string
	if labels := labelList(b.Labels); labels != "" {
		out = append(out, "--node-labels="+labels)
	}
	if len(b.Taints) > 0 {
		ts := make([]string, len(b.Taints))
		for i, t := range b.Taints {
			ts[i] = t.ToString()
		}
		out = append(out, "--register-with-taints="+strings.Join(ts, ","))
	}
	if k := b.Kubelet; k != nil {
		if k.MaxPods != nil {
			out = append(out, fmt.Sprintf("--max-pods=%d", *k.MaxPods))
		}
		if k.PodsPerCore != nil {
			out = append(out, fmt.Sprintf("--pods-per-core=%d", *k.PodsPerCore))
		}
		for flag, m := range map[string]map[string]string{"--kube-reserved=": k.KubeReserved, "--system-reserved=": k.SystemReserved} {
			if len(m) > 0 {
				out = append(out, flag+pairs(m, "="))
			}
		}
		if len(k.EvictionHard) > 0 {
			out = append(out, "--eviction-hard="+pairs(k.EvictionHard, "<"))
		}
	}
	sort.Strings(out)
	return out
}

func labelList(m map[string]string) string { return pairs(m, "=") }

// pairs is k<sep>v,… sorted by key.
func pairs(m map[string]string, sep string) string {
	keys := slices.Sorted(maps.Keys(m))
	kv := make([]string, len(keys))
	for i, k := range keys {
		kv[i] = k + sep + m[k]
	}
	return strings.Join(kv, ",")
}

// ClusterDNS is the cluster DNS address: the class's first clusterDNS, or
// the tenth address of the service CIDR (EKS's kube-dns service).
func ClusterDNS(serviceCIDR string, k *provisionerv1.KubeletConfiguration) (string, error) {
	if k != nil && len(k.ClusterDNS) > 0 {
		return k.ClusterDNS[0], nil
	}
	p, err := netip.ParsePrefix(serviceCIDR)
	if err != nil {
		return "", fmt.Errorf("service CIDR %q: %w", serviceCIDR, err)
	}
	a := p.Masked().Addr()
	for range 10 {
		a = a.Next()
	}
	if !p.Contains(a) {
		return "", fmt.Errorf("service CIDR %q has no tenth address", serviceCIDR)
	}
	return a.String(), nil
}

// shellQuote single-quotes s for bash.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// al2UserData: a MIME multi-part document, the class's user data first
// (as EKS's AL2 launch templates run it), then a script that calls the
// AMI's /etc/eks/bootstrap.sh with the cluster and the kubelet's flags.
func al2UserData(b Bootstrap) (string, error) {
	dns, err := ClusterDNS(b.ServiceCIDR, b.Kubelet)
	if err != nil {
		return "", err
	}
	var script strings.Builder
	script.WriteString("#!/bin/bash\nset -e\n")
	fmt.Fprintf(&script, "/etc/eks/bootstrap.sh %s --apiserver-endpoint %s --b64-cluster-ca %s --dns-cluster-ip %s",
		shellQuote(b.ClusterName), shellQuote(b.Endpoint), shellQuote(base64.StdEncoding.EncodeToString(b.CA)), shellQuote(dns))
	if b.Kubelet != nil && (b.Kubelet.MaxPods != nil || b.Kubelet.PodsPerCore != nil) {
		script.WriteString(" --use-max-pods false")
	}
	if args := kubeletArgs(b); len(args) > 0 {
		script.WriteString(" --kubelet-extra-args " + shellQuote(strings.Join(args, " ")))
	}
	script.WriteString("\n")
	var s strings.Builder
	s.WriteString("MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"" + mimeBoundary + "\"\n\n")
	if u := strings.TrimSpace(b.UserData); u != "" {
		s.WriteString("--" + mimeBoundary + "\nContent-Type: text/x-shellscript; charset=\"us-ascii\"\n\n" + u + "\n\n")
	}
	s.WriteString("--" + mimeBoundary + "\nContent-Type: text/x-shellscript; charset=\"us-ascii\"\n\n" + script.String())
	s.WriteString("\n--" + mimeBoundary + "--\n")
	return s.String(), nil
}

// tomlString is s as a TOML basic string (JSON's escapes are TOML's).
func tomlString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Bottlerocket settings tables Tailor writes; a class's user data may add
// other settings but not these.
var bottlerocketTables = []string{"settings.kubernetes", "settings.kubernetes.node-labels", "settings.kubernetes.node-taints",
	"settings.kubernetes.kube-reserved", "settings.kubernetes.system-reserved", "settings.kubernetes.eviction-hard"}

// TOMLTables are the table headers ([a.b] and [[a.b]]) of a TOML
// document, keys unquoted and whitespace dropped, in order; a header
// that does not close is an error. The parsing side of Bottlerocket user
// data: enough to find the tables a class's settings would redefine.
func TOMLTables(doc string) ([]string, error) {
	var out []string
	inMulti := ""
	for i, line := range strings.Split(doc, "\n") {
		l := strings.TrimSpace(line)
		if inMulti != "" {
			if strings.Count(l, inMulti)%2 == 1 {
				inMulti = ""
			}
			continue
		}
		for _, q := range []string{`"""`, "'''"} {
			if strings.Count(l, q)%2 == 1 {
				inMulti = q
			}
		}
		if inMulti != "" || !strings.HasPrefix(l, "[") {
			continue
		}
		double := strings.HasPrefix(l, "[[")
		body := strings.TrimPrefix(l, "[")
		if double {
			body = strings.TrimPrefix(body, "[")
		}
		end := strings.Index(body, "]")
		if end < 0 || strings.Contains(body[:end], "[") || (double && !strings.HasPrefix(body[end:], "]]")) {
			return nil, fmt.Errorf("line %d: table header %q does not close", i+1, l)
		}
		parts := strings.Split(body[:end], ".")
		for j, p := range parts {
			parts[j] = strings.Trim(strings.TrimSpace(p), `"'`)
		}
		out = append(out, strings.Join(parts, "."))
	}
	return out, nil
}

// bottlerocketUserData: Bottlerocket's TOML settings (the cluster, DNS,
// max pods, the kubelet's labels, taints, reservations and eviction
// thresholds), followed by the class's own TOML, which may set other
// settings but not the tables Tailor writes.
func bottlerocketUserData(b Bootstrap) (string, error) {
	if u := strings.TrimSpace(b.UserData); u != "" {
		tables, err := TOMLTables(u)
		if err != nil {
			return "", fmt.Errorf("userData (Bottlerocket TOML): %w", err)
		}
		for _, t := range tables {
			for _, mine := range bottlerocketTables {
				if t == mine {
					return "", fmt.Errorf("userData (Bottlerocket TOML) sets [%s], which Tailor writes: use the node class's kubelet, labels and taints instead", t)
				}
			}
		}
	}
	dns, err := ClusterDNS(b.ServiceCIDR, b.Kubelet)
	if err != nil {
		return "", err
	}
	var s strings.Builder
	s.WriteString("[settings.kubernetes]\n")
	fmt.Fprintf(&s, "cluster-name = %s\napi-server = %s\ncluster-certificate = %s\ncluster-dns-ip = %s\n",
		tomlString(b.ClusterName), tomlString(b.Endpoint), tomlString(base64.StdEncoding.EncodeToString(b.CA)), tomlString(dns))
	k := b.Kubelet
	if k != nil && k.MaxPods != nil {
		fmt.Fprintf(&s, "max-pods = %d\n", *k.MaxPods)
	}
	if k != nil && k.PodsPerCore != nil {
		fmt.Fprintf(&s, "pods-per-core = %d\n", *k.PodsPerCore)
	}
	table := func(name string, m map[string]string) {
		if len(m) == 0 {
			return
		}
		s.WriteString("\n[settings.kubernetes." + name + "]\n")
		for _, key := range slices.Sorted(maps.Keys(m)) {
			s.WriteString(tomlString(key) + " = " + tomlString(m[key]) + "\n")
		}
	}
	table("node-labels", b.Labels)
	if len(b.Taints) > 0 {
		byKey := map[string][]string{}
		var keys []string
		for _, t := range b.Taints {
			if _, ok := byKey[t.Key]; !ok {
				keys = append(keys, t.Key)
			}
			byKey[t.Key] = append(byKey[t.Key], tomlString(t.Value+":"+string(t.Effect)))
		}
		sort.Strings(keys)
		s.WriteString("\n[settings.kubernetes.node-taints]\n")
		for _, key := range keys {
			s.WriteString(tomlString(key) + " = [" + strings.Join(byKey[key], ", ") + "]\n")
		}
	}
	if k != nil {
		table("kube-reserved", k.KubeReserved)
		table("system-reserved", k.SystemReserved)
		table("eviction-hard", k.EvictionHard)
	}
	if u := strings.TrimSpace(b.UserData); u != "" {
		s.WriteString("\n" + u + "\n")
	}
	return s.String(), nil
}
