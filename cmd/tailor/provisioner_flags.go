package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/spf13/pflag"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/tailor-dev/tailor/provisioner/cloud"
	"github.com/tailor-dev/tailor/provisioner/cloud/asg"
	awscloud "github.com/tailor-dev/tailor/provisioner/cloud/aws"
	"github.com/tailor-dev/tailor/provisioner/cloud/sim"
	provisioner "github.com/tailor-dev/tailor/provisioner/controller"
)

// provisionerOptions are the provisioner's flags and its cloud's.
type provisionerOptions struct {
	loop  provisioner.Options
	cloud string
	sim   sim.Options
	aws   awscloud.Options
	asg   asg.Options
	// asgExpanders is --asg-expander as given.
	asgExpanders string
	// awsEndpoint overrides every AWS endpoint (tests; AWS_ENDPOINT_URL
	// works too); awsMaxAttempts bounds the SDK's retries.
	awsEndpoint    string
	awsMaxAttempts int
	// interruptionQueue is the SQS queue of EC2 interruption events.
	interruptionQueue string
}

// provisionerFlags binds the provisioner's settings; the batch defaults are
// Karpenter's.
func provisionerFlags(f *pflag.FlagSet, o *provisionerOptions) {
	o.loop = provisioner.DefaultOptions()
	o.sim = sim.DefaultOptions()
	o.aws = awscloud.DefaultOptions()
	o.aws.Region = os.Getenv("AWS_REGION")
	o.asg = asg.DefaultOptions()
	f.StringVar(&o.cloud, "cloud", "sim", "Cloud backend of the provisioner: aws (EC2 fleet launches for NodePools with an AWSNodeClass), asg (existing Auto Scaling groups for NodePools with autoScalingGroups: the Cluster Autoscaler's mode) or sim (Nodes that kwok runs: the sandbox and tests).")
	f.StringVar(&o.asgExpanders, "asg-expander", "price,least-waste", "--cloud=asg: how the groups that can take a NodeClaim are ranked, a chain of price, least-waste, priority (NodePool weight, then the order of autoScalingGroups.names) and random; each breaks the ties of those before.")
	f.DurationVar(&o.asg.LaunchTimeout, "asg-launch-timeout", o.asg.LaunchTimeout, "--cloud=asg: how long a scale-up waits for the group's new instance before giving the desired capacity back.")
	f.DurationVar(&o.loop.BatchIdle, "provisioner-batch-idle", o.loop.BatchIdle, "A batch of pending pods closes when no new unschedulable pod arrived for this long.")
	f.DurationVar(&o.loop.BatchMax, "provisioner-batch-max", o.loop.BatchMax, "A batch of pending pods closes this long after it opened, however busy.")
	f.DurationVar(&o.loop.RegistrationTimeout, "provisioner-registration-timeout", o.loop.RegistrationTimeout, "A launched NodeClaim whose Node has not registered by then is deleted (the instance terminated) and its pods solved again.")
	f.IntVar(&o.loop.MaxInstanceTypes, "provisioner-max-instance-types", o.loop.MaxInstanceTypes, "Most instance types (cheapest first) a NodeClaim lists for its launch to choose from.")
	f.DurationVar(&o.loop.DisruptionInterval, "disruption-interval", o.loop.DisruptionInterval, "How often the disruption loop decides (expiry, drift, emptiness, consolidation) and moves running commands on.")
	f.DurationVar(&o.loop.DisruptionValidation, "disruption-validation-period", o.loop.DisruptionValidation, "How long disruption candidates stay tainted before they are checked again and drained.")
	f.DurationVar(&o.loop.GCInterval, "provisioner-gc-interval", o.loop.GCInterval, "How often instances without a NodeClaim are terminated and NodeClaims whose instance is gone are checked.")
	f.DurationVar(&o.loop.InstanceGoneGrace, "instance-gone-grace", o.loop.InstanceGoneGrace, "A NodeClaim launched less than this long ago is not checked for a vanished instance.")
	f.IntVar(&o.loop.InstanceGoneChecks, "instance-gone-checks", o.loop.InstanceGoneChecks, "Consecutive checks that must find a NodeClaim's instance terminated or unknown (gone out of band, no interruption message) before the NodeClaim is deleted and its node drained.")
	f.DurationVar(&o.sim.LaunchDelay, "sim-launch-delay", o.sim.LaunchDelay, "--cloud=sim: how long an instance takes to boot and register its Node.")
	f.StringSliceVar(&o.sim.InsufficientCapacity, "sim-insufficient-capacity", nil, "--cloud=sim: offerings with no capacity, type/zone/capacity-type with * wildcards (m5.large/us-east-1a/spot); the ConfigMap tailor-sim-faults adds more at run time.")
	f.StringVar(&o.aws.ClusterName, "cluster-name", "", "--cloud=aws and asg: the EKS cluster's name (tags, node bootstrap).")
	f.StringVar(&o.aws.Region, "aws-region", o.aws.Region, "--cloud=aws and asg: the cluster's AWS region (default $AWS_REGION).")
	f.StringVar(&o.awsEndpoint, "aws-endpoint-url", "", "--cloud=aws and asg: one endpoint for every AWS API (tests against local fakes); empty: AWS's (the SDK's AWS_ENDPOINT_URL also works).")
	f.IntVar(&o.awsMaxAttempts, "aws-max-attempts", 8, "--cloud=aws and asg: attempts per AWS call; throttling and 5xx are retried with exponential backoff and jitter (at most 20 s apart).")
	f.StringVar(&o.aws.ClusterEndpoint, "cluster-endpoint", "", "--cloud=aws: the API server URL nodes join (EKS's endpoint); empty: the one Tailor talks to.")
	f.StringVar(&o.aws.ServiceCIDR, "cluster-service-cidr", o.aws.ServiceCIDR, "--cloud=aws: the cluster's service CIDR, for the nodes' bootstrap (nodeadm).")
	f.StringVar(&o.interruptionQueue, "interruption-queue", "", "--cloud=aws and asg: name of the SQS queue EventBridge sends spot interruption, rebalance, scheduled change and state change events to; empty: none.")
	f.DurationVar(&o.aws.PriceRefresh, "aws-price-refresh", o.aws.PriceRefresh, "--cloud=aws and asg: how often instance types, on-demand and spot prices are read again.")
}

