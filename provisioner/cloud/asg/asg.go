// Package asg is the provisioner's Auto Scaling group backend
// (--cloud=asg, the Cluster Autoscaler's mode): a NodePool with
// autoScalingGroups grows groups that exist already — named, or
// discovered by the Cluster Autoscaler's tags — instead of launching
// instances itself. Each group offers the solver a template node of the
// instance type it will launch next (built for every type of a mixed
// instances policy, read with the node-template tags); a NodeClaim is
// launched by raising the desired capacity of the group the expanders
// rank first (SetDesiredCapacity) and taking the new instance, which is
// tagged with the claim; a group whose scaling activity fails for
// capacity is left out at once and the next group tried; a claim's
// instance goes with TerminateInstanceInAutoScalingGroup, decrementing
// the desired capacity. Instance types and prices are the fleet
// backend's (provisioner/cloud/aws), read through a Cloud that never
// launches.
//
// The pure parts are template.go (tags, templates, allocation order) and
// expander.go; this file calls AWS through narrow interfaces that
// cmd/tailor fills with aws-sdk-go-v2 clients.
package asg

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/cloud"
	"github.com/tailor-dev/tailor/provisioner/cloud/asg/nodegroup"
	awscloud "github.com/tailor-dev/tailor/provisioner/cloud/aws"
	"github.com/tailor-dev/tailor/provisioner/scheduling"
	"github.com/tailor-dev/tailor/provisioner/scope"
)

// AutoScalingAPI is the part of the Auto Scaling client Tailor calls.
type AutoScalingAPI interface {
	DescribeAutoScalingGroups(context.Context, *autoscaling.DescribeAutoScalingGroupsInput, ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error)
	SetDesiredCapacity(context.Context, *autoscaling.SetDesiredCapacityInput, ...func(*autoscaling.Options)) (*autoscaling.SetDesiredCapacityOutput, error)
	TerminateInstanceInAutoScalingGroup(context.Context, *autoscaling.TerminateInstanceInAutoScalingGroupInput, ...func(*autoscaling.Options)) (*autoscaling.TerminateInstanceInAutoScalingGroupOutput, error)
	DescribeScalingActivities(context.Context, *autoscaling.DescribeScalingActivitiesInput, ...func(*autoscaling.Options)) (*autoscaling.DescribeScalingActivitiesOutput, error)
}

// EKSAPI reads managed node groups.
type EKSAPI interface {
	DescribeNodegroup(context.Context, *eks.DescribeNodegroupInput, ...func(*eks.Options)) (*eks.DescribeNodegroupOutput, error)
}

// EC2API is the part of the EC2 client the backend calls itself (the
// fleet backend it reads through calls the rest).
type EC2API interface {
	CreateTags(context.Context, *ec2.CreateTagsInput, ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error)
	DescribeLaunchTemplateVersions(context.Context, *ec2.DescribeLaunchTemplateVersionsInput, ...func(*ec2.Options)) (*ec2.DescribeLaunchTemplateVersionsOutput, error)
}

// Options configure the backend.
type Options struct {
	ClusterName string
	// Expanders rank the groups that can take a claim.
	Expanders []Expander
	// LaunchTimeout: how long a launch waits for the group's new instance
	// to show (Pending is enough) before giving the capacity back.
	LaunchTimeout time.Duration
	// PollInterval between reads of the group while waiting.
	PollInterval time.Duration
	// GroupRefresh: how long group descriptions are reused for the solver,
	// and how often the pools' nodes are labelled.
	GroupRefresh time.Duration
	// PriceRefresh: how often instance types and prices are read again.
	PriceRefresh time.Duration
	// Pools are the installation's NodePools (--nodepool-selector; the zero
	// value: all): the only ones it serves and labels the nodes of.
	Pools scope.Pools
}

// DefaultOptions: price then least-waste; wait up to 2 minutes for an
// instance; groups read every 10 s.
func DefaultOptions() Options {
	return Options{Expanders: DefaultExpanders, LaunchTimeout: 2 * time.Minute, PollInterval: time.Second,
		GroupRefresh: 10 * time.Second, PriceRefresh: 12 * time.Hour}
}

// Validate reports options the backend cannot run with.
func (o Options) Validate() error {
	switch {
	case o.ClusterName == "":
		return errors.New("--cloud=asg needs --cluster-name")
	case len(o.Expanders) == 0:
		return errors.New("--asg-expander: name at least one expander")
	case o.LaunchTimeout <= 0 || o.PollInterval <= 0 || o.GroupRefresh <= 0 || o.PriceRefresh <= 0:
		return errors.New("asg durations must be positive")
	}
	return nil
}

