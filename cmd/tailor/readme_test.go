package main

import (
	"os"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// Every flag of `tailor run` and `tailor simulate` is documented in the
// flag tables of docs/reference.md and docs/simulate.md, so the docs cannot
// fall behind the binary.
func TestREADMEDocumentsEveryRunFlag(t *testing.T) {
	var docs strings.Builder
	for _, f := range []string{"../../docs/reference.md", "../../docs/simulate.md"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs.Write(b)
	}
	readme := docs.String()
	check := func(f *pflag.Flag) {
		if !strings.Contains(readme, "`--"+f.Name+"`") {
			t.Errorf("docs/reference.md and docs/simulate.md do not document --%s (%s)", f.Name, f.Usage)
		}
	}
	newRunCommand().Flags().VisitAll(check)
	newSimulateCommand().Flags().VisitAll(check)
}
