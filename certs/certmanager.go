package certs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CertificateStatus says whether a cert-manager Certificate is Ready and,
// if not, why, in the Certificate's own words (its conditions).
func CertificateStatus(c *cmapi.Certificate) (bool, string) {
	var ready *cmapi.CertificateCondition
	var notes []string
	for i := range c.Status.Conditions {
		cond := &c.Status.Conditions[i]
		if cond.Type == cmapi.CertificateConditionReady {
			ready = cond
			continue
		}
		if cond.Status == cmmeta.ConditionTrue || cond.Type == cmapi.CertificateConditionIssuing {
			notes = append(notes, fmt.Sprintf("%s=%s (%s: %s)", cond.Type, cond.Status, cond.Reason, cond.Message))
		}
	}
	if ready == nil {
		why := "no Ready condition yet: is cert-manager running and the Issuer " + c.Spec.IssuerRef.Name + " present?"
		if len(notes) > 0 {
			why += "; " + strings.Join(notes, "; ")
		}
		return false, why
	}
	if ready.Status == cmmeta.ConditionTrue {
		return true, ready.Message
	}
	why := fmt.Sprintf("Ready=%s (%s: %s)", ready.Status, ready.Reason, ready.Message)
	if len(notes) > 0 {
		why += "; " + strings.Join(notes, "; ")
	}
	return false, why
}

// CertificateWatch follows the cert-manager Certificate of the webhook
// serving pair: readiness waits until it is Ready, and every change of its
// state is logged with cert-manager's reason, so "why is Tailor not ready"
// has an answer in Tailor's log.
type CertificateWatch struct {
	Reader   client.Reader // an uncached reader: one object, polled
	Key      types.NamespacedName
	Interval time.Duration
	Log      logr.Logger

	ready atomic.Bool
}

// Start polls until ctx ends.
func (w *CertificateWatch) Start(ctx context.Context) error {
	interval := w.Interval
	if interval <= 0 {
		interval = 5 * time.Second
	}
	last := ""
	for {
		ready, why := w.check(ctx)
		w.ready.Store(ready)
		if why != last {
			if ready {
				w.Log.Info("cert-manager Certificate is Ready", "certificate", w.Key.String(), "message", why)
			} else {
				w.Log.Info("waiting for the cert-manager Certificate of the webhook", "certificate", w.Key.String(), "reason", why)
			}
			last = why
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}

func (w *CertificateWatch) check(ctx context.Context) (bool, string) {
	c := &cmapi.Certificate{}
	if err := w.Reader.Get(ctx, w.Key, c); err != nil {
		if apierrors.IsNotFound(err) {
			return false, "Certificate not found: apply deploy/overlays/cert-manager"
		}
		return false, "cannot read the Certificate: " + err.Error()
	}
	ready, why := CertificateStatus(c)
	if !ready {
		why += w.issuerProblem(ctx, c)
	}
	return ready, why
}

// issuerProblem names the usual root cause the Certificate's own conditions
// do not: its issuer missing or not Ready.
func (w *CertificateWatch) issuerProblem(ctx context.Context, c *cmapi.Certificate) string {
	ref := c.Spec.IssuerRef
	if ref.Group != "" && ref.Group != "cert-manager.io" {
		return "" // an external issuer: its own API, its own status
	}
	var issuer cmapi.GenericIssuer = &cmapi.Issuer{}
	key := types.NamespacedName{Namespace: c.Namespace, Name: ref.Name}
	if ref.Kind == cmapi.ClusterIssuerKind {
		issuer, key.Namespace = &cmapi.ClusterIssuer{}, ""
	}
	kind := ref.Kind
	if kind == "" {
		kind = cmapi.IssuerKind
	}
	if err := w.Reader.Get(ctx, key, issuer); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Sprintf("; %s %s not found", kind, ref.Name)
		}
		return ""
	}
	for _, cond := range issuer.GetStatus().Conditions {
		if cond.Type == cmapi.IssuerConditionReady && cond.Status != cmmeta.ConditionTrue {
			return fmt.Sprintf("; %s %s not Ready (%s: %s)", kind, ref.Name, cond.Reason, cond.Message)
		}
	}
	return ""
}

// NeedLeaderElection: every replica serves the webhook and reports readiness.
func (w *CertificateWatch) NeedLeaderElection() bool { return false }

// Checker is a readyz check.
func (w *CertificateWatch) Checker(*http.Request) error {
	if !w.ready.Load() {
		return errors.New("cert-manager Certificate " + w.Key.String() + " not Ready")
	}
	return nil
}

// ParseKey parses "namespace/name".
func ParseKey(s string) (types.NamespacedName, error) {
	ns, name, ok := strings.Cut(s, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return types.NamespacedName{}, fmt.Errorf("%q: want namespace/name", s)
	}
	return types.NamespacedName{Namespace: ns, Name: name}, nil
}
