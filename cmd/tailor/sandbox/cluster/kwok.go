package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// Annotations that set a kwok pod's simulated usage, read by the
// usage-from-annotation ClusterResourceUsage and so by metrics-server.
const (
	UsageCPUAnnotation    = "kwok.x-k8s.io/usage-cpu"
	UsageMemoryAnnotation = "kwok.x-k8s.io/usage-memory"
)

// kwokOptions is a complete KwokConfiguration: kwok does not default a
// partial one (zero parallelism makes it exit). Stages, usage and metrics are
// loaded from files, so no kwok CRDs are enabled.
const kwokOptions = `apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options:
  enableProfilingHandler: false
  enableContentionProfiling: false
  enablePodsOnNodeSyncListPager: false
  enablePodsOnNodeSyncStreamWatch: true
  nodeLeaseParallelism: 4
  podPlayStageParallelism: 4
  nodePlayStageParallelism: 4
  nodePort: %d
  cidr: 10.244.0.0/16
  nodeIP: 127.0.0.1
  manageAllNodes: false
  manageNodesWithAnnotationSelector: kwok.x-k8s.io/node=fake
  manageNodesWithLabelSelector: ''
  manageSingleNode: ''
  nodeLeaseDurationSeconds: 40
`

// kwokPodResources plays the part of a kubelet that supports in-place resize
// (Kubernetes >= 1.33): whenever a running pod's generation moves past what
// its status observed (creation, a pods/resize patch), it reports each
// container's spec resources as running and allocated, and the generation
// as observed. Stock kwok never fills containerStatuses[].resources, and the
// API server refuses every resize of a running pod without them ("Pod
// running on node without support for resize"). The resize is acknowledged
// at once: no PodResizePending or PodResizeInProgress condition appears.
const kwokPodResources = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-resources
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Running'
    - key: '(.metadata.generation // 1) != (.status.observedGeneration // 0)'
      operator: 'In'
      values:
      - 'true'
  next:
    statusTemplate: |
      {{ $root := . }}
      observedGeneration: {{ or .metadata.generation 1 }}
      containerStatuses:
      {{ range $index, $item := .spec.containers }}
      {{ $origin := index $root.status.containerStatuses $index }}
      {{ $_ := set $origin "resources" (or $item.resources dict) }}
      {{ $_ := set $origin "allocatedResources" (or $item.resources.requests dict) }}
      - {{ $origin | toJson }}
      {{ end }}
`

func writeKwokConfig(dir string, bins Binaries, port int) (string, error) {
	docs := []string{fmt.Sprintf(kwokOptions, port), kwokPodResources}
	for _, m := range kwokManifests {
		data, err := os.ReadFile(filepath.Join(bins.StagesDir(), filepath.Base(m)))
		if err != nil {
			return "", fmt.Errorf("kwok manifest: %w", err)
		}
		docs = append(docs, strings.TrimPrefix(string(data), "---\n"))
	}
	path := filepath.Join(dir, "kwok.yaml")
	return path, os.WriteFile(path, []byte(strings.Join(docs, "\n---\n")), 0o644)
}

// NodeOptions describe a kwok node.
type NodeOptions struct {
	Name   string
	CPU    string // e.g. "4"
	Memory string // e.g. "16Gi"
	Pods   int    // default 110
	Labels map[string]string
	Taints []corev1.Taint
}

// AddNode creates a kwok-managed Node and waits until it is Ready and
// schedulable.
func (c *Cluster) AddNode(ctx context.Context, o NodeOptions) (*corev1.Node, error) {
	if o.Pods == 0 {
		o.Pods = 110
	}
	capacity := corev1.ResourceList{corev1.ResourcePods: *resource.NewQuantity(int64(o.Pods), resource.DecimalSI)}
	for name, v := range map[corev1.ResourceName]string{corev1.ResourceCPU: o.CPU, corev1.ResourceMemory: o.Memory} {
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return nil, fmt.Errorf("node %s: %s %q: %w", o.Name, name, v, err)
		}
		capacity[name] = q
	}
	labels := map[string]string{
		"kubernetes.io/hostname": o.Name,
		"kubernetes.io/os":       "linux",
		"kubernetes.io/arch":     "amd64",
		"type":                   "kwok",
	}
	for k, v := range o.Labels {
		labels[k] = v
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:   o.Name,
			Labels: labels,
			Annotations: map[string]string{
				"kwok.x-k8s.io/node": "fake",
				// metrics-server scrapes this path on kwok's kubelet port.
				"metrics.k8s.io/resource-metrics-path": "/metrics/nodes/" + o.Name + "/metrics/resource",
			},
		},
		Spec:   corev1.NodeSpec{Taints: o.Taints},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
	cs := c.Clientset()
	if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	var ready *corev1.Node
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		n, err := cs.CoreV1().Nodes().Get(ctx, o.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		ready = n
		return NodeSchedulable(n), nil
	})
	if err != nil {
		return nil, fmt.Errorf("node %s not ready: %w", o.Name, err)
	}
	return ready, nil
}

// NodeSchedulable: Ready, and the not-ready taint that every new Node gets
// has been removed by the node lifecycle controller.
func NodeSchedulable(n *corev1.Node) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable {
			return false
		}
	}
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}
