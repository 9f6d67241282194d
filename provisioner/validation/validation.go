// Package validation checks NodePools, AWSNodeClasses and NodeClaims
// beyond what the CRD schema and its CEL rules can (and repeats what they
// check, so that the webhook, tests and the sandbox give the same answer
// without an API server). Errors carry field paths, as the API server's do.
package validation

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/disruption"
)

// NodePool validates a NodePool's spec.
func NodePool(np *provisionerv1.NodePool) field.ErrorList {
	spec := field.NewPath("spec")
	var errs field.ErrorList
	tmpl := spec.Child("template")
	errs = append(errs, labels(np.Spec.Template.Metadata.Labels, tmpl.Child("metadata", "labels"))...)
	errs = append(errs, Requirements(np.Spec.Template.Spec.Requirements, tmpl.Child("spec", "requirements"), true)...)
	errs = append(errs, taints(np.Spec.Template.Spec.Taints, tmpl.Child("spec", "taints"))...)
	errs = append(errs, taints(np.Spec.Template.Spec.StartupTaints, tmpl.Child("spec", "startupTaints"))...)
	errs = append(errs, nillable(np.Spec.Template.Spec.ExpireAfter, tmpl.Child("spec", "expireAfter"))...)
	hasRef, hasASG := np.Spec.Template.Spec.NodeClassRef != nil, np.Spec.AutoScalingGroups != nil
	switch {
	case hasRef && hasASG:
		errs = append(errs, field.Invalid(spec.Child("autoScalingGroups"), "", "mutually exclusive with template.spec.nodeClassRef"))
	case !hasRef && !hasASG:
		errs = append(errs, field.Required(tmpl.Child("spec", "nodeClassRef"), "set nodeClassRef or autoScalingGroups"))
	case hasRef:
		errs = append(errs, nodeClassRef(np.Spec.Template.Spec.NodeClassRef, tmpl.Child("spec", "nodeClassRef"))...)
	default:
		asg := np.Spec.AutoScalingGroups
		if len(asg.Names) == 0 && len(asg.SelectorTerms) == 0 {
			errs = append(errs, field.Required(spec.Child("autoScalingGroups"), "name at least one group or one selector term"))
		}
		for i, term := range asg.SelectorTerms {
			if len(term.Tags) == 0 {
				errs = append(errs, field.Required(spec.Child("autoScalingGroups", "selectorTerms").Index(i).Child("tags"), ""))
			}
		}
	}
	if w := np.Spec.Weight; w != nil && (*w < 1 || *w > 100) {
		errs = append(errs, field.Invalid(spec.Child("weight"), *w, "must be between 1 and 100"))
	}
	for name, q := range np.Spec.Limits {
		if q.Sign() < 0 {
			errs = append(errs, field.Invalid(spec.Child("limits").Key(string(name)), q.String(), "must not be negative"))
		}
	}
	switch np.Spec.Packing {
	case "", provisionerv1.PackingFirstFit, provisionerv1.PackingMarginalCost:
	default:
		errs = append(errs, field.NotSupported(spec.Child("packing"), np.Spec.Packing,
			[]string{string(provisionerv1.PackingFirstFit), string(provisionerv1.PackingMarginalCost)}))
	}
	errs = append(errs, disruptionSpec(&np.Spec.Disruption, spec.Child("disruption"))...)
	return errs
}

