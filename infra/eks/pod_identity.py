"""The AWS permissions of our pods on EKS through EKS Pod Identity: for the API, the export worker
and the database users' hook Job, a role that reads exactly its secrets and decrypts only through
Secrets Manager, carries the statements its code needs (the export queue, bucket and key, from
``infra.exports.permissions``), and is associated with that workload's service account only."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import pulumi
import pulumi_aws as aws

# Kubernetes names (RFC 1123 labels) for the namespace and service account.
K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
SECRET_ARN = re.compile(r"^arn:aws[\w-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[^*?]+$")
# An identity policy statement names what it allows; NotAction/NotResource allow everything else,
# and Principal belongs to resource policies (IAM User Guide, "IAM JSON policy elements reference").
STATEMENT_KEYS = frozenset({"Sid", "Effect", "Action", "Resource", "Condition"})


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


def secrets_policy(secret_arns: Sequence[str], kms_key_arn: str, region: str) -> str:
    """Read these secrets and nothing else; decrypt with their key only when Secrets Manager asks
    on the pods' behalf (kms:ViaService, AWS KMS Developer Guide, conditions-kms-via-service)."""
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


def access_policy(component: str, statements: Sequence[Mapping[str, Any]]) -> str:
    """The role's policy for what its code calls (the export queue, bucket and key): exactly the
    statements given, checked once every value is known."""
    check_statements(component, statements)
    if not statements:
        raise ValueError(f"{component}: statements resolved to an empty list; a policy needs a statement")
    return json.dumps(
        {"Version": "2012-10-17", "Statement": [dict(statement) for statement in statements]}, sort_keys=True
    )


def _strings(value: Any) -> list[str]:
    """The plain strings of an Action or Resource (a string or a list); Outputs are not known yet."""
    items = value if isinstance(value, list | tuple) else [value]
    return [item for item in items if isinstance(item, str)]


def check_statements(component: str, statements: Any) -> None:
    """Refuse a statement that grants more than it names. Values still unknown (Outputs) are
    skipped here and checked when ``access_policy`` runs on the resolved list."""
    if isinstance(statements, pulumi.Output):
        return
    for index, statement in enumerate(statements):
        where = f"{component}: statements[{index}]"
        if isinstance(statement, pulumi.Output):
            continue
        if not isinstance(statement, Mapping):
            raise ValueError(f"{where} is not a statement (a mapping with Effect, Action, Resource)")
        extra = set(statement) - STATEMENT_KEYS
        if extra:
            raise ValueError(f"{where} has {sorted(extra)}: name the actions and resources it allows")
        missing = {"Effect", "Action", "Resource"} - set(statement)
        if missing:
            raise ValueError(f"{where} has no {sorted(missing)}")
        effect = statement["Effect"]
        if isinstance(effect, str) and effect not in ("Allow", "Deny"):
            raise ValueError(f"{where} Effect {effect!r} must be Allow or Deny")
        for action in _strings(statement["Action"]):
            if "*" in action or ":" not in action:
                raise ValueError(f"{where} Action {action!r}: name each action (service:Action), no wildcard")
        for resource in _strings(statement["Resource"]):
            if not resource.startswith("arn:"):
                raise ValueError(f"{where} Resource {resource!r}: give the resource's ARN, never '*'")


def _has_statements(statements: Any) -> bool:
    # An Output may hold statements; an empty list holds none.
    return isinstance(statements, pulumi.Output) or bool(statements)


@dataclass(frozen=True)
class PodIdentityArgs:
    """Who a workload's pods are, and what they may read and call."""

    environment: str
    """Environment name, part of the role's name. From config `environment`. Required."""
    region: str
    """Region of the secrets: the kms:ViaService condition's Secrets Manager endpoint. From
    config `aws:region`. Required."""
    cluster_name: pulumi.Input[str]
    """Cluster of the association. Set by the stack from EksCluster. Required."""
    namespace: str
    """Namespace of the pods. From config (the chart's namespace). Required."""
    service_account: str
    """Service account of the pods, as the chart names it: ``serviceAccount.name`` for the API,
    ``worker.serviceAccount.name`` for the worker, ``dbusers.serviceAccount.name`` for the dbusers
    Job. Required."""
    secret_arns: Sequence[pulumi.Input[str]]
    """Secrets Manager ARNs the pods read at start through ``NOTES_*_SECRET_ARN``; exactly these,
    no wildcard. The API: MongoDB URI, Redis AUTH token, JWT signing key; the worker: the MongoDB
    URI only; the dbusers Job: the MongoDB URI (the app's secret) and the master user's secret.
    Set by the stack from DocumentDb, RedisCache and the signing key's GeneratedSecret. Required,
    at least one."""
    secrets_kms_key_arn: pulumi.Input[str]
    """KMS key those secrets are encrypted with. Set by the stack from Keys (``secrets``).
    Required."""
    statements: pulumi.Input[Sequence[pulumi.Input[Mapping[str, Any]]]] = ()
    """IAM statements for what the pods' code calls, the role's second inline policy; an Output
    of the list is fine (statements are checked when it resolves). The API: the exports tier's
    ``sender_statements`` (send to the queue, read exports to presign); the worker: its
    ``worker_statements`` (receive, delete and change visibility on the queue, put and abort
    uploads under the prefix, the exports key). No wildcard action or resource. Default none for
    the API (no second policy); required for the worker."""