var (
	scaleUps = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tailor_asg_scale_ups_total",
		Help: "Auto Scaling group scale-ups (SetDesiredCapacity +1 for a NodeClaim) by group and outcome: launched, insufficient_capacity, full, error.",
	}, []string{"group", "outcome"})
	scaleDowns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tailor_asg_scale_downs_total",
		Help: "Instances terminated in Auto Scaling groups by group and outcome: decremented (desired capacity lowered), replaced (the group was at its min size), error.",
	}, []string{"group", "outcome"})
)

func init() { metrics.Registry.MustRegister(scaleUps, scaleDowns) }

// errFull: the group reached its max size since it was read.
var errFull = errors.New("at its max size")

// capacityError: the group's scaling activity failed for capacity.
type capacityError struct{ msg string }

func (e *capacityError) Error() string { return e.msg }

// Cloud is the asg backend.
type Cloud struct {
	o        Options
	as       AutoScalingAPI
	ec2      EC2API
	eks      EKSAPI
	fleet    *awscloud.Cloud
	kube     client.Client
	recorder recorder.EventRecorder
	log      logr.Logger
	now      func() time.Time
	sleep    func(context.Context, time.Duration) error
	shuffle  func(n int) []int
	// unavailable groups: a group out of capacity is out as a whole (the
	// group's name stands in the offering's type).
	unavailable *cloud.Unavailable

	mu      sync.Mutex
	locks   map[string]*sync.Mutex // by group: one desired-capacity change at a time
	claimed map[string]string      // instance id → claim, before its tags show
	cache   map[string]cachedGroups
	ltTypes map[string]string // launch template id/name@version → instance type
	managed map[string]cachedNodeGroup
	told    map[string]string // pool → the last groups summary put in an Event
}

// managedRefresh: how long a managed node group's labels and taints are
// reused (they change with an update of the node group, rarely).
const managedRefresh = 5 * time.Minute

type cachedNodeGroup struct {
	at time.Time
	ng *nodegroup.ManagedNodeGroup
}

type cachedGroups struct {
	at     time.Time
	groups []*nodegroup.Group
	skip   []string
}

var _ cloud.Provider = &Cloud{}

// New returns the backend; fleet supplies instance types, prices, Get and
// List; kube reads NodePools and Nodes and labels Nodes; eksc reads the
// managed node groups.
func New(kube client.Client, as AutoScalingAPI, ec2c EC2API, eksc EKSAPI, fleet *awscloud.Cloud, rec recorder.EventRecorder, o Options, log logr.Logger) (*Cloud, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	return &Cloud{o: o, as: as, ec2: ec2c, eks: eksc, fleet: fleet, kube: kube, recorder: rec, log: log, now: time.Now,
		sleep: func(ctx context.Context, d time.Duration) error {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
				return nil
			}
		},
		shuffle:     rand.Perm,
		unavailable: cloud.NewUnavailable(),
		locks:       map[string]*sync.Mutex{}, claimed: map[string]string{}, cache: map[string]cachedGroups{},
		ltTypes: map[string]string{}, told: map[string]string{}, managed: map[string]cachedNodeGroup{}}, nil
}

// NeedLeaderElection: only the leader scales.
func (c *Cloud) NeedLeaderElection() bool { return true }

// Serves: the pools with autoScalingGroups.
func (c *Cloud) Serves(np *provisionerv1.NodePool) bool {
	return np.Spec.AutoScalingGroups != nil && c.o.Pools.Pool(np)
}

// Start reads types and prices now and every PriceRefresh, and labels the
// pools' nodes every GroupRefresh, until ctx ends.
func (c *Cloud) Start(ctx context.Context) error {
	c.fleet.RefreshPrices(ctx)
	c.labelNodes(ctx)
	prices := time.NewTicker(c.o.PriceRefresh)
	defer prices.Stop()
	groups := time.NewTicker(c.o.GroupRefresh)
	defer groups.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-prices.C:
			c.fleet.RefreshPrices(ctx)
		case <-groups.C:
			c.labelNodes(ctx)
		}
	}
}

