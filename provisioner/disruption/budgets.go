package disruption

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
)

// defaultBudget is the budget of a pool that lists none (the CRD's default).
var defaultBudget = []provisionerv1.Budget{{Nodes: "10%"}}

// ParseSchedule parses a budget's schedule: five cron fields (minute hour
// day-of-month month day-of-week, names allowed) or a macro (@daily,
// @hourly…), in UTC.
func ParseSchedule(s string) (cron.Schedule, error) {
	if strings.HasPrefix(strings.TrimSpace(s), "TZ=") || strings.HasPrefix(strings.TrimSpace(s), "CRON_TZ=") {
		return nil, fmt.Errorf("schedules are in UTC: no time zone prefix")
	}
	return cron.ParseStandard(s)
}

// Active reports whether a budget is in force at now: always without a
// schedule, else from each scheduled start for its duration. A schedule
// that does not parse counts as active (the safe side: it limits).
func Active(b provisionerv1.Budget, now time.Time) bool {
	if b.Schedule == nil || b.Duration == nil {
		return true
	}
	sched, err := ParseSchedule(*b.Schedule)
	if err != nil {
		return true
	}
	// The start s of an active window has now−d < s ≤ now.
	next := sched.Next(now.UTC().Add(-b.Duration.Duration))
	return !next.After(now.UTC())
}

// BudgetNodes is how many nodes a budget's nodes field allows out of
// total: a count, or a percentage rounded up.
func BudgetNodes(nodes string, total int) (int, error) {
	if p, ok := strings.CutSuffix(nodes, "%"); ok {
		pct, err := strconv.Atoi(p)
		if err != nil || pct < 0 || pct > 100 {
			return 0, fmt.Errorf("budget nodes %q: not a percentage", nodes)
		}
		return int(math.Ceil(float64(pct) * float64(total) / 100)), nil
	}
	n, err := strconv.Atoi(nodes)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("budget nodes %q: not a node count", nodes)
	}
	return n, nil
}

// Allowed is how many of a pool's total nodes may be disrupting at once
// for reason at now: the smallest of the active budgets that apply to it
// (those listing the reason, and those listing none; expiration, reason
// "", only the latter), math.MaxInt when none applies. why names the
// budget that decided. A budget that does not parse allows nothing.
func Allowed(np *provisionerv1.NodePool, reason provisionerv1.DisruptionReason, total int, now time.Time) (allowed int, why string) {
	budgets := np.Spec.Disruption.Budgets
	if len(budgets) == 0 {
		budgets = defaultBudget
	}
	allowed = math.MaxInt
	for i, b := range budgets {
		if !applies(b, reason) || !Active(b, now) {
			continue
		}
		n, err := BudgetNodes(b.Nodes, total)
		if err != nil {
			n = 0
		}
		if n < allowed {
			allowed = n
			why = fmt.Sprintf("budget %d (nodes %q", i, b.Nodes)
			if b.Schedule != nil {
				why += fmt.Sprintf(", schedule %q for %s", *b.Schedule, b.Duration.Duration)
			}
			why += ")"
		}
	}
	return allowed, why
}

func applies(b provisionerv1.Budget, reason provisionerv1.DisruptionReason) bool {
	if len(b.Reasons) == 0 {
		return true
	}
	for _, r := range b.Reasons {
		if r == reason {
			return true
		}
	}
	return false
}