func disruptionSpec(d *provisionerv1.Disruption, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch d.ConsolidationPolicy {
	case "", provisionerv1.ConsolidationPolicyWhenEmpty, provisionerv1.ConsolidationPolicyWhenEmptyOrUnderutilized, provisionerv1.ConsolidationPolicyBalanced:
	default:
		errs = append(errs, field.NotSupported(path.Child("consolidationPolicy"), d.ConsolidationPolicy,
			[]string{string(provisionerv1.ConsolidationPolicyWhenEmpty), string(provisionerv1.ConsolidationPolicyWhenEmptyOrUnderutilized), string(provisionerv1.ConsolidationPolicyBalanced)}))
	}
	if k := d.ConsolidationThreshold; k != nil {
		if *k < 1 || *k > 3 {
			errs = append(errs, field.Invalid(path.Child("consolidationThreshold"), *k, "must be 1, 2 or 3"))
		}
		if d.ConsolidationPolicy != provisionerv1.ConsolidationPolicyBalanced {
			errs = append(errs, field.Invalid(path.Child("consolidationThreshold"), *k, "needs consolidationPolicy: Balanced"))
		}
	}
	if d.ConsolidateAfter != "" {
		errs = append(errs, nillable(d.ConsolidateAfter, path.Child("consolidateAfter"))...)
	}
	if ms := d.MinimumSavings; ms != nil {
		if ms.Fraction != "" {
			if f, err := strconv.ParseFloat(ms.Fraction, 64); err != nil || f < 0 || f > 1 {
				errs = append(errs, field.Invalid(path.Child("minimumSavings", "fraction"), ms.Fraction, "must be a decimal between 0 and 1"))
			}
		}
		for name, v := range map[string]string{"perHour": ms.PerHour, "perPod": ms.PerPod} {
			if v == "" {
				continue
			}
			if f, err := strconv.ParseFloat(v, 64); err != nil || f < 0 || strings.ContainsAny(v, "eE+-") {
				errs = append(errs, field.Invalid(path.Child("minimumSavings", name), v, "must be a non-negative decimal (USD per hour)"))
			}
		}
	}
	for i, b := range d.Budgets {
		bp := path.Child("budgets").Index(i)
		if err := budgetNodes(b.Nodes); err != "" {
			errs = append(errs, field.Invalid(bp.Child("nodes"), b.Nodes, err))
		}
		if (b.Schedule == nil) != (b.Duration == nil) {
			errs = append(errs, field.Invalid(bp, "", "schedule and duration go together"))
		}
		if b.Schedule != nil {
			if err := cron(*b.Schedule); err != "" {
				errs = append(errs, field.Invalid(bp.Child("schedule"), *b.Schedule, err))
			}
		}
		if b.Duration != nil && b.Duration.Duration <= 0 {
			errs = append(errs, field.Invalid(bp.Child("duration"), b.Duration.Duration.String(), "must be positive"))
		}
		seen := map[provisionerv1.DisruptionReason]bool{}
		for j, r := range b.Reasons {
			switch r {
			case provisionerv1.DisruptionReasonEmpty, provisionerv1.DisruptionReasonUnderutilized, provisionerv1.DisruptionReasonDrifted:
			default:
				errs = append(errs, field.NotSupported(bp.Child("reasons").Index(j), r, []string{"Empty", "Underutilized", "Drifted"}))
			}
			if seen[r] {
				errs = append(errs, field.Duplicate(bp.Child("reasons").Index(j), r))
			}
			seen[r] = true
		}
	}
	return errs
}

// budgetNodes accepts a node count ("5") or a percentage ("10%", 0–100).
func budgetNodes(s string) string {
	if p, ok := strings.CutSuffix(s, "%"); ok {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 100 || p == "" || p[0] == '+' {
			return "must be a percentage from 0% to 100%"
		}
		return ""
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || s == "" || s[0] == '+' {
		return `must be a non-negative node count ("5") or a percentage ("10%")`
	}
	return ""
}

// cron checks a schedule: a @macro or five fields of digits, names and
// */,-, which the budgets' parser accepts (field ranges, names).
func cron(s string) string {
	switch s {
	case "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly":
		return ""
	}
	fields := strings.Fields(s)
	if len(fields) != 5 {
		return "must be a cron macro (@daily…) or five fields: minute hour day-of-month month day-of-week"
	}
	for _, f := range fields {
		for _, c := range f {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.ContainsRune("*/,-?", c)) {
				return fmt.Sprintf("field %q has the character %q", f, c)
			}
		}
	}
	// The parser the budgets run on: ranges and names.
	if _, err := disruption.ParseSchedule(s); err != nil {
		return err.Error()
	}
	return ""
}

