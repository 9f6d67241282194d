package main

import (
	"os"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// Every flag of `tailor run` and `tailor simulate` is documented in
// README.md's flag tables, so the docs cannot fall behind the binary.
func TestREADMEDocumentsEveryRunFlag(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	check := func(f *pflag.Flag) {
		if !strings.Contains(readme, "`--"+f.Name+"`") {
			t.Errorf("README.md does not document --%s (%s)", f.Name, f.Usage)
		}
	}
	newRunCommand().Flags().VisitAll(check)
	newSimulateCommand().Flags().VisitAll(check)
}
