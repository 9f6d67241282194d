package simulate

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"

	scalerv1 "github.com/tailor-dev/tailor/scaler/api/v1alpha1"
	"github.com/tailor-dev/tailor/scaler/logic"
)

// Service is the horizontal replay's service model (README, "tailor
// simulate"): each pod requests one CPU and serves C requests per second
// at 100 % of it, up to Limit × C (its CPU limit); load is spread evenly
// over the ready pods.
type Service struct {
	// PodStart is how long a new pod takes to become ready (30 s).
	PodStart int64
	// MetricFrom and MetricTo: the metric at t is the mean utilisation over
	// [t − MetricFrom, t − MetricTo) (60 s, 30 s: a metrics pipeline lag).
	MetricFrom, MetricTo int64
	// Sync is the decision period (15 s).
	Sync int64
	// Target is the utilisation target, percent of request (50).
	Target int32
	// PeakPods: C is sized so the trace's peak needs this many pods at
	// Target (50).
	PeakPods int
	// Limit is the CPU limit ÷ request (2.5).
	Limit float64
	// MinReplicas and MaxReplicas of the autoscaler (1, 100).
	MinReplicas, MaxReplicas int32
	// Over is the utilisation above which a 1-min window counts as over
	// target (0.55).
	Over float64
}

// DefaultService is the model the issue defines.
func DefaultService() Service {
	return Service{PodStart: 30, MetricFrom: 60, MetricTo: 30, Sync: 15, Target: 50, PeakPods: 50, Limit: 2.5, MinReplicas: 1, MaxReplicas: 100, Over: 0.55}
}

// ReplicaState is what a horizontal policy sees at a sync.
type ReplicaState struct {
	Now time.Time
	// Pods of the workload; Ready false while starting.
	Pods []SimPod
	// Utilisation is the metric: mean CPU utilisation (1 = 100 % of
	// request) of the ready pods over the metric window.
	Utilisation float64
	// PodUtilisation[i] is Pods[i]'s own CPU usage over the metric window
	// (÷ request): the share it served, 0 for the seconds it was not yet
	// ready (a pod ready all window long has Utilisation).
	PodUtilisation []float64
	// MetricTime is the end of the metric window; MetricWindow its length.
	MetricTime   time.Time
	MetricWindow time.Duration
}

// SimPod is one simulated pod.
type SimPod struct {
	Name    string
	Created time.Time
	Ready   bool
}

// HorizontalPolicy decides replica counts.
type HorizontalPolicy interface {
	Name() string
	// New returns the policy's state for one workload under svc.
	New(svc Service) ReplicaDecider
}

// ReplicaDecider is a policy's state for one workload.
type ReplicaDecider interface {
	// Decide returns the replica count to set.
	Decide(st ReplicaState) int32
}

// HPA is the scaler as the controller runs it: a ReplicaAutoscaler with one
// Resource metric (CPU utilisation at the service's target), no behavior
// (the HPA's defaults), logic.DefaultConfig, the pods and per-pod samples
// built as scaler/controller builds them, logic.Decide every sync and
// logic.RecordScale after each rescale.
// With Policy set (spec.policy), it is that policy of the same controller.
type HPA struct {
	PolicyName string
	Policy     scalerv1.ScalingPolicy
	Config     logic.Config
}

// Name of the policy.
func (h HPA) Name() string { return h.PolicyName }

// New starts a workload.
func (h HPA) New(svc Service) ReplicaDecider {
	spec := HPASpec(svc)
	spec.Policy = h.Policy
	return &hpaState{cfg: h.Config, spec: spec, start: time.Duration(svc.PodStart) * time.Second}
}

// HPASpec is the ReplicaAutoscaler the hpa policy replays.
func HPASpec(svc Service) *scalerv1.ReplicaAutoscalerSpec {
	minR, target := svc.MinReplicas, svc.Target
	return &scalerv1.ReplicaAutoscalerSpec{
		ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "service"},
		MinReplicas:    &minR,
		MaxReplicas:    svc.MaxReplicas,
		Metrics: []scalerv1.MetricSpec{{
			Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricSource{
				Name:   corev1.ResourceCPU,
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &target},
			},
		}},
	}
}

type hpaState struct {
	cfg     logic.Config
	spec    *scalerv1.ReplicaAutoscalerSpec
	start   time.Duration // pod start: ready this long after creation
	history logic.History
	last    logic.Decision
}

// requestMilli is each simulated pod's CPU request.
const requestMilli = 1000

var podRequests = map[corev1.ResourceName]int64{corev1.ResourceCPU: requestMilli}