// groupsOf describes the pool's groups: named ones in their order, then
// discovered ones by name. skip says why a group is left out. A cached
// answer younger than GroupRefresh is reused unless fresh.
func (c *Cloud) groupsOf(ctx context.Context, np *provisionerv1.NodePool, fresh bool) ([]*nodegroup.Group, []string, error) {
	key := fmt.Sprintf("%s/%d", np.Name, np.Generation)
	c.mu.Lock()
	if cg, ok := c.cache[key]; ok && !fresh && c.now().Sub(cg.at) < c.o.GroupRefresh {
		c.mu.Unlock()
		return cg.groups, cg.skip, nil
	}
	c.mu.Unlock()
	spec := np.Spec.AutoScalingGroups
	if spec == nil {
		return nil, nil, fmt.Errorf("nodepool %s has no autoScalingGroups: the asg cloud serves those pools only", np.Name)
	}
	var raw []astypes.AutoScalingGroup
	if len(spec.Names) > 0 {
		got, err := c.describe(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: spec.Names})
		if err != nil {
			return nil, nil, err
		}
		raw = append(raw, got...)
	}
	for _, term := range spec.SelectorTerms {
		got, err := c.describe(ctx, &autoscaling.DescribeAutoScalingGroupsInput{Filters: Filters(term.Tags)})
		if err != nil {
			return nil, nil, err
		}
		raw = append(raw, got...)
	}
	order := map[string]int{}
	for i, n := range spec.Names {
		order[n] = i
	}
	seen := map[string]bool{}
	var out []*nodegroup.Group
	var skip []string
	for _, a := range raw {
		name := aws.ToString(a.AutoScalingGroupName)
		if seen[name] {
			continue
		}
		seen[name] = true
		g, err := c.convert(ctx, a)
		if err != nil {
			skip = append(skip, name+": "+err.Error())
			continue
		}
		out = append(out, g)
	}
	sort.SliceStable(out, func(i, j int) bool {
		oi, iNamed := order[out[i].Name]
		oj, jNamed := order[out[j].Name]
		if iNamed != jNamed {
			return iNamed
		}
		if iNamed && oi != oj {
			return oi < oj
		}
		return out[i].Name < out[j].Name
	})
	for _, n := range spec.Names {
		if !seen[n] {
			skip = append(skip, n+": no such Auto Scaling group")
		}
	}
	sort.Strings(skip)
	c.mu.Lock()
	c.cache[key] = cachedGroups{at: c.now(), groups: out, skip: skip}
	c.mu.Unlock()
	return out, skip, nil
}

// Filters are the DescribeAutoScalingGroups filters of a selector term:
// tag:<key>=<value>, or tag-key=<key> for "*".
func Filters(tags map[string]string) []astypes.Filter {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]astypes.Filter, 0, len(keys))
	for _, k := range keys {
		if v := tags[k]; v == "*" {
			out = append(out, astypes.Filter{Name: aws.String("tag-key"), Values: []string{k}})
		} else {
			out = append(out, astypes.Filter{Name: aws.String("tag:" + k), Values: []string{v}})
		}
	}
	return out
}

func (c *Cloud) describe(ctx context.Context, in *autoscaling.DescribeAutoScalingGroupsInput) ([]astypes.AutoScalingGroup, error) {
	var out []astypes.AutoScalingGroup
	p := autoscaling.NewDescribeAutoScalingGroupsPaginator(c.as, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("DescribeAutoScalingGroups: %w", err)
		}
		out = append(out, page.AutoScalingGroups...)
	}
	return out, nil
}

