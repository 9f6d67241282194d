//go:build !nosandbox

package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/tailor-dev/tailor/cmd/tailor/sandbox/load"
)

// The sandbox's stand-in for a load generator, run by "tailor run
// --components ...,load" beside the sandbox (tailor sandbox up does).
func init() {
	components["load"] = component{
		help:  "sandbox only, off by default: spreads the demand annotated on a workload (" + load.AnnotationCPU + ", " + load.AnnotationMemory + ") over its ready pods as kwok usage (leader only)",
		optIn: true,
		setup: func(ctx context.Context, mgr manager.Manager, o *runOptions, _ *shared) error {
			return load.Setup(mgr, loadInterval)
		},
	}
}

// loadInterval: kwok reports a changed usage annotation at the next
// metrics-server scrape (10s), so a few seconds keeps up with pods coming
// and going.
const loadInterval = 2 * time.Second

type sandboxLoadOptions struct {
	kubeconfig  string
	kind        string
	cpu, memory string
	remove      bool
}

// newSandboxLoadCommand is "tailor sandbox load": the seed's load-generator
// as an annotation that the sandbox's load component applies.
func newSandboxLoadCommand(so *sandboxOptions) *cobra.Command {
	o := &sandboxLoadOptions{}
	cmd := &cobra.Command{
		Use:   "load NAMESPACE/NAME (--cpu Q [--memory Q] | --remove)",
		Short: "Put a total CPU/memory demand on a workload, spread over its ready pods as kwok usage (or --remove it)",
		Long: `load annotates the workload with a total demand (` + load.AnnotationCPU + `,
` + load.AnnotationMemory + `). The sandbox's load component splits it evenly over
the workload's ready pods, each capped at its limit, and keeps kwok's usage
annotations on the pods up to date as pods come and go; metrics-server shows it
a scrape later. --remove takes the demand off and the pods go back to kwok's
default usage.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return sandboxLoad(cmd, so, o, args[0], cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.cpu, "cpu", "", "Total CPU demand, e.g. 600m.")
	f.StringVar(&o.memory, "memory", "", "Total memory demand, e.g. 1Gi.")
	f.BoolVar(&o.remove, "remove", false, "Take the demand off the workload.")
	f.StringVar(&o.kind, "kind", "Deployment", "Kind of the workload: Deployment, StatefulSet or ReplicaSet.")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "Cluster to use; empty: the sandbox's (in --dir).")
	return cmd
}

func sandboxLoad(cmd *cobra.Command, so *sandboxOptions, o *sandboxLoadOptions, target string, out io.Writer) error {
	ns, name, ok := strings.Cut(target, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return fmt.Errorf("want NAMESPACE/NAME, got %q", target)
	}
	gvk, ok := load.Kinds[o.kind]
	if !ok {
		return fmt.Errorf("--kind %q: want Deployment, StatefulSet or ReplicaSet", o.kind)
	}
	var cpu, mem *resource.Quantity
	for _, q := range []struct {
		flag, v string
		dst     **resource.Quantity
	}{{"--cpu", o.cpu, &cpu}, {"--memory", o.memory, &mem}} {
		if q.v == "" {
			continue
		}
		v, err := resource.ParseQuantity(q.v)
		if err != nil {
			return fmt.Errorf("%s %q: %w", q.flag, q.v, err)
		}
		*q.dst = &v
	}
	switch {
	case o.remove && (cpu != nil || mem != nil):
		return fmt.Errorf("--remove takes no --cpu or --memory")
	case !o.remove && cpu == nil && mem == nil:
		return fmt.Errorf("give --cpu and/or --memory, or --remove")
	}
	kubeconfig := o.kubeconfig
	if kubeconfig == "" {
		c, err := attachSandbox(so.dir, cmd.ErrOrStderr())
		if err != nil {
			return err
		}
		if c == nil {
			return fmt.Errorf("no sandbox running (tailor sandbox up), and no --kubeconfig")
		}
		kubeconfig = c.Kubeconfig
	}
	cfg, err := loadConfig(kubeconfig)
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: clientgoscheme.Scheme})
	if err != nil {
		return err
	}
	key := types.NamespacedName{Namespace: ns, Name: name}
	if o.remove {
		if err := load.RemoveDemand(cmd.Context(), c, gvk, key); err != nil {
			return err
		}
		fmt.Fprintf(out, "%s %s: demand removed\n", o.kind, key)
		return nil
	}
	if err := load.SetDemand(cmd.Context(), c, gvk, key, cpu, mem); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s %s: demand cpu=%s memory=%s, spread over its ready pods by the sandbox's load component\n", o.kind, key, orNone(o.cpu), orNone(o.memory))
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(unchanged)"
	}
	return s
}
