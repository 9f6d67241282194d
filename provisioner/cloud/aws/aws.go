// Package aws is the EC2 fleet backend of the provisioner (--cloud=aws):
// a NodeClaim is launched with CreateFleet type instant over the cheapest
// compatible instance types × the node class's subnets; instances are
// found by their tags (DescribeInstances) and terminated
// (TerminateInstances); AWSNodeClasses are resolved (subnets and security
// groups by tags, AMIs by SSM alias or id, the instance profile) into
// their status and into one launch template per distinct (class, AMI,
// user data); instance types come from DescribeInstanceTypes and
// DescribeInstanceTypeOfferings, prices from the Pricing API and
// DescribeSpotPriceHistory, with the built-in catalogue as the fallback.
//
// The clients are aws-sdk-go-v2's, behind the narrow interfaces below;
// cmd/tailor builds them (credentials from the SDK's default chain: IRSA
// and EKS Pod Identity both work) and hands them in. The decisions —
// which overrides, which token, what user data, how to read a fleet's
// answer or a price — are pure functions in this package's other files.
package aws

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/pricing"
	pricingtypes "github.com/aws/aws-sdk-go-v2/service/pricing/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/catalog"
	"github.com/tailor-dev/tailor/provisioner/cloud"
	"github.com/tailor-dev/tailor/provisioner/cloud/aws/bootstrap"
	"github.com/tailor-dev/tailor/provisioner/scheduling"
	"github.com/tailor-dev/tailor/provisioner/scope"
)

// Tags Tailor puts on what it creates.
const (
	TagCluster   = "tailor.dev/cluster"
	TagNodePool  = provisionerv1.LabelNodePool
	TagNodeClaim = provisionerv1.LabelNodeClaim
	TagNodeClass = "tailor.dev/nodeclass"
)