// convert reads a group's description; the instance type of a group
// without a mixed instances policy is its launch template's.
func (c *Cloud) convert(ctx context.Context, a astypes.AutoScalingGroup) (*nodegroup.Group, error) {
	g := &nodegroup.Group{Name: aws.ToString(a.AutoScalingGroupName), Min: aws.ToInt32(a.MinSize), Max: aws.ToInt32(a.MaxSize),
		Desired: aws.ToInt32(a.DesiredCapacity), Zones: a.AvailabilityZones, Tags: map[string]string{}, OnDemandPercent: 100}
	for _, t := range a.Tags {
		g.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	if ng := g.Tags[nodegroup.TagNodeGroup]; ng != "" {
		cluster := g.Tags[nodegroup.TagEKSCluster]
		if cluster == "" {
			cluster = c.o.ClusterName
		}
		m, err := c.nodeGroup(ctx, cluster, ng)
		if err != nil {
			// Without them a template would promise nodes without the
			// group's taints: the group is left out until EKS answers.
			return nil, fmt.Errorf("managed node group %s: %w", ng, err)
		}
		g.Managed = m
	}
	for _, in := range a.Instances {
		g.Instances = append(g.Instances, nodegroup.GroupInstance{ID: aws.ToString(in.InstanceId), Type: aws.ToString(in.InstanceType),
			Zone: aws.ToString(in.AvailabilityZone), State: string(in.LifecycleState)})
	}
	switch {
	case a.MixedInstancesPolicy != nil:
		g.Mixed = true
		if d := a.MixedInstancesPolicy.InstancesDistribution; d != nil {
			g.OnDemandStrategy, g.SpotStrategy = aws.ToString(d.OnDemandAllocationStrategy), aws.ToString(d.SpotAllocationStrategy)
			if d.OnDemandBaseCapacity != nil {
				g.OnDemandBase = *d.OnDemandBaseCapacity
			}
			if d.OnDemandPercentageAboveBaseCapacity != nil {
				g.OnDemandPercent = *d.OnDemandPercentageAboveBaseCapacity
			}
		}
		if lt := a.MixedInstancesPolicy.LaunchTemplate; lt != nil {
			for _, ov := range lt.Overrides {
				if t := aws.ToString(ov.InstanceType); t != "" {
					g.Types = append(g.Types, t)
				}
			}
		}
		if len(g.Types) == 0 {
			return nil, errors.New("a mixed instances policy without instance types (attribute-based selection is not read yet)")
		}
	case a.LaunchTemplate != nil:
		t, err := c.templateType(ctx, a.LaunchTemplate)
		if err != nil {
			return nil, err
		}
		g.Types = []string{t}
	default:
		return nil, errors.New("launch configurations are not read (AWS retired them): use a launch template")
	}
	return g, nil
}

// nodeGroup reads a managed node group's labels and taints (EKS
// DescribeNodegroup), reused for managedRefresh.
func (c *Cloud) nodeGroup(ctx context.Context, cluster, name string) (*nodegroup.ManagedNodeGroup, error) {
	key := cluster + "/" + name
	c.mu.Lock()
	cached, ok := c.managed[key]
	c.mu.Unlock()
	if ok && c.now().Sub(cached.at) < managedRefresh {
		return cached.ng, nil
	}
	out, err := c.eks.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String(cluster), NodegroupName: aws.String(name)})
	if err != nil {
		return nil, fmt.Errorf("DescribeNodegroup: %w", err)
	}
	m := &nodegroup.ManagedNodeGroup{Labels: map[string]string{}}
	if ng := out.Nodegroup; ng != nil {
		for k, v := range ng.Labels {
			m.Labels[k] = v
		}
		for _, t := range ng.Taints {
			effect, ok := nodegroup.ManagedTaintEffect(string(t.Effect))
			if !ok {
				c.log.Info("managed node group taint with an unknown effect left out", "nodegroup", name, "taint", aws.ToString(t.Key), "effect", t.Effect)
				continue
			}
			m.Taints = append(m.Taints, corev1.Taint{Key: aws.ToString(t.Key), Value: aws.ToString(t.Value), Effect: effect})
		}
	}
	c.mu.Lock()
	c.managed[key] = cachedNodeGroup{at: c.now(), ng: m}
	c.mu.Unlock()
	return m, nil
}

// templateType is the instance type of a launch template version.
func (c *Cloud) templateType(ctx context.Context, lt *astypes.LaunchTemplateSpecification) (string, error) {
	version := aws.ToString(lt.Version)
	if version == "" {
		version = "$Default"
	}
	key := aws.ToString(lt.LaunchTemplateId) + "/" + aws.ToString(lt.LaunchTemplateName) + "@" + version
	c.mu.Lock()
	t, ok := c.ltTypes[key]
	c.mu.Unlock()
	if ok {
		return t, nil
	}
	in := &ec2.DescribeLaunchTemplateVersionsInput{Versions: []string{version}}
	if lt.LaunchTemplateId != nil {
		in.LaunchTemplateId = lt.LaunchTemplateId
	} else {
		in.LaunchTemplateName = lt.LaunchTemplateName
	}
	out, err := c.ec2.DescribeLaunchTemplateVersions(ctx, in)
	if err != nil {
		return "", fmt.Errorf("DescribeLaunchTemplateVersions: %w", err)
	}
	for _, v := range out.LaunchTemplateVersions {
		if v.LaunchTemplateData != nil && v.LaunchTemplateData.InstanceType != "" {
			t = string(v.LaunchTemplateData.InstanceType)
		}
	}
	if t == "" {
		return "", errors.New("its launch template names no instance type")
	}
	c.mu.Lock()
	c.ltTypes[key] = t
	c.mu.Unlock()
	return t, nil
}

// next is the group's template for its next instance and why it cannot
// take claims of np ("" if it can).
func (c *Cloud) next(g *nodegroup.Group, np *provisionerv1.NodePool) (*scheduling.InstanceType, string) {
	nt, errs := nodegroup.ParseTags(g.Tags)
	for _, err := range errs {
		c.log.V(1).Info("node-template tag left out", "group", g.Name, "error", err.Error())
	}
	nt = nt.WithManaged(g.Managed)
	for _, t := range nt.Taints {
		if !hasTaint(np.Spec.Template.Spec.Taints, t) {
			return nil, fmt.Sprintf("its node-template taint %s=%s:%s is not among the pool's taints", t.Key, t.Value, t.Effect)
		}
	}
	ct := g.CapacityType()
	price := func(typ string) float64 {
		best := 0.0
		for i, z := range g.Zones {
			if p := c.fleet.Price(typ, z, ct); i == 0 || p < best {
				best = p
			}
		}
		return best
	}
	for _, typ := range g.LaunchOrder(price) {
		base, ok := c.fleet.Template(typ)
		if !ok {
			continue
		}
		why := ""
		switch {
		case g.Desired >= g.Max:
			why = fmt.Sprintf("at its max size (%d)", g.Max)
		case c.unavailable.Is(cloud.Offering{InstanceType: g.Name}):
			why = "its last scale-up failed for capacity"
		}
		return nodegroup.Template(base, g, nt, func(z string) float64 { return c.fleet.Price(typ, z, ct) }, why == ""), why
	}
	return nil, "none of its instance types " + strings.Join(g.Types, ", ") + " is known"
}

