package awsfake_test

import (
	"time"

	"context"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	awscloud "github.com/tailor-dev/tailor/provisioner/cloud/aws"
	"github.com/tailor-dev/tailor/provisioner/scope"
)

// TestWireClassesOfTheInstallation: with --nodepool-selector, the backend
// resolves and writes the status of its own AWSNodeClasses only; another
// installation's (whose subnets this account may not even have) is left
// alone. "a-theirs" sorts first, so the pass that resolved "b-mine" has
// been past it.
func TestWireClassesOfTheInstallation(t *testing.T) {
	s := startFake(t)
	scheme := runtime.NewScheme()
	if err := provisionerv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	class := func(name, team string) *provisionerv1.AWSNodeClass {
		return &provisionerv1.AWSNodeClass{ObjectMeta: metav1.ObjectMeta{Name: name, Generation: 1, Labels: map[string]string{"team": team}},
			Spec: provisionerv1.AWSNodeClassSpec{
				Role:                       "NodeRole",
				AMISelectorTerms:           []provisionerv1.AMISelectorTerm{{Alias: "al2023@latest"}},
				SubnetSelectorTerms:        []provisionerv1.SubnetSelectorTerm{{Tags: map[string]string{"tailor.dev/discovery": "wire"}}},
				SecurityGroupSelectorTerms: []provisionerv1.SecurityGroupSelectorTerm{{Tags: map[string]string{"tailor.dev/discovery": "*"}}},
			}}
	}
	theirs, mine := class("a-theirs", "b"), class("b-mine", "a")
	kube := fake.NewClientBuilder().WithScheme(scheme).WithObjects(theirs, mine).WithStatusSubresource(theirs, mine).Build()
	o := awscloud.DefaultOptions()
	var err error
	if o.Classes, err = scope.Parse("team=a"); err != nil {
		t.Fatal(err)
	}
	c := newCloud(t, s, kube, o)
	start(t, c)
	ctx := context.Background()
	waitFor(t, "b-mine resolved", func() bool {
		var got provisionerv1.AWSNodeClass
		return kube.Get(ctx, client.ObjectKey{Name: "b-mine"}, &got) == nil && meta.IsStatusConditionTrue(got.Status.Conditions, provisionerv1.ConditionReady)
	})
	var got provisionerv1.AWSNodeClass
	if err := kube.Get(ctx, client.ObjectKey{Name: "a-theirs"}, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Status.Conditions) != 0 || len(got.Status.Subnets) != 0 {
		t.Errorf("another installation's class got a status: %+v", got.Status)
	}
}

// With a class selector, the launch-template collection deletes the
// installation's own unused templates only: one of another
// installation's class, and one whose class is not known, stay.
func TestWireLaunchTemplatesOfTheInstallation(t *testing.T) {
	s := startFake(t)
	scheme := runtime.NewScheme()
	if err := provisionerv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	mine := &provisionerv1.AWSNodeClass{ObjectMeta: metav1.ObjectMeta{Name: "b-mine", Labels: map[string]string{"team": "a"}}}
	theirs := &provisionerv1.AWSNodeClass{ObjectMeta: metav1.ObjectMeta{Name: "a-theirs", Labels: map[string]string{"team": "b"}}}
	kube := fake.NewClientBuilder().WithScheme(scheme).WithObjects(theirs, mine).WithStatusSubresource(theirs, mine).Build()
	old := time.Now().Add(-2 * time.Hour)
	for name, class := range map[string]string{"tailor-wire-mine": "b-mine", "tailor-wire-theirs": "a-theirs", "tailor-wire-unknown": ""} {
		tags := map[string]string{"tailor.dev/cluster": "wire"}
		if class != "" {
			tags["tailor.dev/nodeclass"] = class
		}
		s.AddLaunchTemplate(name, tags, old)
	}
	o := awscloud.DefaultOptions()
	o.LaunchTemplateTTL, o.NodeClassRefresh = time.Nanosecond, time.Hour
	var err error
	if o.Classes, err = scope.Parse("team=a"); err != nil {
		t.Fatal(err)
	}
	start(t, newCloud(t, s, kube, o))
	waitFor(t, "the installation's template to be deleted", func() bool {
		_, left := s.LaunchTemplates()["tailor-wire-mine"]
		return !left
	})
	lts := s.LaunchTemplates()
	for _, name := range []string{"tailor-wire-theirs", "tailor-wire-unknown"} {
		if _, ok := lts[name]; !ok {
			t.Errorf("%s deleted: not this installation's", name)
		}
	}
}
