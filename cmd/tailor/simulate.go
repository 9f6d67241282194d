package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tailor-dev/tailor/cmd/tailor/simulate"
	"github.com/tailor-dev/tailor/cmd/tailor/simulate/plots"
	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
)

type simulateFlags struct {
	trace, kind, out string
	policies         []string
	skipGPU          bool
	consolidateAfter time.Duration
	consolidation    string
	split            float64
	window           string
	scheduler        string
}

func newSimulateCommand() *cobra.Command {
	var f simulateFlags
	cmd := &cobra.Command{
		Use:   "simulate --trace FILE --kind usage|load|arrivals",
		Short: "Replay a trace through Tailor's decisions and score each policy",
		Long: `simulate replays a trace on a simulated clock through the same pure
functions the controllers run, with no cluster: usage traces through the
recommender (vertical policies), load traces through the scaler (horizontal
policies), pod arrivals through the provisioner's solver (capacity policies).
It prints one table with the policies side by side and, with --out, writes
plots as PNG and SVG. A replay is deterministic: the same trace gives the
same numbers. Formats and scores: README, "tailor simulate".`,
		Example: `  tailor simulate --kind usage --trace usage.csv.gz --out plots/
  tailor simulate --kind load --trace rps.txt.gz --policy hpa
  tailor simulate --kind arrivals --trace pods.csv --skip-gpu-pods`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSimulate(cmd.OutOrStdout(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.trace, "trace", "", "Trace file (gzip is detected); - reads stdin.")
	fl.StringVar(&f.kind, "kind", "", "Trace kind: usage, load or arrivals.")
	fl.StringSliceVar(&f.policies, "policy", nil, "Policies to compare, comma-separated; default: every policy of the kind (usage: "+
		strings.Join(simulate.DefaultVerticalPolicies, ",")+"; load: "+strings.Join(simulate.DefaultHorizontalPolicies, ",")+
		"; arrivals: "+strings.Join(simulate.DefaultCapacityPolicies, ",")+").")
	fl.StringVar(&f.out, "out", "", "Directory for the plots (PNG and SVG); empty: no plots.")
	fl.Float64Var(&f.split, "split", 0, "Score the first part of the trace (this fraction of its span) and the held-out rest separately (arrivals: each part replayed alone, the pods created in it); 0: one score over the whole trace.")
	fl.StringVar(&f.window, "window", "", "arrivals: replay only the pods created in FROM,TO (durations from the trace start, e.g. 0h,1000h), deleted at TO at the latest.")
	fl.BoolVar(&f.skipGPU, "skip-gpu-pods", false, "arrivals: leave out pods that request GPUs (by default they get whole GPUs on GPU instance types).")
	fl.DurationVar(&f.consolidateAfter, "consolidate-after", 0, "arrivals: the NodePool's consolidateAfter: how long a node must see no pod arrive or leave before disruption considers it (default 0s).")
	fl.StringVar(&f.consolidation, "consolidation-policy", string(provisionerv1.ConsolidationPolicyWhenEmptyOrUnderutilized), "arrivals: the NodePool's consolidationPolicy, WhenEmpty, WhenEmptyOrUnderutilized or Balanced (consolidationThreshold 2).")
	fl.StringVar(&f.scheduler, "scheduler", string(simulate.LeastAllocated), "arrivals: how kube-scheduler picks among the ready nodes a new pod fits: LeastAllocated (its default profile, EKS's: spreads), MostAllocated (a bin-packing profile) or OldestFirst (the oldest node with room).")
	_ = cmd.MarkFlagRequired("trace")
	_ = cmd.MarkFlagRequired("kind")
	return cmd
}

func runSimulate(w io.Writer, f simulateFlags) error {
	var in io.Reader = os.Stdin
	if f.trace != "-" {
		fh, err := os.Open(f.trace)
		if err != nil {
			return err
		}
		defer fh.Close()
		in = fh
	}
	if f.out != "" {
		if err := os.MkdirAll(f.out, 0o755); err != nil {
			return err
		}
	}
	var files []string
	if f.split < 0 || f.split >= 1 {
		return fmt.Errorf("--split %v: want a fraction in (0, 1)", f.split)
	}
	if f.window != "" && simulate.Kind(f.kind) != simulate.KindArrivals {
		return fmt.Errorf("--window is for arrivals traces")
	}
	switch simulate.Kind(f.kind) {
	case simulate.KindUsage:
		u, err := simulate.ReadUsage(in, f.trace)
		if err != nil {
			return err
		}
		names := f.policies
		if names == nil {
			names = simulate.DefaultVerticalPolicies
			if !u.HasProvisioning() {
				names = without(names, "static")
			}
		}
		if !u.HasProvisioning() && len(without(names, "static")) < len(names) {
			return fmt.Errorf("%s: policy static needs the columns cpu_cores and mem_provisioned_bytes on every row", f.trace)
		}
		pols, err := simulate.PickVertical(names)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "usage trace %s: %d containers, %d samples\n", f.trace, len(u.Series), u.Samples())
		var scores []*simulate.VerticalScore
		if f.split > 0 {
			first, last := u.Span()
			at := simulate.SplitTime(first, last, f.split, simulate.Hour)
			train, held := simulate.ReplayVerticalSplit(u, pols, at)
			fmt.Fprintf(w, "\nfirst part (before %s):\n", time.Unix(at, 0).UTC().Format(time.RFC3339))
			if err := simulate.WriteVertical(w, train); err != nil {
				return err
			}
			fmt.Fprintf(w, "\nheld-out part (from %s):\n", time.Unix(at, 0).UTC().Format(time.RFC3339))
			if err := simulate.WriteVertical(w, held); err != nil {
				return err
			}
			scores = train
		} else {
			scores = simulate.ReplayVertical(u, pols)
			if err := simulate.WriteVertical(w, scores); err != nil {
				return err
			}
		}
		if f.out != "" {
			if files, err = plots.Vertical(f.out, scores); err != nil {
				return err
			}
		}
	case simulate.KindLoad:
		l, err := simulate.ReadLoad(in, f.trace)
		if err != nil {
			return err
		}
		pols, err := simulate.PickHorizontal(orDefault(f.policies, simulate.DefaultHorizontalPolicies))
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "load trace %s: %d seconds\n", f.trace, len(l.RPS))
		var scores []*simulate.HorizontalScore
		if f.split > 0 {
			at := int64(f.split * float64(len(l.RPS)))
			train, held, err := simulate.ReplayHorizontalSplit(l, simulate.DefaultService(), pols, at)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "\nfirst part (seconds 0–%d):\n", at)
			if err := simulate.WriteHorizontal(w, train); err != nil {
				return err
			}
			fmt.Fprintf(w, "\nheld-out part (seconds %d–%d):\n", at, len(l.RPS))
			if err := simulate.WriteHorizontal(w, held); err != nil {
				return err
			}
			scores = train
		} else {
			if scores, err = simulate.ReplayHorizontal(l, simulate.DefaultService(), pols); err != nil {
				return err
			}
			if err := simulate.WriteHorizontal(w, scores); err != nil {
				return err
			}
		}
		if f.out != "" {
			if files, err = plots.Horizontal(f.out, scores); err != nil {
				return err
			}
		}
	case simulate.KindArrivals:
		a, err := simulate.ReadArrivals(in, f.trace)
		if err != nil {
			return err
		}
		pols, err := simulate.PickCapacity(orDefault(f.policies, simulate.DefaultCapacityPolicies))
		if err != nil {
			return err
		}
		if f.consolidateAfter < 0 {
			return fmt.Errorf("--consolidate-after must not be negative")
		}
		cl := simulate.DefaultCluster()
		cl.SkipGPU = f.skipGPU
		cl.ConsolidateAfter = int64(f.consolidateAfter / time.Second)
		switch cp := provisionerv1.ConsolidationPolicy(f.consolidation); cp {
		case provisionerv1.ConsolidationPolicyWhenEmpty, provisionerv1.ConsolidationPolicyWhenEmptyOrUnderutilized, provisionerv1.ConsolidationPolicyBalanced:
			cl.ConsolidationPolicy = cp
		default:
			return fmt.Errorf("--consolidation-policy %q: want WhenEmpty, WhenEmptyOrUnderutilized or Balanced", f.consolidation)
		}
		if cl.Scheduler, err = simulate.ParseScoring(f.scheduler); err != nil {
			return fmt.Errorf("--scheduler: %w", err)
		}
		fmt.Fprintf(w, "arrivals trace %s: %d pods\n", f.trace, len(a.Pods))
		if f.window != "" {
			from, to, ok := strings.Cut(f.window, ",")
			fd, err1 := time.ParseDuration(from)
			td, err2 := time.ParseDuration(to)
			if !ok || err1 != nil || err2 != nil || fd < 0 || td <= fd {
				return fmt.Errorf("--window %q: want FROM,TO, durations from the trace start with FROM < TO (e.g. 0h,1000h)", f.window)
			}
			a = a.Window(int64(fd/time.Second), int64(td/time.Second))
			fmt.Fprintf(w, "window %s–%s: %d pods\n", fd, td, len(a.Pods))
		}
		var scores []*simulate.CapacityScore
		if f.split > 0 {
			first, last := a.Span()
			at := simulate.SplitTime(first, last, f.split, simulate.Hour)
			for k, part := range []*simulate.Arrivals{a.Window(first, at), a.Window(at, last+1)} {
				fmt.Fprintf(w, "\n%s (pods created %s):\n", []string{"first part", "held-out part"}[k],
					[]string{fmt.Sprintf("before %s", time.Duration(at)*time.Second), fmt.Sprintf("from %s", time.Duration(at)*time.Second)}[k])
				s, err := simulate.ReplayCapacity(part, cl, pols)
				if err != nil {
					return err
				}
				if err := simulate.WriteCapacity(w, s); err != nil {
					return err
				}
				if k == 0 {
					scores = s
				}
			}
		} else {
			if scores, err = simulate.ReplayCapacity(a, cl, pols); err != nil {
				return err
			}
			if err := simulate.WriteCapacity(w, scores); err != nil {
				return err
			}
		}
		if f.out != "" {
			if files, err = plots.Capacity(f.out, scores); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("--kind %q: want usage, load or arrivals", f.kind)
	}
	for _, p := range files {
		fmt.Fprintln(w, "wrote", p)
	}
	return nil
}

func orDefault(names, def []string) []string {
	if names == nil {
		return def
	}
	return names
}

func without(names []string, drop string) []string {
	var out []string
	for _, n := range names {
		if n != drop {
			out = append(out, n)
		}
	}
	return out
}
