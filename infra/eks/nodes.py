"""The managed node group and its launch template: private subnets, IMDSv2 only with a hop limit
of 1, encrypted gp3 root volumes with a key of their own that EC2 Auto Scaling may use."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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
    account_id: pulumi.Input[str]
    """Account of the cluster: the node-volume key's policy names its root and its EC2 Auto
    Scaling service-linked role. From EksClusterArgs. Required."""
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
    volume_key: aws.kms.Key


def volume_key_policy(account_id: str) -> dict[str, Any]:
    """The node-volume key's policy. A managed node group launches its instances through EC2 Auto
    Scaling, which encrypts their volumes as its service-linked role: a customer managed key
    must let that role use it and create grants for the attached volumes, or no node launches
    (EC2 Auto Scaling User Guide, "Required AWS KMS key policy for use with encrypted
    volumes"). A key of its own, so that this grant does not widen the key of the secrets."""
    autoscaling = (
        f"arn:aws:iam::{account_id}:role/aws-service-role/autoscaling.amazonaws.com/"
        "AWSServiceRoleForAutoScaling"
    )
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountRootAdministersAndDelegatesToIam",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "AutoScalingServiceLinkedRoleUsesTheKey",
                "Effect": "Allow",
                "Principal": {"AWS": autoscaling},
                "Action": [
                    "kms:Encrypt",
                    "kms:Decrypt",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:DescribeKey",
                ],
                "Resource": "*",
            },
            {
                "Sid": "AutoScalingServiceLinkedRoleAttachesVolumes",
                "Effect": "Allow",
                "Principal": {"AWS": autoscaling},
                "Action": "kms:CreateGrant",
                "Resource": "*",
                "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
            },
        ],
    }


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
    volume_key = aws.kms.Key(
        f"{name}-node-volumes",
        description=f"notes {args.environment}: EKS node root volumes",
        enable_key_rotation=True,
        deletion_window_in_days=30,
        policy=pulumi.Output.from_input(args.account_id).apply(lambda a: json.dumps(volume_key_policy(a))),
        opts=child,
    )
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
                    kms_key_id=volume_key.arn,
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
    return Nodes(group=group, launch_template=template, role_arn=role.arn, volume_key=volume_key)
