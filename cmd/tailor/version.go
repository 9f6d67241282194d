package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Set at build time: -ldflags "-X main.version=v0.1.0 -X main.commit=abc123".
var (
	version = "dev"
	commit  = ""
)

// buildInfo returns version, commit and Go version, falling back to the VCS
// stamp Go embeds when the binary was built without ldflags.
func buildInfo() (v, c, goVersion string) {
	v, c = version, commit
	if c == "" {
		c = "unknown"
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					c = s.Value
				}
			}
		}
	}
	return v, c, runtime.Version()
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print version, commit and Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, c, g := buildInfo()
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "tailor %s (commit %s, %s %s/%s)\n", v, c, g, runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}
