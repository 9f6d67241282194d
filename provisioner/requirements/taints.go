package requirements

import corev1 "k8s.io/api/core/v1"

// Untolerated returns the first taint that keeps a pod with these
// tolerations off a node: NoSchedule and NoExecute taints count,
// PreferNoSchedule does not (it is a preference).
func Untolerated(taints []corev1.Taint, tolerations []corev1.Toleration) (corev1.Taint, bool) {
	for _, t := range taints {
		if t.Effect == corev1.TaintEffectPreferNoSchedule {
			continue
		}
		if !Tolerated(t, tolerations) {
			return t, true
		}
	}
	return corev1.Taint{}, false
}

// Tolerated reports whether one of tolerations tolerates taint, by the
// core/v1 rules: an empty effect matches every effect; an empty key with
// Exists matches every key; Exists ignores the value, Equal (the default)
// compares it.
func Tolerated(taint corev1.Taint, tolerations []corev1.Toleration) bool {
	for i := range tolerations {
		tol := &tolerations[i]
		if tol.Effect != "" && tol.Effect != taint.Effect {
			continue
		}
		if tol.Key != "" && tol.Key != taint.Key {
			continue
		}
		switch tol.Operator {
		case corev1.TolerationOpExists:
			return true
		case corev1.TolerationOpEqual, "":
			if tol.Key != "" && tol.Value == taint.Value {
				return true
			}
		}
	}
	return false
}
