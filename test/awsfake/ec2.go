package awsfake

import (
	"encoding/base64"
	"fmt"
	"math"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tailor-dev/tailor/provisioner/catalog"
)

// Instance is a launched fake EC2 instance.
type Instance struct {
	ID, Type, Zone, SubnetID string
	// CapacityType is spot or on-demand.
	CapacityType   string
	ImageID        string
	LaunchTemplate string
	// UserData of its launch template, decoded.
	UserData   string
	Tags       map[string]string
	LaunchTime time.Time
	// State: running or terminated.
	State string
	// Group is the Auto Scaling group that launched it (empty: a fleet's);
	// Labels and Taints ("key=value:Effect") are what its kubelet
	// registers with, from the group's node-template tags.
	Group  string
	Labels map[string]string
	Taints []string
}

// ProviderID is the node's spec.providerID.
func (i Instance) ProviderID() string { return "aws:///" + i.Zone + "/" + i.ID }

type subnet struct {
	ID, Zone string
	Free     int
	Tags     map[string]string
}

type securityGroup struct {
	ID, Name string
	Tags     map[string]string
}

type image struct {
	ID, Name, Arch string
	// Created is the creationDate (RFC 3339); empty: 2026-01-01.
	Created string
	Tags    map[string]string
}

type launchTemplate struct {
	ID, Name string
	Created  time.Time
	Tags     map[string]string
	ImageID  string
	UserData string
	// Data is every LaunchTemplateData.* field as sent.
	Data map[string]string
}

type ec2State struct {
	subnets   []subnet
	groups    []securityGroup
	images    []image
	templates map[string]*launchTemplate // by name
	instances map[string]*Instance       // by id
	// fleets: ClientToken → the instant fleet's answer, so that a retry
	// returns the same instances (EC2's idempotency).
	fleets map[string]string
	// od and spot prices (type, type/zone).
	od    map[string]float64
	spot  map[string]float64
	ice   []string
	zones []string

	onLaunch, onTerminate func(Instance)
}

func newEC2State(cluster string) *ec2State {
	st := &ec2State{
		templates: map[string]*launchTemplate{}, instances: map[string]*Instance{}, fleets: map[string]string{},
		od: map[string]float64{}, spot: map[string]float64{},
		zones: []string{"us-east-1a", "us-east-1b", "us-east-1c"},
	}
	disc := map[string]string{"tailor.dev/discovery": cluster}
	for i, z := range st.zones {
		st.subnets = append(st.subnets, subnet{ID: fmt.Sprintf("subnet-0%d1122334455", i+1), Zone: z, Free: 4000, Tags: disc})
	}
	st.subnets = append(st.subnets, subnet{ID: "subnet-0999888777666", Zone: "us-east-1a", Free: 100, Tags: map[string]string{"other": "x"}})
	st.groups = []securityGroup{{ID: "sg-0123456789abc", Name: "eks-nodes", Tags: disc}, {ID: "sg-0fedcba987654", Name: "other", Tags: map[string]string{"other": "x"}}}
	st.images = []image{{ID: "ami-0a1b2c3d4e5f60001", Name: "amazon-eks-node-al2023-x86_64-standard", Arch: "x86_64"},
		{ID: "ami-0a1b2c3d4e5f60002", Name: "amazon-eks-node-al2023-arm64-standard", Arch: "arm64"}}
	for _, t := range catalog.Types() {
		// Live prices differ from the catalogue's by a little, so that a
		// test sees which were used.
		st.od[t.Name] = round4(t.OnDemandPrice * 1.01)
		for _, z := range st.zones {
			st.spot[t.Name+"/"+z] = round4(catalog.SpotPrice(t, z) * 0.9)
		}
	}
	return st
}

func round4(f float64) float64 { return math.Round(f*1e4) / 1e4 }

// OnLaunch is called (in a goroutine) with every launched instance.
func (s *Server) OnLaunch(f func(Instance)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ec2.onLaunch = f
}

// OnTerminate is called (in a goroutine) with every terminated instance.
func (s *Server) OnTerminate(f func(Instance)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ec2.onTerminate = f
}

