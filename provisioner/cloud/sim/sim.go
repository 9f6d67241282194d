// Package sim is the simulated cloud: instances are Nodes that kwok runs
// (it manages Nodes annotated kwok.x-k8s.io/node=fake), created through
// the API server after a launch delay, with EKS's providerID format, the
// well-known labels and the capacity of the built-in EC2 catalogue, three
// zones, spot and on-demand. The sandbox and the e2e suite use it, and so
// can anyone who wants to try NodePools without an AWS account.
//
// Its state (the instances launched, booted or not) is a ConfigMap in
// Tailor's namespace, as EC2's is EC2's: a restarted or newly elected Tailor
// finds the instances its predecessor launched. Faults are injected through
// flags or a second ConfigMap (see Faults).
package sim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	provisionerv1 "github.com/tailor-dev/tailor/provisioner/api/v1alpha1"
	"github.com/tailor-dev/tailor/provisioner/catalog"
	"github.com/tailor-dev/tailor/provisioner/cloud"
	"github.com/tailor-dev/tailor/provisioner/scheduling"
)

// ConfigMap names in Options.Namespace.
const (
	// StateConfigMap holds one entry per instance (its id → JSON).
	StateConfigMap = "tailor-sim-cloud"
	// FaultsConfigMap, when present, adds faults to the flags' (keys
	// FaultInsufficientCapacity and FaultNeverRegister).
	FaultsConfigMap = "tailor-sim-faults"
	// FaultInsufficientCapacity: offerings with no capacity, one pattern
	// per line or comma, type/zone/capacity-type with * for any part
	// ("m5.large/us-east-1a/spot", "c6i.*/*/on-demand").
	FaultInsufficientCapacity = "insufficientCapacity"
	// FaultNeverRegister: how many of the next launches never boot a node
	// (a count the sim decrements as it uses it).
	FaultNeverRegister = "neverRegister"
)

// Options configure the sim cloud.
type Options struct {
	// Namespace of the state and faults ConfigMaps (Tailor's).
	Namespace string
	// LaunchDelay is how long an instance takes to boot and register.
	LaunchDelay time.Duration
	// InsufficientCapacity patterns (see FaultInsufficientCapacity).
	InsufficientCapacity []string
	// Catalog: region, zones and memory overhead of the instance types.
	Catalog catalog.Options
}

// DefaultOptions: us-east-1a–c, nodes 2 s after launch.
func DefaultOptions() Options {
	return Options{Namespace: "tailor-system", LaunchDelay: 2 * time.Second, Catalog: catalog.DefaultOptions()}
}

// Validate reports options the sim cannot run with.
func (o Options) Validate() error {
	if o.LaunchDelay < 0 {
		return fmt.Errorf("sim launch delay must not be negative, got %s", o.LaunchDelay)
	}
	for _, p := range o.InsufficientCapacity {
		if err := validPattern(p); err != nil {
			return err
		}
	}
	return nil
}

// instance is one entry of the state ConfigMap.
type instance struct {
	cloud.Instance
	ID       string
	NodeName string
	// Labels and Taints the node registers with (kubelet --node-labels and
	// --register-with-taints from user data, on a real instance).
	Labels         map[string]string
	Taints         []corev1.Taint
	BootAt         time.Time
	NeverRegisters bool
	Booted         bool
}

// Cloud is the sim backend; Start (leader only) boots launched instances.
type Cloud struct {
	o     Options
	cs    kubernetes.Interface
	log   logr.Logger
	types []*scheduling.InstanceType
	// unavailable offerings, after insufficient-capacity answers.
	unavailable *cloud.Unavailable
	now         func() time.Time

	mu sync.Mutex
	// saveMu orders state writes: each takes its snapshot under it, so the
	// last write is always the newest state (launches run concurrently).
	saveMu    sync.Mutex
	loaded    bool
	instances map[string]*instance // by providerID
	wake      chan struct{}
}

var _ cloud.Provider = &Cloud{}

