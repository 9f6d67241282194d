package main

import (
	"context"
	"fmt"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// access is one permission a component cannot work without.
type access struct{ verb, group, resource string }

func (a access) String() string {
	if a.group == "" {
		return a.verb + " " + a.resource
	}
	return a.verb + " " + a.resource + "." + a.group
}

// requiredAccess lists, per component, the cluster-wide reads its caches
// start with and the writes that are its output. Without them the process
// would sit NotReady (caches never sync) or fail every pass, logging 403s;
// checked at start instead, the answer is one line. Each is granted by
// deploy/base/rbac.yaml (TestRequiredAccessIsGranted).
var requiredAccess = map[string][]access{
	"webhook": {
		{"list", "", "pods"}, {"watch", "autoscaling.k8s.io", "verticalpodautoscalers"},
		{"list", "", "limitranges"}, {"list", "", "resourcequotas"}, {"list", "apps", "replicasets"}, {"list", "tailor.dev", "replicaautoscalers"},
		{"create", "", "events"}, {"list", "tailor.dev", "nodepools"}, {"list", "", "namespaces"},
	},
	"provisioner": {
		{"list", "", "pods"}, {"list", "", "nodes"}, {"patch", "", "nodes"}, {"delete", "", "nodes"},
		{"list", "apps", "daemonsets"}, {"list", "tailor.dev", "nodepools"}, {"patch", "tailor.dev", "nodepools/status"},
		{"create", "tailor.dev", "nodeclaims"}, {"delete", "tailor.dev", "nodeclaims"}, {"patch", "tailor.dev", "nodeclaims/status"},
		{"create", "", "pods/eviction"}, {"list", "policy", "poddisruptionbudgets"}, {"delete", "", "pods"},
		{"list", "tailor.dev", "awsnodeclasses"},
	},
	"recommender": {
		{"list", "", "pods"}, {"list", "autoscaling.k8s.io", "verticalpodautoscalers"},
		{"patch", "autoscaling.k8s.io", "verticalpodautoscalers/status"},
		{"list", "autoscaling.k8s.io", "verticalpodautoscalercheckpoints"}, {"list", "", "namespaces"},
		{"create", "autoscaling.k8s.io", "verticalpodautoscalercheckpoints"},
	},
	"updater": {
		{"list", "", "pods"}, {"list", "", "namespaces"}, {"patch", "", "pods/resize"}, {"create", "", "pods/eviction"},
	},
	"scaler": {
		{"list", "tailor.dev", "replicaautoscalers"}, {"update", "tailor.dev", "replicaautoscalers/status"},
	},
}

// checkAccess asks the API server (SelfSubjectAccessReview, which every
// authenticated user may call) whether the credentials hold what the
// enabled components need, and names everything missing in one error.
func checkAccess(ctx context.Context, cfg *rest.Config, components []string) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	seen := map[access]bool{}
	var missing []string
	for _, c := range components {
		for _, a := range requiredAccess[c] {
			if seen[a] {
				continue
			}
			seen[a] = true
			resource, sub, _ := strings.Cut(a.resource, "/")
			review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
				ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: a.verb, Group: a.group, Resource: resource, Subresource: sub},
			}}
			got, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
			if err != nil {
				return fmt.Errorf("cannot check Tailor's permissions (SelfSubjectAccessReview): %w", err)
			}
			if !got.Status.Allowed {
				missing = append(missing, a.String())
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	who := "these credentials"
	if r, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{}); err == nil {
		who = r.Status.UserInfo.Username
	}
	return fmt.Errorf("%s cannot %s (cluster-wide): grant the rules of deploy/base/rbac.yaml to Tailor's ServiceAccount, or switch those components off with --components",
		who, strings.Join(missing, ", "))
}
