package logic

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"

	"github.com/tailor-dev/tailor/recommender/model"
)

// Condition reasons Tailor writes on a VPA.
const (
	ReasonNoPodsMatched       = "NoPodsMatched"
	ReasonNoSamples           = "NoUsageSamples"
	ReasonComputed            = "RecommendationComputed"
	ReasonKept                = "LastRecommendationKept"
	ReasonShortHistory        = "ShortHistory"
	ReasonCannotReadTargetRef = "CannotReadTargetRef"
	ReasonMetricsUnavailable  = "MetricsUnavailable"
)

// LowConfidence reports whether the aggregate's history spans less than the
// shorter confidence interval: the span at which upstream's bounds reach
// confidence 1 (24h by default). Until then the bounds are wide.
func (r *Recommender) LowConfidence(a *model.Aggregate) bool {
	return a.Lifespan() < min(r.cfg.ConfidenceIntervalCPU, r.cfg.ConfidenceIntervalMemory)
}

// StatusInput is what a VPA's new status is decided from.
type StatusInput struct {
	// Previous is the VPA's current status.
	Previous vpav1.VerticalPodAutoscalerStatus
	// Generation is the VPA's metadata.generation.
	Generation int64
	// Recommendation is the newly computed one; nil or empty when there is
	// none (no samples yet, e.g. after a restart or while metrics.k8s.io
	// fails).
	Recommendation *vpav1.RecommendedPodResources
	// TargetError, when set, says why the target's pods could not be found
	// (target missing, kind unsupported).
	TargetError string
	// PodsMatched reports whether live pods match the target's selector.
	PodsMatched bool
	// History, when set, is the FetchingHistory condition to write (the
	// history bootstrap ran this pass); nil keeps the previous one.
	History *HistoryCondition
	// SourceError, when set, says why no usage could be read this pass
	// (metrics.k8s.io or Prometheus failing).
	SourceError string
	// LowConfidence names the recommended containers whose history is short.
	LowConfidence []string
	// HistoryNeeded is the span that ends low confidence (for the message).
	HistoryNeeded time.Duration
	Now           time.Time
}

// HistoryCondition is the outcome of reading a VPA's past usage:
// Fetching while it is being retried, with the reason and message.
type HistoryCondition struct {
	Fetching        bool
	Reason, Message string
}

// ReasonHistoryLoaded: the history bootstrap succeeded.
const ReasonHistoryLoaded = "HistoryLoaded"

// HasRecommendation reports whether r recommends anything.
func HasRecommendation(r *vpav1.RecommendedPodResources) bool {
	return r != nil && len(r.ContainerRecommendations) > 0
}

