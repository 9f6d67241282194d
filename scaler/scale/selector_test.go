package scale

import (
	"testing"

	"k8s.io/apimachinery/pkg/labels"
)

func TestScaleSelector(t *testing.T) {
	for sel, ok := range map[string]bool{"app=web": true, "app in (a,b),!canary": true, "": false, "  ": false, "app=": true, "a b": false} {
		s, err := scaleSelector("Widget ns/web", sel)
		if (err == nil) != ok {
			t.Errorf("%q: %v, %v", sel, s, err)
		}
	}
	s, err := scaleSelector("w", "app=web")
	if err != nil || !s.Matches(labels.Set{"app": "web", "x": "y"}) || s.Matches(labels.Set{"app": "db"}) {
		t.Fatalf("%v %v", s, err)
	}
}
