package aws

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"

	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/cloud"
)

// ClientToken is CreateFleet's idempotency token for a NodeClaim: the same
// claim (name and UID) in the same cluster always sends the same token, so
// a retried request — by the SDK after a lost response, or by a restarted
// Tailor — never launches a second instance. EC2 allows 64 ASCII
// characters.
func ClientToken(cluster, claimName, claimUID string) string {
	sum := sha256.Sum256([]byte(cluster + "\x00" + claimName + "\x00" + claimUID))
	return "tailor-" + hex.EncodeToString(sum[:])[:48]
}

// Override is one (instance type, subnet) a fleet may launch.
type Override struct {
	InstanceType, Zone, Subnet, Arch string
	Price                            float64
}

// Plan is a CreateFleet request in plain data.
type Plan struct {
	// CapacityType of the whole fleet: spot when the claim allows spot
	// and some spot offering is available, else on-demand (Karpenter's
	// rule: spot is always cheaper where it is allowed).
	CapacityType string
	// Overrides, cheapest first.
	Overrides []Override
}

// PlanFleet picks the overrides of a launch from the candidates (cheapest
// first, as cloud.Candidates returns them): the capacity type, then the
// cheapest maxTypes distinct instance types of that capacity type, each in
// every zone where the node class has a subnet (subnetByZone) and an AMI
// for the type's architecture (amiArchs). A pure function.
func PlanFleet(cands []cloud.Candidate, subnetByZone map[string]string, amiArchs map[string]bool, maxTypes int) Plan {
	capType := provisionerv1.CapacityTypeOnDemand
	usable := func(c cloud.Candidate) bool {
		return subnetByZone[c.Offer.Zone] != "" && amiArchs[c.Type.Labels[provisionerv1.LabelArch]]
	}
	for _, c := range cands {
		if c.Offer.CapacityType == provisionerv1.CapacityTypeSpot && usable(c) {
			capType = provisionerv1.CapacityTypeSpot
			break
		}
	}
	p := Plan{CapacityType: capType}
	types := map[string]bool{}
	for _, c := range cands {
		if c.Offer.CapacityType != capType || !usable(c) {
			continue
		}
		if !types[c.Type.Name] {
			if len(types) == maxTypes {
				continue
			}
			types[c.Type.Name] = true
		}
		p.Overrides = append(p.Overrides, Override{
			InstanceType: c.Type.Name, Zone: c.Offer.Zone, Subnet: subnetByZone[c.Offer.Zone],
			Arch: c.Type.Labels[provisionerv1.LabelArch], Price: c.Offer.Price,
		})
	}
	sort.SliceStable(p.Overrides, func(i, j int) bool { return p.Overrides[i].Price < p.Overrides[j].Price })
	return p
}

// Outcome is what a CreateFleet answer says.
type Outcome struct {
	// InstanceID launched, with its type, zone and capacity type; empty
	// when none was.
	InstanceID, InstanceType, Zone, CapacityType string
	// Unavailable are offerings EC2 had no capacity for: they are left out
	// for cloud.UnavailableTTL.
	Unavailable []cloud.Offering
	// Errors are the other per-override errors (code: message).
	Errors []string
}

// capacityErrors are the CreateFleet error codes that mean "this offering,
// not the request, is the problem now": the offering is marked unavailable
// and the next one tried.
var capacityErrors = map[string]bool{
	"InsufficientInstanceCapacity":      true,
	"InsufficientCapacity":              true,
	"UnfulfillableCapacity":             true,
	"MaxSpotInstanceCountExceeded":      true,
	"InsufficientFreeAddressesInSubnet": true,
	"SpotMaxPriceTooLow":                true,
}

// FleetOutcome reads a CreateFleet answer; zoneOf maps subnets to zones
// for overrides that name only the subnet. A pure function.
func FleetOutcome(instances []ec2types.CreateFleetInstance, errs []ec2types.CreateFleetError, capType string, zoneOf map[string]string) Outcome {
	var o Outcome
	zone := func(ov *ec2types.FleetLaunchTemplateOverrides) (string, string) {
		if ov == nil {
			return "", ""
		}
		z := deref(ov.AvailabilityZone)
		if z == "" {
			z = zoneOf[deref(ov.SubnetId)]
		}
		return string(ov.InstanceType), z
	}
	seen := map[cloud.Offering]bool{}
	for _, e := range errs {
		var typ, z string
		if e.LaunchTemplateAndOverrides != nil {
			typ, z = zone(e.LaunchTemplateAndOverrides.Overrides)
		}
		code := deref(e.ErrorCode)
		ct := capType
		if e.Lifecycle != "" {
			ct = lifecycle(string(e.Lifecycle))
		}
		if capacityErrors[code] && typ != "" && z != "" {
			off := cloud.Offering{InstanceType: typ, Zone: z, CapacityType: ct}
			if !seen[off] {
				seen[off] = true
				o.Unavailable = append(o.Unavailable, off)
			}
			continue
		}
		o.Errors = append(o.Errors, code+": "+deref(e.ErrorMessage))
	}
	for _, in := range instances {
		if len(in.InstanceIds) == 0 {
			continue
		}
		o.InstanceID = in.InstanceIds[0]
		o.InstanceType = string(in.InstanceType)
		o.CapacityType = lifecycle(string(in.Lifecycle))
		if o.CapacityType == "" {
			o.CapacityType = capType
		}
		if in.LaunchTemplateAndOverrides != nil {
			typ, z := zone(in.LaunchTemplateAndOverrides.Overrides)
			if o.InstanceType == "" {
				o.InstanceType = typ
			}
			o.Zone = z
		}
		break
	}
	return o
}

// lifecycle maps EC2's lifecycle words to capacity types ("" stays "").
func lifecycle(s string) string {
	switch s {
	case "":
		return ""
	case "spot":
		return provisionerv1.CapacityTypeSpot
	}
	return provisionerv1.CapacityTypeOnDemand
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
