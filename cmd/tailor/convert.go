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
	cmd.AddCommand(hpa)
	return cmd
}

func readHPAs(cmd *cobra.Command, file, kubeconfig string, args []string) ([]*autoscalingv2.HorizontalPodAutoscaler, error) {
	switch {
	case file != "" && len(args) > 0:
		return nil, fmt.Errorf("give -f or NAMESPACE/NAME, not both")
	case file != "":
		var data []byte
		var err error
		if file == "-" {
			data, err = io.ReadAll(cmd.InOrStdin())
		} else {
			data, err = os.ReadFile(file)
		}
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