func hasTaint(ts []corev1.Taint, t corev1.Taint) bool {
	for _, x := range ts {
		if x.Key == t.Key && x.Value == t.Value && x.Effect == t.Effect {
			return true
		}
	}
	return false
}

// InstanceTypes: the template of each group's next instance, its
// offerings unavailable while the group is full or out of capacity.
func (c *Cloud) InstanceTypes(ctx context.Context, np *provisionerv1.NodePool) ([]*scheduling.InstanceType, error) {
	groups, _, err := c.groupsOf(ctx, np, false)
	if err != nil {
		return nil, err
	}
	var out []*scheduling.InstanceType
	for _, g := range groups {
		if it, _ := c.next(g, np); it != nil {
			out = append(out, it)
		}
	}
	return out, nil
}

// Create grows the group the expanders rank first among those whose next
// instance meets nc (every zone of the group, since the group picks the
// zone), and takes the new instance; a group whose activity fails for
// capacity is marked and the next one tried at once.
func (c *Cloud) Create(ctx context.Context, nc *provisionerv1.NodeClaim) (*cloud.Instance, error) {
	np := &provisionerv1.NodePool{}
	if err := c.kube.Get(ctx, types.NamespacedName{Name: nc.Labels[provisionerv1.LabelNodePool]}, np); err != nil {
		return nil, fmt.Errorf("nodepool of %s: %w", nc.Name, err)
	}
	groups, _, err := c.groupsOf(ctx, np, true)
	if err != nil {
		return nil, err
	}
	var opts []Option
	byName := map[string]*nodegroup.Group{}
	var passed []string
	for i, g := range groups {
		it, why := c.next(g, np)
		if it == nil || why != "" {
			passed = append(passed, g.Name+": "+why)
			continue
		}
		cands, err := cloud.Candidates(nc, []*scheduling.InstanceType{it})
		if err != nil {
			return nil, err
		}
		if len(cands) != len(g.Zones) {
			passed = append(passed, fmt.Sprintf("%s: its next instance (%s %s in %s) does not meet the claim", g.Name, it.Name, g.CapacityType(), strings.Join(g.Zones, ", ")))
			continue
		}
		price := 0.0
		for _, cd := range cands {
			price = max(price, cd.Offer.Price)
		}
		var w int32
		if np.Spec.Weight != nil {
			w = *np.Spec.Weight
		}
		byName[g.Name] = g
		opts = append(opts, Option{Group: g.Name, InstanceType: it.Name, CapacityType: g.CapacityType(), Price: price, Allocatable: it.Allocatable, Weight: w, Order: i})
	}
	ranked := Rank(opts, c.o.Expanders, nc.Spec.Resources.Requests, c.shuffle)
	var ice []cloud.Offering
	for i, o := range ranked {
		g := byName[o.Group]
		in, err := c.scaleUp(ctx, nc, g, o)
		var ce *capacityError
		switch {
		case errors.As(err, &ce):
			c.unavailable.Mark(cloud.Offering{InstanceType: g.Name})
			ice = append(ice, cloud.Offering{InstanceType: o.InstanceType, Zone: strings.Join(g.Zones, "+"), CapacityType: o.CapacityType})
			c.event(nc, corev1.EventTypeWarning, "InsufficientCapacity", "Auto Scaling group %s could not launch: %s; left out for %s, trying the next group", g.Name, truncate(ce.msg, 400), cloud.UnavailableTTL)
			continue
		case errors.Is(err, errFull):
			passed = append(passed, g.Name+": at its max size")
			continue
		case err != nil:
			return nil, err
		}
		in.InsufficientCapacity = ice
		others := make([]string, 0, len(ranked)-1)
		for _, x := range ranked[i+1:] {
			others = append(others, fmt.Sprintf("%s (%s %s $%.4f/h)", x.Group, x.InstanceType, x.CapacityType, x.Price))
		}
		msg := fmt.Sprintf("Auto Scaling group %s grew to %s: %s %s at $%.4f/h, ranked first by %s", g.Name, in.ProviderID, o.InstanceType, o.CapacityType, o.Price, joinExpanders(c.o.Expanders))
		if len(others) > 0 {
			msg += " over " + strings.Join(others, ", ")
		}
		if len(passed) > 0 {
			msg += "; passed over " + strings.Join(passed, "; ")
		}
		c.event(nc, corev1.EventTypeNormal, "ScaledUp", "%s", truncate(msg, 1000))
		return in, nil
	}
	if len(ice) == 0 && len(passed) > 0 {
		c.log.Info("no Auto Scaling group can take the claim", "nodeclaim", nc.Name, "passedOver", passed)
	}
	return nil, &cloud.InsufficientCapacityError{Offerings: ice}
}