// EC2API is the part of the EC2 client Tailor calls.
type EC2API interface {
	CreateFleet(context.Context, *ec2.CreateFleetInput, ...func(*ec2.Options)) (*ec2.CreateFleetOutput, error)
	DescribeInstances(context.Context, *ec2.DescribeInstancesInput, ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
	TerminateInstances(context.Context, *ec2.TerminateInstancesInput, ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error)
	DescribeSubnets(context.Context, *ec2.DescribeSubnetsInput, ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error)
	DescribeSecurityGroups(context.Context, *ec2.DescribeSecurityGroupsInput, ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error)
	DescribeImages(context.Context, *ec2.DescribeImagesInput, ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error)
	CreateLaunchTemplate(context.Context, *ec2.CreateLaunchTemplateInput, ...func(*ec2.Options)) (*ec2.CreateLaunchTemplateOutput, error)
	DescribeLaunchTemplates(context.Context, *ec2.DescribeLaunchTemplatesInput, ...func(*ec2.Options)) (*ec2.DescribeLaunchTemplatesOutput, error)
	DeleteLaunchTemplate(context.Context, *ec2.DeleteLaunchTemplateInput, ...func(*ec2.Options)) (*ec2.DeleteLaunchTemplateOutput, error)
	DescribeInstanceTypes(context.Context, *ec2.DescribeInstanceTypesInput, ...func(*ec2.Options)) (*ec2.DescribeInstanceTypesOutput, error)
	DescribeInstanceTypeOfferings(context.Context, *ec2.DescribeInstanceTypeOfferingsInput, ...func(*ec2.Options)) (*ec2.DescribeInstanceTypeOfferingsOutput, error)
	DescribeSpotPriceHistory(context.Context, *ec2.DescribeSpotPriceHistoryInput, ...func(*ec2.Options)) (*ec2.DescribeSpotPriceHistoryOutput, error)
}

// SSMAPI resolves AMI aliases.
type SSMAPI interface {
	GetParameter(context.Context, *ssm.GetParameterInput, ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// PricingAPI reads on-demand prices.
type PricingAPI interface {
	GetProducts(context.Context, *pricing.GetProductsInput, ...func(*pricing.Options)) (*pricing.GetProductsOutput, error)
}

// Clients are the AWS clients the backend uses.
type Clients struct {
	EC2     EC2API
	SSM     SSMAPI
	Pricing PricingAPI
	// SQS reads the interruption queue.
	SQS SQSAPI
}

// Options configure the backend.
type Options struct {
	// ClusterName tags every resource and names the cluster to nodeadm.
	ClusterName string
	Region      string
	// Endpoint and CA of the API server, and the service CIDR, for the
	// nodes' bootstrap.
	ClusterEndpoint string
	ClusterCA       []byte
	ServiceCIDR     string
	// KubernetesVersion ("1.37") picks the EKS-optimized AMI of an alias.
	KubernetesVersion string
	// MaxTypes is the most instance types one fleet request lists.
	MaxTypes int
	// PriceRefresh: how often instance types and prices are read again.
	PriceRefresh time.Duration
	// NodeClassRefresh: how often node classes are resolved again (and
	// unused launch templates collected).
	NodeClassRefresh time.Duration
	// LaunchTemplateTTL: a launch template of this cluster unused by this
	// process for that long is deleted (it is made again when needed).
	LaunchTemplateTTL time.Duration
	// Classes are the AWSNodeClasses whose status this installation
	// resolves and writes (--nodepool-selector; the zero value: all). A
	// pool of this installation may still launch with another's class.
	Classes scope.Pools
}

// DefaultOptions: 60 types a fleet, prices every 12 h, classes every minute.
func DefaultOptions() Options {
	return Options{Region: "us-east-1", ServiceCIDR: "10.100.0.0/16", MaxTypes: 60, PriceRefresh: 12 * time.Hour,
		NodeClassRefresh: time.Minute, LaunchTemplateTTL: time.Hour}
}

// Validate reports options the backend cannot run with.
func (o Options) Validate() error {
	switch {
	case o.ClusterName == "":
		return errors.New("--cloud=aws needs --cluster-name")
	case o.Region == "":
		return errors.New("--cloud=aws needs --aws-region (or AWS_REGION)")
	case o.MaxTypes < 1 || o.MaxTypes > 60:
		return fmt.Errorf("fleet instance types must be 1..60, got %d", o.MaxTypes)
	case o.PriceRefresh <= 0 || o.NodeClassRefresh <= 0 || o.LaunchTemplateTTL <= 0:
		return errors.New("aws refresh intervals must be positive")
	}
	return nil
}

// Cloud is the aws backend; Start (leader only) keeps types, prices and
// node classes fresh.
type Cloud struct {
	o    Options
	c    Clients
	kube client.Client
	log  logr.Logger
	now  func() time.Time

	unavailable *cloud.Unavailable

	mu sync.Mutex
	// types by name: EC2's once read, the catalogue's until then.
	types   map[string]catalog.Type
	typeZon map[string]map[string]bool // type → zones it is offered in (nil: any)
	spotOK  map[string]bool            // type → spot supported (nil map: all)
	od      map[string]float64         // live on-demand prices
	spot    map[string]float64         // live spot prices, type/zone
	version int                        // bumps when types or prices change
	classes map[string]*resolved
	cache   map[string]cachedTypes
	ltUsed  map[string]time.Time
}

type cachedTypes struct {
	key string
	its []*scheduling.InstanceType
}

var _ cloud.Provider = &Cloud{}

// New returns the backend; kube reads and writes AWSNodeClasses.
func New(kube client.Client, c Clients, o Options, log logr.Logger) (*Cloud, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	cl := &Cloud{o: o, c: c, kube: kube, log: log, now: time.Now, unavailable: cloud.NewUnavailable(),
		types: map[string]catalog.Type{}, od: map[string]float64{}, spot: map[string]float64{},
		classes: map[string]*resolved{}, cache: map[string]cachedTypes{}, ltUsed: map[string]time.Time{}}
	for _, t := range catalog.Types() {
		cl.types[t.Name] = t
	}
	return cl, nil
}

// NeedLeaderElection: only the leader launches.
func (c *Cloud) NeedLeaderElection() bool { return true }

// Start reads instance types and prices now and every PriceRefresh, and
// resolves node classes (status, launch template collection) every
// NodeClassRefresh, until ctx ends.
func (c *Cloud) Start(ctx context.Context) error {
	c.refresh(ctx)
	c.syncClasses(ctx)
	prices := time.NewTicker(c.o.PriceRefresh)
	defer prices.Stop()
	classes := time.NewTicker(c.o.NodeClassRefresh)
	defer classes.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-prices.C:
			c.refresh(ctx)
		case <-classes.C:
			c.syncClasses(ctx)
		}
	}
}

// refresh reads instance types, offerings and prices; a source that fails
// keeps what was there (the catalogue at start-up).
func (c *Cloud) refresh(ctx context.Context) {
	start := c.now()
	if err := c.refreshTypes(ctx); err != nil {
		c.log.Error(err, "instance types: keeping the previous ones (the built-in catalogue at start-up)")
		priceRefreshes.WithLabelValues("instance-types", "error").Inc()
	} else {
		priceRefreshes.WithLabelValues("instance-types", "ok").Inc()
	}
	if err := c.refreshOnDemand(ctx); err != nil {
		c.log.Error(err, "on-demand prices: keeping the previous ones (the built-in catalogue's at start-up)")
		priceRefreshes.WithLabelValues("on-demand", "error").Inc()
	} else {
		priceRefreshes.WithLabelValues("on-demand", "ok").Inc()
	}
	if err := c.refreshSpot(ctx); err != nil {
		c.log.Error(err, "spot prices: keeping the previous ones (the built-in catalogue's at start-up)")
		priceRefreshes.WithLabelValues("spot", "error").Inc()
	} else {
		priceRefreshes.WithLabelValues("spot", "ok").Inc()
	}
	c.mu.Lock()
	n, od, spot := len(c.types), len(c.od), len(c.spot)
	c.mu.Unlock()
	c.log.Info("instance types and prices refreshed", "types", n, "onDemandPrices", od, "spotPrices", spot, "took", c.now().Sub(start).String())
}

func (c *Cloud) refreshTypes(ctx context.Context) error {
	typesOut := map[string]catalog.Type{}
	spotOK := map[string]bool{}
	c.mu.Lock()
	known := c.types
	c.mu.Unlock()
	p := ec2.NewDescribeInstanceTypesPaginator(c.c.EC2, &ec2.DescribeInstanceTypesInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("DescribeInstanceTypes: %w", err)
		}
		for _, it := range page.InstanceTypes {
			t, ok := typeOf(it)
			if !ok {
				continue
			}
			if k, ok := known[t.Name]; ok {
				t.OnDemandPrice = k.OnDemandPrice // catalogue's, the fallback
			} else if k, ok := catalog.Lookup(t.Name); ok {
				t.OnDemandPrice = k.OnDemandPrice
			}
			typesOut[t.Name] = t
			for _, u := range it.SupportedUsageClasses {
				if u == ec2types.UsageClassTypeSpot {
					spotOK[t.Name] = true
				}
			}
		}
	}
	zones := map[string]map[string]bool{}
	op := ec2.NewDescribeInstanceTypeOfferingsPaginator(c.c.EC2, &ec2.DescribeInstanceTypeOfferingsInput{LocationType: ec2types.LocationTypeAvailabilityZone})
	for op.HasMorePages() {
		page, err := op.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("DescribeInstanceTypeOfferings: %w", err)
		}
		for _, o := range page.InstanceTypeOfferings {
			n := string(o.InstanceType)
			if zones[n] == nil {
				zones[n] = map[string]bool{}
			}
			zones[n][deref(o.Location)] = true
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.types, c.typeZon, c.spotOK = typesOut, zones, spotOK
	c.version++
	return nil
}

// typeOf converts EC2's description; types of other architectures (i386
// only, macOS) are left out.
func typeOf(it ec2types.InstanceTypeInfo) (catalog.Type, bool) {
	arch := ""
	if it.ProcessorInfo != nil {
		for _, a := range it.ProcessorInfo.SupportedArchitectures {
			switch a {
			case ec2types.ArchitectureTypeX8664:
				arch = "amd64"
			case ec2types.ArchitectureTypeArm64:
				arch = "arm64"
			}
		}
	}
	if arch == "" || it.VCpuInfo == nil || it.MemoryInfo == nil {
		return catalog.Type{}, false
	}
	var gpus int64
	if it.GpuInfo != nil {
		for _, g := range it.GpuInfo.Gpus {
			gpus += int64(deref(g.Count))
		}
	}
	maxPods := int64(110)
	if n := it.NetworkInfo; n != nil && n.MaximumNetworkInterfaces != nil && n.Ipv4AddressesPerInterface != nil {
		// The VPC CNI's formula without prefix delegation.
		maxPods = int64(*n.MaximumNetworkInterfaces)*(int64(*n.Ipv4AddressesPerInterface)-1) + 2
	}
	return catalog.Describe(string(it.InstanceType), int64(deref(it.VCpuInfo.DefaultVCpus)), deref(it.MemoryInfo.SizeInMiB), gpus, arch, maxPods, 0), true
}

func (c *Cloud) refreshOnDemand(ctx context.Context) error {
	filters := []pricingtypes.Filter{}
	for k, v := range map[string]string{"regionCode": c.o.Region, "operatingSystem": "Linux", "tenancy": "Shared",
		"preInstalledSw": "NA", "capacitystatus": "Used", "licenseModel": "No License required"} {
		filters = append(filters, pricingtypes.Filter{Type: pricingtypes.FilterTypeTermMatch, Field: aws.String(k), Value: aws.String(v)})
	}
	sort.Slice(filters, func(i, j int) bool { return *filters[i].Field < *filters[j].Field })
	od := map[string]float64{}
	p := pricing.NewGetProductsPaginator(c.c.Pricing, &pricing.GetProductsInput{ServiceCode: aws.String("AmazonEC2"), Filters: filters, FormatVersion: aws.String("aws_v1")})
	bad := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("GetProducts: %w", err)
		}
		for _, doc := range page.PriceList {
			typ, price, err := catalog.ParsePriceListItem(doc)
			if err != nil {
				bad++
				continue
			}
			if old, ok := od[typ]; !ok || price < old {
				od[typ] = price
			}
		}
	}
	if len(od) == 0 {
		return fmt.Errorf("GetProducts returned no usable price (%d unreadable)", bad)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.od = od
	c.version++
	return nil
}

