package webhook

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/scope"
)

// fakePlacer pins every pod asking for less than 4 CPUs to "small".
type fakePlacer struct{ seen *corev1.Pod }

func (f *fakePlacer) Place(pod *corev1.Pod) Placement {
	f.seen = pod
	cpu := pod.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU]
	if cpu.Cmp(resource.MustParse("4")) < 0 {
		return Placement{Pool: "small", NodeSelector: map[string]string{"tailor.dev/nodepool": "small"},
			Note: "nodepool small: weight 10; passed over gpu: requirement nvidia.com/gpu", Summary: "nodepool small"}
	}
	return Placement{Note: "no pool fits: small: pod requests cpu 4, more than the limit 2", Summary: "no pool fits"}
}

type fakeNamespaces map[string]map[string]string

func (f fakeNamespaces) NamespaceLabels(_ context.Context, name string) (map[string]string, error) {
	return f[name], nil
}

func placementPod(cpu string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}}}}},
	}
}

func TestPlacementStep(t *testing.T) {
	ds := placementPod("1")
	yes := true
	ds.OwnerReferences = []metav1.OwnerReference{{Kind: "DaemonSet", Name: "d", Controller: &yes}}
	pinned := placementPod("1")
	pinned.Spec.NodeSelector = map[string]string{"tailor.dev/nodepool": "mine", "disk": "ssd"}
	selector := placementPod("1")
	selector.Spec.NodeSelector = map[string]string{"disk": "ssd"}
	cases := []struct {
		name      string
		pod       *corev1.Pod
		namespace string
		wantPath  string // the nodeSelector op, "" for none
		wantAnn   string // prefix of the annotation, "" for none
		skipped   string
	}{
		{"fits", placementPod("1"), "ns", "/spec/nodeSelector", "nodepool small: weight 10; passed over gpu", ""},
		{"existing selector", selector, "ns", "/spec/nodeSelector/tailor.dev~1nodepool", "nodepool small", ""},
		{"no pool fits", placementPod("8"), "ns", "", "no pool fits: small: pod requests cpu 4", ""},
		{"pool pinned", pinned, "ns", "", "", "pool_pinned"},
		{"daemonset pod", ds, "ns", "", "", "daemon_pod"},
		{"namespace off", placementPod("1"), "off", "", "", "placement_disabled"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := &PodSizer{Placer: &fakePlacer{}, Namespaces: fakeNamespaces{"off": {PlacementLabel: PlacementDisabled}}}
			r := &podReview{}
			runSteps(context.Background(), r, tc.namespace, tc.pod, []podStep{placementStep{h}})
			var path string
			for _, op := range r.patch {
				path = op.Path
			}
			if path != tc.wantPath {
				t.Errorf("patch path %q, want %q (%v)", path, tc.wantPath, r.patch)
			}
			var ann string
			for _, a := range r.annotations {
				if a.key == PlacementAnnotation {
					ann = a.value
				}
			}
			if (tc.wantAnn == "") != (ann == "") || !strings.HasPrefix(ann, tc.wantAnn) {
				t.Errorf("annotation %q, want prefix %q", ann, tc.wantAnn)
			}
			if tc.skipped != "" && (len(r.skipped) != 1 || r.skipped[0] != tc.skipped) {
				t.Errorf("skipped %v, want %s", r.skipped, tc.skipped)
			}
		})
	}
}

// Placement sees the requests sizing gave the pod, not the submitted ones.
func TestPlacementUsesSizedRequests(t *testing.T) {
	f := &fakePlacer{}
	h := &PodSizer{Placer: f}
	pod := placementPod("8")
	r := &podReview{namespace: "ns", pod: pod, sized: placementPod("1")}
	placementStep{h}.apply(context.Background(), r)
	if f.seen != r.sized || len(r.patch) != 1 {
		t.Errorf("placed %v with patch %v; want the sized pod pinned", f.seen, r.patch)
	}
}

// The slim decoder keeps what placement reads.
func TestDecodeKeepsPlacementFields(t *testing.T) {
	raw := []byte(`{"metadata":{"labels":{"app":"a"}},"spec":{"nodeSelector":{"disk":"ssd"},
		"tolerations":[{"key":"k","operator":"Exists"}],
		"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"z","operator":"In","values":["a"]}]}]}}},
		"overhead":{"cpu":"10m"},"containers":[{"name":"c"}]}}`)
	pod, err := decodePod(raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	if pod.Labels["app"] != "a" || pod.Spec.NodeSelector["disk"] != "ssd" || len(pod.Spec.Tolerations) != 1 ||
		pod.Spec.Affinity == nil || pod.Spec.Overhead.Cpu().MilliValue() != 10 {
		t.Errorf("decoded %+v", pod.Spec)
	}
}

// PoolPlacer with --nodepool-selector pins pods to the installation's
// pools only, even where another installation's pool weighs more.
func TestPoolPlacerKeepsToSelectedPools(t *testing.T) {
	sel, err := scope.Parse("team=a")
	if err != nil {
		t.Fatal(err)
	}
	pool := func(name, team string, weight int32) *provisionerv1.NodePool {
		return &provisionerv1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"team": team}},
			Spec: provisionerv1.NodePoolSpec{Weight: &weight}}
	}
	p := &PoolPlacer{Pools: sel}
	p.Set([]*provisionerv1.NodePool{pool("theirs", "b", 90), pool("mine", "a", 10)})
	if got := p.Place(placementPod("1")); got.Pool != "mine" || strings.Contains(got.Note, "passed over") {
		t.Errorf("placed in %q (%s), want mine with nothing passed over", got.Pool, got.Note)
	}
	all := &PoolPlacer{}
	all.Set([]*provisionerv1.NodePool{pool("theirs", "b", 90), pool("mine", "a", 10)})
	if got := all.Place(placementPod("1")); got.Pool != "theirs" {
		t.Errorf("without a selector: placed in %q, want the heaviest, theirs", got.Pool)
	}
}
