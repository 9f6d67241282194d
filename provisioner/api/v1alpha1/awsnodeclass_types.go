package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AWSNodeClass is how Tailor launches an EC2 instance for a NodePool: the
// AMI, subnets, security groups, IAM role, user data, disks, instance
// metadata options and kubelet settings (Karpenter's EC2NodeClass).
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=awsnc,categories=tailor
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Role",type=string,JSONPath=`.spec.role`,priority=1
type AWSNodeClass struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec AWSNodeClassSpec `json:"spec"`
	// +optional
	Status AWSNodeClassStatus `json:"status,omitempty"`
}

// AWSNodeClassList is a list of AWSNodeClasses.
//
// +kubebuilder:object:root=true
type AWSNodeClassList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AWSNodeClass `json:"items"`
}

// AWSNodeClassSpec are the launch settings.
//
// +kubebuilder:validation:XValidation:rule="has(self.role) != has(self.instanceProfile)",message="set exactly one of role and instanceProfile"
// +kubebuilder:validation:XValidation:rule="has(self.amiFamily) || self.amiSelectorTerms.exists(t, has(t.alias))",message="amiFamily is required unless an amiSelectorTerm has an alias"
type AWSNodeClassSpec struct {
	// subnetSelectorTerms find the subnets to launch into; a subnet
	// matching any term is used, and its zone becomes an offering zone.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=30
	// +listType=atomic
	SubnetSelectorTerms []SubnetSelectorTerm `json:"subnetSelectorTerms"`

	// securityGroupSelectorTerms find the security groups of the instances.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=30
	// +listType=atomic
	SecurityGroupSelectorTerms []SecurityGroupSelectorTerm `json:"securityGroupSelectorTerms"`

	// amiSelectorTerms find the AMIs: an alias (family@version, resolved
	// through the public SSM parameters: al2023@latest, al2@v20240807,
	// bottlerocket@latest), or AMIs by id, name or tags. An alias term
	// must be the only term.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=30
	// +listType=atomic
	// +kubebuilder:validation:XValidation:rule="!self.exists(t, has(t.alias)) || self.size() == 1",message="an alias term must be the only amiSelectorTerm"
	AMISelectorTerms []AMISelectorTerm `json:"amiSelectorTerms"`

	// amiFamily decides the user data format and the default block devices
	// (AL2, AL2023, Bottlerocket, Custom). Implied by an alias.
	// +optional
	// +kubebuilder:validation:Enum=AL2;AL2023;Bottlerocket;Custom
	AMIFamily *string `json:"amiFamily,omitempty"`

	// role is the IAM role of the nodes; Tailor makes an instance profile
	// for it. Mutually exclusive with instanceProfile.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	Role string `json:"role,omitempty"`

	// instanceProfile is an existing instance profile to use as is.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	InstanceProfile *string `json:"instanceProfile,omitempty"`

	// userData is merged with the bootstrap user data of the AMI family
	// (MIME multi-part for AL2, NodeConfig for AL2023, TOML for
	// Bottlerocket); with amiFamily Custom it is used as is.
	// +optional
	// +kubebuilder:validation:MaxLength=16384
	UserData *string `json:"userData,omitempty"`

	// tags are put on the instances, volumes and launch templates.
	// +optional
	// +kubebuilder:validation:MaxProperties=50
	// +kubebuilder:validation:XValidation:rule="self.all(k, k != 'tailor.dev/nodepool' && k != 'tailor.dev/nodeclaim' && k != 'eks:eks-cluster-name' && !k.startsWith('kubernetes.io/cluster/'))",message="tags must not set tailor.dev/nodepool, tailor.dev/nodeclaim, eks:eks-cluster-name or kubernetes.io/cluster/*: Tailor sets them"
	Tags map[string]string `json:"tags,omitempty"`

	// blockDeviceMappings are the instance's EBS volumes; unset uses the
	// AMI family's root volume (20Gi gp3, encrypted).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=50
	// +kubebuilder:validation:XValidation:rule="self.filter(b, has(b.rootVolume) && b.rootVolume).size() <= 1",message="at most one block device may be the root volume"
	BlockDeviceMappings []BlockDeviceMapping `json:"blockDeviceMappings,omitempty"`

	// metadataOptions are the instance metadata service settings; the
	// default requires IMDSv2 tokens and a hop limit of 1, so that pods
	// cannot read the node's credentials.
	// +optional
	// +kubebuilder:default={httpEndpoint: enabled, httpProtocolIPv6: disabled, httpPutResponseHopLimit: 1, httpTokens: required}
	MetadataOptions *MetadataOptions `json:"metadataOptions,omitempty"`

	// kubelet overrides the kubelet settings that change what fits on a
	// node (max pods, reservations, eviction thresholds).
	// +optional
	Kubelet *KubeletConfiguration `json:"kubelet,omitempty"`

	// detailedMonitoring turns on 1-minute CloudWatch metrics.
	// +optional
	DetailedMonitoring *bool `json:"detailedMonitoring,omitempty"`
}