// Requirements validates node selector requirements; restricted refuses
// the keys Tailor sets per node (NodePools; a NodeClaim carries them).
func Requirements(reqs []provisionerv1.NodeSelectorRequirementWithMinValues, path *field.Path, restricted bool) field.ErrorList {
	var errs field.ErrorList
	for i, r := range reqs {
		p := path.Index(i)
		if restricted && provisionerv1.IsRestrictedLabel(r.Key) {
			errs = append(errs, field.Invalid(p.Child("key"), r.Key, "is set by Tailor per node and cannot be required"))
		}
		for _, msg := range validation.IsQualifiedName(r.Key) {
			errs = append(errs, field.Invalid(p.Child("key"), r.Key, msg))
		}
		switch r.Operator {
		case corev1.NodeSelectorOpIn, corev1.NodeSelectorOpNotIn:
			if len(r.Values) == 0 {
				errs = append(errs, field.Required(p.Child("values"), fmt.Sprintf("operator %s needs values", r.Operator)))
			}
			for j, v := range r.Values {
				for _, msg := range validation.IsValidLabelValue(v) {
					errs = append(errs, field.Invalid(p.Child("values").Index(j), v, msg))
				}
			}
		case corev1.NodeSelectorOpExists, corev1.NodeSelectorOpDoesNotExist:
			if len(r.Values) > 0 {
				errs = append(errs, field.Forbidden(p.Child("values"), fmt.Sprintf("operator %s takes no values", r.Operator)))
			}
		case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
			if len(r.Values) != 1 {
				errs = append(errs, field.Invalid(p.Child("values"), r.Values, fmt.Sprintf("operator %s takes exactly one integer", r.Operator)))
			} else if _, err := strconv.ParseInt(r.Values[0], 10, 64); err != nil {
				errs = append(errs, field.Invalid(p.Child("values").Index(0), r.Values[0], "must be an integer"))
			}
		default:
			errs = append(errs, field.NotSupported(p.Child("operator"), r.Operator, []string{"In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"}))
		}
		if r.MinValues != nil {
			mv := *r.MinValues
			switch {
			case mv < 1 || mv > 50:
				errs = append(errs, field.Invalid(p.Child("minValues"), mv, "must be between 1 and 50"))
			case r.Operator != corev1.NodeSelectorOpIn:
				errs = append(errs, field.Invalid(p.Child("minValues"), mv, "needs operator In"))
			case mv > len(r.Values):
				errs = append(errs, field.Invalid(p.Child("minValues"), mv, fmt.Sprintf("is more than the %d values listed", len(r.Values))))
			}
		}
		if r.Key == provisionerv1.LabelCapacityType && r.Operator == corev1.NodeSelectorOpIn {
			for j, v := range r.Values {
				if v != provisionerv1.CapacityTypeSpot && v != provisionerv1.CapacityTypeOnDemand {
					errs = append(errs, field.NotSupported(p.Child("values").Index(j), v, []string{provisionerv1.CapacityTypeSpot, provisionerv1.CapacityTypeOnDemand}))
				}
			}
		}
	}
	return errs
}

func labels(l map[string]string, path *field.Path) field.ErrorList {
	errs := metav1validation.ValidateLabels(l, path)
	for k := range l {
		if provisionerv1.IsRestrictedLabel(k) {
			errs = append(errs, field.Invalid(path.Key(k), k, "is set by Tailor per node"))
		}
	}
	return errs
}

func taints(ts []corev1.Taint, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, t := range ts {
		p := path.Index(i)
		for _, msg := range validation.IsQualifiedName(t.Key) {
			errs = append(errs, field.Invalid(p.Child("key"), t.Key, msg))
		}
		if t.Value != "" {
			for _, msg := range validation.IsValidLabelValue(t.Value) {
				errs = append(errs, field.Invalid(p.Child("value"), t.Value, msg))
			}
		}
		switch t.Effect {
		case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		default:
			errs = append(errs, field.NotSupported(p.Child("effect"), t.Effect, []string{"NoSchedule", "PreferNoSchedule", "NoExecute"}))
		}
		id := t.Key + ":" + string(t.Effect)
		if seen[id] {
			errs = append(errs, field.Duplicate(p, id))
		}
		seen[id] = true
	}
	return errs
}

func nillable(d provisionerv1.NillableDuration, path *field.Path) field.ErrorList {
	if d == "" {
		return nil
	}
	if _, _, err := d.Parse(); err != nil {
		return field.ErrorList{field.Invalid(path, string(d), err.Error())}
	}
	return nil
}

func nodeClassRef(ref *provisionerv1.NodeClassReference, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if ref.Group != provisionerv1.GroupVersion.Group {
		errs = append(errs, field.NotSupported(path.Child("group"), ref.Group, []string{provisionerv1.GroupVersion.Group}))
	}
	if ref.Kind != "AWSNodeClass" {
		errs = append(errs, field.NotSupported(path.Child("kind"), ref.Kind, []string{"AWSNodeClass"}))
	}
	if ref.Name == "" {
		errs = append(errs, field.Required(path.Child("name"), ""))
	}
	return errs
}

