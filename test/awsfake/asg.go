package awsfake

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Group is an Auto Scaling group of the fake account.
type Group struct {
	Name              string
	Min, Max, Desired int
	// Zones the group launches in (its subnets' zones), balanced.
	Zones []string
	// LaunchTemplate names the group's launch template; InstanceType is
	// the template's type (a group without a mixed instances policy).
	LaunchTemplate string
	InstanceType   string
	// Overrides are the instance types of a mixed instances policy, in
	// priority order; empty: no mixed instances policy.
	Overrides []string
	// OnDemandStrategy: prioritized (AWS's default for overrides) or
	// lowest-price.
	OnDemandStrategy string
	// Spot: the policy's OnDemandPercentageAboveBaseCapacity is 0 (every
	// instance spot, price-capacity-optimized), else 100.
	Spot bool
	// Tags of the group (k8s.io/cluster-autoscaler/... and others).
	Tags map[string]string
	// Instances in the group (ids), as read back by Group.
	Instances []string
}

type activity struct {
	ID, Group, Description, Cause, Status, Message string
	Start                                          time.Time
}

// asgState is the Auto Scaling side of the account.
type asgState struct {
	groups     map[string]*Group
	activities []activity // oldest first
}

func newASGState() *asgState { return &asgState{groups: map[string]*Group{}} }

// AddGroup creates a group (and its launch template, when it has none in
// the account) and launches its desired capacity.
func (s *Server) AddGroup(g Group) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := g
	c.Tags = map[string]string{}
	for k, v := range g.Tags {
		c.Tags[k] = v
	}
	c.Zones = append([]string(nil), g.Zones...)
	c.Overrides = append([]string(nil), g.Overrides...)
	c.Instances = nil
	if c.OnDemandStrategy == "" {
		c.OnDemandStrategy = "prioritized"
	}
	if c.LaunchTemplate == "" {
		c.LaunchTemplate = "lt-" + c.Name
	}
	if _, ok := s.ec2.templates[c.LaunchTemplate]; !ok {
		s.ec2.templates[c.LaunchTemplate] = &launchTemplate{ID: newID("lt-", 17), Name: c.LaunchTemplate, Created: time.Now(),
			Tags: map[string]string{}, ImageID: "ami-0a1b2c3d4e5f60001", Data: map[string]string{"InstanceType": c.InstanceType}}
	}
	s.asg.groups[c.Name] = &c
	s.scaleGroup(&c, "an instance was started in response to the group's creation")
}

// Group is a copy of the named group as it is now.
func (s *Server) Group(name string) (Group, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.asg.groups[name]
	if !ok {
		return Group{}, false
	}
	c := *g
	c.Instances = append([]string(nil), g.Instances...)
	return c, true
}

// FailedActivities is how many scaling activities of the group failed.
func (s *Server) FailedActivities(group string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, a := range s.asg.activities {
		if a.Group == group && a.Status == "Failed" {
			n++
		}
	}
	return n
}

