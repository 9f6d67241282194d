package cluster

import (
	"os"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// writeKubeconfig writes an admin kubeconfig for server (client certificate
// from p) to path and returns path.
func writeKubeconfig(path, server string, p *pki) (string, error) {
	read := func(name string) ([]byte, error) { return os.ReadFile(p.file(name)) }
	caPEM, err := read("ca.crt")
	if err != nil {
		return "", err
	}
	certPEM, err := read("admin.crt")
	if err != nil {
		return "", err
	}
	keyPEM, err := read("admin.key")
	if err != nil {
		return "", err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["tailor"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos["tailor-admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
	cfg.Contexts["tailor"] = &clientcmdapi.Context{Cluster: "tailor", AuthInfo: "tailor-admin", Namespace: "default"}
	cfg.CurrentContext = "tailor"
	return path, clientcmd.WriteToFile(*cfg, path)
}
