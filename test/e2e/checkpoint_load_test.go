package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	vpaclient "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/client/clientset/versioned"
	"sigs.k8s.io/yaml"

	authorizationv1 "k8s.io/api/authorization/v1"

	"github.com/tailor-dev/tailor/cmd/tailor/sandbox/cluster"
)

// shippedRules are the rules of deploy/base/rbac.yaml's ClusterRole and
// Roles, as one list: what an installed Tailor may do.
func shippedRules(t *testing.T) []rbacv1.PolicyRule {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "base", "rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules []rbacv1.PolicyRule
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		var o struct {
			Kind  string              `json:"kind"`
			Rules []rbacv1.PolicyRule `json:"rules"`
		}
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatal(err)
		}
		if o.Kind == "ClusterRole" || o.Kind == "Role" {
			rules = append(rules, o.Rules...)
		}
	}
	if len(rules) == 0 {
		t.Fatal("no rules in deploy/base/rbac.yaml")
	}
	return rules
}

// withoutCheckpointList is rules with "list" taken from the checkpoint rule.
func withoutCheckpointList(t *testing.T, rules []rbacv1.PolicyRule) []rbacv1.PolicyRule {
	t.Helper()
	out := make([]rbacv1.PolicyRule, len(rules))
	found := false
	for i, r := range rules {
		out[i] = *r.DeepCopy()
		if slices.Contains(r.Resources, "verticalpodautoscalercheckpoints") {
			out[i].Verbs = slices.DeleteFunc(out[i].Verbs, func(v string) bool { return v == "list" })
			found = true
		}
	}
	if !found {
		t.Fatal("no checkpoint rule in the shipped RBAC")
	}
	return out
}

