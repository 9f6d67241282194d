package webhook

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

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
// resource controls the pod. Kinds Tailor does not know have no indexer: never read.
func TestOwnerChainToCustomResources(t *testing.T) {
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
	l := indexLookupOf(t, objs...)

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
			pod := &corev1.Pod{ObjectMeta: objMeta("p", tc.owners)}
			chain := ownerChain(context.Background(), l, "ns", pod, nil)
			var got []string
			for _, o := range chain {
				got = append(got, o.Kind+"/"+o.Name)
			}
			if !slices.Equal(got, tc.chain) {
				t.Fatalf("chain %v, want %v", got, tc.chain)
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

// indexLookupOf is the lookup over informer indexers holding objs, one
// per well-known kind, as newIndexLookup builds it from the cache.
func indexLookupOf(t *testing.T, objs ...client.Object) *indexLookup {
	t.Helper()
	newIndexer := func() toolscache.Indexer {
		return toolscache.NewIndexer(toolscache.MetaNamespaceKeyFunc, toolscache.Indexers{toolscache.NamespaceIndex: toolscache.MetaNamespaceIndexFunc})
	}
	l := &indexLookup{owners: map[schema.GroupKind]toolscache.Indexer{}, vpas: newIndexer(), limitRanges: newIndexer(), quotas: newIndexer(), ras: newIndexer()}
	for gk := range wellKnown {
		l.owners[gk] = newIndexer()
	}
	for _, o := range objs {
		added := false
		for gk, newObj := range wellKnown {
			if reflect.TypeOf(newObj()) == reflect.TypeOf(o) {
				if err := l.owners[gk].Add(o); err != nil {
					t.Fatal(err)
				}
				added = true
			}
		}
		if !added {
			t.Fatalf("%T is not a well-known controller", o)
		}
	}
	return l
}

// The first pods of a rollout can reach admission before the informer has
// their ReplicaSet: the Deployment is then read off the ReplicaSet's name
// and the pods' pod-template-hash, as the Deployment controller sets both.
func TestOwnerChainBeforeTheReplicaSetIsCached(t *testing.T) {
	l := indexLookupOf(t, &appsv1.ReplicaSet{ObjectMeta: objMeta("web-7d9f", nil)})
	cases := []struct {
		name, rs, hash string
		chain          []string
	}{
		{"new replicaset of a deployment", "web-5b8c6d", "5b8c6d", []string{"ReplicaSet/web-5b8c6d", "Deployment/web"}},
		{"hyphenated deployment name", "my-web-app-5b8c6d", "5b8c6d", []string{"ReplicaSet/my-web-app-5b8c6d", "Deployment/my-web-app"}},
		{"hash does not match the name", "web-5b8c6d", "99", []string{"ReplicaSet/web-5b8c6d"}},
		{"no pod-template-hash", "web-5b8c6d", "", []string{"ReplicaSet/web-5b8c6d"}},
		{"name is only the hash", "-5b8c6d", "5b8c6d", []string{"ReplicaSet/-5b8c6d"}},
		{"a cached replicaset without a controller is the top", "web-7d9f", "7d9f", []string{"ReplicaSet/web-7d9f"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: objMeta("p", controlledBy("apps/v1", "ReplicaSet", tc.rs))}
			if tc.hash != "" {
				pod.Labels = map[string]string{appsv1.DefaultDeploymentUniqueLabelKey: tc.hash}
			}
			var got []string
			for _, o := range ownerChain(context.Background(), l, "ns", pod, nil) {
				got = append(got, o.Kind+"/"+o.Name)
			}
			if !slices.Equal(got, tc.chain) {
				t.Fatalf("chain %v, want %v", got, tc.chain)
			}
		})
	}
}
