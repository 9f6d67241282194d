// Package cloud is the narrow interface between the provisioner and the
// place nodes come from (EC2 fleet, Auto Scaling groups, the sim cloud):
// launch an instance for a NodeClaim, find it, list it, terminate it, and
// say which instance types and offerings exist. It holds no client: each
// backend (cloud/sim, later cloud/aws) implements Provider, cmd/tailor picks
// one by flag and hands it to the provisioner.
package cloud

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/requirements"
	"github.com/tailor-dev/tailor/provisioner/scheduling"
)

// Instance is a launched machine as the cloud describes it.
type Instance struct {
	// ProviderID is what the kubelet puts in node.spec.providerID
	// (aws:///us-east-1a/i-0123…).
	ProviderID   string
	InstanceType string
	Zone         string
	CapacityType string
	// Price in USD per hour at launch.
	Price       float64
	Capacity    corev1.ResourceList
	Allocatable corev1.ResourceList
	// NodeClaim is the claim it was launched for (an instance tag).
	NodeClaim string
	Launched  time.Time
	// InsufficientCapacity lists the cheaper offerings Create tried first
	// and found without capacity (now unavailable for a while).
	InsufficientCapacity []Offering `json:",omitempty"`
}

// Provider is a cloud backend.
type Provider interface {
	// Create launches one instance for nc: the cheapest available offering
	// its requirements allow. It returns *InsufficientCapacityError when no
	// allowed offering has capacity (each tried one is then unavailable for
	// a while, and InstanceTypes says so).
	Create(ctx context.Context, nc *provisionerv1.NodeClaim) (*Instance, error)
	// Delete terminates the instance; *NotFoundError when it is gone.
	Delete(ctx context.Context, providerID string) error
	// Get describes the instance; *NotFoundError when it is gone.
	Get(ctx context.Context, providerID string) (*Instance, error)
	// List is every instance the backend launched for this cluster.
	List(ctx context.Context) ([]*Instance, error)
	// InstanceTypes the pool can launch, with their offerings (Available
	// false while marked out of capacity).
	InstanceTypes(ctx context.Context, np *provisionerv1.NodePool) ([]*scheduling.InstanceType, error)
}

// Selective is a Provider that launches for some pools only (the asg
// backend: the pools with autoScalingGroups).
type Selective interface {
	Serves(np *provisionerv1.NodePool) bool
}

// Serves reports whether p launches np's nodes: as p says, for a
// Selective backend; else the pools with a nodeClassRef (EC2 fleet, sim).
func Serves(p Provider, np *provisionerv1.NodePool) bool {
	if s, ok := p.(Selective); ok {
		return s.Serves(np)
	}
	return np.Spec.Template.Spec.NodeClassRef != nil
}

// Offering names one instance type in one zone and capacity type.
type Offering struct {
	InstanceType, Zone, CapacityType string
}

func (o Offering) String() string { return o.InstanceType + "/" + o.Zone + "/" + o.CapacityType }

// InsufficientCapacityError: the cloud has none of the offerings tried.
type InsufficientCapacityError struct {
	Offerings []Offering
}

func (e *InsufficientCapacityError) Error() string {
	s := make([]string, len(e.Offerings))
	for i, o := range e.Offerings {
		s[i] = o.String()
	}
	return "insufficient capacity: " + strings.Join(s, ", ")
}

// NotFoundError: no such instance (terminated, or never launched).
type NotFoundError struct{ ProviderID string }

func (e *NotFoundError) Error() string { return "instance " + e.ProviderID + " not found" }

// IsNotFound reports whether err is (or wraps) a *NotFoundError.
func IsNotFound(err error) bool {
	var nf *NotFoundError
	return errors.As(err, &nf)
}

// IsInsufficientCapacity reports whether err is (or wraps) an
// *InsufficientCapacityError.
func IsInsufficientCapacity(err error) bool {
	var ice *InsufficientCapacityError
	return errors.As(err, &ice)
}

// UnavailableTTL is how long an offering that returned insufficient
// capacity is left out: EC2 capacity comes back in minutes, and retrying at
// once would fail the same way (Karpenter's figure).
const UnavailableTTL = 3 * time.Minute