// SubnetSelectorTerm selects subnets by tags or by id.
//
// +kubebuilder:validation:XValidation:rule="has(self.tags) != has(self.id)",message="set exactly one of tags and id"
type SubnetSelectorTerm struct {
	// tags a subnet must all carry; the value "*" matches any value.
	// +optional
	// +kubebuilder:validation:MinProperties=1
	// +kubebuilder:validation:MaxProperties=20
	Tags map[string]string `json:"tags,omitempty"`
	// id of a subnet.
	// +optional
	// +kubebuilder:validation:Pattern=`^subnet-[0-9a-z]+$`
	ID string `json:"id,omitempty"`
}

// SecurityGroupSelectorTerm selects security groups by tags, id or name.
//
// +kubebuilder:validation:XValidation:rule="(has(self.tags) ? 1 : 0) + (has(self.id) ? 1 : 0) + (has(self.name) ? 1 : 0) == 1",message="set exactly one of tags, id and name"
type SecurityGroupSelectorTerm struct {
	// tags a security group must all carry; "*" matches any value.
	// +optional
	// +kubebuilder:validation:MinProperties=1
	// +kubebuilder:validation:MaxProperties=20
	Tags map[string]string `json:"tags,omitempty"`
	// id of a security group.
	// +optional
	// +kubebuilder:validation:Pattern=`^sg-[0-9a-z]+$`
	ID string `json:"id,omitempty"`
	// name of a security group.
	// +optional
	// +kubebuilder:validation:MaxLength=255
	Name string `json:"name,omitempty"`
}

// AMISelectorTerm selects AMIs by alias, id, name (with owner) or tags.
//
// +kubebuilder:validation:XValidation:rule="!has(self.alias) || !(has(self.tags) || has(self.id) || has(self.name) || has(self.owner))",message="alias cannot be combined with tags, id, name or owner"
// +kubebuilder:validation:XValidation:rule="has(self.alias) || has(self.tags) || has(self.id) || has(self.name)",message="set one of alias, tags, id and name"
// +kubebuilder:validation:XValidation:rule="!has(self.id) || !(has(self.tags) || has(self.name) || has(self.owner))",message="id cannot be combined with tags, name or owner"
type AMISelectorTerm struct {
	// alias is family@version: al2, al2023 or bottlerocket, at latest or a
	// pinned version (al2023@v20240807).
	// +optional
	// +kubebuilder:validation:MaxLength=30
	// +kubebuilder:validation:Pattern=`^(al2|al2023|bottlerocket)@(latest|v[0-9a-z.]+)$`
	Alias string `json:"alias,omitempty"`
	// tags an AMI must all carry; "*" matches any value.
	// +optional
	// +kubebuilder:validation:MinProperties=1
	// +kubebuilder:validation:MaxProperties=20
	Tags map[string]string `json:"tags,omitempty"`
	// id of an AMI.
	// +optional
	// +kubebuilder:validation:Pattern=`^ami-[0-9a-z]+$`
	ID string `json:"id,omitempty"`
	// name of an AMI; wildcards are allowed as in EC2 filters.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Name string `json:"name,omitempty"`
	// owner of the AMI by name: an account id, self or amazon.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Owner string `json:"owner,omitempty"`
}

