package controller

import (
	"context"

	"k8s.io/apimachinery/pkg/labels"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tailor-dev/tailor/scaler/scale"
)

// SelectorOf resolves a VPA's targetRef to its pods' label selector, as the
// recommender does, so that the updater (scaler/updater) acts on exactly the
// pods the recommendation was computed from. scales may be nil (targets
// known only by their scale subresource are then unsupported).
func SelectorOf(ctx context.Context, r client.Reader, scales *scale.Scales, vpa *vpav1.VerticalPodAutoscaler) (labels.Selector, error) {
	return selectorOf(ctx, r, scales, vpa)
}
