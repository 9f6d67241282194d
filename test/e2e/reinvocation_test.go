package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	vpaclient "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/client/clientset/versioned"
	"k8s.io/utils/ptr"

	"github.com/tailor-dev/tailor/certs"
)

// sidecarInjector is a mutating webhook like a service mesh's: it adds an
// "envoy" container to every pod that lacks one. It serves TLS on loopback.
func sidecarInjector(t *testing.T) (url string, caPEM []byte) {
	t.Helper()
	dir := t.TempDir()
	caPEM, _, err := certs.WriteLoopbackPair(dir, "injector", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		review := &admissionv1.AdmissionReview{}
		if err := json.NewDecoder(r.Body).Decode(review); err != nil || review.Request == nil {
			http.Error(w, "bad review", http.StatusBadRequest)
			return
		}
		pod := &corev1.Pod{}
		_ = json.Unmarshal(review.Request.Object.Raw, pod)
		resp := &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
		has := false
		for _, c := range pod.Spec.Containers {
			has = has || c.Name == "envoy"
		}
		if !has {
			envoy := corev1.Container{Name: "envoy", Image: "registry.k8s.io/pause:3.10", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("10Mi")}}}
			patch, _ := json.Marshal([]map[string]any{{"op": "add", "path": "/spec/containers/-", "value": envoy}})
			resp.Patch, resp.PatchType = patch, ptr.To(admissionv1.PatchTypeJSONPatch)
		}
		review.Response, review.Request = resp, nil
		_ = json.NewEncoder(w).Encode(review)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "https://" + ln.Addr().(*net.TCPAddr).String() + "/inject", caPEM
}

// TestReinvocationSizesInjectedSidecar: a mutating webhook that runs after
// Tailor (a mesh injector) adds a container; the shipped
// reinvocationPolicy IfNeeded calls Tailor again, and the injected
// container is born with its recommendation too, the app container keeping
// its own.
func TestReinvocationSizesInjectedSidecar(t *testing.T) {
	t.Parallel() // own namespaces and Tailor (testLabel)
	inst := readyTailor(t, webhookOnly)
	registerWebhooks(t, inst)
	ns := namespace(t, map[string]string{enabledLabel: "true", "e2e-injector": "on"})

	url, caPEM := sidecarInjector(t)
	reg := env.Clientset().AdmissionregistrationV1()
	// Named to sort after Tailor's configuration: the API server calls
	// mutating webhooks in name order, so the injector runs second.
	injector := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "zz-e2e-sidecar-injector"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "inject.e2e.tailor.dev",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caPEM},
			Rules:                   []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create}, Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"e2e-injector": "on"}},
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			ReinvocationPolicy:      ptr.To(admissionregistrationv1.NeverReinvocationPolicy),
		}},
	}
	if _, err := reg.MutatingWebhookConfigurations().Create(context.Background(), injector, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = reg.MutatingWebhookConfigurations().Delete(context.Background(), injector.Name, metav1.DeleteOptions{})
	})

	vc := vpaclient.NewForConfigOrDie(env.RESTConfig())
	vpa, err := vc.AutoscalingV1().VerticalPodAutoscalers(ns).Create(context.Background(), hamsterVPA(vpav1.UpdateModeRecreate), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	before := probeAdmission(t, ns, vpa.Spec.TargetRef)
	rec := func(name, cpu, mem string) vpav1.RecommendedContainerResources {
		l := rl(cpu, mem)
		return vpav1.RecommendedContainerResources{ContainerName: name, Target: l, UncappedTarget: l, LowerBound: l, UpperBound: l}
	}
	status := vpav1.VerticalPodAutoscalerStatus{Recommendation: &vpav1.RecommendedPodResources{ContainerRecommendations: []vpav1.RecommendedContainerResources{
		rec("hamster", "587m", "262144k"), rec("envoy", "150m", "100Mi"),
	}}}
	patch, _ := json.Marshal(map[string]any{"status": status})
	if _, err := vc.AutoscalingV1().VerticalPodAutoscalers(ns).Patch(context.Background(), "hamster-vpa", types.MergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
		t.Fatal(err)
	}
	awaitAdmissionChange(t, ns, vpa.Spec.TargetRef, before)

	for _, p := range hamster(t, ns, nil) {
		got := map[string]string{}
		for _, c := range p.Spec.Containers {
			got[c.Name] = c.Resources.Requests.Cpu().String() + "/" + c.Resources.Requests.Memory().String()
		}
		// Without reinvocation envoy keeps the injector's 10m/10Mi.
		if got["hamster"] != "587m/262144k" || got["envoy"] != "150m/100Mi" {
			t.Errorf("pod %s requests %v, want hamster 587m/262144k and the injected envoy 150m/100Mi", p.Name, got)
		}
		t.Logf("pod %s: %v; sizing annotation %q", p.Name, got, p.Annotations["tailor.dev/sizing"])
	}
}
