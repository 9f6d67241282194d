package controller

import (
	"fmt"
	"time"
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
}

// DefaultOptions are the documented defaults.
func DefaultOptions() Options {
	return Options{BatchIdle: time.Second, BatchMax: 10 * time.Second, RegistrationTimeout: 15 * time.Minute, MaxInstanceTypes: 60,
		DisruptionInterval: 10 * time.Second, DisruptionValidation: 15 * time.Second}
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
	}
	return nil
}
