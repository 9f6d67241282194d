package cluster

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	aggregator "k8s.io/kube-aggregator/pkg/client/clientset_generated/clientset"
)

// registerMetricsAPI points the aggregation layer at metrics-server: with no
// kube-proxy a ClusterIP does not route, but an ExternalName Service does.
func (c *Cluster) registerMetricsAPI(ctx context.Context, port int, pki *pki) error {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "metrics-server", Namespace: "kube-system"},
		Spec: corev1.ServiceSpec{
			Type:         corev1.ServiceTypeExternalName,
			ExternalName: "127.0.0.1",
			Ports:        []corev1.ServicePort{{Name: "https", Port: int32(port)}},
		},
	}
	if _, err := c.clientset.CoreV1().Services("kube-system").Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("metrics-server service: %w", err)
	}
	agg, err := aggregator.NewForConfig(c.config)
	if err != nil {
		return err
	}
	p := int32(port)
	apiService := &apiregistrationv1.APIService{
		ObjectMeta: metav1.ObjectMeta{Name: "v1beta1.metrics.k8s.io"},
		Spec: apiregistrationv1.APIServiceSpec{
			Group: "metrics.k8s.io", Version: "v1beta1",
			Service:              &apiregistrationv1.ServiceReference{Namespace: "kube-system", Name: "metrics-server", Port: &p},
			CABundle:             pki.metricsCA,
			GroupPriorityMinimum: 100, VersionPriority: 100,
		},
	}
	if _, err := agg.ApiregistrationV1().APIServices().Create(ctx, apiService, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("metrics APIService: %w", err)
	}
	return nil
}

func (c *Cluster) apiServiceAvailable(ctx context.Context, name string) error {
	agg, err := aggregator.NewForConfig(c.config)
	if err != nil {
		return err
	}
	s, err := agg.ApiregistrationV1().APIServices().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	for _, cond := range s.Status.Conditions {
		if cond.Type == apiregistrationv1.Available {
			if cond.Status == apiregistrationv1.ConditionTrue {
				return nil
			}
			return fmt.Errorf("APIService %s: %s: %s", name, cond.Reason, cond.Message)
		}
	}
	return fmt.Errorf("APIService %s: no Available condition yet", name)
}