// New returns the sim cloud writing through cs.
func New(cs kubernetes.Interface, o Options, log logr.Logger) (*Cloud, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	return &Cloud{
		o: o, cs: cs, log: log, types: catalog.InstanceTypes(o.Catalog),
		unavailable: cloud.NewUnavailable(), now: time.Now,
		instances: map[string]*instance{}, wake: make(chan struct{}, 1),
	}, nil
}

// NeedLeaderElection: only the leader launches, so only it boots.
func (c *Cloud) NeedLeaderElection() bool { return true }

// Start boots instances whose launch delay has passed, until ctx ends.
func (c *Cloud) Start(ctx context.Context) error {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		if err := c.boot(ctx); err != nil && ctx.Err() == nil {
			c.log.Error(err, "sim cloud: boot instances")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-c.wake:
		}
	}
}

// InstanceTypes: the whole catalogue, less offerings out of capacity. The
// node class's kubelet maxPods and podsPerCore apply in the aws cloud;
// the sim has one node class' worth of settings (its flags).
func (c *Cloud) InstanceTypes(_ context.Context, _ *provisionerv1.NodePool) ([]*scheduling.InstanceType, error) {
	return c.unavailable.Apply(c.types), nil
}

// Create launches the cheapest offering nc allows that has capacity.
func (c *Cloud) Create(ctx context.Context, nc *provisionerv1.NodeClaim) (*cloud.Instance, error) {
	if err := c.load(ctx); err != nil {
		return nil, err
	}
	faults, neverRegister, err := c.faults(ctx)
	if err != nil {
		return nil, err
	}
	cands, err := cloud.Candidates(nc, c.unavailable.Apply(c.types))
	if err != nil {
		return nil, err
	}
	ice := &cloud.InsufficientCapacityError{}
	for _, cand := range cands {
		off := cand.Offering()
		if matchAny(faults, off) {
			// As CreateFleet does, try the next override.
			c.unavailable.Mark(off)
			ice.Offerings = append(ice.Offerings, off)
			continue
		}
		inst, err := c.launch(ctx, nc, cand, neverRegister > 0)
		if err != nil {
			return nil, err
		}
		inst.InsufficientCapacity = ice.Offerings
		if neverRegister > 0 {
			if err := c.useNeverRegister(ctx, neverRegister-1); err != nil {
				return nil, err
			}
		}
		return inst, nil
	}
	if len(ice.Offerings) == 0 {
		return nil, &cloud.InsufficientCapacityError{}
	}
	return nil, ice
}

