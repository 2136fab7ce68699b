"""Container Insights on EKS: the CloudWatch Observability add-on that publishes the pod and
service metrics the EKS alarms and dashboard read (``infra.observability.eks_alarms``). Without
it those metrics never exist and the running-pods alarm, which counts missing data as a breach,
fires from the first day."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from infra.eks.pod_identity import pod_identity_trust_policy

# The add-on's name and the service account its CloudWatch agent runs as (CloudWatch User Guide,
# "Install the CloudWatch agent with the Amazon CloudWatch Observability EKS add-on": namespace
# amazon-cloudwatch, service account cloudwatch-agent).
ADDON_NAME = "amazon-cloudwatch-observability"
NAMESPACE = "amazon-cloudwatch"
SERVICE_ACCOUNT = "cloudwatch-agent"
# Pinned like the core add-ons. The same page names v6.2.0-eksbuild.1 (the first with OTel
# Container Insights); EKS Pod Identity needs 3.1.0 or later ("Quick start with the Amazon
# CloudWatch Observability EKS add-on"). Confirm availability for the cluster's version with
# `aws eks describe-addon-versions --addon-name amazon-cloudwatch-observability`.
INSIGHTS_ADDON_VERSION = "v6.2.0-eksbuild.1"
# What the agent needs to publish metrics and logs (the add-on's documented permission).
AGENT_POLICY = "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"


def container_insights(
    name: str,
    cluster_name: pulumi.Output[str],
    version: str,
    *,
    parent: pulumi.Resource,
    after: Sequence[pulumi.Resource],
) -> aws.eks.Addon:
    """The add-on, with its agent's credentials through EKS Pod Identity: the nodes' hop limit of
    1 keeps pods (the agent's among them) away from the node role on IMDS."""
    child = pulumi.ResourceOptions(parent=parent)
    role = aws.iam.Role(
        f"{name}-insights-agent",
        description="CloudWatch agent of Container Insights (EKS Pod Identity)",
        assume_role_policy=cluster_name.apply(
            lambda cluster: pod_identity_trust_policy(cluster, NAMESPACE, SERVICE_ACCOUNT)
        ),
        opts=child,
    )
    attachment = aws.iam.RolePolicyAttachment(
        f"{name}-insights-agent-policy", role=role.name, policy_arn=AGENT_POLICY, opts=child
    )
    return aws.eks.Addon(
        f"{name}-{ADDON_NAME}",
        cluster_name=cluster_name,
        addon_name=ADDON_NAME,
        addon_version=version,
        pod_identity_associations=[
            aws.eks.AddonPodIdentityAssociationArgs(role_arn=role.arn, service_account=SERVICE_ACCOUNT)
        ],
        resolve_conflicts_on_create="OVERWRITE",
        resolve_conflicts_on_update="OVERWRITE",
        # The agent takes its credentials from the Pod Identity agent and runs on the nodes.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[attachment, *after]),
    )