// newCloud builds the backend --cloud names, once, in cmd/tailor.
func newCloud(ctx context.Context, mgr manager.Manager, o *runOptions) (cloud.Provider, error) {
	switch o.provisioner.cloud {
	case "sim":
		cs, err := kubernetes.NewForConfig(mgr.GetConfig())
		if err != nil {
			return nil, err
		}
		so := o.provisioner.sim
		so.Namespace = o.namespace
		c, err := sim.New(cs, so, mgr.GetLogger().WithName("sim-cloud"))
		if err != nil {
			return nil, err
		}
		return c, mgr.Add(c)
	case "aws":
		ao := o.provisioner.aws
		rc := mgr.GetConfig()
		if ao.ClusterEndpoint == "" {
			ao.ClusterEndpoint = rc.Host
		}
		ao.ClusterCA = rc.CAData
		if len(ao.ClusterCA) == 0 && rc.CAFile != "" {
			b, err := os.ReadFile(rc.CAFile)
			if err != nil {
				return nil, err
			}
			ao.ClusterCA = b
		}
		dc, err := discovery.NewDiscoveryClientForConfig(rc)
		if err != nil {
			return nil, err
		}
		v, err := dc.ServerVersion()
		if err != nil {
			return nil, fmt.Errorf("kubernetes version for the EKS AMI: %w", err)
		}
		ao.KubernetesVersion = v.Major + "." + strings.TrimSuffix(v.Minor, "+")
		if err := ao.Validate(); err != nil {
			return nil, err
		}
		cfg, err := awscloud.LoadConfig(ctx, ao.Region, o.provisioner.awsEndpoint, o.provisioner.awsMaxAttempts)
		if err != nil {
			return nil, fmt.Errorf("AWS configuration: %w", err)
		}
		clients := awscloud.NewClients(cfg)
		c, err := awscloud.New(mgr.GetClient(), clients, ao, mgr.GetLogger().WithName("aws-cloud"))
		if err != nil {
			return nil, err
		}
		if err := addInterruptionQueue(mgr, clients, o.provisioner.interruptionQueue); err != nil {
			return nil, err
		}
		return c, mgr.Add(c)
	case "asg":
		ao := o.provisioner.aws
		if err := ao.Validate(); err != nil {
			return nil, errors.New(strings.ReplaceAll(err.Error(), "--cloud=aws", "--cloud=asg"))
		}
		so := o.provisioner.asg
		so.ClusterName, so.PriceRefresh = ao.ClusterName, ao.PriceRefresh
		exps, err := asg.ParseExpanders(o.provisioner.asgExpanders)
		if err != nil {
			return nil, fmt.Errorf("--asg-expander: %w", err)
		}
		so.Expanders = exps
		cfg, err := awscloud.LoadConfig(ctx, ao.Region, o.provisioner.awsEndpoint, o.provisioner.awsMaxAttempts)
		if err != nil {
			return nil, fmt.Errorf("AWS configuration: %w", err)
		}
		clients := awscloud.NewClients(cfg)
		// Instance types, prices and instance lookups: the fleet backend's,
		// which never launches here.
		fleet, err := awscloud.New(mgr.GetClient(), clients, ao, mgr.GetLogger().WithName("aws-types"))
		if err != nil {
			return nil, err
		}
		c, err := asg.New(mgr.GetClient(), autoscaling.NewFromConfig(cfg), ec2.NewFromConfig(cfg), eks.NewFromConfig(cfg), fleet,
			mgr.GetEventRecorder("tailor.dev/asg"), so, mgr.GetLogger().WithName("asg-cloud"))
		if err != nil {
			return nil, err
		}
		if err := addInterruptionQueue(mgr, clients, o.provisioner.interruptionQueue); err != nil {
			return nil, err
		}
		return c, mgr.Add(c)
	}
	return nil, fmt.Errorf("--cloud %q: want aws, asg or sim", o.provisioner.cloud)
}

// addInterruptionQueue consumes the SQS queue of EC2 interruption events,
// if one is named: both backends mark the NodeClaim of an instance the
// cloud takes away Interrupted, which the disruption loop replaces and
// drains first.
func addInterruptionQueue(mgr manager.Manager, clients awscloud.Clients, queue string) error {
	if queue == "" {
		return nil
	}
	log := mgr.GetLogger().WithName("interruption")
	h := &awscloud.ClaimHandler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("tailor.dev/interruption"), Log: log}
	return mgr.Add(&awscloud.Queue{SQS: clients.SQS, Name: queue, Handler: h, Log: log})
}

func setupProvisioner(ctx context.Context, mgr manager.Manager, o *runOptions) error {
	cp, err := newCloud(ctx, mgr, o)
	if err != nil {
		return err
	}
	return provisioner.Setup(ctx, mgr, o.provisioner.loop, cp)
}
