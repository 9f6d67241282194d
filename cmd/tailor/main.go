// Command tailor is Tailor's single binary: the admission webhook server and
// the autoscaling loops (run), a local sandbox cluster (sandbox) and version.
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		// One line, no usage dump and no stack trace: the error says what to fix.
		fmt.Fprintln(os.Stderr, "tailor: "+strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; "))
		os.Exit(1)
	}
}

// subcommands are added by files that a build tag may leave out (the
// sandbox registers itself from sandbox.go).
var subcommands []func() *cobra.Command

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "tailor",
		Short:         "Pod sizing, replica scaling and node provisioning for EKS, decided at admission time",
		SilenceUsage:  true,
		SilenceErrors: true,
		// A bare "tailor" or "tailor nonsense" is an error, not a help page
		// with exit status 0.
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			names := make([]string, 0, len(cmd.Commands()))
			for _, c := range cmd.Commands() {
				if c.IsAvailableCommand() {
					names = append(names, c.Name())
				}
			}
			return fmt.Errorf("a subcommand is required (%s); see tailor --help", strings.Join(names, ", "))
		},
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return fmt.Errorf("%s: %w (see %s --help)", cmd.CommandPath(), err, cmd.CommandPath())
	})
	root.AddCommand(newRunCommand(), newConvertCommand(), newSimulateCommand(), newVersionCommand())
	for _, c := range subcommands {
		root.AddCommand(c())
	}
	return root
}

// requireSubcommand makes a parent command reject a missing or unknown
// subcommand with an error instead of printing help and exiting 0.
func requireSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%s needs a subcommand; see %s --help", cmd.CommandPath(), cmd.CommandPath())
	}
	return fmt.Errorf("unknown command %q for %s; see %s --help", args[0], cmd.CommandPath(), cmd.CommandPath())
}