// BlockDeviceMapping is one EBS volume of the instance.
type BlockDeviceMapping struct {
	// deviceName is the device name (/dev/xvda).
	// +kubebuilder:validation:MaxLength=64
	DeviceName string `json:"deviceName"`
	// ebs is the volume.
	EBS BlockDevice `json:"ebs"`
	// rootVolume marks the volume the kubelet and containerd use; at most one.
	// +optional
	RootVolume *bool `json:"rootVolume,omitempty"`
}

// BlockDevice is an EBS volume.
type BlockDevice struct {
	// volumeSize of the volume (e.g. 100Gi), 1Gi to 64Ti.
	// +optional
	VolumeSize *resource.Quantity `json:"volumeSize,omitempty"`
	// volumeType of the volume.
	// +optional
	// +kubebuilder:validation:Enum=standard;io1;io2;gp2;gp3;sc1;st1
	VolumeType *string `json:"volumeType,omitempty"`
	// iops for io1, io2 and gp3.
	// +optional
	// +kubebuilder:validation:Minimum=100
	// +kubebuilder:validation:Maximum=256000
	IOPS *int64 `json:"iops,omitempty"`
	// throughput in MiB/s, gp3 only.
	// +optional
	// +kubebuilder:validation:Minimum=125
	// +kubebuilder:validation:Maximum=2000
	Throughput *int64 `json:"throughput,omitempty"`
	// encrypted volume; default true.
	// +optional
	Encrypted *bool `json:"encrypted,omitempty"`
	// kmsKeyID encrypts with this key instead of the account default.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	KMSKeyID *string `json:"kmsKeyID,omitempty"`
	// deleteOnTermination deletes the volume with the instance; default true.
	// +optional
	DeleteOnTermination *bool `json:"deleteOnTermination,omitempty"`
	// snapshotID to create the volume from.
	// +optional
	// +kubebuilder:validation:Pattern=`^snap-[0-9a-z]+$`
	SnapshotID *string `json:"snapshotID,omitempty"`
}

// MetadataOptions are the EC2 instance metadata service settings.
type MetadataOptions struct {
	// httpEndpoint enables the metadata service.
	// +optional
	// +kubebuilder:default=enabled
	// +kubebuilder:validation:Enum=enabled;disabled
	HTTPEndpoint *string `json:"httpEndpoint,omitempty"`
	// httpProtocolIPv6 enables the IPv6 endpoint.
	// +optional
	// +kubebuilder:default=disabled
	// +kubebuilder:validation:Enum=enabled;disabled
	HTTPProtocolIPv6 *string `json:"httpProtocolIPv6,omitempty"`
	// httpPutResponseHopLimit is the IP hop limit of token responses; 1
	// keeps pods (one hop further) from fetching tokens.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=64
	HTTPPutResponseHopLimit *int64 `json:"httpPutResponseHopLimit,omitempty"`
	// httpTokens: required (IMDSv2 only) or optional (IMDSv1 allowed).
	// +optional
	// +kubebuilder:default=required
	// +kubebuilder:validation:Enum=required;optional
	HTTPTokens *string `json:"httpTokens,omitempty"`
}