func (c *Cloud) launch(ctx context.Context, nc *provisionerv1.NodeClaim, cand cloud.Candidate, never bool) (*cloud.Instance, error) {
	id, err := randomHex(17)
	if err != nil {
		return nil, err
	}
	ip, _ := randomHex(6)
	b, _ := hex.DecodeString(ip)
	now := c.now()
	in := &instance{
		Instance: cloud.Instance{
			ProviderID:   "aws:///" + cand.Offer.Zone + "/i-" + id,
			InstanceType: cand.Type.Name,
			Zone:         cand.Offer.Zone,
			CapacityType: cand.Offer.CapacityType,
			Price:        cand.Offer.Price,
			Capacity:     cand.Type.Capacity,
			Allocatable:  cand.Type.Allocatable,
			NodeClaim:    nc.Name,
			Launched:     now,
		},
		ID:             "i-" + id,
		NodeName:       fmt.Sprintf("ip-10-%d-%d-%d.ec2.internal", b[0], b[1], b[2]),
		Labels:         map[string]string{},
		BootAt:         now.Add(c.o.LaunchDelay),
		NeverRegisters: never,
	}
	for k, v := range cand.Type.Labels {
		in.Labels[k] = v
	}
	in.Labels[provisionerv1.LabelZone] = cand.Offer.Zone
	in.Labels[provisionerv1.LabelCapacityType] = cand.Offer.CapacityType
	in.Labels[provisionerv1.LabelHostname] = in.NodeName
	// Until Tailor has synced the claim's labels and taints, nothing lands.
	in.Taints = append(in.Taints, corev1.Taint{Key: provisionerv1.TaintUnregistered, Effect: corev1.TaintEffectNoExecute})
	in.Taints = append(in.Taints, nc.Spec.Taints...)
	in.Taints = append(in.Taints, nc.Spec.StartupTaints...)
	c.mu.Lock()
	c.instances[in.ProviderID] = in
	c.mu.Unlock()
	if err := c.save(ctx); err != nil {
		c.mu.Lock()
		delete(c.instances, in.ProviderID)
		c.mu.Unlock()
		return nil, err
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
	out := in.Instance
	return &out, nil
}

// Delete terminates the instance and, as the cloud node lifecycle
// controller would once the instance is gone, deletes its Node.
func (c *Cloud) Delete(ctx context.Context, providerID string) error {
	if err := c.load(ctx); err != nil {
		return err
	}
	c.mu.Lock()
	in, ok := c.instances[providerID]
	if ok {
		delete(c.instances, providerID)
	}
	c.mu.Unlock()
	if !ok {
		return &cloud.NotFoundError{ProviderID: providerID}
	}
	if err := c.save(ctx); err != nil {
		c.mu.Lock()
		c.instances[providerID] = in
		c.mu.Unlock()
		return err
	}
	if in.Booted {
		if err := c.cs.CoreV1().Nodes().Delete(ctx, in.NodeName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// Get describes one instance.
func (c *Cloud) Get(ctx context.Context, providerID string) (*cloud.Instance, error) {
	if err := c.load(ctx); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	in, ok := c.instances[providerID]
	if !ok {
		return nil, &cloud.NotFoundError{ProviderID: providerID}
	}
	out := in.Instance
	return &out, nil
}

// List describes every instance.
func (c *Cloud) List(ctx context.Context) ([]*cloud.Instance, error) {
	if err := c.load(ctx); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*cloud.Instance, 0, len(c.instances))
	for _, in := range c.instances {
		i := in.Instance
		out = append(out, &i)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ProviderID < out[j].ProviderID })
	return out, nil
}

// boot creates the Nodes of instances whose delay has passed.
func (c *Cloud) boot(ctx context.Context) error {
	if err := c.load(ctx); err != nil {
		return err
	}
	now := c.now()
	var due []*instance
	c.mu.Lock()
	for _, in := range c.instances {
		if !in.Booted && !in.NeverRegisters && !now.Before(in.BootAt) {
			due = append(due, in)
		}
	}
	c.mu.Unlock()
	if len(due) == 0 {
		return nil
	}
	for _, in := range due {
		if _, err := c.cs.CoreV1().Nodes().Create(ctx, node(in), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("boot %s: %w", in.ID, err)
		}
		c.mu.Lock()
		in.Booted = true
		c.mu.Unlock()
		c.log.V(1).Info("sim instance booted", "instance", in.ID, "node", in.NodeName, "type", in.InstanceType, "zone", in.Zone)
	}
	return c.save(ctx)
}

// node is the Node a booted instance's kubelet registers.
func node(in *instance) *corev1.Node {
	return KwokNode(in.NodeName, in.ProviderID, in.Labels, in.Taints, in.Capacity, in.Allocatable)
}

// KwokNode is a Node that kwok runs as the kubelet of an instance would
// register it (the sim cloud's, and the e2e suite's fake EC2's).
func KwokNode(name, providerID string, labels map[string]string, taints []corev1.Taint, capacity, allocatable corev1.ResourceList) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:   name,
			Labels: labels,
			Annotations: map[string]string{
				"kwok.x-k8s.io/node": "fake",
				// metrics-server scrapes this path on kwok's kubelet port.
				"metrics.k8s.io/resource-metrics-path": "/metrics/nodes/" + name + "/metrics/resource",
			},
		},
		Spec:   corev1.NodeSpec{ProviderID: providerID, Taints: taints},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: allocatable},
	}
}

