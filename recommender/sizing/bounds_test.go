package sizing

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
)

// withBounds sets lowerBound and upperBound ("cpu=..,memory=..") of every container recommendation.
func withBounds(v *vpav1.VerticalPodAutoscaler, lo, hi string) *vpav1.VerticalPodAutoscaler {
	for i := range v.Status.Recommendation.ContainerRecommendations {
		c := &v.Status.Recommendation.ContainerRecommendations[i]
		c.LowerBound, c.UpperBound = rl(lo), rl(hi)
	}
	return v
}

func TestOutsideBounds(t *testing.T) {
	cases := []struct {
		name string
		pod  *corev1.Pod
		vpa  *vpav1.VerticalPodAutoscaler
		hold []corev1.ResourceName
		want string // gaps joined by "; "
	}{
		{name: "inside", pod: podOf(ctr("hamster", "cpu=500m,memory=250Mi", "")),
			vpa: withBounds(vpaOf(hamsterRec), "cpu=400m,memory=200Mi", "cpu=700m,memory=300Mi")},
		{name: "on the bounds is inside", pod: podOf(ctr("hamster", "cpu=400m,memory=300Mi", "")),
			vpa: withBounds(vpaOf(hamsterRec), "cpu=400m,memory=200Mi", "cpu=700m,memory=300Mi")},
		{name: "below and above", pod: podOf(ctr("hamster", "cpu=100m,memory=1Gi", "")),
			vpa:  withBounds(vpaOf(hamsterRec), "cpu=400m,memory=200Mi", "cpu=700m,memory=300Mi"),
			want: "hamster cpu request 100m below lowerBound 400m; hamster memory request 1Gi above upperBound 300Mi"},
		{name: "no request is below", pod: podOf(ctr("hamster", "memory=250Mi", "")),
			vpa:  withBounds(vpaOf(hamsterRec), "cpu=400m,memory=200Mi", "cpu=700m,memory=300Mi"),
			want: "hamster cpu request 0 below lowerBound 400m"},
		{name: "held resource ignored", pod: podOf(ctr("hamster", "cpu=100m,memory=250Mi", "")),
			vpa:  withBounds(vpaOf(hamsterRec), "cpu=400m,memory=200Mi", "cpu=700m,memory=300Mi"),
			hold: []corev1.ResourceName{corev1.ResourceCPU}},
		{name: "uncontrolled resource ignored", pod: podOf(ctr("hamster", "cpu=100m,memory=250Mi", "")),
			vpa: withPolicy(withBounds(vpaOf(hamsterRec), "cpu=400m,memory=200Mi", "cpu=700m,memory=300Mi"),
				vpav1.ContainerResourcePolicy{ContainerName: "*", ControlledResources: &[]corev1.ResourceName{corev1.ResourceMemory}})},
		{name: "container mode Off ignored", pod: podOf(ctr("hamster", "cpu=100m,memory=1Gi", "")),
			vpa: withPolicy(withBounds(vpaOf(hamsterRec), "cpu=400m,memory=200Mi", "cpu=700m,memory=300Mi"),
				vpav1.ContainerResourcePolicy{ContainerName: "hamster", Mode: ptr(vpav1.ContainerScalingModeOff)})},
		{name: "maxAllowed caps the lower bound", pod: podOf(ctr("hamster", "cpu=300m,memory=250Mi", "")),
			vpa: withPolicy(withBounds(vpaOf(hamsterRec), "cpu=400m,memory=200Mi", "cpu=700m,memory=300Mi"),
				vpav1.ContainerResourcePolicy{ContainerName: "*", MaxAllowed: rl("cpu=300m")})},
		{name: "minAllowed raises the upper bound", pod: podOf(ctr("hamster", "cpu=900m,memory=250Mi", "")),
			vpa: withPolicy(withBounds(vpaOf(hamsterRec), "cpu=400m,memory=200Mi", "cpu=700m,memory=300Mi"),
				vpav1.ContainerResourcePolicy{ContainerName: "*", MinAllowed: rl("cpu=900m")})},
		{name: "minAllowed above the request", pod: podOf(ctr("hamster", "cpu=100m,memory=250Mi", "")),
			vpa: withPolicy(withBounds(vpaOf(hamsterRec), "cpu=50m,memory=200Mi", "cpu=700m,memory=300Mi"),
				vpav1.ContainerResourcePolicy{ContainerName: "*", MinAllowed: rl("cpu=200m")}),
			want: "hamster cpu request 100m below lowerBound 200m"},
		{name: "no bounds, no gaps", pod: podOf(ctr("hamster", "cpu=1m,memory=1Mi", "")), vpa: vpaOf(hamsterRec)},
		{name: "mode Off", pod: podOf(ctr("hamster", "cpu=1m,memory=1Mi", "")),
			vpa: withMode(withBounds(vpaOf(hamsterRec), "cpu=400m,memory=200Mi", "cpu=700m,memory=300Mi"), vpav1.UpdateModeOff)},
		{name: "sidecar with a recommendation", pod: func() *corev1.Pod {
			p := podOf(ctr("hamster", "cpu=500m,memory=250Mi", ""))
			p.Spec.InitContainers = []corev1.Container{sidecar("proxy", "cpu=10m,memory=250Mi", "")}
			return p
		}(),
			vpa:  withBounds(vpaOf(hamsterRec, "proxy:cpu=587m,memory=262144k"), "cpu=400m,memory=200Mi", "cpu=700m,memory=300Mi"),
			want: "proxy cpu request 10m below lowerBound 400m"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gaps, err := OutsideBounds(Input{Pod: tc.pod, VPA: tc.vpa, Hold: tc.hold})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, g := range gaps {
				got = append(got, g.String())
			}
			if s := strings.Join(got, "; "); s != tc.want {
				t.Errorf("gaps = %q, want %q", s, tc.want)
			}
		})
	}
}

func TestOutsideBoundsErrors(t *testing.T) {
	if _, err := OutsideBounds(Input{}); err == nil {
		t.Error("nil pod: no error")
	}
	v := withBounds(vpaOf(hamsterRec), "cpu=-1,memory=200Mi", "cpu=700m,memory=300Mi")
	if _, err := OutsideBounds(Input{Pod: podOf(ctr("hamster", "cpu=500m", "")), VPA: v}); err == nil || !strings.Contains(err.Error(), "lowerBound") {
		t.Errorf("negative bound: err = %v", err)
	}
}
