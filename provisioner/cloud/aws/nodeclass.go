package aws

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	corev1 "k8s.io/api/core/v1"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/cloud/aws/bootstrap"
)

// classTTL: a resolved node class is reused this long (a changed spec,
// a new generation, is resolved at once).
const classTTL = time.Minute

// resolved is what an AWSNodeClass's selectors found.
type resolved struct {
	generation int64
	at         time.Time

	subnets      []provisionerv1.Subnet
	subnetByZone map[string]string // the subnet with most free addresses per zone
	zoneOf       map[string]string // subnet → zone
	groups       []provisionerv1.SecurityGroup
	amis         []provisionerv1.AMI
	amiByArch    map[string]string
	profile      string
	family       string
	// errs per condition type.
	errs map[string]error
}

func (r *resolved) zones() []string {
	out := make([]string, 0, len(r.subnetByZone))
	for z := range r.subnetByZone {
		out = append(out, z)
	}
	sort.Strings(out)
	return out
}

func (r *resolved) archs() map[string]bool {
	out := map[string]bool{}
	for a := range r.amiByArch {
		out[a] = true
	}
	return out
}

func (r *resolved) groupIDs() []string {
	out := make([]string, len(r.groups))
	for i, g := range r.groups {
		out[i] = g.ID
	}
	return out
}

// err is the first failed condition, or nil when the class is ready.
func (r *resolved) err() error {
	var msgs []string
	for _, t := range sortedKeys(r.errs) {
		if r.errs[t] != nil {
			msgs = append(msgs, r.errs[t].Error())
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return errors.New("AWSNodeClass not ready: " + strings.Join(msgs, "; "))
}

// resolve finds the class's subnets, security groups, AMIs and instance
// profile (cached for classTTL per generation). It returns the partial
// result with an error when something is missing.
func (c *Cloud) resolve(ctx context.Context, class *provisionerv1.AWSNodeClass) (*resolved, error) {
	c.mu.Lock()
	r, ok := c.classes[class.Name]
	c.mu.Unlock()
	if ok && r.generation == class.Generation && c.now().Sub(r.at) < classTTL {
		return r, r.err()
	}
	r = &resolved{generation: class.Generation, at: c.now(), subnetByZone: map[string]string{}, zoneOf: map[string]string{},
		amiByArch: map[string]string{}, errs: map[string]error{}}
	r.errs[provisionerv1.ConditionSubnetsReady] = c.resolveSubnets(ctx, class, r)
	r.errs[provisionerv1.ConditionSecurityGroupsReady] = c.resolveGroups(ctx, class, r)
	r.errs[provisionerv1.ConditionAMIsReady] = c.resolveAMIs(ctx, class, r)
	r.profile = deref(class.Spec.InstanceProfile)
	if r.profile == "" {
		// The instance profile of the role's name, as the IAM console and
		// eksctl make it with an EC2 role; Tailor has no IAM rights.
		r.profile = class.Spec.Role
	}
	if r.profile == "" {
		r.errs[provisionerv1.ConditionInstanceProfileReady] = errors.New("neither role nor instanceProfile is set")
	}
	if err := r.err(); err != nil {
		// Not cached: the next launch or pass tries again.
		return r, err
	}
	c.mu.Lock()
	c.classes[class.Name] = r
	c.mu.Unlock()
	return r, nil
}

// tagFilters turns selector tags into EC2 filters ("*": the key exists).
func tagFilters(tags map[string]string) []ec2types.Filter {
	var fs []ec2types.Filter
	for _, k := range sortedKeys(tags) {
		if tags[k] == "*" {
			fs = append(fs, ec2types.Filter{Name: aws.String("tag-key"), Values: []string{k}})
			continue
		}
		fs = append(fs, ec2types.Filter{Name: aws.String("tag:" + k), Values: []string{tags[k]}})
	}
	return fs
}

func (c *Cloud) resolveSubnets(ctx context.Context, class *provisionerv1.AWSNodeClass, r *resolved) error {
	free := map[string]int32{}
	seen := map[string]bool{}
	for _, term := range class.Spec.SubnetSelectorTerms {
		in := &ec2.DescribeSubnetsInput{Filters: tagFilters(term.Tags)}
		if term.ID != "" {
			in = &ec2.DescribeSubnetsInput{SubnetIds: []string{term.ID}}
		}
		p := ec2.NewDescribeSubnetsPaginator(c.c.EC2, in)
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return fmt.Errorf("DescribeSubnets: %w", err)
			}
			for _, s := range page.Subnets {
				id, zone := deref(s.SubnetId), deref(s.AvailabilityZone)
				if seen[id] {
					continue
				}
				seen[id] = true
				r.subnets = append(r.subnets, provisionerv1.Subnet{ID: id, Zone: zone, ZoneID: deref(s.AvailabilityZoneId)})
				r.zoneOf[id] = zone
				if n := deref(s.AvailableIpAddressCount); r.subnetByZone[zone] == "" || n > free[zone] {
					r.subnetByZone[zone], free[zone] = id, n
				}
			}
		}
	}
	sort.Slice(r.subnets, func(i, j int) bool { return r.subnets[i].ID < r.subnets[j].ID })
	if len(r.subnets) == 0 {
		return errors.New("no subnet matches subnetSelectorTerms")
	}
	return nil
}