// Input builds the decision input from a simulated state.
func (h *hpaState) Input(st ReplicaState) logic.Input {
	pods := make([]logic.Pod, len(st.Pods))
	samples := make(map[string]logic.Sample, len(st.Pods))
	for i, p := range st.Pods {
		lp := logic.Pod{Name: p.Name, Phase: corev1.PodPending, StartTime: p.Created,
			Containers: []logic.Container{{Name: "app", Requests: podRequests}}}
		if p.Ready {
			lp.Phase = corev1.PodRunning
			lp.Ready = &logic.ReadyCondition{Status: true, LastTransitionTime: p.Created.Add(h.start)}
			samples[p.Name] = logic.Sample{Value: int64(math.Round(st.PodUtilisation[i] * requestMilli)), Timestamp: st.MetricTime, Window: st.MetricWindow}
		}
		pods[i] = lp
	}
	n := int32(len(st.Pods))
	return logic.Input{Now: st.Now, Config: h.cfg, Spec: h.spec, SpecReplicas: n, StatusReplicas: n,
		Pods: pods, Metrics: []logic.MetricValues{{Pods: samples}}, History: h.history}
}

func (h *hpaState) Decide(st ReplicaState) int32 {
	in := h.Input(st)
	d := logic.Decide(in)
	h.history = d.History
	if d.Rescale {
		h.history = logic.RecordScale(d.History, h.spec, h.cfg, in.SpecReplicas, d.DesiredReplicas, st.Now)
	}
	h.last = d
	return d.DesiredReplicas
}

// HorizontalScore is one policy's result over a load trace.
type HorizontalScore struct {
	Policy string
	// C is the requests per second one pod serves at 100 %.
	C float64
	// PodHours and OraclePodHours: Σ pods (starting ones too) and Σ
	// ceil(load ÷ (target × C)) over the seconds, in hours.
	PodHours, OraclePodHours float64
	// OverWindows is the share of whole 1-min windows whose mean
	// utilisation exceeds Service.Over.
	OverWindows float64
	// SaturatedSeconds: seconds when load exceeded Limit × C × ready pods.
	SaturatedSeconds int64
	// Unserved requests: Σ max(0, load − Limit × C × ready pods).
	Unserved, Requests float64
	// Rescales counts replica changes.
	Rescales int
	// Per minute: mean pods and mean oracle pods (for plots).
	Pods, Oracle []float64

	podSec, oracleSec int64
	windows, over     int
	held              *HorizontalScore // the held-out part's scores
}

// PodHoursRatio is PodHours ÷ OraclePodHours.
func (s *HorizontalScore) PodHoursRatio() float64 { return ratio(s.PodHours, s.OraclePodHours) }

// simEpoch stands in for the start of a trace without times.
var simEpoch = time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC).Unix()

// ReplayHorizontal replays l through each policy under svc.
func ReplayHorizontal(l *Load, svc Service, policies []HorizontalPolicy) ([]*HorizontalScore, error) {
	if len(l.RPS) == 0 {
		return nil, fmt.Errorf("empty load trace")
	}
	peak := slices.Max(l.RPS)
	if peak <= 0 {
		return nil, fmt.Errorf("load trace has no requests")
	}
	c := peak / (float64(svc.PeakPods) * float64(svc.Target) / 100)
	out := make([]*HorizontalScore, len(policies))
	for i, p := range policies {
		out[i] = replayHorizontal(l, svc, c, p, int64(len(l.RPS)))
	}
	return out, nil
}

// ReplayHorizontalSplit is ReplayHorizontal with the scores split at
// second split of the trace: train scores the seconds before it, held
// those from it on (C, from the whole trace's peak, is the same for both;
// the per-minute series for plots are all in train).
func ReplayHorizontalSplit(l *Load, svc Service, policies []HorizontalPolicy, split int64) (train, held []*HorizontalScore, err error) {
	if len(l.RPS) == 0 {
		return nil, nil, fmt.Errorf("empty load trace")
	}
	peak := slices.Max(l.RPS)
	if peak <= 0 {
		return nil, nil, fmt.Errorf("load trace has no requests")
	}
	c := peak / (float64(svc.PeakPods) * float64(svc.Target) / 100)
	for _, p := range policies {
		sc := replayHorizontal(l, svc, c, p, split)
		train, held = append(train, sc), append(held, sc.held)
	}
	return train, held, nil
}

