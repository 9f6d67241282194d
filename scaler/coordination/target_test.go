package coordination

import "testing"

func TestSameTarget(t *testing.T) {
	deploy := Ref{"Deployment", "web", "apps/v1"}
	cases := []struct {
		name string
		b    Ref
		want bool
	}{
		{"same", deploy, true},
		{"other version, same group", Ref{"Deployment", "web", "apps/v1beta2"}, true},
		{"empty apiVersion matches any group", Ref{"Deployment", "web", ""}, true},
		{"other group", Ref{"Deployment", "web", "argoproj.io/v1alpha1"}, false},
		{"core group", Ref{"Deployment", "web", "v1"}, false},
		{"other kind", Ref{"StatefulSet", "web", "apps/v1"}, false},
		{"other name", Ref{"Deployment", "db", "apps/v1"}, false},
		{"unparsable apiVersion", Ref{"Deployment", "web", "apps/v1/x"}, false},
	}
	for _, tc := range cases {
		if got := SameTarget(deploy, tc.b); got != tc.want {
			t.Errorf("%s: SameTarget(%v, %v) = %v, want %v", tc.name, deploy, tc.b, got, tc.want)
		}
		if got := SameTarget(tc.b, deploy); got != tc.want {
			t.Errorf("%s: not symmetric", tc.name)
		}
	}
	if bad := (Ref{"Deployment", "web", "a/b/c"}); !SameTarget(bad, bad) {
		t.Error("an unparsable apiVersion must still match itself")
	}
}
