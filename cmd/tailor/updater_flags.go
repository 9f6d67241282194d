package main

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/tailor-dev/tailor/scaler/resize"
	"github.com/tailor-dev/tailor/scaler/updater"
)

// updaterFlags binds the updater's settings; the defaults are upstream VPA
// updater's where it has the same knob (interval, min replicas, resize
// timeouts).
func updaterFlags(f *pflag.FlagSet, o *updater.Options) {
	o.Interval, o.Config = time.Minute, resize.DefaultConfig()
	f.DurationVar(&o.Interval, "updater-interval", o.Interval, "How often the updater checks running pods against their VPA's recommendation bounds.")
	f.IntVar(&o.MaxPerWorkload, "updater-max-pods-per-workload", o.MaxPerWorkload, "Pods of one VPA target updated at once: resizes still in progress count, plus each pass's resizes and evictions.")
	f.DurationVar(&o.Cooldown, "updater-pod-cooldown", o.Cooldown, "A pod resized or evicted is not updated again for this long (an eviction after a failed resize does not wait).")
	f.Int32Var(&o.MinReplicas, "updater-min-replicas", o.MinReplicas, "No eviction while the target has fewer live pods (a VPA's updatePolicy.minReplicas wins); in-place resizes are not limited.")
	f.DurationVar(&o.DeferredTimeout, "updater-resize-deferred-timeout", o.DeferredTimeout, "A resize the kubelet defers (PodResizePending, Deferred) for longer falls back to eviction where the update mode allows.")
	f.DurationVar(&o.InProgressTimeout, "updater-resize-in-progress-timeout", o.InProgressTimeout, "A resize in progress (PodResizeInProgress) for longer falls back to eviction where the update mode allows.")
}