// AWSNodeClass validates an AWSNodeClass's spec.
func AWSNodeClass(nc *provisionerv1.AWSNodeClass) field.ErrorList {
	spec := field.NewPath("spec")
	s := &nc.Spec
	var errs field.ErrorList
	if len(s.SubnetSelectorTerms) == 0 {
		errs = append(errs, field.Required(spec.Child("subnetSelectorTerms"), ""))
	}
	for i, t := range s.SubnetSelectorTerms {
		if (len(t.Tags) > 0) == (t.ID != "") {
			errs = append(errs, field.Invalid(spec.Child("subnetSelectorTerms").Index(i), "", "set exactly one of tags and id"))
		}
	}
	if len(s.SecurityGroupSelectorTerms) == 0 {
		errs = append(errs, field.Required(spec.Child("securityGroupSelectorTerms"), ""))
	}
	for i, t := range s.SecurityGroupSelectorTerms {
		n := 0
		for _, set := range []bool{len(t.Tags) > 0, t.ID != "", t.Name != ""} {
			if set {
				n++
			}
		}
		if n != 1 {
			errs = append(errs, field.Invalid(spec.Child("securityGroupSelectorTerms").Index(i), "", "set exactly one of tags, id and name"))
		}
	}
	amis := spec.Child("amiSelectorTerms")
	alias := false
	if len(s.AMISelectorTerms) == 0 {
		errs = append(errs, field.Required(amis, ""))
	}
	for i, t := range s.AMISelectorTerms {
		p := amis.Index(i)
		switch {
		case t.Alias != "":
			alias = true
			if len(t.Tags) > 0 || t.ID != "" || t.Name != "" || t.Owner != "" {
				errs = append(errs, field.Invalid(p, t.Alias, "alias cannot be combined with tags, id, name or owner"))
			}
			family, version, ok := strings.Cut(t.Alias, "@")
			if !ok || (family != "al2" && family != "al2023" && family != "bottlerocket") || version == "" || (version != "latest" && !strings.HasPrefix(version, "v")) {
				errs = append(errs, field.Invalid(p.Child("alias"), t.Alias, "must be family@version: al2, al2023 or bottlerocket at latest or v<date>"))
			}
		case t.ID != "":
			if len(t.Tags) > 0 || t.Name != "" || t.Owner != "" {
				errs = append(errs, field.Invalid(p, t.ID, "id cannot be combined with tags, name or owner"))
			}
		case len(t.Tags) == 0 && t.Name == "":
			errs = append(errs, field.Required(p, "set one of alias, tags, id and name"))
		}
	}
	if alias && len(s.AMISelectorTerms) > 1 {
		errs = append(errs, field.Invalid(amis, len(s.AMISelectorTerms), "an alias term must be the only term"))
	}
	if !alias && s.AMIFamily == nil {
		errs = append(errs, field.Required(spec.Child("amiFamily"), "required unless an amiSelectorTerm has an alias"))
	}
	if (s.Role == "") == (s.InstanceProfile == nil) {
		errs = append(errs, field.Invalid(spec.Child("role"), s.Role, "set exactly one of role and instanceProfile"))
	}
	for k := range s.Tags {
		if k == provisionerv1.LabelNodePool || k == provisionerv1.LabelNodeClaim || k == "eks:eks-cluster-name" || strings.HasPrefix(k, "kubernetes.io/cluster/") {
			errs = append(errs, field.Invalid(spec.Child("tags").Key(k), k, "is set by Tailor"))
		}
	}
	roots := 0
	for i, b := range s.BlockDeviceMappings {
		p := spec.Child("blockDeviceMappings").Index(i)
		if b.RootVolume != nil && *b.RootVolume {
			roots++
		}
		// The float first: an exponent like 1e1215752202 takes hours to Cmp.
		if v := b.EBS.VolumeSize; v != nil && (!(v.AsApproximateFloat64() >= 1<<29 && v.AsApproximateFloat64() <= 1<<47) || v.Cmp(resourceQ("1Gi")) < 0 || v.Cmp(resourceQ("64Ti")) > 0) {
			errs = append(errs, field.Invalid(p.Child("ebs", "volumeSize"), v.String(), "must be between 1Gi and 64Ti"))
		}
	}
	if roots > 1 {
		errs = append(errs, field.Invalid(spec.Child("blockDeviceMappings"), roots, "at most one block device may be the root volume"))
	}
	if mo := s.MetadataOptions; mo != nil && mo.HTTPTokens != nil && *mo.HTTPTokens != "required" && *mo.HTTPTokens != "optional" {
		errs = append(errs, field.NotSupported(spec.Child("metadataOptions", "httpTokens"), *mo.HTTPTokens, []string{"required", "optional"}))
	}
	if k := s.Kubelet; k != nil {
		kp := spec.Child("kubelet")
		errs = append(errs, quantities(k.KubeReserved, kp.Child("kubeReserved"), "cpu", "memory", "ephemeral-storage", "pid")...)
		errs = append(errs, quantities(k.SystemReserved, kp.Child("systemReserved"), "cpu", "memory", "ephemeral-storage", "pid")...)
		signals := []string{"memory.available", "nodefs.available", "nodefs.inodesFree", "imagefs.available", "imagefs.inodesFree", "pid.available"}
		errs = append(errs, thresholds(k.EvictionHard, kp.Child("evictionHard"), signals)...)
		errs = append(errs, thresholds(k.EvictionSoft, kp.Child("evictionSoft"), signals)...)
		for sig := range k.EvictionSoft {
			if _, ok := k.EvictionSoftGracePeriod[sig]; !ok {
				errs = append(errs, field.Required(kp.Child("evictionSoftGracePeriod").Key(sig), "every evictionSoft signal needs a grace period"))
			}
		}
		if k.ImageGCHighThresholdPercent != nil && k.ImageGCLowThresholdPercent != nil && *k.ImageGCHighThresholdPercent <= *k.ImageGCLowThresholdPercent {
			errs = append(errs, field.Invalid(kp.Child("imageGCHighThresholdPercent"), *k.ImageGCHighThresholdPercent, "must be greater than imageGCLowThresholdPercent"))
		}
	}
	return errs
}

