package requirements

import corev1 "k8s.io/api/core/v1"

// Untolerated returns the first taint that keeps a pod with these
// tolerations off a node: NoSchedule and NoExecute taints count,
// PreferNoSchedule does not (it is a preference).
func Untolerated(taints []corev1.Taint, tolerations []corev1.Toleration) (corev1.Taint, bool) {
	if i := UntoleratedIndex(taints, tolerations); i >= 0 {
		return taints[i], true
	}
	return corev1.Taint{}, false
}

// UntoleratedIndex is Untolerated's taint as an index into taints; -1: none.
func UntoleratedIndex(taints []corev1.Taint, tolerations []corev1.Toleration) int {
	for i := range taints {
		if taints[i].Effect == corev1.TaintEffectPreferNoSchedule {
			continue
		}
		if !Tolerated(taints[i], tolerations) {
			return i
		}
	}
	return -1
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