func (c *Cloud) refreshSpot(ctx context.Context) error {
	spot := map[string]float64{}
	at := map[string]time.Time{}
	p := ec2.NewDescribeSpotPriceHistoryPaginator(c.c.EC2, &ec2.DescribeSpotPriceHistoryInput{
		StartTime: aws.Time(c.now()), ProductDescriptions: []string{"Linux/UNIX"},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("DescribeSpotPriceHistory: %w", err)
		}
		for _, sp := range page.SpotPriceHistory {
			price, err := catalog.ParsePrice(deref(sp.SpotPrice))
			if err != nil {
				continue
			}
			k := string(sp.InstanceType) + "/" + deref(sp.AvailabilityZone)
			if ts := deref(sp.Timestamp); ts.After(at[k]) || at[k].IsZero() {
				spot[k], at[k] = price, ts
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.spot = spot
	c.version++
	return nil
}

// prices of t: live, else the catalogue's.
func (c *Cloud) odPriceLocked(t catalog.Type) float64 {
	if p, ok := c.od[t.Name]; ok {
		return p
	}
	return t.OnDemandPrice
}

func (c *Cloud) spotPriceLocked(t catalog.Type, zone string) float64 {
	if p, ok := c.spot[t.Name+"/"+zone]; ok {
		return p
	}
	if t.OnDemandPrice > 0 {
		return catalog.SpotPrice(t, zone)
	}
	return 0
}

// InstanceTypes the pool's node class can launch: every type offered in a
// zone of its subnets, with live prices, less offerings out of capacity.
func (c *Cloud) InstanceTypes(ctx context.Context, np *provisionerv1.NodePool) ([]*scheduling.InstanceType, error) {
	class, r, err := c.classOf(ctx, np.Spec.Template.Spec.NodeClassRef)
	if err != nil {
		return nil, err
	}
	return c.unavailable.Apply(c.instanceTypes(class, r)), nil
}

func (c *Cloud) instanceTypes(class *provisionerv1.AWSNodeClass, r *resolved) []*scheduling.InstanceType {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := fmt.Sprintf("%d/%d/%s", c.version, class.Generation, strings.Join(r.zones(), ","))
	if ct, ok := c.cache[class.Name]; ok && ct.key == key {
		return ct.its
	}
	o := c.kubeletOptions(class)
	out := make([]*scheduling.InstanceType, 0, len(c.types))
	for _, name := range sortedKeys(c.types) {
		t := c.types[name]
		if !r.archs()[t.Arch] {
			continue
		}
		it := &scheduling.InstanceType{Name: t.Name, Labels: t.Labels(o), Capacity: t.Capacity(o), Allocatable: t.Allocatable(o)}
		for _, z := range r.zones() {
			if c.typeZon != nil && !c.typeZon[t.Name][z] {
				continue
			}
			if p := c.odPriceLocked(t); p > 0 {
				it.Offerings = append(it.Offerings, scheduling.Offering{Zone: z, CapacityType: provisionerv1.CapacityTypeOnDemand, Price: p, Available: true})
			}
			if c.spotOK == nil || c.spotOK[t.Name] {
				if p := c.spotPriceLocked(t, z); p > 0 {
					it.Offerings = append(it.Offerings, scheduling.Offering{Zone: z, CapacityType: provisionerv1.CapacityTypeSpot, Price: p, Available: true})
				}
			}
		}
		if len(it.Offerings) > 0 {
			out = append(out, it)
		}
	}
	c.cache[class.Name] = cachedTypes{key: key, its: out}
	return out
}

// kubeletOptions are the catalogue options of class: its max pods and
// kubelet reservations (EKS's defaults for what it leaves out, and for
// settings that do not parse: the admission webhook refuses those).
func (c *Cloud) kubeletOptions(class *provisionerv1.AWSNodeClass) catalog.Options {
	o := catalog.Options{Region: c.o.Region, VMMemoryOverheadFraction: 0.075}
	k := class.Spec.Kubelet
	if k == nil {
		return o
	}
	o.MaxPods, o.PodsPerCore = deref(k.MaxPods), deref(k.PodsPerCore)
	r, err := catalog.ParseReserved(k.KubeReserved, k.SystemReserved, k.EvictionHard)
	if err != nil {
		c.log.Error(err, "AWSNodeClass kubelet reservations: using EKS's defaults", "nodeclass", class.Name)
		return o
	}
	o.Reserved = r
	return o
}

// Create launches nc with one instant fleet.
func (c *Cloud) Create(ctx context.Context, nc *provisionerv1.NodeClaim) (*cloud.Instance, error) {
	class, r, err := c.classOf(ctx, nc.Spec.NodeClassRef)
	if err != nil {
		return nil, err
	}
	its := c.unavailable.Apply(c.instanceTypes(class, r))
	cands, err := cloud.Candidates(nc, its)
	if err != nil {
		return nil, err
	}
	plan := PlanFleet(cands, r.subnetByZone, r.archs(), c.o.MaxTypes)
	if len(plan.Overrides) == 0 {
		return nil, &cloud.InsufficientCapacityError{}
	}
	byArch := map[string][]ec2types.FleetLaunchTemplateOverridesRequest{}
	var archs []string
	for _, ov := range plan.Overrides {
		if byArch[ov.Arch] == nil {
			archs = append(archs, ov.Arch)
		}
		byArch[ov.Arch] = append(byArch[ov.Arch], ec2types.FleetLaunchTemplateOverridesRequest{
			InstanceType: ec2types.InstanceType(ov.InstanceType), SubnetId: aws.String(ov.Subnet), AvailabilityZone: aws.String(ov.Zone),
		})
	}
	var configs []ec2types.FleetLaunchTemplateConfigRequest
	for _, arch := range archs {
		lt, err := c.launchTemplate(ctx, class, r, nc, arch)
		if err != nil {
			return nil, err
		}
		configs = append(configs, ec2types.FleetLaunchTemplateConfigRequest{
			LaunchTemplateSpecification: &ec2types.FleetLaunchTemplateSpecificationRequest{LaunchTemplateName: aws.String(lt), Version: aws.String("$Latest")},
			Overrides:                   byArch[arch],
		})
	}
	tags := c.tags(class)
	tags[TagNodePool] = nc.Labels[provisionerv1.LabelNodePool]
	tags[TagNodeClaim] = nc.Name
	tags["Name"] = nc.Name
	capType := ec2types.DefaultTargetCapacityTypeOnDemand
	if plan.CapacityType == provisionerv1.CapacityTypeSpot {
		capType = ec2types.DefaultTargetCapacityTypeSpot
	}
	out, err := c.c.EC2.CreateFleet(ctx, &ec2.CreateFleetInput{
		Type:                  ec2types.FleetTypeInstant,
		ClientToken:           aws.String(ClientToken(c.o.ClusterName, nc.Name, string(nc.UID))),
		LaunchTemplateConfigs: configs,
		TargetCapacitySpecification: &ec2types.TargetCapacitySpecificationRequest{
			TotalTargetCapacity: aws.Int32(1), DefaultTargetCapacityType: capType,
		},
		SpotOptions:       &ec2types.SpotOptionsRequest{AllocationStrategy: ec2types.SpotAllocationStrategyPriceCapacityOptimized},
		OnDemandOptions:   &ec2types.OnDemandOptionsRequest{AllocationStrategy: ec2types.FleetOnDemandAllocationStrategyLowestPrice},
		TagSpecifications: []ec2types.TagSpecification{ec2Tags(ec2types.ResourceTypeInstance, tags), ec2Tags(ec2types.ResourceTypeFleet, c.tags(class))},
	})
	if err != nil {
		fleetRequests.WithLabelValues("error").Inc()
		return nil, fmt.Errorf("CreateFleet: %w", err)
	}
	oc := FleetOutcome(out.Instances, out.Errors, plan.CapacityType, r.zoneOf)
	for _, off := range oc.Unavailable {
		c.unavailable.Mark(off)
	}
	if oc.InstanceID == "" {
		if len(oc.Unavailable) > 0 {
			fleetRequests.WithLabelValues("insufficient_capacity").Inc()
			return nil, &cloud.InsufficientCapacityError{Offerings: oc.Unavailable}
		}
		fleetRequests.WithLabelValues("error").Inc()
		return nil, fmt.Errorf("CreateFleet launched nothing: %s", strings.Join(oc.Errors, "; "))
	}
	if len(oc.Unavailable) > 0 {
		fleetRequests.WithLabelValues("partial").Inc()
	} else {
		fleetRequests.WithLabelValues("launched").Inc()
	}
	in := c.instance(oc.InstanceID, oc.InstanceType, oc.Zone, oc.CapacityType, nc.Name, c.now())
	in.InsufficientCapacity = oc.Unavailable
	c.mu.Lock()
	if t, ok := c.types[oc.InstanceType]; ok {
		// What the solver placed on it: the class's kubelet settings.
		o := c.kubeletOptions(class)
		in.Capacity, in.Allocatable = t.Capacity(o), t.Allocatable(o)
	}
	c.mu.Unlock()
	return in, nil
}

// instance describes a launched instance with today's price.
func (c *Cloud) instance(id, typ, zone, capType, claim string, launched time.Time) *cloud.Instance {
	c.mu.Lock()
	defer c.mu.Unlock()
	in := &cloud.Instance{ProviderID: "aws:///" + zone + "/" + id, InstanceType: typ, Zone: zone, CapacityType: capType, NodeClaim: claim, Launched: launched}
	if t, ok := c.types[typ]; ok {
		o := catalog.Options{Region: c.o.Region, VMMemoryOverheadFraction: 0.075}
		in.Capacity, in.Allocatable = t.Capacity(o), t.Allocatable(o)
		if capType == provisionerv1.CapacityTypeSpot {
			in.Price = c.spotPriceLocked(t, zone)
		} else {
			in.Price = c.odPriceLocked(t)
		}
	}
	return in
}

// instanceID is the EC2 id of a providerID (aws:///zone/i-…).
func instanceID(providerID string) (string, error) {
	i := strings.LastIndex(providerID, "/")
	if !strings.HasPrefix(providerID, "aws://") || i < 0 || !strings.HasPrefix(providerID[i+1:], "i-") {
		return "", fmt.Errorf("providerID %q is not an EC2 instance", providerID)
	}
	return providerID[i+1:], nil
}

func isCode(err error, codes ...string) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	for _, c := range codes {
		if ae.ErrorCode() == c {
			return true
		}
	}
	return false
}

// Get describes one instance; gone (or terminated) is NotFound.
func (c *Cloud) Get(ctx context.Context, providerID string) (*cloud.Instance, error) {
	id, err := instanceID(providerID)
	if err != nil {
		return nil, err
	}
	out, err := c.c.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if isCode(err, "InvalidInstanceID.NotFound") {
		return nil, &cloud.NotFoundError{ProviderID: providerID}
	}
	if err != nil {
		return nil, fmt.Errorf("DescribeInstances %s: %w", id, err)
	}
	for _, res := range out.Reservations {
		for _, in := range res.Instances {
			if in.State != nil && (in.State.Name == ec2types.InstanceStateNameTerminated || in.State.Name == ec2types.InstanceStateNameShuttingDown) {
				continue
			}
			return c.fromEC2(in), nil
		}
	}
	return nil, &cloud.NotFoundError{ProviderID: providerID}
}

// List is every live instance tagged for this cluster.
func (c *Cloud) List(ctx context.Context) ([]*cloud.Instance, error) {
	p := ec2.NewDescribeInstancesPaginator(c.c.EC2, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
		{Name: aws.String("tag:" + TagCluster), Values: []string{c.o.ClusterName}},
		{Name: aws.String("instance-state-name"), Values: []string{"pending", "running", "stopping", "stopped"}},
	}})
	var out []*cloud.Instance
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("DescribeInstances: %w", err)
		}
		for _, res := range page.Reservations {
			for _, in := range res.Instances {
				out = append(out, c.fromEC2(in))
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ProviderID < out[j].ProviderID })
	return out, nil
}