func (c *Cloud) resolveGroups(ctx context.Context, class *provisionerv1.AWSNodeClass, r *resolved) error {
	seen := map[string]bool{}
	for _, term := range class.Spec.SecurityGroupSelectorTerms {
		in := &ec2.DescribeSecurityGroupsInput{Filters: tagFilters(term.Tags)}
		switch {
		case term.ID != "":
			in = &ec2.DescribeSecurityGroupsInput{GroupIds: []string{term.ID}}
		case term.Name != "":
			in = &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{{Name: aws.String("group-name"), Values: []string{term.Name}}}}
		}
		p := ec2.NewDescribeSecurityGroupsPaginator(c.c.EC2, in)
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return fmt.Errorf("DescribeSecurityGroups: %w", err)
			}
			for _, g := range page.SecurityGroups {
				if id := deref(g.GroupId); !seen[id] {
					seen[id] = true
					r.groups = append(r.groups, provisionerv1.SecurityGroup{ID: id, Name: deref(g.GroupName)})
				}
			}
		}
	}
	sort.Slice(r.groups, func(i, j int) bool { return r.groups[i].ID < r.groups[j].ID })
	if len(r.groups) == 0 {
		return errors.New("no security group matches securityGroupSelectorTerms")
	}
	return nil
}

// AliasParameters are the public SSM parameters of an AMI alias
// (family@version: al2023, al2 or bottlerocket at latest or a pinned
// version) for Kubernetes minor version k8s, by architecture, and the AMI
// family the alias implies. A pure function.
func AliasParameters(alias, k8s string) (family string, params map[string]string, err error) {
	fam, version, ok := strings.Cut(alias, "@")
	if !ok || version == "" {
		return "", nil, fmt.Errorf("AMI alias %q: want family@version", alias)
	}
	params = map[string]string{}
	switch fam {
	case "al2023":
		for arch, a := range map[string]string{"amd64": "x86_64", "arm64": "arm64"} {
			name := "recommended"
			if version != "latest" {
				name = "amazon-eks-node-al2023-" + a + "-standard-" + k8s + "-" + version
			}
			params[arch] = "/aws/service/eks/optimized-ami/" + k8s + "/amazon-linux-2023/" + a + "/standard/" + name + "/image_id"
		}
		return bootstrap.FamilyAL2023, params, nil
	case "al2":
		for arch, dir := range map[string]string{"amd64": "amazon-linux-2", "arm64": "amazon-linux-2-arm64"} {
			name := "recommended"
			if version != "latest" {
				name = "amazon-eks-node-" + k8s + "-" + version
				if arch == "arm64" {
					name = "amazon-eks-arm64-node-" + k8s + "-" + version
				}
			}
			params[arch] = "/aws/service/eks/optimized-ami/" + k8s + "/" + dir + "/" + name + "/image_id"
		}
		return bootstrap.FamilyAL2, params, nil
	case "bottlerocket":
		for arch, a := range map[string]string{"amd64": "x86_64", "arm64": "arm64"} {
			params[arch] = "/aws/service/bottlerocket/aws-k8s-" + k8s + "/" + a + "/" + strings.TrimPrefix(version, "v") + "/image_id"
		}
		return bootstrap.FamilyBottlerocket, params, nil
	}
	return "", nil, fmt.Errorf("AMI alias %q: unknown family %q (al2023, al2 or bottlerocket)", alias, fam)
}

func (c *Cloud) resolveAMIs(ctx context.Context, class *provisionerv1.AWSNodeClass, r *resolved) error {
	r.family = deref(class.Spec.AMIFamily)
	for _, term := range class.Spec.AMISelectorTerms {
		if term.Alias != "" {
			fam, params, err := AliasParameters(term.Alias, c.o.KubernetesVersion)
			if err != nil {
				return err
			}
			r.family = fam
			for _, arch := range sortedKeys(params) {
				out, err := c.c.SSM.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(params[arch])})
				if err != nil {
					return fmt.Errorf("SSM GetParameter %s: %w", params[arch], err)
				}
				id := deref(deref(out.Parameter).Value)
				r.amiByArch[arch] = id
				r.amis = append(r.amis, provisionerv1.AMI{ID: id, Name: term.Alias, Requirements: []provisionerv1.NodeSelectorRequirementWithMinValues{
					{Key: provisionerv1.LabelArch, Operator: corev1.NodeSelectorOpIn, Values: []string{arch}},
				}})
			}
			continue
		}
		in := &ec2.DescribeImagesInput{Filters: tagFilters(term.Tags)}
		switch {
		case term.ID != "":
			in = &ec2.DescribeImagesInput{ImageIds: []string{term.ID}}
		case term.Name != "":
			in.Filters = append(in.Filters, ec2types.Filter{Name: aws.String("name"), Values: []string{term.Name}})
		}
		if term.Owner != "" {
			in.Owners = []string{term.Owner}
		}
		var images []ec2types.Image
		p := ec2.NewDescribeImagesPaginator(c.c.EC2, in)
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return fmt.Errorf("DescribeImages: %w", err)
			}
			images = append(images, page.Images...)
		}
		// The newest image per architecture wins (of every page).
		sort.SliceStable(images, func(i, j int) bool { return deref(images[i].CreationDate) > deref(images[j].CreationDate) })
		for _, im := range images {
			arch := map[ec2types.ArchitectureValues]string{ec2types.ArchitectureValuesX8664: "amd64", ec2types.ArchitectureValuesArm64: "arm64"}[im.Architecture]
			if arch == "" || r.amiByArch[arch] != "" {
				continue
			}
			r.amiByArch[arch] = deref(im.ImageId)
			r.amis = append(r.amis, provisionerv1.AMI{ID: deref(im.ImageId), Name: deref(im.Name), Requirements: []provisionerv1.NodeSelectorRequirementWithMinValues{
				{Key: provisionerv1.LabelArch, Operator: corev1.NodeSelectorOpIn, Values: []string{arch}},
			}})
		}
	}
	if len(r.amiByArch) == 0 {
		return errors.New("no AMI matches amiSelectorTerms")
	}
	return nil
}
