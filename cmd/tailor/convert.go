package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	provconvert "github.com/tailor-dev/tailor/provisioner/convert"
	scalerv1 "github.com/tailor-dev/tailor/scaler/api/v1alpha1"
	"github.com/tailor-dev/tailor/scaler/convert"
)

func newConvertCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "convert",
		Short: "Turn other autoscalers into Tailor's",
		Args:  requireSubcommand,
		RunE:  requireSubcommand,
	}
	var file, kubeconfig string
	hpa := &cobra.Command{
		Use:   "hpa (-f FILE | NAMESPACE/NAME)",
		Short: "Print the ReplicaAutoscaler equivalent to a HorizontalPodAutoscaler",
		Long: `hpa reads HorizontalPodAutoscalers (autoscaling/v1, v2 or v2beta2) from a
YAML or JSON file (-f, "-" for stdin; several documents or a List are fine) or
from the cluster by NAMESPACE/NAME, and prints the equivalent ReplicaAutoscalers
as YAML: same target, bounds, metrics and behavior. Delete the HPA before
applying the result: Tailor refuses a ReplicaAutoscaler whose target has one.`,
		Example: `  tailor convert hpa default/php-apache > php-apache-ra.yaml
  kubectl get hpa -A -o yaml | tailor convert hpa -f -`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			hpas, err := readHPAs(cmd, file, kubeconfig, args)
			if err != nil {
				return err
			}
			ras := make([]*scalerv1.ReplicaAutoscaler, 0, len(hpas))
			for _, h := range hpas {
				ra, err := convert.FromHPA(h)
				if err != nil {
					return err
				}
				ras = append(ras, ra)
			}
			out, err := convert.YAML(ras)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	hpa.Flags().StringVarP(&file, "filename", "f", "", "File with the HPA(s), YAML or JSON; - reads stdin.")
	hpa.Flags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig for NAMESPACE/NAME; empty: in-cluster, $KUBECONFIG, ~/.kube/config.")
	cmd.AddCommand(hpa, newConvertKarpenterCommand(), newConvertClusterAutoscalerCommand())
	return cmd
}

func newConvertKarpenterCommand() *cobra.Command {
	var file string
	c := &cobra.Command{
		Use:   "karpenter -f FILE",
		Short: "Print the NodePools and AWSNodeClasses equivalent to Karpenter v1's",
		Long: `karpenter reads Karpenter v1 NodePools (karpenter.sh/v1) and EC2NodeClasses
(karpenter.k8s.aws/v1) from a YAML or JSON file (-f, "-" for stdin; several
documents or a List are fine) and prints Tailor's NodePools and AWSNodeClasses
as YAML: the same fields, Karpenter's label keys mapped to Tailor's
(karpenter.sh/capacity-type -> tailor.dev/capacity-type,
karpenter.k8s.aws/instance-family -> tailor.dev/instance-family, ...), the
node class reference pointed at the AWSNodeClass. What has no Tailor
equivalent is listed on stderr, one line per field, and left out.
Pools of the two must not both launch for the same pods: scale Karpenter down
before applying the result.`,
		Example: `  kubectl get nodepools.karpenter.sh,ec2nodeclasses -o yaml | tailor convert karpenter -f - > tailor-pools.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, err := readInput(cmd, file)
			if err != nil {
				return err
			}
			r, err := provconvert.Karpenter(data)
			if err != nil {
				return err
			}
			for _, n := range r.Notes {
				fmt.Fprintln(cmd.ErrOrStderr(), "not converted:", n)
			}
			objs := make([]any, 0, len(r.NodeClasses)+len(r.NodePools))
			for _, nc := range r.NodeClasses {
				objs = append(objs, nc)
			}
			for _, np := range r.NodePools {
				objs = append(objs, np)
			}
			out, err := convert.YAML(objs)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	c.Flags().StringVarP(&file, "filename", "f", "", "File with the objects, YAML or JSON; - reads stdin.")
	_ = c.MarkFlagRequired("filename")
	return c
}

func newConvertClusterAutoscalerCommand() *cobra.Command {
	var file, name string
	c := &cobra.Command{
		Use:   "cluster-autoscaler -f FILE",
		Short: "Print the NodePool equivalent to a Cluster Autoscaler on AWS",
		Long: `cluster-autoscaler reads a Cluster Autoscaler set-up on AWS — its Deployment
(kubectl get deploy -n kube-system cluster-autoscaler -o yaml) or its flags as
text — and prints a NodePool over the same Auto Scaling groups: --nodes groups
by name, --node-group-auto-discovery=asg:tag=... by tags, scale-down as the
pool's disruption (consolidateAfter = --scale-down-unneeded-time, Never when
--scale-down-enabled=false). The tailor run flags that carry the rest (the
expander) are printed on stderr, with every flag that has no equivalent.
Scale the Cluster Autoscaler to zero before applying the result, and run
Tailor with --cloud=asg.`,
		Example: `  kubectl get deploy -n kube-system cluster-autoscaler -o yaml | tailor convert cluster-autoscaler -f - > node-groups.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, err := readInput(cmd, file)
			if err != nil {
				return err
			}
			r, err := provconvert.ClusterAutoscaler(data, name)
			if err != nil {
				return err
			}
			for _, f := range r.Flags {
				fmt.Fprintln(cmd.ErrOrStderr(), "run tailor with:", f)
			}
			for _, n := range r.Notes {
				fmt.Fprintln(cmd.ErrOrStderr(), "not converted:", n)
			}
			out, err := convert.YAML([]any{r.NodePool})
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	c.Flags().StringVarP(&file, "filename", "f", "", "The Deployment (YAML or JSON) or the flags as text; - reads stdin.")
	c.Flags().StringVar(&name, "name", "node-groups", "Name of the NodePool.")
	_ = c.MarkFlagRequired("filename")
	return c
}

// readInput reads file, or stdin for "-".
func readInput(cmd *cobra.Command, file string) ([]byte, error) {
	if file == "-" {
		return io.ReadAll(cmd.InOrStdin())
	}
	return os.ReadFile(file)
}

func readHPAs(cmd *cobra.Command, file, kubeconfig string, args []string) ([]*autoscalingv2.HorizontalPodAutoscaler, error) {
	switch {
	case file != "" && len(args) > 0:
		return nil, fmt.Errorf("give -f or NAMESPACE/NAME, not both")
	case file != "":
		data, err := readInput(cmd, file)
		if err != nil {
			return nil, err
		}
		hpas, err := convert.Decode(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		return hpas, nil
	case len(args) == 1:
		ns, name, ok := strings.Cut(args[0], "/")
		if !ok || ns == "" || name == "" {
			return nil, fmt.Errorf("want NAMESPACE/NAME, got %q", args[0])
		}
		cfg, err := loadConfig(kubeconfig)
		if err != nil {
			return nil, err
		}
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return nil, err
		}
		h, err := cs.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(cmd.Context(), name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		return []*autoscalingv2.HorizontalPodAutoscaler{h}, nil
	}
	return nil, fmt.Errorf("give -f FILE or NAMESPACE/NAME")
}
