package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	vpaclient "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/client/clientset/versioned"

	"k8s.io/utils/ptr"

	"github.com/tailor-dev/tailor/cmd/tailor/sandbox/demo"
	"github.com/tailor-dev/tailor/deploy/base"
	"github.com/tailor-dev/tailor/recommender/sizing"
)

const enabledLabel = "tailor.dev/enabled"

// registerWebhooks registers the shipped webhook configurations
// (deploy/base/webhooks.yaml) under a per-test name, pointed at inst over TLS
// by URL.
func registerWebhooks(t *testing.T, inst *instance) {
	t.Helper()
	ctx := context.Background()
	reg := env.Clientset().AdmissionregistrationV1()
	mutating, validating, err := base.Webhooks(inst.webhook, inst.caPEM)
	if err != nil {
		t.Fatal(err)
	}
	name := "tailor-e2e-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	mutating.Name, validating.Name = name, name
	// Only this test's namespaces: a VPA webhook (failurePolicy Fail) of
	// a test that stops its Tailor must not refuse another test's VPAs.
	for i := range mutating.Webhooks {
		mutating.Webhooks[i].NamespaceSelector = scoped(mutating.Webhooks[i].NamespaceSelector, t)
	}
	for i := range validating.Webhooks {
		w := &validating.Webhooks[i]
		w.NamespaceSelector = scoped(w.NamespaceSelector, t)
		// NodePools and AWSNodeClasses are cluster-scoped, where a
		// namespaceSelector does not apply: only the test's own (labelled
		// by own, which its Tailor's --nodepool-selector matches).
		if slices.ContainsFunc(w.Rules, func(r admissionregistrationv1.RuleWithOperations) bool {
			return r.Scope != nil && *r.Scope == admissionregistrationv1.ClusterScope
		}) {
			w.ObjectSelector = scoped(w.ObjectSelector, t)
		}
	}
	if _, err := reg.MutatingWebhookConfigurations().Create(ctx, mutating, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.ValidatingWebhookConfigurations().Create(ctx, validating, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = reg.MutatingWebhookConfigurations().Delete(context.Background(), name, metav1.DeleteOptions{})
		_ = reg.ValidatingWebhookConfigurations().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
}

// scoped adds the test's own namespace label to sel.
func scoped(sel *metav1.LabelSelector, t *testing.T) *metav1.LabelSelector {
	out := &metav1.LabelSelector{}
	if sel != nil {
		out = sel.DeepCopy()
	}
	if out.MatchLabels == nil {
		out.MatchLabels = map[string]string{}
	}
	out.MatchLabels[testLabel] = testID(t)
	return out
}

// readyTailor starts an instance and waits for /readyz.
func readyTailor(t *testing.T, extra ...string) *instance {
	t.Helper()
	inst := startTailor(t, append([]string{"--leader-election-namespace", leaseNamespace(t)}, extra...)...)
	eventually(t, 30*time.Second, func(context.Context) (bool, string) {
		code, body, err := get(inst.probe + "/readyz")
		return err == nil && code == 200, fmt.Sprintf("/readyz: %d %q %v", code, body, err)
	})
	return inst
}

// hamsterVPA is the seed's hamster-vpa (the demo's) with the update mode.
func hamsterVPA(mode vpav1.UpdateMode) *vpav1.VerticalPodAutoscaler {
	return demo.HamsterVPA(mode)
}

// createVPAWithTarget creates the VPA and sets the recommendation a
// recommender would have written, then waits a moment for Tailor's cache.
func createVPAWithTarget(t *testing.T, ns string, vpa *vpav1.VerticalPodAutoscaler, cpu, mem string) {
	t.Helper()
	vc := vpaclient.NewForConfigOrDie(env.RESTConfig())
	created, err := vc.AutoscalingV1().VerticalPodAutoscalers(ns).Create(context.Background(), vpa, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	setVPATarget(t, ns, created.Name, cpu, mem)
}

// setVPATarget writes a recommendation for the hamster container (bounds
// equal to the target) as a recommender would, then waits until Tailor's
// cache has it: a pod created before that would be admitted on the old
// recommendation, which is not what is tested.
func setVPATarget(t *testing.T, ns, name, cpu, mem string) {
	t.Helper()
	vc := vpaclient.NewForConfigOrDie(env.RESTConfig())
	vpa, err := vc.AutoscalingV1().VerticalPodAutoscalers(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	before := probeAdmission(t, ns, vpa.Spec.TargetRef)
	target := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}
	status := vpav1.VerticalPodAutoscalerStatus{Recommendation: &vpav1.RecommendedPodResources{ContainerRecommendations: []vpav1.RecommendedContainerResources{{
		ContainerName: "hamster", Target: target, UncappedTarget: target, LowerBound: target, UpperBound: target,
	}}}}
	// A merge patch: no resourceVersion, so nothing else writing the VPA
	// (a recommender pass) can make it conflict.
	patch, err := json.Marshal(map[string]any{"status": status})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vc.AutoscalingV1().VerticalPodAutoscalers(ns).Patch(context.Background(), name, types.MergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
		t.Fatal(err)
	}
	awaitAdmissionChange(t, ns, vpa.Spec.TargetRef, before)
}

// awaitAdmissionChange waits until admission of a dry-run pod of target
// differs from before, which it does once Tailor's cache has a written
// recommendation. Where the test expects no change (an opted-out namespace,
// updateMode Off, a capped target) it never does: then it gives the cache
// the same few seconds and returns, so the test still asserts on a cache
// that had time to see the VPA.
func awaitAdmissionChange(t *testing.T, ns string, target *autoscalingv1.CrossVersionObjectReference, before string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && probeAdmission(t, ns, target) == before {
		time.Sleep(50 * time.Millisecond)
	}
}

// probeAdmission creates a dry-run hamster pod controlled by target and
// returns what admission made of it: its annotations and resources. A dry
// run persists nothing and Tailor records nothing for it.
func probeAdmission(t *testing.T, ns string, target *autoscalingv1.CrossVersionObjectReference) string {
	t.Helper()
	if target == nil {
		t.Fatal("VPA without targetRef")
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-", Labels: map[string]string{"app": target.Name}, OwnerReferences: []metav1.OwnerReference{{
			APIVersion: target.APIVersion, Kind: target.Kind, Name: target.Name, UID: "00000000-0000-0000-0000-000000000000", Controller: ptr.To(true),
		}}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "hamster", Image: "registry.k8s.io/ubuntu-slim:0.14", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("50Mi")},
		}}}},
	}
	got, err := env.Clientset().CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		t.Fatalf("dry-run probe pod: %v", err)
	}
	return fmt.Sprint(got.Annotations, got.Spec.Containers[0].Resources)
}