// InsufficientCapacity makes CreateFleet answer InsufficientInstanceCapacity
// for offerings matching a pattern type/zone/capacity-type (* wildcards).
func (s *Server) InsufficientCapacity(patterns ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ec2.ice = append([]string(nil), patterns...)
}

// OnDemandPrice and SpotPrice are the live prices the fake serves.
func (s *Server) OnDemandPrice(typ string) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ec2.od[typ]
}

// SpotPrice of typ in zone.
func (s *Server) SpotPrice(typ, zone string) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ec2.spot[typ+"/"+zone]
}

// Instances is every instance, terminated ones included, by launch time.
func (s *Server) Instances() []Instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Instance, 0, len(s.ec2.instances))
	for _, i := range s.ec2.instances {
		c := *i
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LaunchTime.Before(out[j].LaunchTime) })
	return out
}

// Running is the instances not terminated.
func (s *Server) Running() []Instance {
	var out []Instance
	for _, i := range s.Instances() {
		if i.State != "terminated" {
			out = append(out, i)
		}
	}
	return out
}

// AddInstance puts an instance in the account as if launched by someone
// (an orphan a crashed Tailor left): it gets an id, and OnLaunch is told.
func (s *Server) AddInstance(i Instance) Instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i.ID == "" {
		i.ID = newID("i-", 17)
	}
	if i.State == "" {
		i.State = "running"
	}
	c := i
	s.ec2.instances[i.ID] = &c
	if f := s.ec2.onLaunch; f != nil {
		go f(c)
	}
	return c
}

// LaunchTemplates is every launch template's data by name (UserData decoded).
func (s *Server) LaunchTemplates() map[string]map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]map[string]string{}
	for n, lt := range s.ec2.templates {
		d := map[string]string{}
		for k, v := range lt.Data {
			d[k] = v
		}
		d["UserData"] = lt.UserData
		out[n] = d
	}
	return out
}

