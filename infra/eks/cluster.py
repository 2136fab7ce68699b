"""The EKS control plane: private endpoint, secrets envelope-encrypted with our key, every
control-plane log type to an encrypted log group made before the cluster, access entries (API
authentication mode) for the admins, pinned core add-ons, and the managed node group
(``infra.eks.nodes``)."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.eks.insights import INSIGHTS_ADDON_VERSION, container_insights
from infra.eks.nodes import NodesArgs, node_group
from infra.eks.provider import kubernetes_provider
from infra.log_retention import LOG_RETENTION_DAYS

# Every control-plane log type EKS offers (EKS API LogSetup.types; CloudFormation
# AWS::EKS::Cluster LoggingTypeConfig "Allowed values: api | audit | authenticator |
# controllerManager | scheduler").
LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")

# Managed add-on versions, pinned so that a plan never depends on a live lookup; bump them with
# the cluster version. vpc-cni, kube-proxy and coredns are the EKS add-on versions the EKS User
# Guide lists for Kubernetes 1.33 (managing-vpc-cni, managing-kube-proxy, managing-coredns
# "versions" tables). The Pod Identity agent's page lists no versions: confirm it with
# `aws eks describe-addon-versions --addon-name eks-pod-identity-agent --kubernetes-version 1.33`
# (EKS API DescribeAddonVersions) before a first deploy.
DEFAULT_ADDON_VERSIONS: Mapping[str, str] = {
    "vpc-cni": "v1.20.1-eksbuild.3",
    "kube-proxy": "v1.33.5-eksbuild.2",
    "coredns": "v1.12.4-eksbuild.1",
    "eks-pod-identity-agent": "v1.3.7-eksbuild.2",
}
CORE_ADDONS = frozenset(DEFAULT_ADDON_VERSIONS)
# Nodes turn Ready only once a CNI runs on them, so the CNI and kube-proxy (DaemonSets) go in
# before the node group; CoreDNS (a Deployment) and the Pod Identity agent need nodes to report
# healthy, so they wait for it.
BEFORE_NODES = ("vpc-cni", "kube-proxy")
ADDON_VERSION = re.compile(r"^v\d+\.\d+\.\d+-eksbuild\.\d+$")
KUBERNETES_VERSION = re.compile(r"^1\.\d{2}$")
CAPACITY_TYPES = ("ON_DEMAND", "SPOT")
PRINCIPAL_ARN = re.compile(r"^arn:aws[\w-]*:iam::\d{12}:(role|user)/.+$")
ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
CLUSTER_POLICY = "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"


def cluster_name(environment: str) -> str:
    return f"notes-{environment}"


def control_plane_log_group_name(environment: str) -> str:
    """The group EKS writes control-plane logs to, ``/aws/eks/<cluster>/cluster`` (EKS User
    Guide, control-plane-logs: "logs are sent as log streams to a group for each Amazon EKS
    cluster"; terraform-aws-modules/terraform-aws-eks ``cluster.tf`` makes the same group, with
    its KMS key and retention, before ``aws_eks_cluster``). Made by us first, or EKS creates it
    itself on first write, without our key and with no retention."""
    return f"/aws/eks/{cluster_name(environment)}/cluster"


@dataclass(frozen=True)
class EksClusterArgs:
    """The cluster, its nodes and its add-ons."""

    environment: str
    """Environment name, part of every AWS-side name. From config `environment`. Required."""
    region: str
    """Region of the stack: the exec credential's ``--region``. From config `aws:region`.
    Required."""
    account_id: str
    """Account the cluster lives in (12 digits). Set by the stack from the caller identity.
    Required."""
    kubernetes_version: str
    """Kubernetes minor version, ``1.NN``; the add-on versions must match it. From config
    `eksKubernetesVersion`. Required."""
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Private subnets of the control plane's network interfaces and of the nodes. Set by the
    stack from Network's private subnets. Required."""
    vpc_id: pulumi.Input[str]
    """VPC of those subnets. Set by the stack from Network. Required."""
    secrets_kms_key_arn: pulumi.Input[str]
    """KMS key that envelope-encrypts Kubernetes Secrets (the nodes' volumes have a key of their
    own, ``infra.eks.nodes``). Set by the stack from Keys (``secrets``). Required."""
    logs_kms_key_arn: pulumi.Input[str]
    """KMS key of the control-plane log group. Set by the stack from Keys (``logs``). Required."""
    node_instance_types: Sequence[str]
    """EC2 instance types of the managed node group (several help Spot). From config
    `eksNodeInstanceTypes`. Required."""
    node_min_size: int
    """Node group minimum. From config `eksNodeMinSize`. Required."""
    node_desired_size: int
    """Nodes when the group is created (between min and max). From config `eksNodeDesiredSize`.
    Required."""
    node_max_size: int
    """Node group maximum. From config `eksNodeMaxSize`. Required."""
    log_retention_days: int = 30
    """Control-plane log retention, days (a value CloudWatch accepts). From config
    `eksLogRetentionDays`. Default 30."""
    public_access_cidrs: Sequence[str] = ()
    """CIDRs allowed to reach a public API endpoint. Default none: no public endpoint at all,
    the API is reachable only inside the VPC. 0.0.0.0/0 is refused. From config
    `eksPublicAccessCidrs`."""
    capacity_type: str = "ON_DEMAND"
    """``ON_DEMAND`` or ``SPOT``. From config `eksCapacityType`. Default ON_DEMAND."""
    admin_principal_arns: Sequence[str] = ()
    """IAM roles or users given cluster-admin through access entries. Default none (nobody can
    use kubectl; the cluster creator gets no implicit admin). From config `eksAdminPrincipals`."""
    node_volume_size_gib: int = 20
    """Root volume of each node, GiB (gp3, encrypted). From config `eksNodeVolumeSizeGib`.
    Default 20."""
    addon_versions: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_ADDON_VERSIONS))
    """Core add-on name -> pinned version (vpc-cni, kube-proxy, coredns,
    eks-pod-identity-agent; all four required). Default DEFAULT_ADDON_VERSIONS."""
    insights_addon_version: str = INSIGHTS_ADDON_VERSION
    """Pinned version of the CloudWatch Observability add-on (Container Insights, the metrics the
    EKS alarms read). Default INSIGHTS_ADDON_VERSION (``infra.eks.insights``)."""