func (c *Cloud) fromEC2(in ec2types.Instance) *cloud.Instance {
	capType := provisionerv1.CapacityTypeOnDemand
	if in.InstanceLifecycle == ec2types.InstanceLifecycleTypeSpot {
		capType = provisionerv1.CapacityTypeSpot
	}
	zone := ""
	if in.Placement != nil {
		zone = deref(in.Placement.AvailabilityZone)
	}
	return c.instance(deref(in.InstanceId), string(in.InstanceType), zone, capType, tagOf(in.Tags, TagNodeClaim), deref(in.LaunchTime))
}

// Delete terminates the instance.
func (c *Cloud) Delete(ctx context.Context, providerID string) error {
	id, err := instanceID(providerID)
	if err != nil {
		return err
	}
	out, err := c.c.EC2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	if isCode(err, "InvalidInstanceID.NotFound") {
		return &cloud.NotFoundError{ProviderID: providerID}
	}
	if err != nil {
		return fmt.Errorf("TerminateInstances %s: %w", id, err)
	}
	for _, ch := range out.TerminatingInstances {
		if ch.PreviousState != nil && ch.PreviousState.Name == ec2types.InstanceStateNameTerminated {
			return &cloud.NotFoundError{ProviderID: providerID}
		}
	}
	return nil
}

