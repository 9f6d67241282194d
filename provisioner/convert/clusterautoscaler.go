package convert

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/validation"
)

// CAResult is what ClusterAutoscaler made: the NodePool, the tailor run
// flags that carry the rest, and notes on what did not carry over.
type CAResult struct {
	NodePool *provisionerv1.NodePool
	// Flags for `tailor run` (e.g. --asg-expander=least-waste).
	Flags []string
	Notes []string
}

// caExpanders maps Cluster Autoscaler's expanders to --asg-expander's.
var caExpanders = map[string]string{"least-waste": "least-waste", "price": "price", "priority": "priority", "random": "random"}

// caIgnored are flags whose meaning Tailor has built in or that concern
// only how the Cluster Autoscaler process runs: nothing to carry, nothing
// lost.
var caIgnored = map[string]bool{
	"cloud-provider": true,                                               // Tailor's --cloud=asg
	"v":              true, "logtostderr": true, "stderrthreshold": true, // logging
	"kubeconfig": true, "leader-elect": true, "namespace": true, "address": true, // the process's own
	"aws-use-static-instance-list": true, // Tailor reads instance types from EC2, its catalogue as fallback
}

// ClusterAutoscaler converts a Cluster Autoscaler set-up on AWS — its
// command line, as flags in text or the container of its Deployment — into
// a NodePool over the same Auto Scaling groups: --nodes groups by name,
// --node-group-auto-discovery=asg:tag=… by tags, the scale-down settings
// as the pool's disruption. name is the pool's name.
func ClusterAutoscaler(data []byte, name string) (*CAResult, error) {
	args, err := caArgs(data)
	if err != nil {
		return nil, err
	}
	r := &CAResult{}
	np := &provisionerv1.NodePool{
		TypeMeta:   metav1.TypeMeta{APIVersion: provisionerv1.GroupVersion.String(), Kind: "NodePool"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
	}
	asgs := &provisionerv1.AutoScalingGroups{}
	// CA's defaults: scale-down on, 10 minutes unneeded.
	scaleDown, unneeded := true, 10*time.Minute
	seen := map[string]bool{}
	for _, a := range args {
		k, v, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		seen[k] = true
		switch k {
		case "nodes":
			// MIN:MAX:NAME
			parts := strings.SplitN(v, ":", 3)
			if len(parts) != 3 || parts[2] == "" {
				return nil, fmt.Errorf("--nodes=%s: want MIN:MAX:NAME", v)
			}
			asgs.Names = append(asgs.Names, parts[2])
			r.Notes = append(r.Notes, fmt.Sprintf("--nodes=%s: Tailor takes the group's min and max from the group itself (set them to %s and %s on the Auto Scaling group if they differ)", v, parts[0], parts[1]))
		case "node-group-auto-discovery":
			spec, ok := strings.CutPrefix(v, "asg:tag=")
			if !ok {
				return nil, fmt.Errorf("--node-group-auto-discovery=%s: only asg:tag=… is AWS's form", v)
			}
			tags := map[string]string{}
			for _, kv := range strings.Split(spec, ",") {
				tk, tv, ok := strings.Cut(kv, "=")
				if !ok {
					tv = "*" // CA: a key alone matches any value
				}
				if tk == "" {
					return nil, fmt.Errorf("--node-group-auto-discovery=%s: empty tag key", v)
				}
				tags[tk] = tv
			}
			asgs.SelectorTerms = append(asgs.SelectorTerms, provisionerv1.AutoScalingGroupSelectorTerm{Tags: tags})
		case "expander":
			var chain []string
			for _, e := range strings.Split(v, ",") {
				if t, ok := caExpanders[e]; ok {
					chain = append(chain, t)
				} else {
					r.Notes = append(r.Notes, fmt.Sprintf("--expander=%s: Tailor has no %q expander (it has price, least-waste, priority and random)", v, e))
				}
			}
			if len(chain) > 0 {
				r.Flags = append(r.Flags, "--asg-expander="+strings.Join(chain, ","))
			}
		case "max-node-provision-time":
			// CA gives a scale-up this long for the node to come; Tailor
			// splits it: the instance showing in the group, then its Node
			// registering. Both get CA's bound.
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return nil, fmt.Errorf("--max-node-provision-time=%s: want a positive duration", v)
			}
			r.Flags = append(r.Flags, "--asg-launch-timeout="+d.String(), "--provisioner-registration-timeout="+d.String())
		case "scale-down-enabled":
			scaleDown = !hasValue || v == "true"
		case "scale-down-unneeded-time":
			d, err := time.ParseDuration(v)
			if err != nil {
				return nil, fmt.Errorf("--scale-down-unneeded-time=%s: %w", v, err)
			}
			unneeded = d
		case "scale-down-utilization-threshold":
			r.Notes = append(r.Notes, fmt.Sprintf("--scale-down-utilization-threshold=%s: Tailor consolidates a node when its pods fit elsewhere or on a cheaper node, whatever its utilisation; set spec.disruption.minimumSavings to make moves pay for themselves", v))
		default:
			if caIgnored[k] {
				continue
			}
			r.Notes = append(r.Notes, fmt.Sprintf("--%s: no Tailor equivalent; not carried over", strings.TrimLeft(a, "-")))
		}
	}
	if len(asgs.Names) == 0 && len(asgs.SelectorTerms) == 0 {
		return nil, fmt.Errorf("no node groups: the command line has neither --nodes nor --node-group-auto-discovery=asg:tag=…")
	}
	if !seen["expander"] {
		// CA's default expander is random; Tailor's default chain
		// (price, then least-waste) is kept.
		r.Notes = append(r.Notes, "no --expander (CA's default is random): Tailor's default --asg-expander=price,least-waste applies")
	}
	np.Spec.AutoScalingGroups = asgs
	np.Spec.Disruption.ConsolidationPolicy = provisionerv1.ConsolidationPolicyWhenEmptyOrUnderutilized
	if scaleDown {
		np.Spec.Disruption.ConsolidateAfter = provisionerv1.NillableDuration(unneeded.String())
	} else {
		np.Spec.Disruption.ConsolidateAfter = provisionerv1.Never
	}
	if errs := validation.NodePool(np); len(errs) > 0 {
		return nil, fmt.Errorf("the converted NodePool is not valid: %w", errs.ToAggregate())
	}
	r.NodePool = np
	slices.Sort(r.Notes)
	return r, nil
}