def check_args(args: EksClusterArgs) -> None:
    """Refuse arguments AWS would reject at `pulumi up`, or that would weaken the cluster."""
    if not KUBERNETES_VERSION.match(args.kubernetes_version):
        raise ValueError(f"EksCluster: kubernetes_version {args.kubernetes_version!r} must look like '1.33'")
    if not re.fullmatch(r"\d{12}", args.account_id):
        raise ValueError(f"EksCluster: account_id {args.account_id!r} must be 12 digits")
    if args.log_retention_days not in LOG_RETENTION_DAYS:
        raise ValueError(
            f"EksCluster: log_retention_days {args.log_retention_days} is not a CloudWatch retention;"
            f" use one of {LOG_RETENTION_DAYS}"
        )
    for cidr in args.public_access_cidrs:
        try:
            network = ipaddress.ip_network(cidr)
        except ValueError as error:
            raise ValueError(f"EksCluster: public_access_cidrs entry {cidr!r} is not a CIDR") from error
        if network.prefixlen == 0:
            raise ValueError(
                f"EksCluster: public_access_cidrs entry {cidr!r} opens the API to the internet;"
                " list the operators' CIDRs, or none for a private endpoint"
            )
    _check_nodes(args)
    _check_addons(args)


def _check_nodes(args: EksClusterArgs) -> None:
    if args.capacity_type not in CAPACITY_TYPES:
        raise ValueError(f"EksCluster: capacity_type {args.capacity_type!r} must be one of {CAPACITY_TYPES}")
    if not args.node_instance_types:
        raise ValueError("EksCluster: node_instance_types needs at least one instance type")
    if not 0 <= args.node_min_size <= args.node_desired_size <= args.node_max_size or args.node_max_size < 1:
        raise ValueError(
            "EksCluster: node sizes must satisfy 0 <= node_min_size <= node_desired_size <= node_max_size"
            f" and node_max_size >= 1 (got min {args.node_min_size}, desired {args.node_desired_size},"
            f" max {args.node_max_size})"
        )
    for arn in args.admin_principal_arns:
        if not PRINCIPAL_ARN.match(arn):
            raise ValueError(f"EksCluster: admin_principal_arns entry {arn!r} is not an IAM role or user ARN")
    if args.node_volume_size_gib < 20:
        raise ValueError("EksCluster: node_volume_size_gib must be at least 20 (the EKS AMIs' root volume)")