func joinExpanders(es []Expander) string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = string(e)
	}
	return strings.Join(s, ",")
}

func (c *Cloud) event(obj client.Object, typ, reason, format string, a ...any) {
	if c.recorder != nil {
		c.recorder.Eventf(obj, nil, typ, reason, "Launch", format, a...)
	}
}

func (c *Cloud) lock(group string) *sync.Mutex {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.locks[group]
	if !ok {
		m = &sync.Mutex{}
		c.locks[group] = m
	}
	return m
}

// describeOne reads one group afresh.
func (c *Cloud) describeOne(ctx context.Context, name string) (*nodegroup.Group, error) {
	raw, err := c.describe(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{name}})
	if err != nil {
		return nil, err
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("Auto Scaling group %s is gone", name)
	}
	return c.convert(ctx, raw[0])
}

// scaleUp raises g's desired capacity by one and waits for the new
// instance (or the activity's failure); the capacity is given back when
// no instance comes.
func (c *Cloud) scaleUp(ctx context.Context, nc *provisionerv1.NodeClaim, g *nodegroup.Group, o Option) (*cloud.Instance, error) {
	m := c.lock(g.Name)
	m.Lock()
	fresh, err := c.describeOne(ctx, g.Name)
	if err != nil {
		m.Unlock()
		return nil, err
	}
	if fresh.Desired >= fresh.Max {
		m.Unlock()
		scaleUps.WithLabelValues(g.Name, "full").Inc()
		return nil, errFull
	}
	before := map[string]bool{}
	for _, in := range fresh.Instances {
		before[in.ID] = true
	}
	seen, err := c.activities(ctx, g.Name)
	if err != nil {
		m.Unlock()
		return nil, err
	}
	_, err = c.as.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String(g.Name),
		DesiredCapacity: aws.Int32(fresh.Desired + 1), HonorCooldown: aws.Bool(false)})
	m.Unlock()
	if err != nil {
		scaleUps.WithLabelValues(g.Name, "error").Inc()
		return nil, fmt.Errorf("SetDesiredCapacity %s to %d: %w", g.Name, fresh.Desired+1, err)
	}
	c.log.Info("desired capacity raised", "group", g.Name, "desired", fresh.Desired+1, "nodeclaim", nc.Name, "instanceType", o.InstanceType)
	deadline := c.now().Add(c.o.LaunchTimeout)
	for {
		cur, err := c.describeOne(ctx, g.Name)
		if err == nil {
			for _, in := range cur.Instances {
				if before[in.ID] || strings.HasPrefix(in.State, "Terminat") || !c.take(in.ID, nc.Name) {
					continue
				}
				return c.adopt(ctx, nc, g, in, o), nil
			}
			acts, err := c.activities(ctx, g.Name)
			if err == nil {
				for id, a := range acts {
					if seen[id] != nil || (a.StatusCode != astypes.ScalingActivityStatusCodeFailed && a.StatusCode != astypes.ScalingActivityStatusCodeCancelled) {
						continue
					}
					msg := aws.ToString(a.StatusMessage)
					if msg == "" {
						msg = aws.ToString(a.Description)
					}
					c.giveBack(ctx, g.Name)
					if CapacityFailure(msg + " " + aws.ToString(a.Description)) {
						scaleUps.WithLabelValues(g.Name, "insufficient_capacity").Inc()
						return nil, &capacityError{msg: msg}
					}
					scaleUps.WithLabelValues(g.Name, "error").Inc()
					return nil, fmt.Errorf("Auto Scaling group %s could not launch: %s", g.Name, msg)
				}
			}
		}
		if err != nil {
			c.log.Error(err, "waiting for the group's instance", "group", g.Name)
		}
		if !c.now().Before(deadline) {
			c.giveBack(ctx, g.Name)
			scaleUps.WithLabelValues(g.Name, "error").Inc()
			return nil, fmt.Errorf("Auto Scaling group %s showed no new instance within %s; desired capacity given back", g.Name, c.o.LaunchTimeout)
		}
		if err := c.sleep(ctx, c.o.PollInterval); err != nil {
			return nil, err
		}
	}
}