// Unavailable remembers offerings out of capacity until their TTL passes.
// Backends share it between Create and InstanceTypes. Safe for concurrent use.
type Unavailable struct {
	TTL time.Duration
	Now func() time.Time

	mu    sync.Mutex
	until map[Offering]time.Time
}

// NewUnavailable returns a cache with UnavailableTTL.
func NewUnavailable() *Unavailable {
	return &Unavailable{TTL: UnavailableTTL, Now: time.Now, until: map[Offering]time.Time{}}
}

// Mark makes o unavailable for the TTL.
func (u *Unavailable) Mark(o Offering) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.until[o] = u.Now().Add(u.TTL)
}

// Is reports whether o is marked and its TTL has not passed.
func (u *Unavailable) Is(o Offering) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	t, ok := u.until[o]
	if ok && !u.Now().Before(t) {
		delete(u.until, o)
		return false
	}
	return ok
}

// Apply sets Available false on the marked offerings of its (a copy of
// each type whose offerings change; its itself is not modified).
func (u *Unavailable) Apply(its []*scheduling.InstanceType) []*scheduling.InstanceType {
	out := make([]*scheduling.InstanceType, len(its))
	for i, it := range its {
		out[i] = it
		for j, o := range it.Offerings {
			if o.Available && u.Is(Offering{it.Name, o.Zone, o.CapacityType}) {
				if out[i] == it {
					c := *it
					c.Offerings = append([]scheduling.Offering(nil), it.Offerings...)
					out[i] = &c
				}
				out[i].Offerings[j].Available = false
			}
		}
	}
	return out
}

// Candidate is an offering a launch may take.
type Candidate struct {
	Type  *scheduling.InstanceType
	Offer scheduling.Offering
}

// Offering names c.
func (c Candidate) Offering() Offering {
	return Offering{c.Type.Name, c.Offer.Zone, c.Offer.CapacityType}
}

// Candidates are the available offerings of its that nc's requirements
// allow, cheapest first (ties by name, zone, capacity type, so launches
// are reproducible). A pure helper for every backend.
func Candidates(nc *provisionerv1.NodeClaim, its []*scheduling.InstanceType) ([]Candidate, error) {
	exprs := make([]corev1.NodeSelectorRequirement, len(nc.Spec.Requirements))
	for i, r := range nc.Spec.Requirements {
		exprs[i] = r.NodeSelectorRequirement()
	}
	rs, err := requirements.FromNodeSelector(exprs)
	if err != nil {
		return nil, fmt.Errorf("nodeclaim %s requirements: %w", nc.Name, err)
	}
	var out []Candidate
	for _, it := range its {
		if !fits(nc.Spec.Resources.Requests, it.Allocatable) {
			continue
		}
		for _, o := range it.Offerings {
			if !o.Available {
				continue
			}
			labels := make(map[string]string, len(it.Labels)+2)
			for k, v := range it.Labels {
				labels[k] = v
			}
			labels[provisionerv1.LabelZone] = o.Zone
			labels[provisionerv1.LabelCapacityType] = o.CapacityType
			if matches(rs, labels) {
				out = append(out, Candidate{it, o})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Offer.Price != b.Offer.Price {
			return a.Offer.Price < b.Offer.Price
		}
		return a.Offering().String() < b.Offering().String()
	})
	return out, nil
}

// matches: every requirement on a label the offering defines holds; keys
// it does not define (the pool's own labels) are the node's to carry.
func matches(rs requirements.Requirements, labels map[string]string) bool {
	for _, r := range rs.Items() {
		v, ok := labels[r.Key]
		if !ok {
			if provisionerv1.WellKnownLabels[r.Key] && r.Key != provisionerv1.LabelNodePool && !r.AbsentOK() {
				return false
			}
			continue
		}
		if !r.Has(v) {
			return false
		}
	}
	return true
}

func fits(requests, alloc corev1.ResourceList) bool {
	for name, q := range requests {
		a, ok := alloc[name]
		if !ok || a.Cmp(q) < 0 {
			if q.IsZero() {
				continue
			}
			return false
		}
	}
	return true
}