// asgAction answers Auto Scaling actions.
func (s *Server) asgAction(action string, q query) (string, *apiError) {
	st := s.asg
	switch action {
	case "DescribeAutoScalingGroups":
		names := q.list("AutoScalingGroupNames.member")
		var fs []filter
		for i := 1; q.get(fmt.Sprintf("Filters.member.%d.Name", i)) != ""; i++ {
			p := fmt.Sprintf("Filters.member.%d", i)
			fs = append(fs, filter{Name: q.get(p + ".Name"), Values: q.list(p + ".Values.member")})
		}
		var sel []*Group
		for _, n := range sortedKeys(st.groups) {
			g := st.groups[n]
			if (len(names) > 0 && !contains(names, n)) || !matchGroupFilters(fs, g.Tags) {
				continue
			}
			sel = append(sel, g)
		}
		// Pages of MaxRecords (default 50), to exercise the paginator.
		size := 50
		if m, err := strconv.Atoi(q.get("MaxRecords")); err == nil && m > 0 {
			size = min(m, 100)
		}
		start, _ := strconv.Atoi(q.get("NextToken"))
		if start > len(sel) {
			return "", errorf(400, "InvalidNextToken", "bad token")
		}
		end := min(start+size, len(sel))
		var b strings.Builder
		for _, g := range sel[start:end] {
			b.WriteString(el("member", s.groupXML(g)))
		}
		out := el("AutoScalingGroups", b.String())
		if end < len(sel) {
			out += tx("NextToken", strconv.Itoa(end))
		}
		return out, nil
	case "SetDesiredCapacity":
		g, ok := st.groups[q.get("AutoScalingGroupName")]
		if !ok {
			return "", errorf(400, "ValidationError", "AutoScalingGroup name not found - no such group: %s", q.get("AutoScalingGroupName"))
		}
		n, err := strconv.Atoi(q.get("DesiredCapacity"))
		if err != nil {
			return "", errorf(400, "ValidationError", "DesiredCapacity %q", q.get("DesiredCapacity"))
		}
		if n > g.Max {
			return "", errorf(400, "ValidationError", "New SetDesiredCapacity value %d is above max value %d for the AutoScalingGroup.", n, g.Max)
		}
		if n < g.Min {
			return "", errorf(400, "ValidationError", "New SetDesiredCapacity value %d is below min value %d for the AutoScalingGroup.", n, g.Min)
		}
		cause := fmt.Sprintf("a user request explicitly set group desired capacity changing the desired capacity from %d to %d", g.Desired, n)
		g.Desired = n
		s.scaleGroup(g, cause)
		return "", nil
	case "TerminateInstanceInAutoScalingGroup":
		id := q.get("InstanceId")
		var g *Group
		for _, x := range st.groups {
			if contains(x.Instances, id) {
				g = x
			}
		}
		if g == nil {
			return "", errorf(400, "ValidationError", "Instance Id not found - No managed instance found for instance ID: %s", id)
		}
		dec := q.get("ShouldDecrementDesiredCapacity") == "true"
		if dec && g.Desired-1 < g.Min {
			return "", errorf(400, "ValidationError", "Currently, desiredSize equals minSize (%d). Terminating instance without replacement will violate group's min size constraint. Either set shouldDecrementDesiredCapacity flag to false or lower group's min size.", g.Min)
		}
		var left []string
		for _, x := range g.Instances {
			if x != id {
				left = append(left, x)
			}
		}
		g.Instances = left
		if in := s.ec2.instances[id]; in != nil && in.State != "terminated" {
			in.State = "terminated"
			if f := s.ec2.onTerminate; f != nil {
				go f(*in)
			}
		}
		cause := "an instance was taken out of service in response to a user request"
		if dec {
			cause += ", shrinking the capacity from " + strconv.Itoa(g.Desired) + " to " + strconv.Itoa(g.Desired-1)
			g.Desired--
		}
		a := s.activity(g, "Terminating EC2 instance: "+id, cause, "InProgress", "")
		if !dec {
			s.scaleGroup(g, "an instance was started in response to a difference between desired and actual capacity")
		}
		return el("Activity", activityXML(a)), nil
	case "DescribeScalingActivities":
		name := q.get("AutoScalingGroupName")
		size := 100
		if m, err := strconv.Atoi(q.get("MaxRecords")); err == nil && m > 0 {
			size = m
		}
		var b strings.Builder
		n := 0
		for i := len(st.activities) - 1; i >= 0 && n < size; i-- {
			if a := st.activities[i]; name == "" || a.Group == name {
				b.WriteString(el("member", activityXML(a)))
				n++
			}
		}
		return el("Activities", b.String()), nil
	}
	return "", errorf(400, "InvalidAction", "autoscaling action %s is not faked", action)
}