// tags every resource Tailor makes for class carries.
func (c *Cloud) tags(class *provisionerv1.AWSNodeClass) map[string]string {
	t := map[string]string{}
	for k, v := range class.Spec.Tags {
		t[k] = v
	}
	t[TagCluster] = c.o.ClusterName
	t["kubernetes.io/cluster/"+c.o.ClusterName] = "owned"
	t[TagNodeClass] = class.Name
	return t
}

func ec2Tags(rt ec2types.ResourceType, tags map[string]string) ec2types.TagSpecification {
	ts := ec2types.TagSpecification{ResourceType: rt}
	for _, k := range sortedKeys(tags) {
		ts.Tags = append(ts.Tags, ec2types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	return ts
}

// launchTemplate makes sure the launch template of (class, AMI of arch,
// the claim's bootstrap) exists and returns its name: one per distinct
// content hash.
func (c *Cloud) launchTemplate(ctx context.Context, class *provisionerv1.AWSNodeClass, r *resolved, nc *provisionerv1.NodeClaim, arch string) (string, error) {
	labels := map[string]string{}
	for k, v := range nc.Labels {
		if k != provisionerv1.LabelNodeClaim {
			labels[k] = v
		}
	}
	taints := []corev1.Taint{{Key: provisionerv1.TaintUnregistered, Effect: corev1.TaintEffectNoExecute}}
	taints = append(taints, nc.Spec.Taints...)
	taints = append(taints, nc.Spec.StartupTaints...)
	ud, err := bootstrap.UserData(bootstrap.Bootstrap{ClusterName: c.o.ClusterName, Endpoint: c.o.ClusterEndpoint, CA: c.o.ClusterCA, ServiceCIDR: c.o.ServiceCIDR,
		Labels: labels, Taints: taints, Kubelet: class.Spec.Kubelet, Family: r.family, UserData: deref(class.Spec.UserData)})
	if err != nil {
		return "", err
	}
	data := &ec2types.RequestLaunchTemplateData{
		ImageId:             aws.String(r.amiByArch[arch]),
		IamInstanceProfile:  &ec2types.LaunchTemplateIamInstanceProfileSpecificationRequest{Name: aws.String(r.profile)},
		SecurityGroupIds:    r.groupIDs(),
		UserData:            aws.String(base64.StdEncoding.EncodeToString([]byte(ud))),
		MetadataOptions:     metadataOptions(class.Spec.MetadataOptions),
		BlockDeviceMappings: blockDevices(class.Spec.BlockDeviceMappings, r.family),
		Monitoring:          &ec2types.LaunchTemplatesMonitoringRequest{Enabled: aws.Bool(deref(class.Spec.DetailedMonitoring))},
		TagSpecifications:   []ec2types.LaunchTemplateTagSpecificationRequest{{ResourceType: ec2types.ResourceTypeVolume, Tags: ec2Tags("", c.tags(class)).Tags}},
	}
	body, _ := json.Marshal(data)
	sum := sha256.Sum256(append([]byte(class.Name+"\x00"), body...))
	name := "tailor-" + c.o.ClusterName + "-" + hex.EncodeToString(sum[:])[:16]
	c.mu.Lock()
	_, known := c.ltUsed[name]
	c.ltUsed[name] = c.now()
	c.mu.Unlock()
	if known {
		return name, nil
	}
	_, err = c.c.DescribeLaunchTemplate(ctx, name)
	if err == nil {
		return name, nil
	}
	if !isCode(err, "InvalidLaunchTemplateName.NotFoundException") {
		c.forgetLT(name)
		return "", fmt.Errorf("DescribeLaunchTemplates %s: %w", name, err)
	}
	_, err = c.c.EC2.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String(name), LaunchTemplateData: data,
		TagSpecifications: []ec2types.TagSpecification{ec2Tags(ec2types.ResourceTypeLaunchTemplate, c.tags(class))},
	})
	if err != nil && !isCode(err, "InvalidLaunchTemplateName.AlreadyExistsException") {
		c.forgetLT(name)
		return "", fmt.Errorf("CreateLaunchTemplate %s: %w", name, err)
	}
	c.log.Info("launch template created", "name", name, "nodeclass", class.Name, "ami", r.amiByArch[arch])
	return name, nil
}