def _check_addons(args: EksClusterArgs) -> None:
    if not ADDON_VERSION.match(args.insights_addon_version):
        raise ValueError(
            f"EksCluster: insights_addon_version {args.insights_addon_version!r} must be an exact version "
            "like 'v6.2.0-eksbuild.1'"
        )
    missing = sorted(CORE_ADDONS - set(args.addon_versions))
    if missing:
        raise ValueError(f"EksCluster: addon_versions lacks {missing}; pin every core add-on")
    for addon, version in args.addon_versions.items():
        if not ADDON_VERSION.match(version):
            raise ValueError(
                f"EksCluster: addon_versions[{addon!r}] {version!r} must be an exact version like"
                " 'v1.20.1-eksbuild.3' (aws eks describe-addon-versions)"
            )


def trust_policy(service: str, actions: Sequence[str] = ("sts:AssumeRole",)) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": list(actions)}],
        }
    )


def vpc_config(args: EksClusterArgs) -> aws.eks.ClusterVpcConfigArgs:
    """Private endpoint always on; the public one only with an allow-list. CreateCluster enables
    public access and disables private access unless told (EKS API Reference, CreateCluster)."""
    public = bool(args.public_access_cidrs)
    return aws.eks.ClusterVpcConfigArgs(
        subnet_ids=args.subnet_ids,
        endpoint_private_access=True,
        endpoint_public_access=public,
        public_access_cidrs=list(args.public_access_cidrs) if public else None,
    )


def access_entries(
    name: str, cluster: pulumi.Input[str], principals: Sequence[str], *, parent: pulumi.Resource
) -> None:
    """Cluster-admin for each principal through an access entry and the EKS admin access policy."""
    for index, principal in enumerate(principals):
        entry = aws.eks.AccessEntry(
            f"{name}-admin-{index}",
            cluster_name=cluster,
            principal_arn=principal,
            type="STANDARD",
            opts=pulumi.ResourceOptions(parent=parent),
        )
        aws.eks.AccessPolicyAssociation(
            f"{name}-admin-{index}-policy",
            cluster_name=cluster,
            principal_arn=principal,
            policy_arn=ADMIN_POLICY,
            access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
            opts=pulumi.ResourceOptions(parent=parent, depends_on=[entry]),
        )


