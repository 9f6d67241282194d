package asg

import (
	"testing"

	"github.com/tailor-dev/tailor/provisioner/cloud/asg/nodegroup"
)

func TestCapacityFailure(t *testing.T) {
	for msg, want := range map[string]bool{
		"Launching a new EC2 instance. Status Reason: Could not launch On-Demand Instances. InsufficientInstanceCapacity - We currently do not have sufficient m5.large capacity": true,
		"We currently do not have sufficient c5.xlarge capacity in the Availability Zone you requested (us-east-1a).":                                                             true,
		"Could not launch Spot Instances. UnfulfillableCapacity - Unable to fulfill capacity due to your request configuration.":                                                  true,
		"Could not launch Spot Instances. MaxSpotInstanceCountExceeded - Max spot instance count exceeded.":                                                                       true,
		"The security group 'sg-123' does not exist in VPC 'vpc-1'. Launching EC2 instance failed.":                                                                               false,
		"Value (x) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name":                                                                           false,
	} {
		if got := CapacityFailure(msg); got != want {
			t.Errorf("CapacityFailure(%q) = %v, want %v", msg, got, want)
		}
	}
}

func TestFilters(t *testing.T) {
	fs := Filters(map[string]string{nodegroup.TagEnabled: "true", nodegroup.TagCluster + "prod": "*"})
	if len(fs) != 2 || *fs[1].Name != "tag-key" || fs[1].Values[0] != nodegroup.TagCluster+"prod" || *fs[0].Name != "tag:"+nodegroup.TagEnabled || fs[0].Values[0] != "true" {
		t.Errorf("filters %+v", fs)
	}
}
