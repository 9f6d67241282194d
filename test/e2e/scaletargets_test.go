package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	vpaclient "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/client/clientset/versioned"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/tailor-dev/tailor/cmd/tailor/sandbox/cluster"
)

var widgets = schema.GroupVersionResource{Group: "tailor.test", Version: "v1", Resource: "widgets"}

// widgetCRD is a Rollout-like custom resource: Tailor knows it only by its
// scale subresource (spec.replicas, status.replicas, status.selector).
func widgetCRD() *apiextensionsv1.CustomResourceDefinition {
	obj := func(props map[string]apiextensionsv1.JSONSchemaProps) apiextensionsv1.JSONSchemaProps {
		return apiextensionsv1.JSONSchemaProps{Type: "object", Properties: props}
	}
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "widgets.tailor.test"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "tailor.test",
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "widgets", Singular: "widget", Kind: "Widget", ListKind: "WidgetList"},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: ptr.To(obj(map[string]apiextensionsv1.JSONSchemaProps{
					"spec":   obj(map[string]apiextensionsv1.JSONSchemaProps{"replicas": {Type: "integer"}}),
					"status": obj(map[string]apiextensionsv1.JSONSchemaProps{"replicas": {Type: "integer"}, "selector": {Type: "string"}}),
				}))},
				Subresources: &apiextensionsv1.CustomResourceSubresources{
					Status: &apiextensionsv1.CustomResourceSubresourceStatus{},
					Scale: &apiextensionsv1.CustomResourceSubresourceScale{
						SpecReplicasPath: ".spec.replicas", StatusReplicasPath: ".status.replicas", LabelSelectorPath: ptr.To(".status.selector"),
					},
				},
			}},
		},
	}
}

// createWidget creates a Widget and, when selector is not empty, sets its
// status as its (absent) controller would, through the status subresource.
func createWidget(t *testing.T, ns, name string, replicas int64, selector string) *unstructured.Unstructured {
	t.Helper()
	ctx := context.Background()
	wc := dynamic.NewForConfigOrDie(env.RESTConfig()).Resource(widgets).Namespace(ns)
	w := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "tailor.test/v1", "kind": "Widget",
		"metadata": map[string]any{"name": name},
		"spec":     map[string]any{"replicas": replicas},
	}}
	w, err := wc.Create(ctx, w, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if selector == "" {
		return w
	}
	patch := fmt.Sprintf(`{"status":{"replicas":%d,"selector":%q}}`, replicas, selector)
	if w, err = wc.Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}, "status"); err != nil {
		t.Fatal(err)
	}
	return w
}

func controllerRef(owner *unstructured.Unstructured) []metav1.OwnerReference {
	return []metav1.OwnerReference{{
		APIVersion: owner.GetAPIVersion(), Kind: owner.GetKind(), Name: owner.GetName(), UID: owner.GetUID(),
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
	}}
}

func vpaOnRef(name, apiVersion, kind, target string) *vpav1.VerticalPodAutoscaler {
	v := hamsterVPA(vpav1.UpdateModeRecreate)
	v.Name = name
	v.Spec.TargetRef = &autoscalingv1.CrossVersionObjectReference{APIVersion: apiVersion, Kind: kind, Name: target}
	return v
}

func vpaCondition(v *vpav1.VerticalPodAutoscaler, t vpav1.VerticalPodAutoscalerConditionType) *vpav1.VerticalPodAutoscalerCondition {
	for i := range v.Status.Conditions {
		if v.Status.Conditions[i].Type == t {
			return &v.Status.Conditions[i]
		}
	}
	return nil
}

