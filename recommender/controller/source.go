package controller

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"
)

// PodMetricsSource lists the PodMetrics of a namespace (metrics.k8s.io).
type PodMetricsSource interface {
	PodMetrics(ctx context.Context, namespace string) ([]metricsv1beta1.PodMetrics, error)
}

type metricsAPI struct{ c metricsclient.Interface }

func (m metricsAPI) PodMetrics(ctx context.Context, ns string) ([]metricsv1beta1.PodMetrics, error) {
	l, err := m.c.MetricsV1beta1().PodMetricses(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}

// NewMetricsSource returns the metrics.k8s.io source for cfg.
func NewMetricsSource(cfg *rest.Config) (PodMetricsSource, error) {
	c, err := metricsclient.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return metricsAPI{c}, nil
}

// Source label values of tailor_recommender_source_errors_total.
const (
	SourceMetricsAPI = "metrics.k8s.io"
	SourcePrometheus = "prometheus"
	SourceKubeAPI    = "kube-apiserver"
	SourceInvalid    = "invalid_sample"
)