// caArgs finds the command line: a Deployment's (or a Pod's) container
// whose command names cluster-autoscaler, or flags as plain text.
func caArgs(data []byte) ([]string, error) {
	text := strings.TrimSpace(string(data))
	if text == "" {
		return nil, fmt.Errorf("empty input")
	}
	if strings.HasPrefix(text, "-") {
		var args []string
		for _, f := range strings.Fields(text) {
			if f != "\\" {
				args = append(args, f)
			}
		}
		return flagsOnly(args)
	}
	docs, err := documents(data)
	if err != nil {
		return nil, err
	}
	for _, doc := range docs {
		var o struct {
			Kind string `json:"kind"`
			Spec struct {
				Containers []caContainer `json:"containers"`
				Template   struct {
					Spec struct {
						Containers []caContainer `json:"containers"`
					} `json:"spec"`
				} `json:"template"`
			} `json:"spec"`
		}
		if err := json.Unmarshal(doc, &o); err != nil {
			return nil, err
		}
		for _, c := range append(o.Spec.Containers, o.Spec.Template.Spec.Containers...) {
			cmd := append(append([]string{}, c.Command...), c.Args...)
			if slices.ContainsFunc(cmd, func(s string) bool { return strings.Contains(s, "cluster-autoscaler") }) {
				return flagsOnly(cmd)
			}
		}
	}
	return nil, fmt.Errorf("no cluster-autoscaler container found (give its Deployment, or its flags as text)")
}

type caContainer struct {
	Command []string `json:"command"`
	Args    []string `json:"args"`
}

// flagsOnly keeps the --flags of a command line (the program's path and
// "--flag value" pairs joined into --flag=value).
func flagsOnly(cmd []string) ([]string, error) {
	var out []string
	for i := 0; i < len(cmd); i++ {
		a := cmd[i]
		if !strings.HasPrefix(a, "-") {
			continue
		}
		if !strings.Contains(a, "=") && i+1 < len(cmd) && !strings.HasPrefix(cmd[i+1], "-") && !strings.Contains(cmd[i+1], "cluster-autoscaler") {
			a += "=" + cmd[i+1]
			i++
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no flags in the cluster-autoscaler command line")
	}
	return out, nil
}