# One shape for every workload; the names say which component reads them.
ApiPodIdentityArgs = PodIdentityArgs
WorkerPodIdentityArgs = PodIdentityArgs
DbUsersPodIdentityArgs = PodIdentityArgs


def check_args(args: PodIdentityArgs, component: str = "ApiPodIdentity", who: str = "the API") -> None:
    for key in ("namespace", "service_account"):
        value = getattr(args, key)
        if not K8S_NAME.match(value):
            raise ValueError(f"{component}: {key} {value!r} is not a Kubernetes name (RFC 1123 label)")
    if not args.secret_arns:
        raise ValueError(f"{component}: secret_arns is empty; {who} needs its secrets' ARNs")
    known = [arn for arn in args.secret_arns if isinstance(arn, str)]
    for arn in known:
        if not SECRET_ARN.match(arn):
            raise ValueError(
                f"{component}: secret_arns entry {arn!r} must be one secret's exact ARN, no wildcard"
            )
    if len(set(known)) != len(known):
        raise ValueError(f"{component}: secret_arns lists a secret twice")
    check_statements(component, args.statements)


class _PodIdentity(pulumi.ComponentResource):
    """A workload's role, its policies and its Pod Identity association."""

    TYPE: ClassVar[str]
    ROLE: ClassVar[str]
    """The role is ``notes-<env>-<ROLE>-pod``."""
    WHO: ClassVar[str]
    STATEMENTS_REQUIRED: ClassVar[bool] = False

    role_arn: pulumi.Output[str]
    role_name: pulumi.Output[str]

    def __init__(self, name: str, args: PodIdentityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        component = type(self).__name__
        check_args(args, component, self.WHO)
        if self.STATEMENTS_REQUIRED and not _has_statements(args.statements):
            raise ValueError(
                f"{component}: statements is empty; {self.WHO} must receive from its queue and write "
                "its exports: pass the exports tier's worker_statements"
            )
        super().__init__(self.TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-role",
            name=f"notes-{args.environment}-{self.ROLE}-pod",
            assume_role_policy=pulumi.Output.from_input(args.cluster_name).apply(
                lambda cluster: pod_identity_trust_policy(cluster, args.namespace, args.service_account)
            ),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-secrets",
            role=role.id,
            policy=pulumi.Output.all(pulumi.Output.all(*args.secret_arns), args.secrets_kms_key_arn).apply(
                lambda values: secrets_policy(values[0], values[1], args.region)
            ),
            opts=child,
        )
        if _has_statements(args.statements):
            aws.iam.RolePolicy(
                f"{name}-access",
                role=role.id,
                # Output.from_input resolves every Output inside the list and its statements.
                policy=pulumi.Output.from_input(args.statements).apply(
                    lambda statements: access_policy(component, cast(Sequence[Mapping[str, Any]], statements))
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
        self.role_name = role.name
        self.register_outputs({"role_arn": self.role_arn})


class ApiPodIdentity(_PodIdentity):
    """The API's role (``notes-<env>-api-pod``): its three secrets, and the statements given
    (none by default), for the chart's ``serviceAccount.name``."""

    TYPE = "notes:infra:ApiPodIdentity"
    ROLE = "api"
    WHO = "the API"


class WorkerPodIdentity(_PodIdentity):
    """The export worker's role (``notes-<env>-worker-pod``): the MongoDB URI's secret and the
    worker's statements, for the chart's ``worker.serviceAccount.name``. Nothing of the API's:
    no Redis token, no JWT key, no SendMessage."""

    TYPE = "notes:infra:WorkerPodIdentity"
    ROLE = "worker"
    WHO = "the worker"
    STATEMENTS_REQUIRED = True


class DbUsersPodIdentity(_PodIdentity):
    """The database users' hook Job's role (``notes-<env>-dbusers-pod``), for the chart's
    ``dbusers.serviceAccount.name``: ``secret_arns`` are the app's DocumentDB secret and the
    cluster's master user secret, and this is the only pod role that reads the latter (on ECS the
    execution role injects it into the init container alone). No statements: the Job calls
    nothing but Secrets Manager. The kms:Decrypt statement covers the app secret, under our
    secrets key; the master secret is under aws/secretsmanager, which Secrets Manager uses for any
    caller allowed GetSecretValue (infra/documentdb.py), so it needs no KMS grant here."""

    TYPE = "notes:infra:DbUsersPodIdentity"
    ROLE = "dbusers"
    WHO = "the dbusers Job"
