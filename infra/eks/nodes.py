"""The managed node group and its launch template: private subnets, IMDSv2 only with a hop limit
of 1, encrypted gp3 root volumes with our key."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

# The policies a managed node's role needs (EKS User Guide, create-node-role): join the cluster,
# pull images, and let the VPC CNI (which runs with the node's credentials on the host network)
# manage ENIs.
NODE_POLICIES = (
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
)
# Amazon Linux 2023, the EKS-optimised AMI EKS picks and patches for managed nodes when the
# launch template names no image.
AMI_TYPE = "AL2023_x86_64_STANDARD"
ROOT_DEVICE = "/dev/xvda"
# One hop: the token response cannot leave the node's own network namespace, so pods (one hop
# further, behind their veth) cannot get an IMDSv2 token nor the node role's credentials
# (EC2 User Guide, configuring-instance-metadata-options; EKS best practices "Restrict access to
# the instance profile assigned to the worker node"). Pods get credentials from the EKS Pod
# Identity agent instead, which answers on 169.254.170.23, not on IMDS (EKS User Guide,
# pod-id-agent-setup).
IMDS_HOP_LIMIT = 1


@dataclass(frozen=True)
class NodesArgs:
    """What the node group is made of; filled in by EksCluster from its own arguments."""

    environment: str
    """Environment name, part of the role and template names. From EksClusterArgs. Required."""
    cluster_name: pulumi.Input[str]
    """Cluster the nodes join. Set by EksCluster from its cluster. Required."""
    kubernetes_version: str
    """Kubelet minor version, the cluster's. From EksClusterArgs. Required."""
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Private subnets of the nodes. From EksClusterArgs. Required."""
    volume_kms_key_arn: pulumi.Input[str]
    """KMS key of the root volumes. From EksClusterArgs (``secrets_kms_key_arn``). Required."""
    instance_types: Sequence[str]
    """EC2 instance types. From EksClusterArgs (``node_instance_types``). Required."""
    min_size: int
    """Group minimum. From EksClusterArgs. Required."""
    desired_size: int
    """Nodes at creation. From EksClusterArgs. Required."""
    max_size: int
    """Group maximum. From EksClusterArgs. Required."""
    capacity_type: str
    """``ON_DEMAND`` or ``SPOT``. From EksClusterArgs. Required."""
    volume_size_gib: int
    """Root volume size, GiB. From EksClusterArgs. Required."""


@dataclass(frozen=True)
class Nodes:
    group: aws.eks.NodeGroup
    launch_template: aws.ec2.LaunchTemplate
    role_arn: pulumi.Output[str]


def metadata_options() -> aws.ec2.LaunchTemplateMetadataOptionsArgs:
    return aws.ec2.LaunchTemplateMetadataOptionsArgs(
        http_endpoint="enabled",
        http_tokens="required",
        http_put_response_hop_limit=IMDS_HOP_LIMIT,
    )


def node_group(
    name: str, args: NodesArgs, *, parent: pulumi.Resource, after: Sequence[pulumi.Resource]
) -> Nodes:
    """The node role, the launch template and the group, as children of ``parent``."""
    child = pulumi.ResourceOptions(parent=parent)
    role = aws.iam.Role(
        f"{name}-node-role",
        name=f"notes-{args.environment}-eks-node",
        assume_role_policy=(
            '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
            '"Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
        ),
        opts=child,
    )
    attachments = [
        aws.iam.RolePolicyAttachment(
            f"{name}-node-{policy.rsplit('/', 1)[1]}", role=role.name, policy_arn=policy, opts=child
        )
        for policy in NODE_POLICIES
    ]
    template = aws.ec2.LaunchTemplate(
        f"{name}-nodes",
        name_prefix=f"notes-{args.environment}-eks-node-",
        # No image and no security groups: EKS fills in its AMI for AMI_TYPE and the cluster
        # security group, and keeps patching the AMI (EKS User Guide, launch-templates).
        metadata_options=metadata_options(),
        block_device_mappings=[
            aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name=ROOT_DEVICE,
                ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                    volume_size=args.volume_size_gib,
                    volume_type="gp3",
                    encrypted="true",
                    kms_key_id=args.volume_kms_key_arn,
                    delete_on_termination="true",
                ),
            )
        ],
        update_default_version=True,
        opts=child,
    )
    group = aws.eks.NodeGroup(
        f"{name}-nodes",
        cluster_name=args.cluster_name,
        node_group_name_prefix=f"notes-{args.environment}-",
        node_role_arn=role.arn,
        subnet_ids=args.subnet_ids,
        version=args.kubernetes_version,
        ami_type=AMI_TYPE,
        capacity_type=args.capacity_type,
        instance_types=list(args.instance_types),
        scaling_config=aws.eks.NodeGroupScalingConfigArgs(
            min_size=args.min_size, desired_size=args.desired_size, max_size=args.max_size
        ),
        update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
        launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
            id=template.id, version=template.latest_version.apply(str)
        ),
        opts=pulumi.ResourceOptions(
            parent=parent,
            depends_on=[*attachments, *after],
            # Autoscaling owns the desired size once the group exists.
            ignore_changes=["scalingConfig.desiredSize"],
        ),
    )
    return Nodes(group=group, launch_template=template, role_arn=role.arn)
