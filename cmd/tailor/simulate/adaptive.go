package simulate

import (
	"math"
	"time"

	"github.com/tailor-dev/tailor/recommender/adaptive"
)

// Adaptive is the recommender's adaptive policy (recommender/adaptive, a
// VPA annotated tailor.dev/policy: adaptive): the same State the
// controller keeps per container, fed the same samples, asked at every
// hour.
type Adaptive struct {
	PolicyName string
	Config     adaptive.Config
}

// DefaultAdaptive is the policy with adaptive.Default.
func DefaultAdaptive() *Adaptive {
	return &Adaptive{PolicyName: "adaptive", Config: adaptive.Default()}
}

// Name of the policy.
func (a *Adaptive) Name() string { return a.PolicyName }

// New starts a container.
func (a *Adaptive) New(time.Time) ContainerSizer {
	return &adaptiveState{cfg: &a.Config, s: adaptive.New(&a.Config)}
}

type adaptiveState struct {
	cfg *adaptive.Config
	s   *adaptive.State
}

// Add feeds a sample as the controller's ingest does (CPU in millicores).
func (a *adaptiveState) Add(x Sample) {
	a.s.Add(time.Unix(x.T, 0), math.Round(x.CPU*1000)/1000, math.Round(x.Mem))
}

func (a *adaptiveState) Target(now time.Time) (int64, int64, bool) {
	f, ok := a.s.Recommend(a.cfg, now)
	if !ok {
		return 0, 0, false
	}
	return int64(math.Ceil(f.Target[0] * 1000)), int64(math.Ceil(f.Target[1])), true
}