// take claims instance id for claim, unless another claim of this
// process has it.
func (c *Cloud) take(id, claim string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if other, ok := c.claimed[id]; ok && other != claim {
		return false
	}
	c.claimed[id] = claim
	return true
}

// adopt tags the claim's new instance (so List finds it after a restart)
// and describes it.
func (c *Cloud) adopt(ctx context.Context, nc *provisionerv1.NodeClaim, g *nodegroup.Group, in nodegroup.GroupInstance, o Option) *cloud.Instance {
	_, err := c.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{in.ID}, Tags: []ec2types.Tag{
		{Key: aws.String(awscloud.TagCluster), Value: aws.String(c.o.ClusterName)},
		{Key: aws.String(awscloud.TagNodeClaim), Value: aws.String(nc.Name)},
		{Key: aws.String(awscloud.TagNodePool), Value: aws.String(nc.Labels[provisionerv1.LabelNodePool])},
	}})
	if err != nil {
		c.log.Error(err, "tag the claim's instance (a restart will not find it by tag)", "instance", in.ID, "nodeclaim", nc.Name)
	}
	scaleUps.WithLabelValues(g.Name, "launched").Inc()
	typ := in.Type
	if typ == "" {
		typ = o.InstanceType
	}
	return c.fleet.Describe(in.ID, typ, in.Zone, o.CapacityType, nc.Name)
}

// giveBack lowers the desired capacity by the instance that did not come.
func (c *Cloud) giveBack(ctx context.Context, group string) {
	m := c.lock(group)
	m.Lock()
	defer m.Unlock()
	g, err := c.describeOne(ctx, group)
	if err != nil {
		c.log.Error(err, "give the desired capacity back", "group", group)
		return
	}
	if g.Desired <= g.Min {
		return
	}
	if _, err := c.as.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String(group),
		DesiredCapacity: aws.Int32(g.Desired - 1), HonorCooldown: aws.Bool(false)}); err != nil {
		c.log.Error(err, "give the desired capacity back", "group", group)
		return
	}
	c.log.Info("desired capacity given back", "group", group, "desired", g.Desired-1)
}

// activities are the group's recent scaling activities by id.
func (c *Cloud) activities(ctx context.Context, group string) (map[string]*astypes.Activity, error) {
	out, err := c.as.DescribeScalingActivities(ctx, &autoscaling.DescribeScalingActivitiesInput{AutoScalingGroupName: aws.String(group), MaxRecords: aws.Int32(20)})
	if err != nil {
		return nil, fmt.Errorf("DescribeScalingActivities %s: %w", group, err)
	}
	m := map[string]*astypes.Activity{}
	for i := range out.Activities {
		m[aws.ToString(out.Activities[i].ActivityId)] = &out.Activities[i]
	}
	return m, nil
}

// CapacityFailure reports whether a failed scaling activity's message
// says EC2 had no capacity (as opposed to a configuration error).
func CapacityFailure(msg string) bool {
	for _, s := range []string{"InsufficientInstanceCapacity", "do not have sufficient", "sufficient capacity", "insufficient capacity", "UnfulfillableCapacity",
		"MaxSpotInstanceCountExceeded", "SpotMaxPriceTooLow", "capacity-not-available", "InsufficientCapacity"} {
		if strings.Contains(strings.ToLower(msg), strings.ToLower(s)) {
			return true
		}
	}
	return false
}

// Delete terminates the instance in its group and lowers the desired
// capacity; a group at its min size replaces the instance instead.
func (c *Cloud) Delete(ctx context.Context, providerID string) error {
	id, err := awscloud.InstanceID(providerID)
	if err != nil {
		return err
	}
	out, err := c.as.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{InstanceId: aws.String(id), ShouldDecrementDesiredCapacity: aws.Bool(true)})
	outcome := "decremented"
	if err != nil && strings.Contains(err.Error(), "min size") {
		c.log.Info("the group is at its min size: the instance is replaced", "instance", id)
		outcome = "replaced"
		out, err = c.as.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{InstanceId: aws.String(id), ShouldDecrementDesiredCapacity: aws.Bool(false)})
	}
	if err != nil && awscloud.IsCode(err, "ValidationError") && strings.Contains(strings.ToLower(err.Error()), "not found") {
		return &cloud.NotFoundError{ProviderID: providerID}
	}
	group := ""
	if out != nil && out.Activity != nil {
		group = aws.ToString(out.Activity.AutoScalingGroupName)
	}
	if err != nil {
		scaleDowns.WithLabelValues(group, "error").Inc()
		return fmt.Errorf("TerminateInstanceInAutoScalingGroup %s: %w", id, err)
	}
	scaleDowns.WithLabelValues(group, outcome).Inc()
	c.mu.Lock()
	delete(c.claimed, id)
	c.mu.Unlock()
	c.log.Info("instance terminated in its Auto Scaling group", "instance", id, "group", group, "outcome", outcome)
	return nil
}

