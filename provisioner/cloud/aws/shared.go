package aws

import (
	"context"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/catalog"
	"github.com/tailor-dev/tailor/provisioner/cloud"
	"github.com/tailor-dev/tailor/provisioner/scheduling"
)

// What the Auto Scaling group backend (provisioner/cloud/asg) shares with
// the fleet backend: instance types and live prices (the same refresh,
// the catalogue as the fallback), the instance description, and finding,
// listing and tagging instances. It never launches through a Cloud.

// RefreshPrices reads instance types, offerings and prices now (keeping
// the previous ones for a source that fails).
func (c *Cloud) RefreshPrices(ctx context.Context) { c.refresh(ctx) }

// Template is instance type typ as the solver sees it (labels, capacity,
// allocatable with the VPC CNI's max pods), without offerings; false when
// the type is unknown.
func (c *Cloud) Template(typ string) (*scheduling.InstanceType, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.types[typ]
	if !ok {
		if t, ok = catalog.Lookup(typ); !ok {
			return nil, false
		}
	}
	o := catalog.Options{Region: c.o.Region, VMMemoryOverheadFraction: 0.075}
	return &scheduling.InstanceType{Name: t.Name, Labels: t.Labels(o), Capacity: t.Capacity(o), Allocatable: t.Allocatable(o)}, true
}

// Price of typ in zone for capType (USD per hour): live, else the
// catalogue's; 0 when unknown.
func (c *Cloud) Price(typ, zone, capType string) float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.types[typ]
	if !ok {
		if t, ok = catalog.Lookup(typ); !ok {
			return 0
		}
	}
	if capType == provisionerv1.CapacityTypeSpot {
		return c.spotPriceLocked(t, zone)
	}
	return c.odPriceLocked(t)
}

// Describe is a launched instance with today's price.
func (c *Cloud) Describe(id, typ, zone, capType, claim string) *cloud.Instance {
	return c.instance(id, typ, zone, capType, claim, c.now())
}

// IsCode reports whether err is an AWS API error with one of codes.
func IsCode(err error, codes ...string) bool { return isCode(err, codes...) }

// InstanceID is the EC2 id of a providerID (aws:///zone/i-…).
func InstanceID(providerID string) (string, error) { return instanceID(providerID) }
