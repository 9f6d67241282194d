package webhook

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/tailor-dev/tailor/recommender/sizing"
)

func controlledBy(apiVersion, kind, name string) []metav1.OwnerReference {
	return []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: name, UID: types.UID("u-" + name), Controller: ptr.To(true)}}
}

func objMeta(name string, owners []metav1.OwnerReference) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "ns", OwnerReferences: owners}
}

func onTarget(name, apiVersion, kind, target string) *vpav1.VerticalPodAutoscaler {
	return &vpav1.VerticalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", CreationTimestamp: metav1.NewTime(time.Unix(1e9, 0))},
		Spec:       vpav1.VerticalPodAutoscalerSpec{TargetRef: &autoscalingv1.CrossVersionObjectReference{APIVersion: apiVersion, Kind: kind, Name: target}},
	}
}

// The owner chain, read from the informer cache, reaches a custom resource
// above the well-known controllers and stops there; the VPA targeting that
// resource controls the pod. Kinds Tailor does not know are never read.
func TestOwnerChainToCustomResources(t *testing.T) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	objs := []client.Object{
		// Argo Rollout → ReplicaSet → pods.
		&appsv1.ReplicaSet{ObjectMeta: objMeta("ro-5f7c", controlledBy("argoproj.io/v1alpha1", "Rollout", "ro"))},
		// An operator's scalable resource → Deployment → ReplicaSet → pods.
		&appsv1.ReplicaSet{ObjectMeta: objMeta("web-7d9f", controlledBy("apps/v1", "Deployment", "web"))},
		&appsv1.Deployment{ObjectMeta: objMeta("web", controlledBy("tailor.test/v1", "Widget", "web"))},
		// An operator's resource → StatefulSet → pods.
		&appsv1.StatefulSet{ObjectMeta: objMeta("db", controlledBy("tailor.test/v1", "Database", "db"))},
		&appsv1.DaemonSet{ObjectMeta: objMeta("agent", controlledBy("tailor.test/v1", "Agent", "agent"))},
		&batchv1.Job{ObjectMeta: objMeta("nightly-1", controlledBy("batch/v1", "CronJob", "nightly"))},
		&batchv1.CronJob{ObjectMeta: objMeta("nightly", controlledBy("tailor.test/v1", "Schedule", "s"))},
		&corev1.ReplicationController{ObjectMeta: objMeta("rc", nil)},
		// A Deployment of another group is not apps' Deployment.
		&appsv1.Deployment{ObjectMeta: objMeta("impostor", controlledBy("tailor.test/v1", "Widget", "hidden"))},
	}
	var reads []string
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).WithInterceptorFuncs(interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			reads = append(reads, fmt.Sprintf("%T", obj))
			return c.Get(ctx, key, obj, opts...)
		},
	}).Build()
	l := cacheLookup{r: c}

	cases := []struct {
		name   string
		owners []metav1.OwnerReference
		chain  []string // kind/name from the pod's controller up
		vpa    *vpav1.VerticalPodAutoscaler
	}{
		{"rollout through its replicaset", controlledBy("apps/v1", "ReplicaSet", "ro-5f7c"),
			[]string{"ReplicaSet/ro-5f7c", "Rollout/ro"}, onTarget("v", "argoproj.io/v1alpha1", "Rollout", "ro")},
		{"custom resource owning the pod", controlledBy("tailor.test/v1", "Widget", "w"),
			[]string{"Widget/w"}, onTarget("v", "tailor.test/v1", "Widget", "w")},
		{"custom resource above a deployment", controlledBy("apps/v1", "ReplicaSet", "web-7d9f"),
			[]string{"ReplicaSet/web-7d9f", "Deployment/web", "Widget/web"}, onTarget("v", "tailor.test/v1", "Widget", "web")},
		{"custom resource above a statefulset", controlledBy("apps/v1", "StatefulSet", "db"),
			[]string{"StatefulSet/db", "Database/db"}, onTarget("v", "tailor.test/v1", "Database", "db")},
		{"custom resource above a daemonset", controlledBy("apps/v1", "DaemonSet", "agent"),
			[]string{"DaemonSet/agent", "Agent/agent"}, onTarget("v", "tailor.test/v1", "Agent", "agent")},
		{"custom resource above a cronjob", controlledBy("batch/v1", "Job", "nightly-1"),
			[]string{"Job/nightly-1", "CronJob/nightly", "Schedule/s"}, onTarget("v", "tailor.test/v1", "Schedule", "s")},
		{"replicationcontroller", controlledBy("v1", "ReplicationController", "rc"),
			[]string{"ReplicationController/rc"}, onTarget("v", "v1", "ReplicationController", "rc")},
		{"deployment of another group is not followed", controlledBy("tailor.test/v1", "Deployment", "impostor"),
			[]string{"Deployment/impostor"}, onTarget("v", "tailor.test/v1", "Deployment", "impostor")},
		{"missing replicaset ends the chain", controlledBy("apps/v1", "ReplicaSet", "gone"),
			[]string{"ReplicaSet/gone"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reads = nil
			pod := &corev1.Pod{ObjectMeta: objMeta("p", tc.owners)}
			chain := ownerChain(context.Background(), l, "ns", pod, nil)
			var got []string
			for _, o := range chain {
				got = append(got, o.Kind+"/"+o.Name)
			}
			if !slices.Equal(got, tc.chain) {
				t.Fatalf("chain %v, want %v", got, tc.chain)
			}
			for _, r := range reads {
				switch r {
				case "*v1.ReplicaSet", "*v1.Deployment", "*v1.StatefulSet", "*v1.DaemonSet", "*v1.Job", "*v1.CronJob", "*v1.ReplicationController":
				default:
					t.Errorf("read a %s from the cache", r)
				}
			}
			if len(reads) != len(chain) && len(reads) != len(chain)-1 {
				t.Errorf("%d cache reads for a chain of %d", len(reads), len(chain))
			}
			if tc.vpa == nil {
				return
			}
			// The VPA on the top link controls the pod, over one on a
			// link below it (Tailor: the top-most link with a VPA wins).
			below := onTarget("below", "apps/v1", chain[0].Kind, chain[0].Name)
			below.CreationTimestamp = metav1.NewTime(time.Unix(1, 0))
			if v := sizing.ControllingVPA(chain, []*vpav1.VerticalPodAutoscaler{below, tc.vpa}); v != tc.vpa {
				t.Fatalf("controlling VPA %v, want %s", v, tc.vpa.Name)
			}
		})
	}
}

// Every well-known controller has its informer started with the manager:
// a cache read of a type without one would block the admission path.
func TestCachedTypesCoverWellKnownControllers(t *testing.T) {
	seen := map[string]bool{}
	for _, o := range cachedTypes() {
		seen[fmt.Sprintf("%T", o)] = true
	}
	for gk, newObj := range wellKnown {
		if !seen[fmt.Sprintf("%T", newObj())] {
			t.Errorf("%s has no informer", gk)
		}
	}
	for _, want := range []string{"*v1.VerticalPodAutoscaler", "*v1.LimitRange", "*v1.ResourceQuota", "*v1alpha1.ReplicaAutoscaler"} {
		if !seen[want] {
			t.Errorf("%s has no informer", want)
		}
	}
	if len(seen) != len(wellKnown)+4 {
		t.Errorf("cached types %v", seen)
	}
}
