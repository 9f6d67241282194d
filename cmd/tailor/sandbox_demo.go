//go:build !nosandbox

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tailor-dev/tailor/cmd/tailor/sandbox/demo"
	"github.com/tailor-dev/tailor/cmd/tailor/sandbox/demo/demoplot"
)

type sandboxDemoOptions struct {
	scenarios []string
	out       string
	keep      bool
}

// newSandboxDemoCommand is "tailor sandbox demo": the seed's scenarios on
// the running sandbox.
func newSandboxDemoCommand(so *sandboxOptions) *cobra.Command {
	o := &sandboxDemoOptions{}
	cmd := &cobra.Command{
		Use:   "demo [--scenario hpa,vpa,ca,karpenter|all] [--out DIR]",
		Short: "Play the seed's scenarios (HPA, VPA, Cluster Autoscaler, Karpenter) on the running sandbox, with kubectl get tables, a summary and a plot",
		Long: `demo plays the seed's scenarios on the running sandbox (tailor sandbox up),
each in a namespace of its own and all at once: hpa (php-apache under load,
kubectl get ra: 1 → 7 → 1), vpa (hamster: kubectl get vpa 587m / 262144k,
pods resized in place), ca (a node group growing from zero for pending pods
and shrinking after), karpenter (inflate 0 → 10 → 0 on a NodePool). It prints
live progress and the kubectl get tables, then a summary table, writes a plot
of the run (replicas, CPU, nodes, $/h; PNG and SVG) to --out, and exits
non-zero when a scenario misses the seed's expectations.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return sandboxDemo(ctx, so, o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.scenarios, "scenario", []string{"all"}, "Scenarios to play: hpa, vpa, ca, karpenter (a list), or all.")
	f.StringVar(&o.out, "out", "tailor-demo", "Folder for the plot (demo.png, demo.svg); empty: no plot.")
	f.BoolVar(&o.keep, "keep", false, "Leave the scenarios' namespaces and NodePools behind.")
	return cmd
}

func sandboxDemo(ctx context.Context, so *sandboxOptions, o *sandboxDemoOptions, out, progress io.Writer) error {
	names, err := demo.Parse(o.scenarios)
	if err != nil {
		return err
	}
	c, err := attachSandbox(so.dir, progress)
	if err != nil {
		return err
	}
	if c == nil {
		return fmt.Errorf("no sandbox running: start one with tailor sandbox up")
	}
	if left := len(c.Processes) - len(c.Running()); left > 0 {
		return fmt.Errorf("the sandbox is degraded (%d processes stopped): tailor sandbox down, then up", left)
	}
	cfg, err := loadConfig(c.Kubeconfig)
	if err != nil {
		return err
	}
	r, err := demo.New(cfg, out, demo.Options{Keep: o.keep})
	if err != nil {
		return err
	}
	start := time.Now()
	fmt.Fprintf(out, "playing %v on the sandbox in %s, all at once\n", names, so.dir)
	results := r.RunAll(ctx, names)
	fmt.Fprintf(out, "\nsummary (%s in all):\n%s", time.Since(start).Round(time.Second), demo.Summary(results))
	if o.out != "" {
		if err := os.MkdirAll(o.out, 0o755); err != nil {
			return err
		}
		files, err := demoplot.Write(o.out, r.Recorder())
		if err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		fmt.Fprintf(out, "plot: %v\n", files)
	}
	failed := 0
	for _, res := range results {
		if !res.Passed() {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d scenarios missed their expectations", failed, len(results))
	}
	return nil
}
