package simulate

import (
	"fmt"
	"slices"
	"strings"
)

// pick builds the named policies of one kind, in the order given.
func pick[P any](kind string, all map[string]func() (P, error), names []string) ([]P, error) {
	out := make([]P, 0, len(names))
	for _, n := range names {
		f, ok := all[n]
		if !ok {
			return nil, fmt.Errorf("unknown %s policy %q (have %s)", kind, n, keys(all))
		}
		p, err := f()
		if err != nil {
			return nil, fmt.Errorf("policy %s: %w", n, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func keys[V any](m map[string]V) string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return strings.Join(ks, ", ")
}