// matchGroupFilters: every filter (tag:K, tag-key, tag-value) matches one
// of its values, as Auto Scaling's DescribeAutoScalingGroups filters.
func matchGroupFilters(fs []filter, tags map[string]string) bool {
	for _, f := range fs {
		ok := false
		switch {
		case strings.HasPrefix(f.Name, "tag:"):
			v, has := tags[strings.TrimPrefix(f.Name, "tag:")]
			ok = has && contains(f.Values, v)
		case f.Name == "tag-key":
			for _, k := range f.Values {
				_, has := tags[k]
				ok = ok || has
			}
		case f.Name == "tag-value":
			for _, v := range tags {
				ok = ok || contains(f.Values, v)
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// scaleGroup launches instances up to the desired capacity. Each launch
// takes the zone with the fewest of the group's instances and the first
// instance type, in the group's allocation order, with capacity there;
// when no zone has any, the activity fails as Auto Scaling's does and the
// instance is not launched (the fake does not retry later).
func (s *Server) scaleGroup(g *Group, cause string) {
	for len(g.Instances) < g.Desired {
		capType := "on-demand"
		if g.Spot {
			capType = "spot"
		}
		zones := append([]string(nil), g.Zones...)
		count := map[string]int{}
		for _, id := range g.Instances {
			if in := s.ec2.instances[id]; in != nil {
				count[in.Zone]++
			}
		}
		sort.SliceStable(zones, func(i, j int) bool { return count[zones[i]] < count[zones[j]] })
		var typ, zone string
		for _, z := range zones {
			for _, t := range s.allocationOrder(g, z) {
				if !s.ec2.noCapacity(t, z, capType) {
					typ, zone = t, z
					break
				}
			}
			if typ != "" {
				break
			}
		}
		if typ == "" {
			types := s.allocationOrder(g, g.Zones[0])
			s.activity(g, "Launching a new EC2 instance.  Status Reason: Could not launch "+capType+" Instances. InsufficientInstanceCapacity - "+
				fmt.Sprintf("We currently do not have sufficient %s capacity in the Availability Zone you requested (%s). Our system will be working on provisioning additional capacity. Launching EC2 instance failed.", strings.Join(types, ", "), strings.Join(g.Zones, ", ")),
				cause, "Failed", fmt.Sprintf("We currently do not have sufficient %s capacity in the Availability Zone you requested (%s). Our system will be working on provisioning additional capacity.", strings.Join(types, ", "), strings.Join(g.Zones, ", ")))
			return
		}
		tags := map[string]string{"aws:autoscaling:groupName": g.Name}
		for k, v := range g.Tags {
			tags[k] = v
		}
		in := &Instance{ID: newID("i-", 17), Type: typ, Zone: zone, CapacityType: capType, ImageID: "ami-0a1b2c3d4e5f60001",
			LaunchTemplate: g.LaunchTemplate, Tags: tags, LaunchTime: time.Now(), State: "running", Group: g.Name,
			Labels: map[string]string{}}
		for _, sn := range s.ec2.subnets {
			if sn.Zone == zone && in.SubnetID == "" {
				in.SubnetID = sn.ID
			}
		}
		// The group's launch template makes the kubelet register with the
		// labels and taints its node-template tags describe.
		for k, v := range g.Tags {
			if l, ok := strings.CutPrefix(k, "k8s.io/cluster-autoscaler/node-template/label/"); ok {
				in.Labels[l] = v
			}
			if t, ok := strings.CutPrefix(k, "k8s.io/cluster-autoscaler/node-template/taint/"); ok {
				if !strings.Contains(v, ":") {
					v = ":" + v // the effect alone
				}
				in.Taints = append(in.Taints, t+"="+v)
			}
		}
		sort.Strings(in.Taints)
		s.ec2.instances[in.ID] = in
		g.Instances = append(g.Instances, in.ID)
		s.activity(g, "Launching a new EC2 instance: "+in.ID, cause, "Successful", "")
		if f := s.ec2.onLaunch; f != nil {
			go f(*in)
		}
	}
}

// allocationOrder is the order the group tries its instance types in a
// zone: prioritized on-demand keeps the overrides' order; lowest-price
// on-demand and every spot strategy go by price (the fake's spot pools
// have equal capacity, so price-capacity-optimized is lowest price).
func (s *Server) allocationOrder(g *Group, zone string) []string {
	if len(g.Overrides) == 0 {
		return []string{g.InstanceType}
	}
	out := append([]string(nil), g.Overrides...)
	switch {
	case g.Spot:
		sort.SliceStable(out, func(i, j int) bool { return s.ec2.spot[out[i]+"/"+zone] < s.ec2.spot[out[j]+"/"+zone] })
	case g.OnDemandStrategy == "lowest-price":
		sort.SliceStable(out, func(i, j int) bool { return s.ec2.od[out[i]] < s.ec2.od[out[j]] })
	}
	return out
}

func (s *Server) activity(g *Group, desc, cause, status, msg string) activity {
	a := activity{ID: newID("", 8) + "-" + newID("", 4) + "-" + newID("", 4) + "-" + newID("", 4) + "-" + newID("", 12), Group: g.Name,
		Description: desc, Cause: time.Now().UTC().Format(time.RFC3339) + " " + cause + ".", Status: status, Message: msg, Start: time.Now()}
	s.asg.activities = append(s.asg.activities, a)
	return a
}

func activityXML(a activity) string {
	out := tx("ActivityId", a.ID) + tx("AutoScalingGroupName", a.Group) + tx("Description", a.Description) + tx("Cause", a.Cause) +
		tx("StartTime", a.Start.UTC().Format(time.RFC3339)) + tx("StatusCode", a.Status) + tx("Progress", "100")
	if a.Status != "InProgress" {
		out += tx("EndTime", a.Start.UTC().Format(time.RFC3339))
	}
	if a.Message != "" {
		out += tx("StatusMessage", a.Message)
	}
	return out
}

func (s *Server) groupXML(g *Group) string {
	lt := el("LaunchTemplateSpecification", tx("LaunchTemplateId", s.ec2.templates[g.LaunchTemplate].ID), tx("LaunchTemplateName", g.LaunchTemplate), tx("Version", "$Default"))
	var spec string
	if len(g.Overrides) == 0 {
		spec = el("LaunchTemplate", tx("LaunchTemplateId", s.ec2.templates[g.LaunchTemplate].ID), tx("LaunchTemplateName", g.LaunchTemplate), tx("Version", "$Default"))
	} else {
		var ovs strings.Builder
		for _, t := range g.Overrides {
			ovs.WriteString(el("member", tx("InstanceType", t)))
		}
		pct, spot := "100", ""
		if g.Spot {
			pct, spot = "0", tx("SpotAllocationStrategy", "price-capacity-optimized")
		}
		spec = el("MixedInstancesPolicy", el("LaunchTemplate", lt, el("Overrides", ovs.String())),
			el("InstancesDistribution", tx("OnDemandAllocationStrategy", g.OnDemandStrategy), tx("OnDemandBaseCapacity", "0"),
				tx("OnDemandPercentageAboveBaseCapacity", pct), spot))
	}
	var zones, insts, tags strings.Builder
	for _, z := range g.Zones {
		zones.WriteString(tx("member", z))
	}
	for _, id := range g.Instances {
		in := s.ec2.instances[id]
		insts.WriteString(el("member", tx("InstanceId", id), tx("InstanceType", in.Type), tx("AvailabilityZone", in.Zone),
			tx("LifecycleState", "InService"), tx("HealthStatus", "Healthy"), tx("ProtectedFromScaleIn", "false")))
	}
	for _, k := range sortedKeys(g.Tags) {
		tags.WriteString(el("member", tx("ResourceId", g.Name), tx("ResourceType", "auto-scaling-group"), tx("Key", k), tx("Value", g.Tags[k]),
			tx("PropagateAtLaunch", "true")))
	}
	return tx("AutoScalingGroupName", g.Name) + tx("AutoScalingGroupARN", "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:"+g.Name) +
		spec + tx("MinSize", strconv.Itoa(g.Min)) + tx("MaxSize", strconv.Itoa(g.Max)) + tx("DesiredCapacity", strconv.Itoa(g.Desired)) +
		tx("DefaultCooldown", "300") + el("AvailabilityZones", zones.String()) + tx("HealthCheckType", "EC2") +
		tx("CreatedTime", "2026-01-01T00:00:00Z") + el("Instances", insts.String()) + el("Tags", tags.String())
}