// hamster creates the seed's hamster Deployment (requests 100m/50Mi) with
// optional limits and returns its pods once replicas exist.
func hamster(t *testing.T, ns string, limits corev1.ResourceList) []corev1.Pod {
	t.Helper()
	ctx := context.Background()
	d := deployment("hamster", 2, corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("50Mi")})
	d.Spec.Template.Spec.Containers[0].Resources.Limits = limits
	if _, err := env.Clientset().AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return waitPods(t, ns, "app=hamster", 2)
}

func assertResources(t *testing.T, pods []corev1.Pod, want corev1.ResourceRequirements) {
	t.Helper()
	for _, p := range pods {
		got := p.Spec.Containers[0].Resources
		for _, pair := range []struct {
			kind      string
			got, want corev1.ResourceList
		}{{"requests", got.Requests, want.Requests}, {"limits", got.Limits, want.Limits}} {
			if len(pair.got) != len(pair.want) {
				t.Errorf("pod %s %s = %v, want %v", p.Name, pair.kind, pair.got, pair.want)
				continue
			}
			for name, q := range pair.want {
				if g, ok := pair.got[name]; !ok || g.Cmp(q) != 0 {
					t.Errorf("pod %s %s[%s] = %s, want %s", p.Name, pair.kind, name, g.String(), q.String())
				}
			}
		}
	}
}

func rl(cpu, mem string) corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}
}

// webhookOnly: these tests write VPA recommendations themselves, so Tailor's
// recommender stays off.
const webhookOnly = "--components=webhook"

