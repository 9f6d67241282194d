package coordination

import (
	"testing"

	"k8s.io/apimachinery/pkg/labels"
)

func TestScope(t *testing.T) {
	on := map[string]string{EnabledLabel: "true"}
	teamA := map[string]string{EnabledLabel: "true", "team": "a"}
	teamB := map[string]string{EnabledLabel: "true", "team": "b"}
	notOn := map[string]string{"team": "a"}
	sel, err := labels.Parse("team=a")
	if err != nil {
		t.Fatal(err)
	}
	all := Scope{TailorNamespace: "tailor-system"}
	a := Scope{TailorNamespace: "tailor-system", Selector: sel}
	cases := []struct {
		scope            Scope
		ns               string
		labels           map[string]string
		selects, optedIn bool
	}{
		{all, "shop", on, true, true},
		{all, "shop", nil, true, false},
		{all, "shop", map[string]string{EnabledLabel: "True"}, true, false}, // the webhook's selector matches "true" exactly
		{all, "shop", map[string]string{EnabledLabel: "false"}, true, false},
		{all, "kube-system", on, true, false},
		{all, "tailor-system", on, true, false},
		{Scope{TailorNamespace: "tailor-system", Selector: labels.Everything()}, "shop", on, true, true},
		{a, "shop", teamA, true, true},
		{a, "shop", teamB, false, false},
		{a, "shop", notOn, true, false},
		{a, "shop", nil, false, false},
		{a, "tailor-system", teamA, true, false},
	}
	for _, c := range cases {
		if got := c.scope.Selects(c.labels); got != c.selects {
			t.Errorf("%v Selects(%s, %v) = %v, want %v", c.scope.Selector, c.ns, c.labels, got, c.selects)
		}
		if got := c.scope.OptedIn(c.ns, c.labels); got != c.optedIn {
			t.Errorf("%v OptedIn(%s, %v) = %v, want %v", c.scope.Selector, c.ns, c.labels, got, c.optedIn)
		}
	}
}
