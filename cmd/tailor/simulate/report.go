package simulate

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
)

// table prints rows of a metric name and one cell per policy, the
// policies side by side.
func sideBySide(w io.Writer, policies []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%s\t%s\t\n", "score", strings.Join(policies, "\t"))
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t\n", r[0], strings.Join(r[1:], "\t"))
	}
	return tw.Flush()
}

func row[T any](name string, items []T, f func(T) string) []string {
	out := []string{name}
	for _, it := range items {
		out = append(out, f(it))
	}
	return out
}

func num(f float64, prec int) string {
	if math.IsNaN(f) {
		return "-"
	}
	return fmt.Sprintf("%.*f", prec, f)
}

func pct(f float64) string {
	if math.IsNaN(f) {
		return "-"
	}
	return fmt.Sprintf("%.3f%%", 100*f)
}

// WriteVertical prints the vertical scores side by side.
func WriteVertical(w io.Writer, scores []*VerticalScore) error {
	names := row("", scores, func(s *VerticalScore) string { return s.Policy })[1:]
	return sideBySide(w, names, [][]string{
		row("container-hours scored", scores, func(s *VerticalScore) string { return fmt.Sprint(s.ContainerHours) }),
		row("samples scored", scores, func(s *VerticalScore) string { return fmt.Sprint(s.Samples) }),
		row("reserved ÷ used, cpu", scores, func(s *VerticalScore) string { return num(s.ReservedPerUsed[0], 3) }),
		row("reserved ÷ used, memory", scores, func(s *VerticalScore) string { return num(s.ReservedPerUsed[1], 3) }),
		row("samples above target, cpu", scores, func(s *VerticalScore) string { return pct(s.Above[0]) }),
		row("samples above target, memory", scores, func(s *VerticalScore) string { return pct(s.Above[1]) }),
		row("deficit, cpu", scores, func(s *VerticalScore) string { return pct(s.Deficit[0]) }),
		row("deficit, memory", scores, func(s *VerticalScore) string { return pct(s.Deficit[1]) }),
	})
}

// WriteHorizontal prints the horizontal scores side by side.
func WriteHorizontal(w io.Writer, scores []*HorizontalScore) error {
	names := row("", scores, func(s *HorizontalScore) string { return s.Policy })[1:]
	return sideBySide(w, names, [][]string{
		row("C (requests/s per pod at 100%)", scores, func(s *HorizontalScore) string { return num(s.C, 3) }),
		row("pod-hours", scores, func(s *HorizontalScore) string { return num(s.PodHours, 1) }),
		row("oracle pod-hours", scores, func(s *HorizontalScore) string { return num(s.OraclePodHours, 1) }),
		row("pod-hours ÷ oracle", scores, func(s *HorizontalScore) string { return num(s.PodHoursRatio(), 4) }),
		row("1-min windows over 55%", scores, func(s *HorizontalScore) string { return pct(s.OverWindows) }),
		row("saturated seconds", scores, func(s *HorizontalScore) string { return fmt.Sprint(s.SaturatedSeconds) }),
		row("unserved requests", scores, func(s *HorizontalScore) string { return num(s.Unserved, 0) }),
		row("unserved share", scores, func(s *HorizontalScore) string { return pct(ratio(s.Unserved, s.Requests)) }),
		row("rescales", scores, func(s *HorizontalScore) string { return fmt.Sprint(s.Rescales) }),
	})
}

// WriteCapacity prints the capacity scores side by side.
func WriteCapacity(w io.Writer, scores []*CapacityScore) error {
	names := row("", scores, func(s *CapacityScore) string { return s.Policy })[1:]
	return sideBySide(w, names, [][]string{
		row("pods replayed", scores, func(s *CapacityScore) string { return fmt.Sprint(s.Pods) }),
		row("GPU pods left out", scores, func(s *CapacityScore) string { return fmt.Sprint(s.SkippedGPU) }),
		row("node $·h", scores, func(s *CapacityScore) string { return num(s.NodeCost, 2) }),
		row("LP lower bound $·h", scores, func(s *CapacityScore) string { return num(s.Bound, 2) }),
		row("node $·h ÷ bound", scores, func(s *CapacityScore) string { return num(s.CostRatio(), 4) }),
		row("fit lower bound $·h", scores, func(s *CapacityScore) string { return num(s.FitBound, 2) }),
		row("node $·h ÷ fit bound", scores, func(s *CapacityScore) string { return num(s.FitRatio(), 4) }),
		row("repack hourly ÷ fit bound, same instants", scores, func(s *CapacityScore) string { return num(ratio(s.Repack, s.RepackFit), 4) }),
		row("node $·h ÷ first column", scores, func(s *CapacityScore) string { return num(ratio(s.NodeCost, scores[0].NodeCost), 4) }),
		row("pending pod-seconds", scores, func(s *CapacityScore) string { return num(s.PendingPodSeconds, 0) }),
		row("pods disrupted", scores, func(s *CapacityScore) string { return fmt.Sprint(s.Disrupted) }),
		row("pods deleted before placement", scores, func(s *CapacityScore) string { return fmt.Sprint(s.Unplaced) }),
		row("nodes launched", scores, func(s *CapacityScore) string { return fmt.Sprint(s.Nodes) }),
		row("peak nodes", scores, func(s *CapacityScore) string { return fmt.Sprint(s.PeakNodes) }),
		row("solves", scores, func(s *CapacityScore) string { return fmt.Sprint(s.Solves) }),
		row("pods bound at once (no batch)", scores, func(s *CapacityScore) string { return fmt.Sprint(s.BoundAtOnce) }),
		row("pods placed on a candidate before its taint", scores, func(s *CapacityScore) string { return fmt.Sprint(s.OnCandidate) }),
		row("disruption commands", scores, func(s *CapacityScore) string { return commands(s.Commands) }),
		row("disruption solves", scores, func(s *CapacityScore) string { return fmt.Sprint(s.DisruptionSolves) }),
	})
}

// commands is "method n, …" in method order ("0" for none).
func commands(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, ", ")
}