func (c *Cloud) forgetLT(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.ltUsed, name)
}

// DescribeLaunchTemplate looks one launch template up by name.
func (cl Clients) DescribeLaunchTemplate(ctx context.Context, name string) (*ec2types.LaunchTemplate, error) {
	out, err := cl.EC2.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateNames: []string{name}})
	if err != nil {
		return nil, err
	}
	if len(out.LaunchTemplates) == 0 {
		return nil, &smithy.GenericAPIError{Code: "InvalidLaunchTemplateName.NotFoundException", Message: name}
	}
	return &out.LaunchTemplates[0], nil
}

// metadataOptions: the class's, IMDSv2 required with hop limit 1 by default.
func metadataOptions(m *provisionerv1.MetadataOptions) *ec2types.LaunchTemplateInstanceMetadataOptionsRequest {
	out := &ec2types.LaunchTemplateInstanceMetadataOptionsRequest{
		HttpEndpoint: ec2types.LaunchTemplateInstanceMetadataEndpointStateEnabled, HttpTokens: ec2types.LaunchTemplateHttpTokensStateRequired,
		HttpPutResponseHopLimit: aws.Int32(1), HttpProtocolIpv6: ec2types.LaunchTemplateInstanceMetadataProtocolIpv6Disabled,
	}
	if m == nil {
		return out
	}
	if m.HTTPEndpoint != nil {
		out.HttpEndpoint = ec2types.LaunchTemplateInstanceMetadataEndpointState(*m.HTTPEndpoint)
	}
	if m.HTTPTokens != nil {
		out.HttpTokens = ec2types.LaunchTemplateHttpTokensState(*m.HTTPTokens)
	}
	if m.HTTPPutResponseHopLimit != nil {
		out.HttpPutResponseHopLimit = aws.Int32(int32(*m.HTTPPutResponseHopLimit))
	}
	if m.HTTPProtocolIPv6 != nil {
		out.HttpProtocolIpv6 = ec2types.LaunchTemplateInstanceMetadataProtocolIpv6(*m.HTTPProtocolIPv6)
	}
	return out
}

