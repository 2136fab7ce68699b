"""The API's AWS permissions on EKS through EKS Pod Identity: a role that reads exactly its
secrets and decrypts only through Secrets Manager, associated with the API's service account."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

# Kubernetes names (RFC 1123 labels) for the namespace and service account.
K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
SECRET_ARN = re.compile(r"^arn:aws[\w-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[^*?]+$")


def pod_identity_trust_policy(cluster_name: str, namespace: str, service_account: str) -> str:
    """The trust policy EKS Pod Identity requires (EKS User Guide, pod-id-role: principal
    pods.eks.amazonaws.com, sts:AssumeRole and sts:TagSession), narrowed with the session tags
    the agent sets (pod-id-abac) to one service account of one cluster: without them any
    association in the account could hand this role to its pods."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "pods.eks.amazonaws.com"},
                    "Action": ["sts:AssumeRole", "sts:TagSession"],
                    "Condition": {
                        "StringEquals": {
                            "aws:RequestTag/eks-cluster-name": cluster_name,
                            "aws:RequestTag/kubernetes-namespace": namespace,
                            "aws:RequestTag/kubernetes-service-account": service_account,
                        }
                    },
                }
            ],
        },
        sort_keys=True,
    )


def api_secrets_policy(secret_arns: Sequence[str], kms_key_arn: str, region: str) -> str:
    """Read these secrets and nothing else; decrypt with their key only when Secrets Manager asks
    on the API's behalf (kms:ViaService, AWS KMS Developer Guide, conditions-kms-via-service)."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadOwnSecrets",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": sorted(secret_arns),
        },
        {
            "Sid": "DecryptThroughSecretsManager",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": kms_key_arn,
            "Condition": {"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}},
        },
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)


@dataclass(frozen=True)
class ApiPodIdentityArgs:
    """Who the API's pods are and what they may read."""

    environment: str
    """Environment name, part of the role's name. From config `environment`. Required."""
    region: str
    """Region of the secrets: the kms:ViaService condition's Secrets Manager endpoint. From
    config `aws:region`. Required."""
    cluster_name: pulumi.Input[str]
    """Cluster of the association. Set by the stack from EksCluster. Required."""
    namespace: str
    """Namespace of the API's pods. From config (the chart's namespace). Required."""
    service_account: str
    """Service account of the API's pods (the chart's ServiceAccount). Required."""
    secret_arns: Sequence[pulumi.Input[str]]
    """Secrets Manager ARNs the API reads (MongoDB URI, Redis AUTH token, JWT signing key);
    exactly these, no wildcard. Set by the stack from DocumentDb, RedisCache and the signing
    key's GeneratedSecret. Required, at least one."""
    secrets_kms_key_arn: pulumi.Input[str]
    """KMS key those secrets are encrypted with. Set by the stack from Keys (``secrets``).
    Required."""


def check_args(args: ApiPodIdentityArgs) -> None:
    for key in ("namespace", "service_account"):
        value = getattr(args, key)
        if not K8S_NAME.match(value):
            raise ValueError(f"ApiPodIdentity: {key} {value!r} is not a Kubernetes name (RFC 1123 label)")
    if not args.secret_arns:
        raise ValueError("ApiPodIdentity: secret_arns is empty; the API needs its secrets' ARNs")
    known = [arn for arn in args.secret_arns if isinstance(arn, str)]
    for arn in known:
        if not SECRET_ARN.match(arn):
            raise ValueError(
                f"ApiPodIdentity: secret_arns entry {arn!r} must be one secret's exact ARN, no wildcard"
            )
    if len(set(known)) != len(known):
        raise ValueError("ApiPodIdentity: secret_arns lists a secret twice")


class ApiPodIdentity(pulumi.ComponentResource):
    """The API's role and its Pod Identity association."""

    role_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: ApiPodIdentityArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        check_args(args)
        super().__init__("notes:infra:ApiPodIdentity", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-role",
            name=f"notes-{args.environment}-api-pod",
            assume_role_policy=pulumi.Output.from_input(args.cluster_name).apply(
                lambda cluster: pod_identity_trust_policy(cluster, args.namespace, args.service_account)
            ),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-secrets",
            role=role.id,
            policy=pulumi.Output.all(pulumi.Output.all(*args.secret_arns), args.secrets_kms_key_arn).apply(
                lambda values: api_secrets_policy(values[0], values[1], args.region)
            ),
            opts=child,
        )
        aws.eks.PodIdentityAssociation(
            f"{name}-association",
            cluster_name=args.cluster_name,
            namespace=args.namespace,
            service_account=args.service_account,
            role_arn=role.arn,
            opts=child,
        )
        self.role_arn = role.arn
        self.register_outputs({"role_arn": self.role_arn})
