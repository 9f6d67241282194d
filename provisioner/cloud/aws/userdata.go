package aws

import (
	"encoding/base64"
	"fmt"
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

// UserData is the EC2 user data of a node: for AL2023, a MIME multi-part
// document whose NodeConfig part tells nodeadm the cluster (endpoint, CA,
// service CIDR) and the kubelet's labels, taints and settings, followed
// by the node class's own user data as a further part; for Custom, the
// class's user data as is. A pure function.
func UserData(b Bootstrap) (string, error) {
	switch b.Family {
	case "Custom":
		return b.UserData, nil
	case "AL2023", "":
	default:
		return "", fmt.Errorf("amiFamily %s: Tailor writes user data for AL2023 (nodeadm) and Custom only", b.Family)
	}
	if b.ClusterName == "" || b.Endpoint == "" || len(b.CA) == 0 || b.ServiceCIDR == "" {
		return "", fmt.Errorf("node bootstrap needs the cluster name, endpoint, CA and service CIDR")
	}
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
		keys := make([]string, 0, len(b.Labels))
		for k := range b.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
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