// blockDevices: the class's, or a 20 GiB encrypted gp3 root volume
// (Bottlerocket: a 4 GiB OS volume and a 20 GiB data volume, /dev/xvdb,
// where its containers live).
func blockDevices(bds []provisionerv1.BlockDeviceMapping, family string) []ec2types.LaunchTemplateBlockDeviceMappingRequest {
	gp3 := func(dev string, gib int32) ec2types.LaunchTemplateBlockDeviceMappingRequest {
		return ec2types.LaunchTemplateBlockDeviceMappingRequest{DeviceName: aws.String(dev), Ebs: &ec2types.LaunchTemplateEbsBlockDeviceRequest{
			VolumeSize: aws.Int32(gib), VolumeType: ec2types.VolumeTypeGp3, Encrypted: aws.Bool(true), DeleteOnTermination: aws.Bool(true),
		}}
	}
	if len(bds) == 0 {
		if family == bootstrap.FamilyBottlerocket {
			return []ec2types.LaunchTemplateBlockDeviceMappingRequest{gp3("/dev/xvda", 4), gp3("/dev/xvdb", 20)}
		}
		return []ec2types.LaunchTemplateBlockDeviceMappingRequest{gp3("/dev/xvda", 20)}
	}
	out := make([]ec2types.LaunchTemplateBlockDeviceMappingRequest, 0, len(bds))
	for _, b := range bds {
		e := &ec2types.LaunchTemplateEbsBlockDeviceRequest{Encrypted: aws.Bool(true), DeleteOnTermination: aws.Bool(true)}
		if b.EBS.VolumeSize != nil {
			e.VolumeSize = aws.Int32(int32((b.EBS.VolumeSize.Value() + (1<<30 - 1)) >> 30))
		}
		if b.EBS.VolumeType != nil {
			e.VolumeType = ec2types.VolumeType(*b.EBS.VolumeType)
		}
		if b.EBS.IOPS != nil {
			e.Iops = aws.Int32(int32(*b.EBS.IOPS))
		}
		if b.EBS.Throughput != nil {
			e.Throughput = aws.Int32(int32(*b.EBS.Throughput))
		}
		if b.EBS.Encrypted != nil {
			e.Encrypted = b.EBS.Encrypted
		}
		if b.EBS.DeleteOnTermination != nil {
			e.DeleteOnTermination = b.EBS.DeleteOnTermination
		}
		e.KmsKeyId, e.SnapshotId = b.EBS.KMSKeyID, b.EBS.SnapshotID
		out = append(out, ec2types.LaunchTemplateBlockDeviceMappingRequest{DeviceName: aws.String(b.DeviceName), Ebs: e})
	}
	return out
}