class EksCluster(pulumi.ComponentResource):
    """An EKS cluster the API runs on; see the module docstring."""

    cluster_name: pulumi.Output[str]
    cluster_arn: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    certificate_authority: pulumi.Output[str]
    cluster_security_group_id: pulumi.Output[str]
    node_security_group_id: pulumi.Output[str]
    node_role_arn: pulumi.Output[str]
    provider: pulumi.ProviderResource
    pod_identity_agent: aws.eks.Addon

    def __init__(self, name: str, args: EksClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        check_args(args)
        super().__init__("notes:infra:EksCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-cluster-role",
            name=f"notes-{args.environment}-eks-cluster",
            # sts:TagSession: EKS tags the sessions it starts with the cluster role (the trust
            # policy of the EKS User Guide's cluster-iam-role page).
            assume_role_policy=trust_policy("eks.amazonaws.com", ("sts:AssumeRole", "sts:TagSession")),
            opts=child,
        )
        cluster_policy = aws.iam.RolePolicyAttachment(
            f"{name}-cluster-policy", role=role.name, policy_arn=CLUSTER_POLICY, opts=child
        )
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane-logs",
            name=control_plane_log_group_name(args.environment),
            retention_in_days=args.log_retention_days,
            kms_key_id=args.logs_kms_key_arn,
            opts=child,
        )
        cluster = aws.eks.Cluster(
            f"{name}-cluster",
            name=cluster_name(args.environment),
            version=args.kubernetes_version,
            role_arn=role.arn,
            vpc_config=vpc_config(args),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                resources=["secrets"],
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=args.secrets_kms_key_arn),
            ),
            enabled_cluster_log_types=list(LOG_TYPES),
            # Access entries only: the aws-auth ConfigMap is not read in API mode, and the
            # creator (the deploy role) gets no hidden admin entry (EKS User Guide,
            # grant-k8s-access / access entries).
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API", bootstrap_cluster_creator_admin_permissions=False
            ),
            # The core add-ons are managed add-ons below, pinned; without this EKS would also
            # install unmanaged copies we could not pin.
            bootstrap_self_managed_addons=False,
            # The log group exists before EKS first writes, so EKS never makes its own.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_group, cluster_policy]),
        )
        self.cluster_name = cluster.name
        self.cluster_arn = cluster.arn
        self.endpoint = cluster.endpoint
        self.certificate_authority = cluster.certificate_authority.apply(lambda ca: ca.data or "")
        self.cluster_security_group_id = cluster.vpc_config.apply(lambda v: v.cluster_security_group_id or "")
        # EKS places the control plane and managed nodes in the cluster security group it creates
        # (EKS User Guide, sec-group-reqs; cloudposse/terraform-aws-eks-cluster#139) when the
        # launch template names none, so pods on the nodes use it too.
        self.node_security_group_id = self.cluster_security_group_id

        access_entries(name, cluster.name, args.admin_principal_arns, parent=self)

        def addon(addon_name: str, after: Sequence[pulumi.Resource] = ()) -> aws.eks.Addon:
            return aws.eks.Addon(
                f"{name}-{addon_name}",
                cluster_name=cluster.name,
                addon_name=addon_name,
                addon_version=args.addon_versions[addon_name],
                # A pinned version is the truth: overwrite drift on create and update.
                resolve_conflicts_on_create="OVERWRITE",
                resolve_conflicts_on_update="OVERWRITE",
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(after)),
            )

        early = [addon(a) for a in BEFORE_NODES]
        nodes = node_group(
            name,
            NodesArgs(
                environment=args.environment,
                cluster_name=cluster.name,
                kubernetes_version=args.kubernetes_version,
                subnet_ids=args.subnet_ids,
                account_id=args.account_id,
                instance_types=args.node_instance_types,
                min_size=args.node_min_size,
                desired_size=args.node_desired_size,
                max_size=args.node_max_size,
                capacity_type=args.capacity_type,
                volume_size_gib=args.node_volume_size_gib,
            ),
            parent=self,
            after=early,
        )
        self.node_role_arn = nodes.role_arn
        addon("coredns", [nodes.group])
        self.pod_identity_agent = addon("eks-pod-identity-agent", [nodes.group])
        self.insights = container_insights(
            name, cluster.name, args.insights_addon_version, parent=self, after=[self.pod_identity_agent]
        )
        self.provider = kubernetes_provider(
            f"{name}-k8s",
            cluster_name=cluster.name,
            endpoint=cluster.endpoint,
            certificate_authority=self.certificate_authority,
            region=args.region,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[nodes.group]),
        )
        self.register_outputs(
            {
                "cluster_name": self.cluster_name,
                "endpoint": self.endpoint,
                "node_security_group_id": self.node_security_group_id,
            }
        )