// TestScaleSubresourceTargets: a VPA whose target Tailor knows only by its
// scale subresource (a Rollout-like custom resource, pod → ReplicaSet →
// Widget, as Argo Rollouts does it) gets a recommendation from its pods'
// usage, and the Widget's new pods — through its ReplicaSet, owned by it
// directly, or through a Deployment it owns — are admitted with it. Targets
// that cannot work get a ConfigUnsupported condition saying why.
func TestScaleSubresourceTargets(t *testing.T) {
	t.Parallel() // own namespaces and Tailor (testLabel)
	start := time.Now()
	ctx := context.Background()
	inst := startTailor(t, "--leader-election-namespace", leaseNamespace(t), "--recommender-interval=5s")
	eventually(t, 30*time.Second, func(context.Context) (bool, string) {
		code, body, err := get(inst.probe + "/readyz")
		return err == nil && code == 200, fmt.Sprintf("/readyz: %d %q %v", code, body, err)
	})
	registerWebhooks(t, inst)
	// Installed after Tailor started: the RESTMapper discovers it on use.
	if err := env.InstallCRDs([]*apiextensionsv1.CustomResourceDefinition{widgetCRD()}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.Clientset().RESTClient().Delete().AbsPath("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.tailor.test").Do(context.Background()).Error()
	})
	ns := namespace(t, map[string]string{enabledLabel: "true"})
	vc := vpaclient.NewForConfigOrDie(env.RESTConfig()).AutoscalingV1().VerticalPodAutoscalers(ns)

	// The Widget "web" and the ReplicaSet a Rollout controller would have
	// made for it: requests 100m/50Mi, using about 500m and 200Mi.
	web := createWidget(t, ns, "web", 2, "app=widget-web")
	sel := map[string]string{"app": "widget-web"}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-5f7c", OwnerReferences: controllerRef(web)},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: sel, Annotations: map[string]string{
					cluster.UsageCPUAnnotation: "500m", cluster.UsageMemoryAnnotation: "200Mi"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "web", Image: "registry.k8s.io/pause:3.10",
					Resources: corev1.ResourceRequirements{Requests: rl("100m", "50Mi")},
				}}},
			},
		},
	}
	if _, err := env.Clientset().AppsV1().ReplicaSets(ns).Create(ctx, rs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := vc.Create(ctx, vpaOnRef("web-vpa", "tailor.test/v1", "Widget", "web"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Targets that cannot work, each with its reason.
	createWidget(t, ns, "unlabelled", 1, "") // no controller has set status.selector
	if _, err := env.Clientset().CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	unsupported := map[string]struct {
		ref  [3]string // apiVersion, kind, name
		want string
	}{
		"configmap-vpa": {[3]string{"v1", "ConfigMap", "settings"}, "targetRef kind ConfigMap has no scale subresource (configmaps/scale is not served)"},
		"gadget-vpa":    {[3]string{"tailor.test/v1", "Gadget", "g"}, "targetRef kind Gadget.tailor.test is unknown to the API server (no resource serves it; is its CRD installed?)"},
		"rollout-vpa":   {[3]string{"argoproj.io/v1alpha1", "Rollout", "r"}, "targetRef kind Rollout.argoproj.io is unknown to the API server"},
		// As upstream (and the HPA), the version only names the group:
		// any served version of the kind is used.
		"v9-vpa":         {[3]string{"tailor.test/v9", "Widget", "other"}, `targetRef widgets.tailor.test "other" not found`},
		"unlabelled-vpa": {[3]string{"tailor.test/v1", "Widget", "unlabelled"}, "Widget " + ns + "/unlabelled: its scale subresource reports no pod selector"},
		"missing-vpa":    {[3]string{"tailor.test/v1", "Widget", "missing"}, `targetRef widgets.tailor.test "missing" not found`},
	}
	for name, u := range unsupported {
		if _, err := vc.Create(ctx, vpaOnRef(name, u.ref[0], u.ref[1], u.ref[2]), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 30*time.Second, func(ctx context.Context) (bool, string) {
		for name, u := range unsupported {
			v, err := vc.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			c := vpaCondition(v, vpav1.ConfigUnsupported)
			if c == nil || c.Status != corev1.ConditionTrue || !strings.Contains(c.Message, u.want) {
				return false, fmt.Sprintf("%s: ConfigUnsupported %+v, want a message containing %q", name, c, u.want)
			}
		}
		return true, ""
	})
	for name := range unsupported {
		v, _ := vc.Get(ctx, name, metav1.GetOptions{})
		t.Logf("%s: %s", name, vpaCondition(v, vpav1.ConfigUnsupported).Message)
	}

	// metrics-server reports a new pod after ~35-40 s; then one pass.
	var target corev1.ResourceList
	eventually(t, 3*time.Minute, func(ctx context.Context) (bool, string) {
		v, err := vc.Get(ctx, "web-vpa", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		if !hasCondition(v, vpav1.RecommendationProvided) || v.Status.Recommendation == nil || len(v.Status.Recommendation.ContainerRecommendations) == 0 {
			return false, fmt.Sprintf("status %+v", v.Status)
		}
		target = v.Status.Recommendation.ContainerRecommendations[0].Target
		return true, ""
	})
	t.Logf("RecommendationProvided for the Widget after %s: %v", time.Since(start).Round(time.Second), target)
	cpu, mem := target[corev1.ResourceCPU], target[corev1.ResourceMemory]
	// As TestRecommender's hamster: ~500m × 1.15 and max(200Mi × 1.15, 250Mi).
	if cpu.Cmp(resource.MustParse("450m")) < 0 || cpu.Cmp(resource.MustParse("1")) > 0 ||
		mem.Cmp(resource.MustParse("200Mi")) < 0 || mem.Cmp(resource.MustParse("500Mi")) > 0 {
		t.Fatalf("target %v, want cpu in [450m, 1] and memory in [200Mi, 500Mi]", target)
	}

	// Let the webhook's VPA informer see the status just read (loopback:
	// milliseconds), as createVPAWithTarget does.
	time.Sleep(time.Second)

	wantTarget := func(t *testing.T, p *corev1.Pod) {
		t.Helper()
		got := p.Spec.Containers[0].Resources.Requests
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if g, w := got[r], target[r]; g.Cmp(w) != 0 {
				t.Errorf("pod %s requests[%s] = %s, want the recommended %s", p.Name, r, g.String(), w.String())
			}
		}
	}

	t.Run("new pod of the Widget's ReplicaSet", func(t *testing.T) {
		newPod := newPodAfter(t, ns, "app=widget-web", func() {
			if _, err := env.Clientset().AppsV1().ReplicaSets(ns).Patch(ctx, rs.Name, types.MergePatchType, []byte(`{"spec":{"replicas":3}}`), metav1.PatchOptions{}, "scale"); err != nil {
				t.Fatal(err)
			}
		})
		wantTarget(t, newPod)
		if a := newPod.Annotations["tailor.dev/sizing"]; !strings.Contains(a, "web-vpa") {
			t.Errorf("annotation tailor.dev/sizing = %q, want it to name web-vpa", a)
		}
	})

	t.Run("pod owned by the Widget itself", func(t *testing.T) {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "web-direct", Labels: sel, OwnerReferences: controllerRef(web)},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "web", Image: "registry.k8s.io/pause:3.10",
				Resources: corev1.ResourceRequirements{Requests: rl("100m", "50Mi")},
			}}},
		}
		created, err := env.Clientset().CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wantTarget(t, created)
	})

	// An operator's scalable resource above a Deployment (pod → ReplicaSet →
	// Deployment → Widget): the chain goes through the Deployment. This VPA
	// names another recommender, so the recommendation written here stays.
	t.Run("Widget above a Deployment", func(t *testing.T) {
		op := createWidget(t, ns, "op", 2, "app=hamster")
		v := vpaOnRef("op-vpa", "tailor.test/v1", "Widget", "op")
		v.Spec.Recommenders = []*vpav1.VerticalPodAutoscalerRecommenderSelector{{Name: "by-hand"}}
		createVPAWithTarget(t, ns, v, "321m", "300Mi")
		d := deployment("hamster", 2, rl("100m", "50Mi"))
		d.OwnerReferences = controllerRef(op)
		if _, err := env.Clientset().AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		assertResources(t, waitPods(t, ns, "app=hamster", 2), corev1.ResourceRequirements{Requests: rl("321m", "300Mi")})
	})

	// The shipped ClusterRole lets Tailor read any scale subresource (VPA
	// targets) and set it (ReplicaAutoscaler targets, custom resources
	// included, as kube-controller-manager's HPA role), and nothing else of
	// the object.
	t.Run("RBAC allows get on */scale", func(t *testing.T) {
		raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "base", "rbac.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		role := &rbacv1.ClusterRole{}
		if err := yaml.UnmarshalStrict([]byte(strings.Split(string(raw), "\n---\n")[0]), role); err != nil || role.Kind != "ClusterRole" {
			t.Fatalf("rbac.yaml's first document: %v %+v", err, role.TypeMeta)
		}
		role.Name = "tailor-e2e-" + ns
		user := "tailor-e2e-" + ns
		rbac := env.Clientset().RbacV1()
		if _, err := rbac.ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rbac.ClusterRoles().Delete(context.Background(), role.Name, metav1.DeleteOptions{}) })
		binding := &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: role.Name},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name},
			Subjects:   []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: user}},
		}
		if _, err := rbac.ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = rbac.ClusterRoleBindings().Delete(context.Background(), binding.Name, metav1.DeleteOptions{})
		})
		for _, c := range []struct {
			group, resource, sub, verb string
			allowed                    bool
		}{
			{"tailor.test", "widgets", "scale", "get", true},
			{"argoproj.io", "rollouts", "scale", "get", true},
			{"tailor.test", "widgets", "scale", "update", true},
			{"tailor.test", "widgets", "", "update", false},
			{"tailor.test", "widgets", "", "get", false},
		} {
			sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: user, ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: ns, Group: c.group, Resource: c.resource, Subresource: c.sub, Verb: c.verb, Name: "web"}}}
			eventually(t, 10*time.Second, func(ctx context.Context) (bool, string) {
				got, err := env.Clientset().AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
				if err != nil {
					return false, err.Error()
				}
				return got.Status.Allowed == c.allowed, fmt.Sprintf("%s %s.%s/%s: allowed %v, want %v (%s)", c.verb, c.resource, c.group, c.sub, got.Status.Allowed, c.allowed, got.Status.Reason)
			})
		}
	})
	t.Logf("whole test %s", time.Since(start).Round(time.Second))
}