func TestAdmissionSizesHamster(t *testing.T) {
	t.Parallel() // own namespaces and Tailor (testLabel)
	inst := readyTailor(t, webhookOnly)
	registerWebhooks(t, inst)
	enabled := map[string]string{enabledLabel: "true"}

	t.Run("seed hamster gets the recommendation", func(t *testing.T) {
		ns := namespace(t, enabled)
		createVPAWithTarget(t, ns, hamsterVPA(vpav1.UpdateModeRecreate), "587m", "262144k")
		pods := hamster(t, ns, nil)
		assertResources(t, pods, corev1.ResourceRequirements{Requests: rl("587m", "262144k")})
		for _, p := range pods {
			if a := p.Annotations[sizing.AnnotationKey]; !strings.Contains(a, "cpu 100m->587m") {
				t.Errorf("pod %s annotation %s = %q", p.Name, sizing.AnnotationKey, a)
			}
		}
		// The decision is explained in an Event on the VPA.
		waitEvent(t, ns, "PodSized", "hamster-vpa")
	})
	t.Run("limits scale by the ratio", func(t *testing.T) {
		ns := namespace(t, enabled)
		createVPAWithTarget(t, ns, hamsterVPA(vpav1.UpdateModeInitial), "587m", "262144k")
		pods := hamster(t, ns, rl("200m", "100Mi"))
		assertResources(t, pods, corev1.ResourceRequirements{Requests: rl("587m", "262144k"), Limits: rl("1174m", "524288k")})
	})
	t.Run("maxAllowed caps", func(t *testing.T) {
		ns := namespace(t, enabled)
		vpa := hamsterVPA(vpav1.UpdateModeRecreate)
		vpa.Spec.ResourcePolicy.ContainerPolicies[0].MaxAllowed = rl("500m", "200Mi")
		createVPAWithTarget(t, ns, vpa, "587m", "262144k")
		assertResources(t, hamster(t, ns, nil), corev1.ResourceRequirements{Requests: rl("500m", "200Mi")})
	})
	t.Run("minAllowed raises", func(t *testing.T) {
		ns := namespace(t, enabled)
		vpa := hamsterVPA(vpav1.UpdateModeRecreate)
		vpa.Spec.ResourcePolicy.ContainerPolicies[0].MinAllowed = rl("700m", "300Mi")
		createVPAWithTarget(t, ns, vpa, "587m", "262144k")
		assertResources(t, hamster(t, ns, nil), corev1.ResourceRequirements{Requests: rl("700m", "300Mi")})
	})
	t.Run("LimitRange max holds", func(t *testing.T) {
		ns := namespace(t, enabled)
		lr := &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "caps"}, Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type: corev1.LimitTypeContainer, Max: rl("400m", "1Gi"),
		}}}}
		if _, err := env.Clientset().CoreV1().LimitRanges(ns).Create(context.Background(), lr, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// The API server's LimitRanger sets the default limit (= max) before
		// webhooks run. With RequestsAndLimits, upstream keeps the
		// limit/request ratio under max, which here means no change; with
		// RequestsOnly the request rises to the recommendation but not past
		// the max.
		vpa := hamsterVPA(vpav1.UpdateModeRecreate)
		vpa.Spec.ResourcePolicy.ContainerPolicies[0].ControlledValues = ptr.To(vpav1.ContainerControlledValuesRequestsOnly)
		createVPAWithTarget(t, ns, vpa, "587m", "262144k")
		assertResources(t, hamster(t, ns, nil), corev1.ResourceRequirements{Requests: rl("400m", "262144k"), Limits: rl("400m", "1Gi")})
	})
	t.Run("a request beyond any resource amount is admitted unchanged", func(t *testing.T) {
		// kube-apiserver stores 1e100 cores (the quantity's own range);
		// Tailor refuses to size what no comparison can hold in time
		// (sizing.ErrOutOfRange) and lets the pod through as written.
		ns := namespace(t, enabled)
		createVPAWithTarget(t, ns, hamsterVPA(vpav1.UpdateModeRecreate), "587m", "262144k")
		ctx := context.Background()
		d := deployment("hamster", 2, rl("1e100", "50Mi"))
		if _, err := env.Clientset().AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		pods := waitPods(t, ns, "app=hamster", 2)
		assertResources(t, pods, corev1.ResourceRequirements{Requests: rl("1e100", "50Mi")})
		for _, p := range pods {
			if a, ok := p.Annotations[sizing.AnnotationKey]; ok {
				t.Errorf("pod %s annotated %q, want no decision", p.Name, a)
			}
		}
	})
	t.Run("namespace without the label is untouched", func(t *testing.T) {
		ns := namespace(t, nil)
		createVPAWithTarget(t, ns, hamsterVPA(vpav1.UpdateModeRecreate), "587m", "262144k")
		assertResources(t, hamster(t, ns, nil), corev1.ResourceRequirements{Requests: rl("100m", "50Mi")})
	})
	t.Run("updateMode Off is untouched", func(t *testing.T) {
		ns := namespace(t, enabled)
		createVPAWithTarget(t, ns, hamsterVPA(vpav1.UpdateModeOff), "587m", "262144k")
		assertResources(t, hamster(t, ns, nil), corev1.ResourceRequirements{Requests: rl("100m", "50Mi")})
	})
	t.Run("invalid VPA is refused naming the field", func(t *testing.T) {
		ns := namespace(t, enabled)
		vpa := hamsterVPA(vpav1.UpdateModeRecreate)
		vpa.Spec.ResourcePolicy.ContainerPolicies[0].MinAllowed = rl("2", "50Mi")
		_, err := vpaclient.NewForConfigOrDie(env.RESTConfig()).AutoscalingV1().VerticalPodAutoscalers(ns).Create(context.Background(), vpa, metav1.CreateOptions{})
		if err == nil || !strings.Contains(err.Error(), "spec.resourcePolicy.containerPolicies[0].minAllowed[cpu]") {
			t.Fatalf("got %v, want a denial naming minAllowed[cpu]", err)
		}
	})
}