// Status returns the VPA status to write. A new recommendation replaces the
// previous one; without one the previous recommendation is kept, so a
// failing source or a restart never clears what pods are admitted with.
// Conditions follow upstream's: RecommendationProvided, NoPodsMatched, and
// ConfigUnsupported when the target cannot be read; plus LowConfidence
// while any container's history is short. A condition's
// lastTransitionTime moves only when its status changes.
func Status(in StatusInput) vpav1.VerticalPodAutoscalerStatus {
	out := vpav1.VerticalPodAutoscalerStatus{Recommendation: in.Previous.Recommendation, ObservedGeneration: &in.Generation}
	kept := true
	if HasRecommendation(in.Recommendation) {
		out.Recommendation, kept = in.Recommendation, false
	}
	conds := map[vpav1.VerticalPodAutoscalerConditionType]vpav1.VerticalPodAutoscalerCondition{}
	for _, c := range in.Previous.Conditions {
		conds[c.Type] = c
	}
	set := func(t vpav1.VerticalPodAutoscalerConditionType, on bool, reason, msg string) {
		status := corev1.ConditionFalse
		if on {
			status = corev1.ConditionTrue
		}
		c := vpav1.VerticalPodAutoscalerCondition{Type: t, Status: status, Reason: reason, Message: msg, LastTransitionTime: metav1.NewTime(in.Now.Truncate(time.Second))}
		if old, ok := conds[t]; ok && old.Status == status {
			c.LastTransitionTime = old.LastTransitionTime
		}
		conds[t] = c
	}

	why, msg := "", ""
	switch {
	case in.TargetError != "":
		why, msg = ReasonCannotReadTargetRef, in.TargetError
		set(vpav1.ConfigUnsupported, true, why, msg)
		delete(conds, vpav1.NoPodsMatched)
	case !in.PodsMatched:
		delete(conds, vpav1.ConfigUnsupported)
		why, msg = ReasonNoPodsMatched, "No pods match this VPA object"
		set(vpav1.NoPodsMatched, true, why, msg)
	default:
		delete(conds, vpav1.ConfigUnsupported)
		delete(conds, vpav1.NoPodsMatched)
		why, msg = ReasonNoSamples, "no usage samples yet for the target's containers"
	}
	switch {
	case in.SourceError != "" && in.TargetError == "" && in.PodsMatched:
		// The source failed: say so whatever else is known.
		switch {
		case !HasRecommendation(out.Recommendation):
			set(vpav1.RecommendationProvided, false, ReasonMetricsUnavailable, in.SourceError)
		case kept:
			set(vpav1.RecommendationProvided, true, ReasonMetricsUnavailable, "the last recommendation is kept: "+in.SourceError)
		default:
			set(vpav1.RecommendationProvided, true, ReasonMetricsUnavailable, "computed from the history already held: "+in.SourceError)
		}
	case !HasRecommendation(out.Recommendation):
		set(vpav1.RecommendationProvided, false, why, msg)
	case kept:
		m := "no new recommendation this pass; the last one is kept"
		if msg != "" && why != ReasonNoSamples {
			m += ": " + msg
		}
		set(vpav1.RecommendationProvided, true, ReasonKept, m)
	default:
		set(vpav1.RecommendationProvided, true, ReasonComputed, "")
	}
	if len(in.LowConfidence) > 0 && !kept {
		names := slices.Clone(in.LowConfidence)
		slices.Sort(names)
		set(vpav1.LowConfidence, true, ReasonShortHistory,
			fmt.Sprintf("history of %s is shorter than %s: bounds are wide", strings.Join(names, ", "), in.HistoryNeeded))
	} else if !kept {
		delete(conds, vpav1.LowConfidence)
	}

	if h := in.History; h != nil {
		set(vpav1.FetchingHistory, h.Fetching, h.Reason, h.Message)
	}
	for _, c := range conds {
		out.Conditions = append(out.Conditions, c)
	}
	slices.SortFunc(out.Conditions, func(a, b vpav1.VerticalPodAutoscalerCondition) int {
		return strings.Compare(string(a.Type), string(b.Type))
	})
	return out
}

// StatusEqual reports whether two statuses are the same to the API.
func StatusEqual(a, b vpav1.VerticalPodAutoscalerStatus) bool {
	return equality.Semantic.DeepEqual(a, b)
}

// Move is one target that moved.
type Move struct {
	Container string
	Resource  corev1.ResourceName
	From, To  resource.Quantity // From is zero when there was no target
}

func (m Move) String() string {
	from := "none"
	if !m.From.IsZero() {
		from = m.From.String()
	}
	return fmt.Sprintf("%s %s %s->%s", m.Container, m.Resource, from, m.To.String())
}

// Moves lists the targets of next that differ from prev's by more than
// frac of prev's (0.1 = 10%); a target prev lacks counts as moved.
func Moves(prev, next *vpav1.RecommendedPodResources, frac float64) []Move {
	if next == nil {
		return nil
	}
	old := map[string]corev1.ResourceList{}
	if prev != nil {
		for _, c := range prev.ContainerRecommendations {
			old[c.ContainerName] = c.Target
		}
	}
	var out []Move
	for _, c := range next.ContainerRecommendations {
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			to, ok := c.Target[r]
			if !ok {
				continue
			}
			from := old[c.ContainerName][r]
			f, t := from.AsApproximateFloat64(), to.AsApproximateFloat64()
			if f <= 0 || math.Abs(t-f) > frac*f {
				out = append(out, Move{Container: c.ContainerName, Resource: r, From: from, To: to})
			}
		}
	}
	return out
}
