package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/cloud/asg"
	"github.com/tailor-dev/tailor/test/awsfake"
)

// TestInstanceGone: an instance terminated out of band, with no
// interruption message (the fake's Vanish: its kwok Node stays), is found
// by the GC — terminated or unknown to EC2 for three checks in a row —
// and its NodeClaim deleted with an InstanceGone Event; the node is
// drained and the pod runs again on a new claim. Both backends.
func TestInstanceGone(t *testing.T) {
	gcFlags := []string{"--provisioner-gc-interval", "1s", "--instance-gone-grace", "3s", "--instance-gone-checks", "3"}
	for _, mode := range []string{"aws", "asg"} {
		t.Run(mode, func(t *testing.T) {
			c := provClient(t)
			s := startAWSFake(t)
			ctx := context.Background()
			p := newTestPool("e2e-gone-"+mode, 0)
			args := gcFlags
			if mode == "aws" {
				class := &provisionerv1.AWSNodeClass{
					ObjectMeta: metav1.ObjectMeta{Name: "e2e-gone"},
					Spec: provisionerv1.AWSNodeClassSpec{
						Role:                       "NodeRole-e2e",
						AMISelectorTerms:           []provisionerv1.AMISelectorTerm{{Alias: "al2023@latest"}},
						SubnetSelectorTerms:        []provisionerv1.SubnetSelectorTerm{{Tags: map[string]string{"tailor.dev/discovery": awsCluster}}},
						SecurityGroupSelectorTerms: []provisionerv1.SecurityGroupSelectorTerm{{Tags: map[string]string{"tailor.dev/discovery": awsCluster}}},
					},
				}
				_ = c.Delete(ctx, class)
				if err := c.Create(ctx, class); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = c.Delete(context.Background(), class) })
				p.np.Spec.Template.Spec.NodeClassRef.Name = class.Name
			} else {
				s.AddGroup(awsfake.Group{Name: "asg-gone", Max: 3, Zones: []string{"us-east-1a"}, InstanceType: "m5.xlarge",
					Tags: map[string]string{asg.TagTaint + p.taint.Key: p.taint.Value + ":" + string(p.taint.Effect)}})
				p.np.Spec.Template.Spec.NodeClassRef = nil
				p.np.Spec.AutoScalingGroups = &provisionerv1.AutoScalingGroups{Names: []string{"asg-gone"}}
				args = append([]string{"--cloud", "asg"}, gcFlags...)
			}
			t.Cleanup(func() {
				for _, in := range s.Instances() {
					_ = env.Clientset().CoreV1().Nodes().Delete(context.Background(), in.NodeName(), metav1.DeleteOptions{})
				}
			})
			inst := startAWSTailor(t, s, namespace(t, nil), args...)
			registerWebhooks(t, inst)
			t.Cleanup(func() {
				eventually(t, 90*time.Second, func(ctx context.Context) (bool, string) {
					var list provisionerv1.NodeClaimList
					err := c.List(ctx, &list)
					return err == nil && len(list.Items) == 0, fmt.Sprintf("%d NodeClaims left (%v)", len(list.Items), err)
				})
			})
			p.create(t, c)
			ns := namespace(t, map[string]string{"tailor.dev/enabled": "true"})
			if _, err := env.Clientset().AppsV1().Deployments(ns).Create(ctx, podsOf(ns, "app", 1, "1", "1Gi", p), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			waitRunning(t, ns, "app", 1, 90*time.Second)
			node := nodeOfPod(t, ns, "app")
			claim := node.Labels[provisionerv1.LabelNodeClaim]
			id := node.Spec.ProviderID[strings.LastIndex(node.Spec.ProviderID, "/")+1:]
			// aws: EC2 answers "terminated"; asg: it forgets the id (NotFound).
			if !s.Vanish(id, mode == "asg") {
				t.Fatalf("no instance %s in the fake", id)
			}
			start := time.Now()
			eventually(t, 90*time.Second, func(ctx context.Context) (bool, string) {
				var nc provisionerv1.NodeClaim
				err := c.Get(ctx, types.NamespacedName{Name: claim}, &nc)
				return apierrors.IsNotFound(err), fmt.Sprintf("NodeClaim %s of vanished instance %s: %v", claim, id, err)
			})
			note := claimEvent(t, node, "InstanceGone", id)
			t.Logf("NodeClaim %s deleted %s after its instance vanished: %s", claim, time.Since(start).Round(100*time.Millisecond), note)
			waitRunning(t, ns, "app", 1, 90*time.Second)
			if again := nodeOfPod(t, ns, "app"); again.Name == node.Name {
				t.Errorf("the pod still runs on %s, whose instance is gone", node.Name)
			}
			re := regexp.MustCompile(`tailor_provisioner_nodeclaims_terminated_total\{nodepool="` + p.np.Name + `",reason="instance_gone"\} (\S+)`)
			if v := metricValue(t, inst, re); v != 1 {
				t.Errorf("nodeclaims terminated for instance_gone = %v, want 1", v)
			}
			scaleTo(t, ns, "app", 0)
			waitPoolEmpty(t, c, p.np.Name, 90*time.Second)
		})
	}
}