func TestPodsAreCreatedWhileTailorIsDown(t *testing.T) {
	t.Parallel() // own namespaces and Tailor (testLabel)
	inst := readyTailor(t, webhookOnly)
	registerWebhooks(t, inst)
	ns := namespace(t, map[string]string{enabledLabel: "true"})
	createVPAWithTarget(t, ns, hamsterVPA(vpav1.UpdateModeRecreate), "587m", "262144k")
	inst.stop()

	start := time.Now()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "lonely"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "hamster", Image: "registry.k8s.io/pause:3.10",
			Resources: corev1.ResourceRequirements{Requests: rl("100m", "50Mi")}}}},
	}
	if _, err := env.Clientset().CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("pod create failed while Tailor is down: %v", err)
	}
	t.Logf("pod created %s after Tailor stopped (webhook timeout 3s, failurePolicy Ignore)", time.Since(start).Round(time.Millisecond))
	// The Deployment's pods too, unchanged.
	assertResources(t, hamster(t, ns, nil), corev1.ResourceRequirements{Requests: rl("100m", "50Mi")})

	// VPAs: the validating webhook fails closed for spec changes only.
	// Label and finalizer edits never reach it (matchConditions), so they
	// work while Tailor is down; a spec change is refused, saying why.
	vc := vpaclient.NewForConfigOrDie(env.RESTConfig()).AutoscalingV1().VerticalPodAutoscalers(ns)
	ctx := context.Background()
	if _, err := vc.Patch(ctx, "hamster-vpa", types.MergePatchType, []byte(`{"metadata":{"labels":{"team":"a"},"finalizers":["example.com/keep"]}}`), metav1.PatchOptions{}); err != nil {
		t.Errorf("label and finalizer edit refused while Tailor is down: %v", err)
	}
	if _, err := vc.Patch(ctx, "hamster-vpa", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
		t.Errorf("finalizer removal refused while Tailor is down: %v", err)
	}
	_, err := vc.Patch(ctx, "hamster-vpa", types.MergePatchType, []byte(`{"spec":{"updatePolicy":{"updateMode":"Off"}}}`), metav1.PatchOptions{})
	if err == nil || !strings.Contains(err.Error(), "vpa.tailor.dev") {
		t.Errorf("spec change while Tailor is down: %v, want a refusal naming the webhook (fail closed)", err)
	}
	// A namespace that has not opted in is not Tailor's to judge: any VPA
	// gets in there, Tailor up or down.
	other := namespace(t, nil)
	bad := hamsterVPA(vpav1.UpdateModeRecreate)
	bad.Spec.ResourcePolicy.ContainerPolicies[0].MinAllowed = rl("2", "50Mi")
	if _, err := vpaclient.NewForConfigOrDie(env.RESTConfig()).AutoscalingV1().VerticalPodAutoscalers(other).Create(ctx, bad, metav1.CreateOptions{}); err != nil {
		t.Errorf("VPA in a namespace without %s refused: %v", enabledLabel, err)
	}
}