// KubeletConfiguration are the kubelet settings Tailor must know to
// compute what fits on a node; they are also passed to the kubelet.
//
// +kubebuilder:validation:XValidation:rule="!has(self.imageGCHighThresholdPercent) || !has(self.imageGCLowThresholdPercent) || self.imageGCHighThresholdPercent > self.imageGCLowThresholdPercent",message="imageGCHighThresholdPercent must be greater than imageGCLowThresholdPercent"
type KubeletConfiguration struct {
	// maxPods overrides the ENI-based max pods of the instance type.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	MaxPods *int32 `json:"maxPods,omitempty"`
	// podsPerCore caps pods at this many per vCPU (the lower of the two wins).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	PodsPerCore *int32 `json:"podsPerCore,omitempty"`
	// kubeReserved overrides the EKS kube-reserved formula (cpu, memory,
	// ephemeral-storage, pid).
	// +optional
	// +kubebuilder:validation:MaxProperties=4
	// +kubebuilder:validation:XValidation:rule="self.all(k, k in ['cpu', 'memory', 'ephemeral-storage', 'pid'])",message="kubeReserved keys are cpu, memory, ephemeral-storage and pid"
	KubeReserved map[string]string `json:"kubeReserved,omitempty"`
	// systemReserved reserves resources for the OS (cpu, memory,
	// ephemeral-storage, pid); none by default.
	// +optional
	// +kubebuilder:validation:MaxProperties=4
	// +kubebuilder:validation:XValidation:rule="self.all(k, k in ['cpu', 'memory', 'ephemeral-storage', 'pid'])",message="systemReserved keys are cpu, memory, ephemeral-storage and pid"
	SystemReserved map[string]string `json:"systemReserved,omitempty"`
	// evictionHard thresholds (memory.available: 100Mi by default).
	// +optional
	// +kubebuilder:validation:MaxProperties=6
	// +kubebuilder:validation:XValidation:rule="self.all(k, k in ['memory.available', 'nodefs.available', 'nodefs.inodesFree', 'imagefs.available', 'imagefs.inodesFree', 'pid.available'])",message="evictionHard keys are memory.available, nodefs.available, nodefs.inodesFree, imagefs.available, imagefs.inodesFree and pid.available"
	EvictionHard map[string]string `json:"evictionHard,omitempty"`
	// evictionSoft thresholds, with evictionSoftGracePeriod.
	// +optional
	// +kubebuilder:validation:MaxProperties=6
	// +kubebuilder:validation:XValidation:rule="self.all(k, k in ['memory.available', 'nodefs.available', 'nodefs.inodesFree', 'imagefs.available', 'imagefs.inodesFree', 'pid.available'])",message="evictionSoft keys are memory.available, nodefs.available, nodefs.inodesFree, imagefs.available, imagefs.inodesFree and pid.available"
	EvictionSoft map[string]string `json:"evictionSoft,omitempty"`
	// evictionSoftGracePeriod per evictionSoft signal.
	// +optional
	// +kubebuilder:validation:MaxProperties=6
	EvictionSoftGracePeriod map[string]metav1.Duration `json:"evictionSoftGracePeriod,omitempty"`
	// imageGCHighThresholdPercent is the disk usage that starts image GC.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	ImageGCHighThresholdPercent *int32 `json:"imageGCHighThresholdPercent,omitempty"`
	// imageGCLowThresholdPercent is the disk usage image GC frees down to.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	ImageGCLowThresholdPercent *int32 `json:"imageGCLowThresholdPercent,omitempty"`
	// clusterDNS are the DNS server IPs of pods.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=3
	ClusterDNS []string `json:"clusterDNS,omitempty"`
}

// AWSNodeClassStatus is what the controller resolved from the selectors.
type AWSNodeClassStatus struct {
	// subnets matched by subnetSelectorTerms.
	// +optional
	// +listType=atomic
	Subnets []Subnet `json:"subnets,omitempty"`
	// securityGroups matched by securityGroupSelectorTerms.
	// +optional
	// +listType=atomic
	SecurityGroups []SecurityGroup `json:"securityGroups,omitempty"`
	// amis matched by amiSelectorTerms, with the requirements (arch, …)
	// an instance must meet to boot each.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	AMIs []AMI `json:"amis,omitempty"`
	// instanceProfile used by the instances.
	// +optional
	InstanceProfile string `json:"instanceProfile,omitempty"`
	// conditions: Ready, SubnetsReady, SecurityGroupsReady, AMIsReady,
	// InstanceProfileReady.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Subnet is a resolved subnet.
type Subnet struct {
	ID     string `json:"id"`
	Zone   string `json:"zone"`
	ZoneID string `json:"zoneID,omitempty"`
}

// SecurityGroup is a resolved security group.
type SecurityGroup struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// AMI is a resolved AMI.
type AMI struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	// requirements an instance type must meet to run the AMI.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=10
	Requirements []NodeSelectorRequirementWithMinValues `json:"requirements,omitempty"`
}

// AWSNodeClass condition types (besides ConditionReady).
const (
	ConditionSubnetsReady         = "SubnetsReady"
	ConditionSecurityGroupsReady  = "SecurityGroupsReady"
	ConditionAMIsReady            = "AMIsReady"
	ConditionInstanceProfileReady = "InstanceProfileReady"
)
