package aws

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/interruption"
	"github.com/tailor-dev/tailor/scaler/loop"
)

var interruptionMessages = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "tailor_interruption_messages_total",
	Help: "Interruption queue messages by kind (SpotInterruption, RebalanceRecommendation, ScheduledChange, StateChange, unknown, malformed) and outcome (handled, ignored, error).",
}, []string{"kind", "outcome"})

func init() { metrics.Registry.MustRegister(interruptionMessages) }

// SQSAPI is the part of the SQS client the queue loop calls.
type SQSAPI interface {
	GetQueueUrl(context.Context, *sqs.GetQueueUrlInput, ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
	ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(context.Context, *sqs.DeleteMessageInput, ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
}

// Handler acts on one instance an interruption message is about.
type Handler interface {
	Interrupted(ctx context.Context, instanceID string, m interruption.Message) error
}

// Queue is the interruption loop (leader only): it long-polls the SQS
// queue EventBridge feeds, hands each message's instances to the
// Handler, and deletes a message once handled. Malformed and unknown
// messages are counted and deleted; a message whose handling failed
// comes back after the visibility timeout.
type Queue struct {
	SQS     SQSAPI
	Name    string
	Handler Handler
	Log     logr.Logger
}

// NeedLeaderElection: one consumer per cluster.
func (q *Queue) NeedLeaderElection() bool { return true }

// Start consumes until ctx ends.
func (q *Queue) Start(ctx context.Context) error {
	var url string
	for backoff := time.Second; url == ""; backoff = min(2*backoff, time.Minute) {
		out, err := q.SQS.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(q.Name)})
		if err == nil {
			url = deref(out.QueueUrl)
			break
		}
		q.Log.Error(err, "interruption queue: GetQueueUrl", "queue", q.Name)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
	}
	q.Log.Info("interruption queue consumer started", "queue", url)
	for ctx.Err() == nil {
		out, err := q.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 20, VisibilityTimeout: 60})
		if err != nil {
			if ctx.Err() == nil {
				q.Log.Error(err, "interruption queue: ReceiveMessage")
				select {
				case <-ctx.Done():
				case <-time.After(5 * time.Second):
				}
			}
			continue
		}
		for _, msg := range out.Messages {
			var del bool
			if gerr := loop.Guard("interruption", q.Log, func() { del = q.handle(ctx, deref(msg.Body)) }); gerr != nil {
				interruptionMessages.WithLabelValues("malformed", "error").Inc()
				del = true // a message that panics the handler would do so again
			}
			if !del {
				continue
			}
			if _, err := q.SQS.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: msg.ReceiptHandle}); err != nil {
				q.Log.Error(err, "interruption queue: DeleteMessage")
			}
		}
	}
	return nil
}

// handle reports whether the message is done with (to delete).
func (q *Queue) handle(ctx context.Context, body string) bool {
	m, err := interruption.Parse([]byte(body))
	switch {
	case errors.Is(err, interruption.ErrUnknown):
		interruptionMessages.WithLabelValues("unknown", "ignored").Inc()
		q.Log.V(1).Info("interruption queue: ignoring an event", "reason", err.Error())
		return true
	case err != nil:
		interruptionMessages.WithLabelValues("malformed", "ignored").Inc()
		q.Log.Info("interruption queue: deleting a malformed message", "error", err.Error(), "body", truncate(body, 200))
		return true
	}
	for _, id := range m.InstanceIDs {
		if err := q.Handler.Interrupted(ctx, id, m); err != nil {
			interruptionMessages.WithLabelValues(string(m.Kind), "error").Inc()
			q.Log.Error(err, "interruption: handling failed, the message comes back", "kind", m.Kind, "instance", id)
			return false
		}
	}
	interruptionMessages.WithLabelValues(string(m.Kind), "handled").Inc()
	return true
}

// ClaimHandler tells the NodeClaim of an interrupted instance: a Warning
// Event for every message, and, when the instance is going away, the
// condition Interrupted, on which the disruption loop launches a
// replacement, waits until it is initialized, then taints and drains the
// node (provisioner/disruption's interruption method). Instances without
// a NodeClaim are not Tailor's: nothing to do.
type ClaimHandler struct {
	Client   client.Client
	Recorder recorder.EventRecorder
	Log      logr.Logger
}

// Interrupted implements Handler.
func (h *ClaimHandler) Interrupted(ctx context.Context, instanceID string, m interruption.Message) error {
	var claims provisionerv1.NodeClaimList
	if err := h.Client.List(ctx, &claims); err != nil {
		return err
	}
	for i := range claims.Items {
		nc := &claims.Items[i]
		if !strings.HasSuffix(nc.Status.ProviderID, "/"+instanceID) {
			continue
		}
		msg := fmt.Sprintf("%s for %s (event %s)", m.Kind, instanceID, m.ID)
		if m.State != "" {
			msg = fmt.Sprintf("%s %s for %s (event %s)", m.Kind, m.State, instanceID, m.ID)
		}
		h.Log.Info("interruption", "nodeclaim", nc.Name, "kind", m.Kind, "instance", instanceID, "replace", m.Replace())
		if !m.Replace() {
			h.Recorder.Eventf(nc, nil, corev1.EventTypeNormal, "InterruptionNotice", "Interrupt", "%s; the instance stays, nothing to do", msg)
			return nil
		}
		if nc.DeletionTimestamp != nil || meta.IsStatusConditionTrue(nc.Status.Conditions, provisionerv1.ConditionInterrupted) {
			return nil
		}
		patched := nc.DeepCopy()
		meta.SetStatusCondition(&patched.Status.Conditions, metav1.Condition{Type: provisionerv1.ConditionInterrupted, Status: metav1.ConditionTrue, Reason: string(m.Kind), Message: msg})
		if err := h.Client.Status().Patch(ctx, patched, client.MergeFromWithOptions(nc, client.MergeFromWithOptimisticLock{})); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		h.Recorder.Eventf(nc, nil, corev1.EventTypeWarning, "Interrupted", "Interrupt", "%s; replacing it before the drain", msg)
		return nil
	}
	// Not Tailor's: another cluster's, or an instance an Auto Scaling
	// group made on its own (the group replaces it).
	h.Log.Info("interruption for an instance without a NodeClaim: left to its owner", "kind", m.Kind, "instance", instanceID)
	return nil
}
