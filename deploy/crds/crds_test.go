package crds

import "testing"

func TestObjects(t *testing.T) {
	objs, err := Objects()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{
		"verticalpodautoscalers.autoscaling.k8s.io":           false,
		"verticalpodautoscalercheckpoints.autoscaling.k8s.io": false,
		"replicaautoscalers.tailor.dev":                       false,
		"nodepools.tailor.dev":                                false,
		"awsnodeclasses.tailor.dev":                           false,
		"nodeclaims.tailor.dev":                               false,
	}
	for _, o := range objs {
		if _, ok := want[o.Name]; ok {
			want[o.Name] = true
		}
	}
	for name, found := range want {
		if !found {
			t.Errorf("CRD %s missing", name)
		}
	}
}