func quantities(m map[string]string, path *field.Path, keys ...string) field.ErrorList {
	var errs field.ErrorList
	for k, v := range m {
		if !slices.Contains(keys, k) {
			errs = append(errs, field.NotSupported(path.Key(k), k, keys))
			continue
		}
		q, err := parseQuantity(v)
		if err != nil || q.Sign() < 0 {
			errs = append(errs, field.Invalid(path.Key(k), v, "must be a non-negative quantity"))
		}
	}
	return errs
}

// thresholds accept a quantity ("100Mi") or a percentage ("10%").
func thresholds(m map[string]string, path *field.Path, signals []string) field.ErrorList {
	var errs field.ErrorList
	for k, v := range m {
		if !slices.Contains(signals, k) {
			errs = append(errs, field.NotSupported(path.Key(k), k, signals))
			continue
		}
		if p, ok := strings.CutSuffix(v, "%"); ok {
			if f, err := strconv.ParseFloat(p, 64); err != nil || f < 0 || f > 100 {
				errs = append(errs, field.Invalid(path.Key(k), v, "must be a percentage from 0% to 100%"))
			}
			continue
		}
		if q, err := parseQuantity(v); err != nil || q.Sign() < 0 {
			errs = append(errs, field.Invalid(path.Key(k), v, "must be a quantity or a percentage"))
		}
	}
	return errs
}

// NodeClaim validates a NodeClaim's spec (made by Tailor, or by hand to
// launch a node directly).
func NodeClaim(nc *provisionerv1.NodeClaim) field.ErrorList {
	spec := field.NewPath("spec")
	var errs field.ErrorList
	errs = append(errs, Requirements(nc.Spec.Requirements, spec.Child("requirements"), false)...)
	errs = append(errs, taints(nc.Spec.Taints, spec.Child("taints"))...)
	errs = append(errs, taints(nc.Spec.StartupTaints, spec.Child("startupTaints"))...)
	errs = append(errs, nillable(nc.Spec.ExpireAfter, spec.Child("expireAfter"))...)
	if nc.Spec.NodeClassRef != nil {
		errs = append(errs, nodeClassRef(nc.Spec.NodeClassRef, spec.Child("nodeClassRef"))...)
	}
	for name, q := range nc.Spec.Resources.Requests {
		if q.Sign() < 0 {
			errs = append(errs, field.Invalid(spec.Child("resources", "requests").Key(string(name)), q.String(), "must not be negative"))
		}
	}
	return errs
}