func replayHorizontal(l *Load, svc Service, c float64, pol HorizontalPolicy, split int64) *HorizontalScore {
	start := l.Start
	if start == 0 {
		start = simEpoch
	}
	n := int64(len(l.RPS))
	sc := &HorizontalScore{Policy: pol.Name(), C: c, held: &HorizontalScore{Policy: pol.Name(), C: c}}
	series := sc
	dec := pol.New(svc)
	perTarget := c * float64(svc.Target) / 100
	oracle := func(load float64) int { return int(math.Ceil(load / perTarget)) }
	// A running service: the oracle's count, ready since long before.
	nextID := 0
	var pods []SimPod
	for range max(int(svc.MinReplicas), min(oracle(l.RPS[0]), int(svc.MaxReplicas))) {
		pods = append(pods, SimPod{Name: "pod-" + strconv.Itoa(nextID), Created: time.Unix(start-3600, 0), Ready: true})
		nextID++
	}
	// util[t] is the ready pods' utilisation in second t; prefix sums give
	// the metric window's mean in O(1).
	prefix := make([]float64, n+1)
	var winSum float64
	var minPods, minOracle float64
	sc.Pods = make([]float64, 0, n/60+1)
	sc.Oracle = make([]float64, 0, n/60+1)
	window := time.Duration(svc.MetricFrom-svc.MetricTo) * time.Second
	var podUtil []float64
	for t := int64(0); t < n; t++ {
		if t == split {
			sc = sc.held
		}
		now := start + t
		ready := 0
		for i := range pods {
			if !pods[i].Ready && pods[i].Created.Unix()+svc.PodStart <= now {
				pods[i].Ready = true
			}
			if pods[i].Ready {
				ready++
			}
		}
		load := l.RPS[t]
		capacity := float64(ready) * c * svc.Limit
		served := min(load, capacity)
		util := svc.Limit // no ready pod: as saturated as it gets
		if ready > 0 {
			util = served / (float64(ready) * c)
		}
		if load > capacity {
			sc.SaturatedSeconds++
			sc.Unserved += load - capacity
		}
		sc.Requests += load
		prefix[t+1] = prefix[t] + util
		sc.podSec += int64(len(pods))
		o := oracle(load)
		sc.oracleSec += int64(o)
		winSum += util
		minPods += float64(len(pods))
		minOracle += float64(o)
		if (t+1)%60 == 0 {
			sc.windows++
			if winSum/60 > svc.Over {
				sc.over++
			}
			series.Pods = append(series.Pods, minPods/60)
			series.Oracle = append(series.Oracle, minOracle/60)
			winSum, minPods, minOracle = 0, 0, 0
		}
		if t%svc.Sync != 0 {
			continue
		}
		from, to := max(t-svc.MetricFrom, 0), t-svc.MetricTo
		if to <= from {
			continue // no metric yet
		}
		podUtil = podUtil[:0]
		for _, p := range pods {
			u := 0.0
			if p.Ready {
				lo := min(max(from, p.Created.Unix()+svc.PodStart-start), to)
				u = (prefix[to] - prefix[lo]) / float64(to-from)
			}
			podUtil = append(podUtil, u)
		}
		st := ReplicaState{
			Now: time.Unix(now, 0), Pods: pods,
			Utilisation:    (prefix[to] - prefix[from]) / float64(to-from),
			PodUtilisation: podUtil,
			MetricTime:     time.Unix(start+to, 0), MetricWindow: window,
		}
		want := int(dec.Decide(st))
		if want == len(pods) {
			continue
		}
		sc.Rescales++
		for len(pods) < want {
			pods = append(pods, SimPod{Name: "pod-" + strconv.Itoa(nextID), Created: time.Unix(now, 0)})
			nextID++
		}
		if len(pods) > want {
			pods = scaleDown(pods, want)
		}
	}
	for _, sc := range []*HorizontalScore{series, series.held} {
		sc.PodHours = float64(sc.podSec) / 3600
		sc.OraclePodHours = float64(sc.oracleSec) / 3600
		sc.OverWindows = ratio(float64(sc.over), float64(sc.windows))
	}
	return series
}

// scaleDown keeps want pods, removing starting pods first, then the
// newest, as a ReplicaSet does.
func scaleDown(pods []SimPod, want int) []SimPod {
	slices.SortStableFunc(pods, func(a, b SimPod) int {
		if a.Ready != b.Ready {
			if a.Ready {
				return -1
			}
			return 1
		}
		return a.Created.Compare(b.Created)
	})
	return pods[:want]
}

// HorizontalPolicies are the selectable horizontal policies by name.
func HorizontalPolicies() map[string]func() (HorizontalPolicy, error) {
	return map[string]func() (HorizontalPolicy, error){
		"hpa": func() (HorizontalPolicy, error) { return HPA{PolicyName: "hpa", Config: logic.DefaultConfig()}, nil },
		"predictive": func() (HorizontalPolicy, error) {
			return HPA{PolicyName: "predictive", Policy: scalerv1.PolicyPredictive, Config: logic.DefaultConfig()}, nil
		},
	}
}

// DefaultHorizontalPolicies is what a replay runs when none are named.
var DefaultHorizontalPolicies = []string{"hpa", "predictive"}

// PickHorizontal returns the named policies.
func PickHorizontal(names []string) ([]HorizontalPolicy, error) {
	return pick("horizontal", HorizontalPolicies(), names)
}
