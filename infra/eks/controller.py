"""The AWS Load Balancer Controller: its IAM role with the controller's own documented policy,
handed to its pods by EKS Pod Identity, and the Helm release at a pinned chart version.

``lbc_iam_policy.json`` is ``docs/install/iam_policy.json`` of kubernetes-sigs/
aws-load-balancer-controller at tag v3.5.0 (commit 11eb202c97e4ae2ee45e0658c4cde9a4b59f33d4;
Apache-2.0), the app version of chart 3.5.0 (``helm/aws-load-balancer-controller/Chart.yaml``:
``version: 3.5.0``, ``appVersion: v3.5.0``). Bump the two together.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.eks.pod_identity import K8S_NAME, pod_identity_trust_policy

CHART = "aws-load-balancer-controller"
CHART_VERSION = "3.5.0"
# The chart's home (Chart.yaml `home`/`sources`: github.com/aws/eks-charts), served as a Helm repo.
CHART_REPOSITORY = "https://aws.github.io/eks-charts"
IAM_POLICY_FILE = Path(__file__).with_name("lbc_iam_policy.json")
SERVICE_ACCOUNT = "aws-load-balancer-controller"


def iam_policy() -> str:
    """The upstream policy, as committed (a reviewer diffs it against upstream on a bump)."""
    return json.dumps(json.loads(IAM_POLICY_FILE.read_text()), sort_keys=True)


@dataclass(frozen=True)
class LoadBalancerControllerArgs:
    """Where the controller runs and which chart."""

    environment: str
    """Environment name, part of the role's and policy's names. From config `environment`.
    Required."""
    cluster_name: pulumi.Input[str]
    """Cluster the controller manages. Set by the stack from EksCluster. Required."""
    vpc_id: pulumi.Input[str]
    """VPC of the cluster, passed to the chart. The controller otherwise reads it from IMDS,
    which the nodes' hop limit of 1 keeps out of pods' reach
    (kubernetes-sigs/aws-load-balancer-controller#3695). Set by the stack from Network.
    Required."""
    region: str
    """Region, passed to the chart for the same reason. From config `aws:region`. Required."""
    provider: pulumi.ProviderResource
    """The cluster's Kubernetes provider. Set by the stack from EksCluster. Required."""
    chart_version: str = CHART_VERSION
    """Chart version; ``lbc_iam_policy.json`` must be the policy of its app version. Default
    CHART_VERSION (3.5.0)."""
    namespace: str = "kube-system"
    """Namespace of the release. Default kube-system (the upstream install guide's)."""
    replicas: int = 2
    """Controller replicas (leader election keeps one active). Default 2."""
    depends_on: tuple[pulumi.Resource, ...] = ()
    """What the release waits for, e.g. EksCluster's ``pod_identity_agent`` (credentials) and
    the node group. Default none."""


def controller_values(cluster_name: str, vpc_id: str, region: str, replicas: int) -> dict[str, Any]:
    """The chart's values (chart values.yaml keys ``clusterName``, ``region``, ``vpcId``,
    ``serviceAccount``, ``replicaCount``)."""
    return {
        "clusterName": cluster_name,
        "region": region,
        "vpcId": vpc_id,
        "replicaCount": replicas,
        "serviceAccount": {"create": True, "name": SERVICE_ACCOUNT},
    }


def check_args(args: LoadBalancerControllerArgs) -> None:
    if args.chart_version != CHART_VERSION:
        raise ValueError(
            f"LoadBalancerController: chart_version {args.chart_version!r} differs from {CHART_VERSION!r},"
            f" the version {IAM_POLICY_FILE.name} was taken for; update both together"
        )
    if not K8S_NAME.match(args.namespace):
        raise ValueError(f"LoadBalancerController: namespace {args.namespace!r} is not a Kubernetes name")
    if args.replicas < 1:
        raise ValueError("LoadBalancerController: replicas must be at least 1")


class LoadBalancerController(pulumi.ComponentResource):
    """Role, Pod Identity association and Helm release of the controller."""

    role_arn: pulumi.Output[str]
    release: k8s.helm.v3.Release

    def __init__(
        self, name: str, args: LoadBalancerControllerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        check_args(args)
        super().__init__("notes:infra:LoadBalancerController", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-role",
            name=f"notes-{args.environment}-lb-controller",
            assume_role_policy=pulumi.Output.from_input(args.cluster_name).apply(
                lambda cluster: pod_identity_trust_policy(cluster, args.namespace, SERVICE_ACCOUNT)
            ),
            opts=child,
        )
        policy = aws.iam.Policy(
            f"{name}-policy", name=f"notes-{args.environment}-lb-controller", policy=iam_policy(), opts=child
        )
        attachment = aws.iam.RolePolicyAttachment(
            f"{name}-policy-attachment", role=role.name, policy_arn=policy.arn, opts=child
        )
        association = aws.eks.PodIdentityAssociation(
            f"{name}-association",
            cluster_name=args.cluster_name,
            namespace=args.namespace,
            service_account=SERVICE_ACCOUNT,
            role_arn=role.arn,
            opts=child,
        )
        values = pulumi.Output.all(args.cluster_name, args.vpc_id).apply(
            lambda v: controller_values(v[0], v[1], args.region, args.replicas)
        )
        self.release = k8s.helm.v3.Release(
            f"{name}-release",
            name=CHART,
            chart=CHART,
            version=args.chart_version,
            namespace=args.namespace,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CHART_REPOSITORY),
            values=values,
            atomic=True,
            # Credentials must exist before the controller's first AWS call.
            opts=pulumi.ResourceOptions(
                parent=self, provider=args.provider, depends_on=[attachment, association, *args.depends_on]
            ),
        )
        self.role_arn = role.arn
        self.register_outputs({"role_arn": self.role_arn})