// TestCheckpointLoadRefused: the API server refuses the leader's checkpoint
// list for a while (its RBAC lost `list`, as in a botched upgrade). The
// recommender must not run a pass, collect or overwrite anything until a
// full load succeeded; then the stored history continues where it was.
// A Lease held by a fake previous leader lets Tailor start (its start-up
// permission check passes) before the permission goes.
func TestCheckpointLoadRefused(t *testing.T) {
	t.Parallel() // own namespaces and Tailor (testLabel)
	ctx := context.Background()
	cs := env.Clientset()
	lease := leaseNamespace(t)
	ns := namespace(t, map[string]string{enabledLabel: "true"})

	// Tailor's identity: a ServiceAccount with a copy of the shipped rules.
	sa := "tailor-checkpoints"
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	full := shippedRules(t)
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "e2e-" + ns}, Rules: full}
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.RbacV1().ClusterRoles().Delete(context.Background(), role.Name, metav1.DeleteOptions{}) })
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-" + ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa, Namespace: ns}},
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cs.RbacV1().ClusterRoleBindings().Delete(context.Background(), binding.Name, metav1.DeleteOptions{})
	})
	user := cluster.ServiceAccountPrefix + ns + ":" + sa
	setRules := func(rules []rbacv1.PolicyRule, wantList bool) {
		t.Helper()
		r, err := cs.RbacV1().ClusterRoles().Get(ctx, role.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r.Rules = rules
		if _, err := cs.RbacV1().ClusterRoles().Update(ctx, r, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		// The authorizer reads roles from an informer: wait until it agrees.
		eventually(t, 30*time.Second, func(ctx context.Context) (bool, string) {
			sar, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User: user, Groups: []string{"system:serviceaccounts", "system:authenticated"},
				ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "list", Group: "autoscaling.k8s.io", Resource: "verticalpodautoscalercheckpoints"},
			}}, metav1.CreateOptions{})
			return err == nil && sar.Status.Allowed == wantList, fmt.Sprintf("list checkpoints allowed=%v, want %v (%v)", sar != nil && sar.Status.Allowed, wantList, err)
		})
	}

	// A VPA with two days of stored history, and its workload.
	vc := vpaclient.NewForConfigOrDie(env.RESTConfig())
	if _, err := vc.AutoscalingV1().VerticalPodAutoscalers(ns).Create(ctx, hamsterVPA(vpav1.UpdateModeOff), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	d := deployment("hamster", 1, rl("100m", "50Mi"))
	d.Spec.Template.Annotations = map[string]string{cluster.UsageCPUAnnotation: "500m", cluster.UsageMemoryAnnotation: "200Mi"}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	first := metav1.NewTime(now.Add(-48 * time.Hour))
	hist := func(bucket int) vpav1.HistogramCheckpoint {
		return vpav1.HistogramCheckpoint{ReferenceTimestamp: metav1.NewTime(now.Truncate(24 * time.Hour)), BucketWeights: map[int]uint32{bucket: 10000}, TotalWeight: 500}
	}
	cp := &vpav1.VerticalPodAutoscalerCheckpoint{
		ObjectMeta: metav1.ObjectMeta{Name: "hamster-vpa-hamster"},
		Spec:       vpav1.VerticalPodAutoscalerCheckpointSpec{VPAObjectName: "hamster-vpa", ContainerName: "hamster"},
	}
	cps := vc.AutoscalingV1().VerticalPodAutoscalerCheckpoints(ns)
	cp, err := cps.Create(ctx, cp, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cp.Status = vpav1.VerticalPodAutoscalerCheckpointStatus{
		Version: "v3", LastUpdateTime: metav1.NewTime(now.Add(-time.Minute)),
		FirstSampleStart: first, LastSampleStart: metav1.NewTime(now.Add(-time.Minute)), TotalSamplesCount: 5000,
		CPUHistogram: hist(20), MemoryHistogram: hist(30),
	}
	if cp, err = cps.Update(ctx, cp, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Someone else leads; Tailor starts as a candidate with every right.
	held := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "tailor-leader", Namespace: lease},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptrTo("previous-leader"), LeaseDurationSeconds: ptrTo(int32(3600)),
			AcquireTime: &metav1.MicroTime{Time: now}, RenewTime: &metav1.MicroTime{Time: now}},
	}
	if _, err := cs.CoordinationV1().Leases(lease).Create(ctx, held, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	inst := startTailor(t, "--kubeconfig", tokenKubeconfig(t, ns, sa), "--leader-election-namespace", lease,
		"--components=recommender", "--recommender-interval=2s", "--recommender-checkpoint-interval=2s")
	eventually(t, 60*time.Second, func(context.Context) (bool, string) {
		code, body, err := get(inst.probe + "/readyz")
		return err == nil && code == 200, fmt.Sprintf("/readyz: %d %q %v", code, body, err)
	})

	// Then the permission goes, and the old leader steps down.
	setRules(withoutCheckpointList(t, full), false)
	refusedFrom := time.Now()
	if err := cs.CoordinationV1().Leases(lease).Delete(ctx, held.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func(context.Context) (bool, string) {
		ok, err := inst.isLeader()
		return ok, fmt.Sprintf("leader %v %v", ok, err)
	})
	// Three refused loads (1 s, 2 s, 4 s apart): the recommender retried.
	eventually(t, 60*time.Second, func(context.Context) (bool, string) {
		reqs, err := env.AuditRequests(user, refusedFrom)
		if err != nil {
			return false, err.Error()
		}
		n := 0
		for _, r := range reqs {
			if r.Verb == "list" && r.Resource == "verticalpodautoscalercheckpoints" && r.Code == http.StatusForbidden {
				n++
			}
		}
		return n >= 3, fmt.Sprintf("%d refused checkpoint lists", n)
	})
	// Meanwhile nothing was written or deleted: no pass, no collection.
	got, err := cps.Get(ctx, cp.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("checkpoint lost while the load was refused: %v", err)
	}
	if got.ResourceVersion != cp.ResourceVersion {
		t.Fatalf("checkpoint rewritten while the load was refused: first sample %v, %d samples (had %v, %d)",
			got.Status.FirstSampleStart, got.Status.TotalSamplesCount, first, cp.Status.TotalSamplesCount)
	}
	if n, err := inst.passes("recommender"); err == nil && n > 0 {
		t.Fatalf("%d recommender passes before the checkpoints were restored", n)
	}
	if v, err := vc.AutoscalingV1().VerticalPodAutoscalers(ns).Get(ctx, "hamster-vpa", metav1.GetOptions{}); err != nil || v.Status.Recommendation != nil {
		t.Fatalf("VPA written before the checkpoints were restored: %+v %v", v.Status, err)
	}

	// The permission comes back: the history is restored and continues.
	setRules(full, true)
	restored := time.Now()
	eventually(t, 2*time.Minute, func(ctx context.Context) (bool, string) {
		v, err := vc.AutoscalingV1().VerticalPodAutoscalers(ns).Get(ctx, "hamster-vpa", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		// Only a restored two-day history is not LowConfidence.
		return hasCondition(v, vpav1.RecommendationProvided) && !hasCondition(v, vpav1.LowConfidence), fmt.Sprintf("conditions %+v", v.Status.Conditions)
	})
	eventually(t, 2*time.Minute, func(ctx context.Context) (bool, string) {
		c, err := cps.Get(ctx, cp.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return c.Status.FirstSampleStart.Equal(&first) && c.Status.TotalSamplesCount > cp.Status.TotalSamplesCount,
			fmt.Sprintf("first sample %v (want %v), %d samples (had %d)", c.Status.FirstSampleStart, first, c.Status.TotalSamplesCount, cp.Status.TotalSamplesCount)
	})
	if !strings.Contains(inst.out.String(), "checkpoints restored") {
		t.Errorf("no 'checkpoints restored' log line")
	}
	t.Logf("history restored and continued %s after the permission came back", time.Since(restored).Round(100*time.Millisecond))
}