// Get describes one instance (EC2's view).
func (c *Cloud) Get(ctx context.Context, providerID string) (*cloud.Instance, error) {
	return c.fleet.Get(ctx, providerID)
}

// List is every instance Tailor took for a NodeClaim (tagged for the
// cluster); the groups' other instances are not Tailor's.
func (c *Cloud) List(ctx context.Context) ([]*cloud.Instance, error) { return c.fleet.List(ctx) }

// labelNodes puts tailor.dev/nodepool on the Nodes of every pool's groups
// (claims' nodes get it at registration; this covers the instances the
// groups had or made themselves), and tells each pool's groups in an
// Event when they change.
func (c *Cloud) labelNodes(ctx context.Context) {
	var pools provisionerv1.NodePoolList
	if err := c.kube.List(ctx, &pools); err != nil {
		c.log.Error(err, "list NodePools")
		return
	}
	c.mu.Lock()
	c.ltTypes = map[string]string{}
	c.mu.Unlock()
	var nodes corev1.NodeList
	if err := c.kube.List(ctx, &nodes); err != nil {
		c.log.Error(err, "list Nodes")
		return
	}
	byID := map[string]*corev1.Node{}
	for i := range nodes.Items {
		if id, err := awscloud.InstanceID(nodes.Items[i].Spec.ProviderID); err == nil {
			byID[id] = &nodes.Items[i]
		}
	}
	sort.Slice(pools.Items, func(i, j int) bool { return pools.Items[i].Name < pools.Items[j].Name })
	owner := map[string]string{}
	for i := range pools.Items {
		np := &pools.Items[i]
		if !c.Serves(np) || np.DeletionTimestamp != nil {
			continue
		}
		groups, skip, err := c.groupsOf(ctx, np, true)
		if err != nil {
			c.log.Error(err, "Auto Scaling groups of a pool", "nodepool", np.Name)
			continue
		}
		c.tell(np, groups, skip)
		for _, g := range groups {
			if other, ok := owner[g.Name]; ok {
				c.log.Info("Auto Scaling group in two pools: its nodes stay in the first", "group", g.Name, "nodepool", other, "also", np.Name)
				continue
			}
			owner[g.Name] = np.Name
			for _, in := range g.Instances {
				node := byID[in.ID]
				if node == nil || node.Labels[provisionerv1.LabelNodePool] == np.Name {
					continue
				}
				if cur := node.Labels[provisionerv1.LabelNodePool]; cur != "" {
					continue // a claim of another pool's: not ours to move
				}
				patched := node.DeepCopy()
				if patched.Labels == nil {
					patched.Labels = map[string]string{}
				}
				patched.Labels[provisionerv1.LabelNodePool] = np.Name
				if err := c.kube.Patch(ctx, patched, client.MergeFrom(node)); err != nil {
					c.log.Error(err, "label node", "node", node.Name)
					continue
				}
				c.log.Info("node labelled with its group's pool", "node", node.Name, "group", g.Name, "nodepool", np.Name)
			}
		}
	}
}

// tell puts the pool's groups in an Event when they change.
func (c *Cloud) tell(np *provisionerv1.NodePool, groups []*nodegroup.Group, skip []string) {
	parts := make([]string, 0, len(groups))
	for _, g := range groups {
		it, why := c.next(g, np)
		desc := fmt.Sprintf("%s (%d/%d..%d", g.Name, g.Desired, g.Min, g.Max)
		if it != nil {
			desc += ", next " + it.Name + " " + g.CapacityType()
		}
		if why != "" {
			desc += ", unavailable: " + why
		}
		parts = append(parts, desc+")")
	}
	msg := fmt.Sprintf("%d Auto Scaling groups: %s", len(groups), strings.Join(parts, ", "))
	if len(skip) > 0 {
		msg += "; left out: " + strings.Join(skip, "; ")
	}
	c.mu.Lock()
	same := c.told[np.Name] == msg
	c.told[np.Name] = msg
	c.mu.Unlock()
	if same || c.recorder == nil {
		return
	}
	typ := corev1.EventTypeNormal
	if len(skip) > 0 || len(groups) == 0 {
		typ = corev1.EventTypeWarning
	}
	c.recorder.Eventf(np, nil, typ, "AutoScalingGroups", "Discover", "%s", truncate(msg, 1000))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
