package controller

import (
	"context"
	"errors"
	"strings"
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

var (
	widgetGVK  = schema.GroupVersionKind{Group: "tailor.test", Version: "v1", Kind: "Widget"}
	widgetsGVR = schema.GroupVersionResource{Group: "tailor.test", Version: "v1", Resource: "widgets"}
)

// fakeScales serves scale subresources from a map keyed by
// "resource/namespace/name"; a missing key answers NotFound as the API
// server does. It counts reads.
type fakeScales struct {
	client.SubResourceClient
	selectors map[string]string
	err       error
	reads     int
}

func (f *fakeScales) SubResource(name string) client.SubResourceClient {
	if name != "scale" {
		panic("subresource " + name)
	}
	return f
}

func (f *fakeScales) Get(_ context.Context, obj, sub client.Object, _ ...client.SubResourceGetOption) error {
	f.reads++
	if f.err != nil {
		return f.err
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	res := strings.ToLower(gvk.Kind) + "s"
	sel, ok := f.selectors[res+"/"+obj.GetNamespace()+"/"+obj.GetName()]
	if !ok {
		return apierrors.NewNotFound(schema.GroupResource{Group: gvk.Group, Resource: res}, obj.GetName())
	}
	u := sub.(*unstructured.Unstructured)
	u.Object = map[string]any{"apiVersion": "autoscaling/v1", "kind": "Scale", "status": map[string]any{"replicas": int64(1), "selector": sel}}
	return nil
}

// fakeDiscovery lists, per group-version, the resources served.
type fakeDiscovery struct {
	resources map[string][]string
	err       error
	calls     int
}

func (f *fakeDiscovery) ServerResourcesForGroupVersion(gv string) (*metav1.APIResourceList, error) {
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	l := &metav1.APIResourceList{GroupVersion: gv}
	for _, r := range f.resources[gv] {
		l.APIResources = append(l.APIResources, metav1.APIResource{Name: r})
	}
	return l, nil
}

func testScales(selectors map[string]string) (*Scales, *fakeScales, *fakeDiscovery) {
	m := meta.NewDefaultRESTMapper(nil)
	m.Add(widgetGVK, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, meta.RESTScopeNamespace)
	fs := &fakeScales{selectors: selectors}
	fd := &fakeDiscovery{resources: map[string][]string{
		"tailor.test/v1": {"widgets", "widgets/status", "widgets/scale"},
		"v1":             {"configmaps", "pods", "pods/status"},
	}}
	return &Scales{Mapper: m, Client: fs, Discovery: fd}, fs, fd
}

func vpaOn(apiVersion, kind, name string) *vpav1.VerticalPodAutoscaler {
	return &vpav1.VerticalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "v", Namespace: "ns"},
		Spec:       vpav1.VerticalPodAutoscalerSpec{TargetRef: &autoscalingv1.CrossVersionObjectReference{APIVersion: apiVersion, Kind: kind, Name: name}},
	}
}

func TestSelectorOfScaleSubresource(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name      string
		vpa       *vpav1.VerticalPodAutoscaler
		selectors map[string]string
		scaleErr  error
		discErr   error
		// want: the selector's string form; or wantErr, a substring of the
		// ConfigUnsupported message; or transient, an error that is not one.
		want, wantErr string
		transient     bool
		reads, disc   int
	}{
		{name: "widget", vpa: vpaOn("tailor.test/v1", "Widget", "web"), selectors: map[string]string{"widgets/ns/web": "app=web,tier in (a,b)"},
			want: "app=web,tier in (a,b)", reads: 1},
		{name: "empty selector", vpa: vpaOn("tailor.test/v1", "Widget", "web"), selectors: map[string]string{"widgets/ns/web": ""},
			wantErr: "Widget.tailor.test ns/web: its scale subresource reports no pod selector", reads: 1},
		{name: "bad selector", vpa: vpaOn("tailor.test/v1", "Widget", "web"), selectors: map[string]string{"widgets/ns/web": "app in ("},
			wantErr: `status.selector "app in ("`, reads: 1},
		{name: "missing object", vpa: vpaOn("tailor.test/v1", "Widget", "gone"),
			wantErr: "Widget.tailor.test ns/gone not found", reads: 1, disc: 1},
		{name: "kind unknown to the API server", vpa: vpaOn("tailor.test/v1", "Gadget", "g"),
			wantErr: "targetRef kind Gadget is unknown to the API server (no resource serves it in tailor.test/v1; is its CRD installed?)"},
		{name: "version not served", vpa: vpaOn("tailor.test/v2", "Widget", "web"),
			wantErr: "unknown to the API server"},
		{name: "kind without scale subresource", vpa: vpaOn("v1", "ConfigMap", "cm"),
			wantErr: "targetRef kind ConfigMap has no scale subresource (configmaps/scale is not served)", reads: 1, disc: 1},
		{name: "forbidden", vpa: vpaOn("tailor.test/v1", "Widget", "web"), scaleErr: apierrors.NewForbidden(schema.GroupResource{Group: "tailor.test", Resource: "widgets/scale"}, "web", errors.New("RBAC")),
			wantErr: "Tailor may not read widgets.tailor.test/scale (its ClusterRole needs get on */scale", reads: 1},
		{name: "API server error is transient", vpa: vpaOn("tailor.test/v1", "Widget", "web"), scaleErr: apierrors.NewServiceUnavailable("etcd"),
			transient: true, reads: 1},
		{name: "discovery error is transient", vpa: vpaOn("tailor.test/v1", "Widget", "gone"), discErr: errors.New("connection refused"),
			transient: true, reads: 1, disc: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, fs, fd := testScales(tc.selectors)
			fs.err, fd.err = tc.scaleErr, tc.discErr
			sel, err := selectorOf(ctx, nil, s, tc.vpa)
			var te targetError
			switch {
			case tc.want != "":
				if err != nil || sel.String() != tc.want {
					t.Fatalf("selector %v, err %v; want %s", sel, err, tc.want)
				}
			case tc.transient:
				if err == nil || errors.As(err, &te) {
					t.Fatalf("err %v, want a transient error", err)
				}
			default:
				if !errors.As(err, &te) || !strings.Contains(te.msg, tc.wantErr) {
					t.Fatalf("err %v, want a targetError containing %q", err, tc.wantErr)
				}
			}
			if fs.reads != tc.reads || fd.calls != tc.disc {
				t.Fatalf("%d scale reads and %d discovery calls, want %d and %d", fs.reads, fd.calls, tc.reads, tc.disc)
			}
		})
	}
}

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

func TestHasScaleSubresource(t *testing.T) {
	l := &metav1.APIResourceList{APIResources: []metav1.APIResource{{Name: "widgets"}, {Name: "widgets/scale"}, {Name: "gadgets/status"}}}
	if !hasScaleSubresource(l, "widgets") || hasScaleSubresource(l, "gadgets") || hasScaleSubresource(l, "widget") || hasScaleSubresource(nil, "widgets") {
		t.Fatal("wrong answer")
	}
}
