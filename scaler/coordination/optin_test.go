package coordination

import "testing"

func TestOptedIn(t *testing.T) {
	on := map[string]string{EnabledLabel: "true"}
	cases := []struct {
		ns     string
		labels map[string]string
		want   bool
	}{
		{"shop", on, true},
		{"shop", nil, false},
		{"shop", map[string]string{EnabledLabel: "True"}, false}, // the selector matches "true" exactly
		{"shop", map[string]string{EnabledLabel: "false"}, false},
		{"kube-system", on, false},
		{"tailor-system", on, false},
	}
	for _, c := range cases {
		if got := OptedIn(c.ns, c.labels, "tailor-system"); got != c.want {
			t.Errorf("OptedIn(%s, %v) = %v, want %v", c.ns, c.labels, got, c.want)
		}
	}
}
