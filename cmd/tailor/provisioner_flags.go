package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/tailor-dev/tailor/provisioner/cloud"
	"github.com/tailor-dev/tailor/provisioner/cloud/sim"
	provisioner "github.com/tailor-dev/tailor/provisioner/controller"
)

// provisionerOptions are the provisioner's flags and its cloud's.
type provisionerOptions struct {
	loop  provisioner.Options
	cloud string
	sim   sim.Options
}

// provisionerFlags binds the provisioner's settings; the batch defaults are
// Karpenter's.
func provisionerFlags(f *pflag.FlagSet, o *provisionerOptions) {
	o.loop = provisioner.DefaultOptions()
	o.sim = sim.DefaultOptions()
	f.StringVar(&o.cloud, "cloud", "sim", "Cloud backend of the provisioner: sim (Nodes that kwok runs: the sandbox and tests) or aws (EC2 fleet; not built yet).")
	f.DurationVar(&o.loop.BatchIdle, "provisioner-batch-idle", o.loop.BatchIdle, "A batch of pending pods closes when no new unschedulable pod arrived for this long.")
	f.DurationVar(&o.loop.BatchMax, "provisioner-batch-max", o.loop.BatchMax, "A batch of pending pods closes this long after it opened, however busy.")
	f.DurationVar(&o.loop.RegistrationTimeout, "provisioner-registration-timeout", o.loop.RegistrationTimeout, "A launched NodeClaim whose Node has not registered by then is deleted (the instance terminated) and its pods solved again.")
	f.IntVar(&o.loop.MaxInstanceTypes, "provisioner-max-instance-types", o.loop.MaxInstanceTypes, "Most instance types (cheapest first) a NodeClaim lists for its launch to choose from.")
	f.DurationVar(&o.loop.DisruptionInterval, "disruption-interval", o.loop.DisruptionInterval, "How often the disruption loop decides (expiry, drift, emptiness, consolidation) and moves running commands on.")
	f.DurationVar(&o.loop.DisruptionValidation, "disruption-validation-period", o.loop.DisruptionValidation, "How long disruption candidates stay tainted before they are checked again and drained.")
	f.DurationVar(&o.sim.LaunchDelay, "sim-launch-delay", o.sim.LaunchDelay, "--cloud=sim: how long an instance takes to boot and register its Node.")
	f.StringSliceVar(&o.sim.InsufficientCapacity, "sim-insufficient-capacity", nil, "--cloud=sim: offerings with no capacity, type/zone/capacity-type with * wildcards (m5.large/us-east-1a/spot); the ConfigMap tailor-sim-faults adds more at run time.")
}

// newCloud builds the backend --cloud names, once, in cmd/tailor.
func newCloud(mgr manager.Manager, o *runOptions) (cloud.Provider, error) {
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
		return nil, errors.New("--cloud=aws: the EC2 backend is not built yet (a later issue); use --cloud=sim")
	}
	return nil, fmt.Errorf("--cloud %q: want sim or aws", o.provisioner.cloud)
}

func setupProvisioner(ctx context.Context, mgr manager.Manager, o *runOptions) error {
	cp, err := newCloud(mgr, o)
	if err != nil {
		return err
	}
	return provisioner.Setup(ctx, mgr, o.provisioner.loop, cp)
}
