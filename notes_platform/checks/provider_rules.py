"""Rules of the provider and the engine that only a later `pulumi up` or `pulumi destroy` would
teach, checked over the recorded graph.

- An ECS service with a ``capacityProviderStrategies`` sets ``forceNewDeployment``: without it
  the provider turns any change of the strategy into a replacement of the service
  (``capacityProviderStrategyCustomizeDiff`` in terraform-provider-aws
  internal/service/ecs/service.go; the pulumi_aws ``ecs.Service`` docstring: "Updating this
  argument requires `force_new_deployment = true`"), and a service with a fixed name cannot be
  created beside the one it replaces.
- A DocumentDB cluster not restored from a snapshot has its master password set one way:
  ``masterPassword`` or ``manageMasterUserPassword``. Both: the provider refuses the plan
  (``manage_master_user_password`` ConflictsWith ``master_password`` in terraform-provider-aws
  internal/service/docdb/cluster.go); neither: CreateDBCluster fails for want of a password
  (DocumentDB API Reference, CreateDBCluster, MasterUserPassword).
- In a stack that protects anything, every resource that holds data (``STATEFUL_TYPES``) is
  protected: one left out is what `pulumi destroy`, or a replacement, deletes while everything
  around it is refused.

    findings = check(plan.resources)
"""

from __future__ import annotations

from collections.abc import Iterable

from notes_platform.checks.ordering import ECS_SERVICE, Finding
from notes_platform.graph.mocks import Recorded

DOCDB_CLUSTER = "aws:docdb/cluster:Cluster"
# What holds data the program cannot recreate. Left out on purpose: KMS keys and secrets
# (AWS keeps them for a waiting or recovery window after deletion), ECR repositories (images
# are rebuilt or promoted again), log groups (not protected in any stack yet).
STATEFUL_TYPES = frozenset(
    {
        "aws:s3/bucket:Bucket",
        "aws:s3/bucketV2:BucketV2",
        "aws:docdb/cluster:Cluster",
        "aws:docdb/clusterInstance:ClusterInstance",
        "aws:elasticache/replicationGroup:ReplicationGroup",
        "aws:rds/cluster:Cluster",
        "aws:rds/instance:Instance",
        "aws:dynamodb/table:Table",
        "aws:efs/fileSystem:FileSystem",
    }
)


def check(resources: Iterable[Recorded]) -> list[Finding]:
    """Every finding; an empty list means all is well."""
    recorded = list(resources)
    return [
        *capacity_strategy_findings(recorded),
        *docdb_password_findings(recorded),
        *protection_findings(recorded),
    ]


def docdb_password_findings(resources: Iterable[Recorded]) -> list[Finding]:
    findings = []
    for r in resources:
        if r.type != DOCDB_CLUSTER or r.inputs.get("snapshotIdentifier"):
            continue
        managed, given = (
            r.inputs.get("manageMasterUserPassword") is True,
            bool(r.inputs.get("masterPassword")),
        )
        if managed == given:
            how = "both masterPassword and manageMasterUserPassword" if managed else "no master password"
            findings.append(Finding(r.urn, f"sets {how}: set exactly one of them"))
    return findings


def capacity_strategy_findings(resources: Iterable[Recorded]) -> list[Finding]:
    return [
        Finding(
            r.urn,
            "sets capacityProviderStrategies without forceNewDeployment: the provider would replace "
            "the service on any change of the Fargate/Spot mix; set force_new_deployment=True",
        )
        for r in resources
        if r.type == ECS_SERVICE
        and r.inputs.get("capacityProviderStrategies")
        and r.inputs.get("forceNewDeployment") is not True
    ]


def protection_findings(resources: Iterable[Recorded]) -> list[Finding]:
    recorded = list(resources)
    if not any(r.protect for r in recorded):
        return []
    return [
        Finding(
            r.urn,
            "holds data but is not protected while this stack protects others: give it "
            "protect=True (or say in the stack file why it may go)",
        )
        for r in recorded
        if r.type in STATEFUL_TYPES and not r.protect
    ]