// load reads the state ConfigMap once per process.
func (c *Cloud) load(ctx context.Context) error {
	c.mu.Lock()
	loaded := c.loaded
	c.mu.Unlock()
	if loaded {
		return nil
	}
	cm, err := c.cs.CoreV1().ConfigMaps(c.o.Namespace).Get(ctx, StateConfigMap, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		c.mu.Lock()
		c.loaded = true
		c.mu.Unlock()
		return nil
	}
	if err != nil {
		return fmt.Errorf("sim cloud state: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, data := range cm.Data {
		in := &instance{}
		if err := json.Unmarshal([]byte(data), in); err != nil {
			return fmt.Errorf("sim cloud state %s: %w", id, err)
		}
		c.instances[in.ProviderID] = in
	}
	c.loaded = true
	return nil
}

// save writes the whole state (one writer: the leader).
func (c *Cloud) save(ctx context.Context) error {
	c.saveMu.Lock()
	defer c.saveMu.Unlock()
	c.mu.Lock()
	data := make(map[string]string, len(c.instances))
	for _, in := range c.instances {
		b, err := json.Marshal(in)
		if err != nil {
			c.mu.Unlock()
			return err
		}
		data[in.ID] = string(b)
	}
	c.mu.Unlock()
	cms := c.cs.CoreV1().ConfigMaps(c.o.Namespace)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: StateConfigMap, Namespace: c.o.Namespace,
		Labels: map[string]string{"app.kubernetes.io/part-of": "tailor"}}, Data: data}
	if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err == nil {
		return nil
	} else if !apierrors.IsNotFound(err) {
		return fmt.Errorf("save sim cloud state: %w", err)
	}
	if _, err := cms.Create(ctx, cm, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("save sim cloud state: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("save sim cloud state: %w", err)
	}
	return nil
}

// faults are the flags' patterns plus the faults ConfigMap's, and the
// never-register count.
func (c *Cloud) faults(ctx context.Context) ([]string, int, error) {
	patterns := c.o.InsufficientCapacity
	cm, err := c.cs.CoreV1().ConfigMaps(c.o.Namespace).Get(ctx, FaultsConfigMap, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return patterns, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("sim cloud faults: %w", err)
	}
	for _, p := range strings.FieldsFunc(cm.Data[FaultInsufficientCapacity], func(r rune) bool { return r == ',' || r == '\n' || r == ' ' }) {
		if validPattern(p) == nil {
			patterns = append(patterns, p)
		} else {
			c.log.Info("sim cloud: ignoring a bad fault pattern", "pattern", p)
		}
	}
	n := 0
	if s := strings.TrimSpace(cm.Data[FaultNeverRegister]); s != "" {
		if n, err = strconv.Atoi(s); err != nil {
			c.log.Info("sim cloud: ignoring a bad neverRegister count", "value", s)
			n = 0
		}
	}
	return patterns, n, nil
}

func (c *Cloud) useNeverRegister(ctx context.Context, left int) error {
	patch := fmt.Sprintf(`{"data":{%q:%q}}`, FaultNeverRegister, strconv.Itoa(left))
	_, err := c.cs.CoreV1().ConfigMaps(c.o.Namespace).Patch(ctx, FaultsConfigMap, "application/merge-patch+json", []byte(patch), metav1.PatchOptions{})
	return err
}

func validPattern(p string) error {
	parts := strings.Split(p, "/")
	if len(parts) != 3 {
		return fmt.Errorf("insufficient-capacity pattern %q: want type/zone/capacity-type (* for any)", p)
	}
	for _, part := range parts {
		if _, err := path.Match(part, ""); err != nil {
			return fmt.Errorf("insufficient-capacity pattern %q: %w", p, err)
		}
	}
	return nil
}

func matchAny(patterns []string, o cloud.Offering) bool {
	for _, p := range patterns {
		parts := strings.Split(p, "/")
		if len(parts) != 3 {
			continue
		}
		if m(parts[0], o.InstanceType) && m(parts[1], o.Zone) && m(parts[2], o.CapacityType) {
			return true
		}
	}
	return false
}

func m(pattern, s string) bool {
	ok, _ := path.Match(pattern, s)
	return ok
}

func randomHex(n int) (string, error) {
	b := make([]byte, (n+1)/2)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b)[:n], nil
}
