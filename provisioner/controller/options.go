package controller

import (
	"fmt"
	"time"

	"github.com/tailor-dev/tailor/provisioner/scope"
)

// Options configure the provisioner.
type Options struct {
	// BatchIdle ends a batch of pending pods when no new one arrived for
	// this long; BatchMax ends it regardless (Karpenter's 1s and 10s).
	BatchIdle time.Duration
	BatchMax  time.Duration
	// RegistrationTimeout: a launched NodeClaim whose Node has not
	// registered by then is deleted and its pods re-solved.
	RegistrationTimeout time.Duration
	// MaxInstanceTypes a NodeClaim carries (cheapest first), so that a
	// launch has fallbacks without a claim listing the whole catalogue.
	MaxInstanceTypes int
	// DisruptionInterval is how often the disruption loop runs a pass.
	DisruptionInterval time.Duration
	// DisruptionValidation is how long tainted candidates wait before they
	// are checked again and drained (Karpenter's consolidation validation).
	DisruptionValidation time.Duration
	// GCInterval is how often instances without a NodeClaim are
	// terminated and NodeClaims without an instance deleted.
	GCInterval time.Duration
	// InstanceGoneGrace: a claim launched less than this long ago is not
	// checked for a vanished instance (EC2 answers NotFound for a while
	// after a launch).
	InstanceGoneGrace time.Duration
	// InstanceGoneChecks: consecutive GC checks that must find a claim's
	// instance terminated or unknown before the claim is deleted.
	InstanceGoneChecks int
	// Pools is the installation's share (--nodepool-selector): the pools
	// it provisions, disrupts and keeps status of, their claims and nodes,
	// and the pending pods placement puts in them. The zero value: all.
	Pools scope.Pools
}

// DefaultOptions are the documented defaults.
func DefaultOptions() Options {
	return Options{BatchIdle: time.Second, BatchMax: 10 * time.Second, RegistrationTimeout: 15 * time.Minute, MaxInstanceTypes: 60,
		DisruptionInterval: 10 * time.Second, DisruptionValidation: 15 * time.Second,
		GCInterval: 30 * time.Second, InstanceGoneGrace: 5 * time.Minute, InstanceGoneChecks: 3}
}

// Validate reports settings the provisioner cannot run with.
func (o Options) Validate() error {
	switch {
	case o.BatchIdle <= 0 || o.BatchMax <= 0:
		return fmt.Errorf("provisioner batch durations must be positive, got idle %s and max %s", o.BatchIdle, o.BatchMax)
	case o.BatchIdle > o.BatchMax:
		return fmt.Errorf("provisioner batch idle %s is longer than the batch max %s", o.BatchIdle, o.BatchMax)
	case o.RegistrationTimeout <= 0:
		return fmt.Errorf("provisioner registration timeout must be positive, got %s", o.RegistrationTimeout)
	case o.MaxInstanceTypes < 1:
		return fmt.Errorf("provisioner max instance types must be at least 1, got %d", o.MaxInstanceTypes)
	case o.DisruptionInterval <= 0:
		return fmt.Errorf("disruption interval must be positive, got %s", o.DisruptionInterval)
	case o.DisruptionValidation < 0:
		return fmt.Errorf("disruption validation period must not be negative, got %s", o.DisruptionValidation)
	case o.GCInterval <= 0 || o.InstanceGoneGrace < 0:
		return fmt.Errorf("provisioner GC interval must be positive and the instance-gone grace not negative, got %s and %s", o.GCInterval, o.InstanceGoneGrace)
	case o.InstanceGoneChecks < 1:
		return fmt.Errorf("instance-gone checks must be at least 1, got %d", o.InstanceGoneChecks)
	}
	return nil
}