func (s *Server) ec2Action(action string, q query) (string, *apiError) {
	st := s.ec2
	switch action {
	case "DescribeSubnets":
		fs := q.filters("Filter")
		ids := q.list("SubnetId")
		var items []string
		for _, sn := range st.subnets {
			if !matchTags(fs, sn.Tags) || (len(ids) > 0 && !matchValue(ids, sn.ID)) || !matchNamed(fs, "subnet-id", sn.ID) {
				continue
			}
			items = append(items, el("item", tx("subnetId", sn.ID), tx("availabilityZone", sn.Zone), tx("availableIpAddressCount", strconv.Itoa(sn.Free)),
				tx("state", "available"), tx("vpcId", "vpc-0123456789"), tagSet("tagSet", "item", sn.Tags)))
		}
		return s.paged(q, "subnetSet", 1, items)
	case "DescribeSecurityGroups":
		fs := q.filters("Filter")
		var items []string
		for _, g := range st.groups {
			if !matchTags(fs, g.Tags) || !matchNamed(fs, "group-id", g.ID) || !matchNamed(fs, "group-name", g.Name) ||
				(len(q.list("GroupId")) > 0 && !matchValue(q.list("GroupId"), g.ID)) {
				continue
			}
			items = append(items, el("item", tx("groupId", g.ID), tx("groupName", g.Name), tx("vpcId", "vpc-0123456789"), tagSet("tagSet", "item", g.Tags)))
		}
		return s.paged(q, "securityGroupInfo", 1, items)
	case "DescribeImages":
		fs := q.filters("Filter")
		ids := q.list("ImageId")
		var items []string
		for _, im := range st.images {
			if !matchTags(fs, im.Tags) || (len(ids) > 0 && !matchValue(ids, im.ID)) || !matchNamed(fs, "name", im.Name) || !matchNamed(fs, "image-id", im.ID) {
				continue
			}
			created := im.Created
			if created == "" {
				created = "2026-01-01T00:00:00.000Z"
			}
			items = append(items, el("item", tx("imageId", im.ID), tx("name", im.Name), tx("architecture", im.Arch), tx("imageState", "available"),
				tx("creationDate", created), tagSet("tagSet", "item", im.Tags)))
		}
		return s.paged(q, "imagesSet", 1, items)
	case "CreateLaunchTemplate":
		name := q.get("LaunchTemplateName")
		if _, ok := st.templates[name]; ok {
			return "", errorf(400, "InvalidLaunchTemplateName.AlreadyExistsException", "launch template %s already exists", name)
		}
		lt := &launchTemplate{ID: newID("lt-", 17), Name: name, Created: time.Now(), Tags: tagsOf(q, "launch-template"), Data: map[string]string{}}
		for k, v := range q {
			if rest, ok := strings.CutPrefix(k, "LaunchTemplateData."); ok {
				lt.Data[rest] = v[0]
			}
		}
		lt.ImageID = lt.Data["ImageId"]
		if ud, err := base64.StdEncoding.DecodeString(lt.Data["UserData"]); err == nil {
			lt.UserData = string(ud)
		}
		st.templates[name] = lt
		return el("launchTemplate", ltXML(lt)), nil
	case "DescribeLaunchTemplates":
		names := q.list("LaunchTemplateName")
		fs := q.filters("Filter")
		var items []string
		for _, n := range sortedKeys(st.templates) {
			lt := st.templates[n]
			if (len(names) > 0 && !matchValue(names, n)) || !matchTags(fs, lt.Tags) {
				continue
			}
			items = append(items, el("item", ltXML(lt)))
		}
		if len(names) > 0 && len(items) == 0 {
			return "", errorf(400, "InvalidLaunchTemplateName.NotFoundException", "launch template %v not found", names)
		}
		return s.paged(q, "launchTemplates", 1, items)
	case "DeleteLaunchTemplate":
		name := q.get("LaunchTemplateName")
		for n, lt := range st.templates {
			if n == name || lt.ID == q.get("LaunchTemplateId") {
				delete(st.templates, n)
				return el("launchTemplate", ltXML(lt)), nil
			}
		}
		return "", errorf(400, "InvalidLaunchTemplateName.NotFoundException", "launch template %s not found", name)
	case "DescribeInstanceTypes":
		return s.paged(q, "instanceTypeSet", 100, st.describeInstanceTypes(q))
	case "DescribeInstanceTypeOfferings":
		if q.get("LocationType") != "availability-zone" {
			return "", errorf(400, "InvalidParameterValue", "the fake serves LocationType availability-zone only")
		}
		var items []string
		for _, t := range catalog.Types() {
			for _, z := range st.zones {
				items = append(items, el("item", tx("instanceType", t.Name), tx("locationType", "availability-zone"), tx("location", z)))
			}
		}
		return s.paged(q, "instanceTypeOfferingSet", 100, items)
	case "DescribeSpotPriceHistory":
		var items []string
		now := time.Now().UTC().Format(time.RFC3339)
		for _, k := range sortedKeys(st.spot) {
			typ, zone, _ := strings.Cut(k, "/")
			items = append(items, el("item", tx("instanceType", typ), tx("availabilityZone", zone), tx("productDescription", "Linux/UNIX"),
				tx("spotPrice", strconv.FormatFloat(st.spot[k], 'f', 6, 64)), tx("timestamp", now)))
		}
		return s.paged(q, "spotPriceHistorySet", 100, items)
	case "CreateFleet":
		return s.createFleet(q)
	case "DescribeInstances":
		fs := q.filters("Filter")
		ids := q.list("InstanceId")
		for _, id := range ids {
			if _, ok := st.instances[id]; !ok {
				return "", errorf(400, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
			}
		}
		var items []string
		for _, id := range sortedKeys(st.instances) {
			in := st.instances[id]
			if (len(ids) > 0 && !matchValue(ids, id)) || !matchTags(fs, in.Tags) || !matchNamed(fs, "instance-state-name", in.State) || !matchNamed(fs, "instance-id", id) {
				continue
			}
			items = append(items, el("item", tx("reservationId", newID("r-", 17)), tx("ownerId", "123456789012"), el("instancesSet", instanceXML(in))))
		}
		return s.paged(q, "reservationSet", 1, items)
	case "CreateTags":
		ids := q.list("ResourceId")
		for _, id := range ids {
			if _, ok := st.instances[id]; !ok {
				return "", errorf(400, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
			}
		}
		for _, id := range ids {
			if st.instances[id].Tags == nil {
				st.instances[id].Tags = map[string]string{}
			}
			for j := 1; j <= q.items("Tag"); j++ {
				st.instances[id].Tags[q.get(fmt.Sprintf("Tag.%d.Key", j))] = q.get(fmt.Sprintf("Tag.%d.Value", j))
			}
		}
		return tx("return", "true"), nil
	case "DescribeLaunchTemplateVersions":
		lt, ok := st.templates[q.get("LaunchTemplateName")]
		if !ok {
			for _, x := range st.templates {
				if x.ID == q.get("LaunchTemplateId") {
					lt, ok = x, true
				}
			}
		}
		if !ok {
			return "", errorf(400, "InvalidLaunchTemplateName.NotFoundException", "launch template %s not found", q.get("LaunchTemplateName"))
		}
		var data string
		if t := lt.Data["InstanceType"]; t != "" {
			data = tx("instanceType", t)
		}
		return el("launchTemplateVersionSet", el("item", tx("launchTemplateId", lt.ID), tx("launchTemplateName", lt.Name), tx("versionNumber", "1"),
			tx("defaultVersion", "true"), el("launchTemplateData", tx("imageId", lt.ImageID), data))), nil
	case "TerminateInstances":
		var b strings.Builder
		ids := q.list("InstanceId")
		for _, id := range ids {
			if _, ok := st.instances[id]; !ok {
				return "", errorf(400, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
			}
		}
		for _, id := range ids {
			in := st.instances[id]
			prev := in.State
			if in.State != "terminated" {
				in.State = "terminated"
				if f := st.onTerminate; f != nil {
					go f(*in)
				}
			}
			b.WriteString(el("item", tx("instanceId", id), el("previousState", tx("code", "16"), tx("name", prev)), el("currentState", tx("code", "48"), tx("name", "terminated"))))
		}
		return el("instancesSet", b.String()), nil
	}
	return "", errorf(400, "InvalidAction", "ec2 action %s is not faked", action)
}

// matchNamed: the filters named name (if any) all match v.
func matchNamed(fs []filter, name, v string) bool {
	for _, f := range fs {
		if f.Name == name && !matchValue(f.Values, v) {
			return false
		}
	}
	return true
}

func tagsOf(q query, resourceType string) map[string]string {
	tags := map[string]string{}
	for i := 1; i <= q.items("TagSpecification"); i++ {
		p := fmt.Sprintf("TagSpecification.%d", i)
		if q.get(p+".ResourceType") != resourceType {
			continue
		}
		for j := 1; j <= q.items(p+".Tag"); j++ {
			tags[q.get(fmt.Sprintf("%s.Tag.%d.Key", p, j))] = q.get(fmt.Sprintf("%s.Tag.%d.Value", p, j))
		}
	}
	return tags
}

func ltXML(lt *launchTemplate) string {
	return tx("launchTemplateId", lt.ID) + tx("launchTemplateName", lt.Name) + tx("createTime", lt.Created.UTC().Format(time.RFC3339)) +
		tx("defaultVersionNumber", "1") + tx("latestVersionNumber", "1") + tagSet("tagSet", "item", lt.Tags)
}

func instanceXML(in *Instance) string {
	code := map[string]string{"pending": "0", "running": "16", "terminated": "48"}[in.State]
	var life string
	if in.CapacityType == "spot" {
		life = tx("instanceLifecycle", "spot")
	}
	return el("item", tx("instanceId", in.ID), tx("imageId", in.ImageID), tx("instanceType", in.Type), tx("subnetId", in.SubnetID),
		el("placement", tx("availabilityZone", in.Zone)), el("instanceState", tx("code", code), tx("name", in.State)),
		tx("launchTime", in.LaunchTime.UTC().Format(time.RFC3339)), life, tx("privateDnsName", privateDNS(in.ID)),
		tagSet("tagSet", "item", in.Tags))
}

// privateDNS is an EKS-like node name derived from the instance id.
func privateDNS(id string) string {
	var b [3]int
	for i := range b {
		n, _ := strconv.ParseUint(id[2+2*i:4+2*i], 16, 8)
		b[i] = int(n)
	}
	return fmt.Sprintf("ip-10-%d-%d-%d.ec2.internal", b[0], b[1], b[2])
}

// NodeName is the name the instance's kubelet registers (its private DNS name).
func (i Instance) NodeName() string { return privateDNS(i.ID) }

func (st *ec2State) describeInstanceTypes(q query) []string {
	types := catalog.Types()
	if names := q.list("InstanceType"); len(names) > 0 {
		var sel []catalog.Type
		for _, t := range types {
			if matchValue(names, t.Name) {
				sel = append(sel, t)
			}
		}
		types = sel
	}
	var items []string
	for _, t := range types {
		arch := "x86_64"
		if t.Arch == "arm64" {
			arch = "arm64"
		}
		var gpu string
		if t.GPUs > 0 {
			gpu = el("gpuInfo", el("gpus", el("item", tx("count", strconv.FormatInt(t.GPUs, 10)), tx("manufacturer", "NVIDIA"), tx("name", "T4"))))
		}
		// One interface with max pods - 1 addresses: the ENI formula
		// ENIs × (IPs − 1) + 2 gives the catalogue's max pods back.
		items = append(items, el("item", tx("instanceType", t.Name), tx("currentGeneration", "true"), tx("bareMetal", "false"),
			el("supportedUsageClasses", tx("item", "on-demand"), tx("item", "spot")),
			el("processorInfo", el("supportedArchitectures", tx("item", arch))),
			el("vCpuInfo", tx("defaultVCpus", strconv.FormatInt(t.VCPU, 10))),
			el("memoryInfo", tx("sizeInMiB", strconv.FormatInt(t.MemoryMiB, 10))), gpu,
			el("networkInfo", tx("maximumNetworkInterfaces", "1"), tx("ipv4AddressesPerInterface", strconv.FormatInt(t.MaxPods-1, 10)))))
	}
	return items
}

// override is one launch template override of a CreateFleet request.
type override struct {
	template, typ, subnet, zone string
	price                       float64
}

// createFleet: an instant fleet of one instance, the cheapest override
// (by the fake's live prices) that has capacity; the cheaper ones without
// capacity come back as errors, as EC2 reports them.
func (s *Server) createFleet(q query) (string, *apiError) {
	st := s.ec2
	if q.get("Type") != "instant" {
		return "", errorf(400, "InvalidParameterValue", "the fake serves instant fleets only")
	}
	token := q.get("ClientToken")
	if token != "" {
		if out, ok := st.fleets[token]; ok {
			return out, nil
		}
	}
	if n := q.get("TargetCapacitySpecification.TotalTargetCapacity"); n != "1" {
		return "", errorf(400, "InvalidParameterValue", "the fake launches one instance per fleet, asked %s", n)
	}
	capType := q.get("TargetCapacitySpecification.DefaultTargetCapacityType")
	var ovs []override
	for i := 1; i <= q.items("LaunchTemplateConfigs"); i++ {
		p := fmt.Sprintf("LaunchTemplateConfigs.%d", i)
		lt := q.get(p + ".LaunchTemplateSpecification.LaunchTemplateName")
		if _, ok := st.templates[lt]; !ok {
			return "", errorf(400, "InvalidLaunchTemplateName.NotFoundException", "launch template %s not found", lt)
		}
		for j := 1; j <= q.items(p+".Overrides"); j++ {
			op := fmt.Sprintf("%s.Overrides.%d", p, j)
			o := override{template: lt, typ: q.get(op + ".InstanceType"), subnet: q.get(op + ".SubnetId")}
			for _, sn := range st.subnets {
				if sn.ID == o.subnet {
					o.zone = sn.Zone
				}
			}
			if o.zone == "" {
				return "", errorf(400, "InvalidSubnetID.NotFound", "subnet %s not found", o.subnet)
			}
			if capType == "spot" {
				o.price = st.spot[o.typ+"/"+o.zone]
			} else {
				o.price = st.od[o.typ]
			}
			if o.price == 0 {
				return "", errorf(400, "InvalidParameterValue", "instance type %s is not offered in %s", o.typ, o.zone)
			}
			ovs = append(ovs, o)
		}
	}
	if len(ovs) == 0 {
		return "", errorf(400, "InvalidParameterValue", "no launch template overrides")
	}
	sort.SliceStable(ovs, func(i, j int) bool { return ovs[i].price < ovs[j].price })
	ovXML := func(o override) string {
		return el("launchTemplateAndOverrides",
			el("launchTemplateSpecification", tx("launchTemplateName", o.template), tx("version", "$Latest")),
			el("overrides", tx("instanceType", o.typ), tx("subnetId", o.subnet), tx("availabilityZone", o.zone)))
	}
	var errs, insts strings.Builder
	for _, o := range ovs {
		if st.noCapacity(o.typ, o.zone, capType) {
			errs.WriteString(el("item", ovXML(o), tx("lifecycle", capType), tx("errorCode", "InsufficientInstanceCapacity"),
				tx("errorMessage", fmt.Sprintf("We currently do not have sufficient %s capacity in the Availability Zone you requested (%s).", o.typ, o.zone))))
			continue
		}
		lt := st.templates[o.template]
		in := &Instance{ID: newID("i-", 17), Type: o.typ, Zone: o.zone, SubnetID: o.subnet, CapacityType: capType, ImageID: lt.ImageID,
			LaunchTemplate: lt.Name, UserData: lt.UserData, Tags: tagsOf(q, "instance"), LaunchTime: time.Now(), State: "running"}
		st.instances[in.ID] = in
		if f := st.onLaunch; f != nil {
			go f(*in)
		}
		insts.WriteString(el("item", ovXML(o), tx("lifecycle", capType), el("instanceIds", tx("item", in.ID)), tx("instanceType", o.typ)))
		break
	}
	out := tx("fleetId", newID("fleet-", 36)) + el("errorSet", errs.String()) + el("fleetInstanceSet", insts.String())
	if token != "" {
		st.fleets[token] = out
	}
	return out, nil
}

func (st *ec2State) noCapacity(typ, zone, capType string) bool {
	for _, p := range st.ice {
		parts := strings.Split(p, "/")
		if len(parts) != 3 {
			continue
		}
		if m(parts[0], typ) && m(parts[1], zone) && m(parts[2], capType) {
			return true
		}
	}
	return false
}

func m(pattern, s string) bool {
	ok, _ := path.Match(pattern, s)
	return ok
}

func sortedKeys[V any](mp map[string]V) []string {
	out := make([]string, 0, len(mp))
	for k := range mp {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Vanish terminates an instance out of band (by hand in the console, by
// EC2 for a failed host) with no event anyone is told of: OnTerminate is
// not called, so its kwok Node stays, as a real Node stays until someone
// notices. forget: EC2 no longer knows the id at all (NotFound) instead of
// answering terminated. An Auto Scaling group's instance leaves its group
// with the desired capacity lowered.
func (s *Server) Vanish(id string, forget bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.ec2.instances[id]
	if !ok {
		return false
	}
	in.State = "terminated"
	if forget {
		delete(s.ec2.instances, id)
	}
	for _, g := range s.asg.groups {
		if contains(g.Instances, id) {
			var left []string
			for _, x := range g.Instances {
				if x != id {
					left = append(left, x)
				}
			}
			g.Instances = left
			g.Desired--
		}
	}
	return true
}

// AddImage registers an AMI (arch x86_64 or arm64, created an RFC 3339
// time) that DescribeImages serves.
func (s *Server) AddImage(id, name, arch, created string, tags map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ec2.images = append(s.ec2.images, image{ID: id, Name: name, Arch: arch, Created: created, Tags: tags})
}

// AddLaunchTemplate puts a launch template in the account as if an
// earlier Tailor had made it (created at created, with tags).
func (s *Server) AddLaunchTemplate(name string, tags map[string]string, created time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ec2.templates[name] = &launchTemplate{ID: newID("lt-", 17), Name: name, Created: created, Tags: tags, ImageID: "ami-0a1b2c3d4e5f60001", Data: map[string]string{}}
}