// gcLaunchTemplates deletes this cluster's launch templates that this
// process has not used for LaunchTemplateTTL and that are older than it
// (a template still needed is made again at the next launch). With a
// class selector (mine not nil: the installation's AWSNodeClasses by
// name) only the templates of those classes: another installation in the
// same account and cluster makes its own, tagged with its classes.
func (c *Cloud) gcLaunchTemplates(ctx context.Context, mine map[string]bool) {
	var lts []ec2types.LaunchTemplate
	p := ec2.NewDescribeLaunchTemplatesPaginator(c.c.EC2, &ec2.DescribeLaunchTemplatesInput{Filters: []ec2types.Filter{
		{Name: aws.String("tag:" + TagCluster), Values: []string{c.o.ClusterName}},
	}})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			c.log.Error(err, "list launch templates")
			return
		}
		lts = append(lts, page.LaunchTemplates...)
	}
	now := c.now()
	for _, lt := range lts {
		name := deref(lt.LaunchTemplateName)
		if mine != nil && !mine[tagOf(lt.Tags, TagNodeClass)] {
			continue // another installation's, or a class whose owner is unknown now
		}
		c.mu.Lock()
		used, ok := c.ltUsed[name]
		c.mu.Unlock()
		if (ok && now.Sub(used) < c.o.LaunchTemplateTTL) || now.Sub(deref(lt.CreateTime)) < c.o.LaunchTemplateTTL {
			continue
		}
		if _, err := c.c.EC2.DeleteLaunchTemplate(ctx, &ec2.DeleteLaunchTemplateInput{LaunchTemplateName: aws.String(name)}); err != nil {
			c.log.Error(err, "delete launch template", "name", name)
			continue
		}
		c.forgetLT(name)
		c.log.Info("launch template deleted (unused)", "name", name)
	}
}

// syncClasses resolves the installation's AWSNodeClasses into their status, then collects
// unused launch templates.
func (c *Cloud) syncClasses(ctx context.Context) {
	var list provisionerv1.AWSNodeClassList
	if err := c.kube.List(ctx, &list); err != nil {
		c.log.Error(err, "list AWSNodeClasses")
		return
	}
	var mine map[string]bool // nil: every class is this installation's
	if !c.o.Classes.All() {
		mine = map[string]bool{}
	}
	for i := range list.Items {
		class := &list.Items[i]
		if !c.o.Classes.Class(class) {
			continue // another installation's to resolve
		}
		if mine != nil {
			mine[class.Name] = true
		}
		c.mu.Lock()
		delete(c.classes, class.Name)
		c.mu.Unlock()
		r, err := c.resolve(ctx, class)
		if err != nil && r == nil {
			c.log.Error(err, "resolve AWSNodeClass", "nodeclass", class.Name)
			continue
		}
		if err := c.writeStatus(ctx, class, r); err != nil {
			c.log.Error(err, "AWSNodeClass status", "nodeclass", class.Name)
		}
	}
	c.gcLaunchTemplates(ctx, mine)
}

// tagOf is the value of key among tags ("" when absent).
func tagOf(tags []ec2types.Tag, key string) string {
	for _, t := range tags {
		if deref(t.Key) == key {
			return deref(t.Value)
		}
	}
	return ""
}

func (c *Cloud) writeStatus(ctx context.Context, class *provisionerv1.AWSNodeClass, r *resolved) error {
	patched := class.DeepCopy()
	st := &patched.Status
	st.Subnets, st.SecurityGroups, st.AMIs, st.InstanceProfile = r.subnets, r.groups, r.amis, r.profile
	ready := true
	for _, t := range []string{provisionerv1.ConditionSubnetsReady, provisionerv1.ConditionSecurityGroupsReady, provisionerv1.ConditionAMIsReady, provisionerv1.ConditionInstanceProfileReady} {
		cond := metav1.Condition{Type: t, Status: metav1.ConditionTrue, Reason: "Resolved", ObservedGeneration: class.Generation}
		if err := r.errs[t]; err != nil {
			ready = false
			cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, "NotResolved", truncate(err.Error(), 1000)
		}
		meta.SetStatusCondition(&st.Conditions, cond)
	}
	cond := metav1.Condition{Type: provisionerv1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Ready", ObservedGeneration: class.Generation}
	if !ready {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, "NotReady", "see the other conditions"
	}
	meta.SetStatusCondition(&st.Conditions, cond)
	return c.kube.Status().Patch(ctx, patched, client.MergeFrom(class))
}

// classOf reads and resolves the class a pool or claim names.
func (c *Cloud) classOf(ctx context.Context, ref *provisionerv1.NodeClassReference) (*provisionerv1.AWSNodeClass, *resolved, error) {
	if ref == nil {
		return nil, nil, errors.New("no nodeClassRef: the aws cloud launches for AWSNodeClasses only")
	}
	class := &provisionerv1.AWSNodeClass{}
	if err := c.kube.Get(ctx, types.NamespacedName{Name: ref.Name}, class); err != nil {
		return nil, nil, fmt.Errorf("AWSNodeClass %s: %w", ref.Name, err)
	}
	r, err := c.resolve(ctx, class)
	if err != nil {
		return nil, nil, err
	}
	return class, r, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
