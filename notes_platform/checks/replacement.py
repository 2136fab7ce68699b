"""Replacement traps of fixed physical names, checked over the recorded graph.

Pulumi replaces a resource by creating the new one first, then deleting the old one. When the
program fixes the resource's physical name (``name``, ``clusterIdentifier`` ...) and an input
that forces a replacement changes while the name stays, the create collides with the resource
it replaces ("already exists"), or worse, an API that upserts by name overwrites it and the
delete that follows removes what was just made. The inputs that force a replacement come from
the provider's own schemas (``force_new.FORCE_NEW``).

A resource with a fixed name whose other replacing inputs are set must be covered by one of:
``delete_before_replace``; a name the program derives from those inputs (``NAMED_FROM``); or a
reason, kept here next to the rule (``REASONS``), why a replacement is never wanted or cannot
collide.

    findings = check(plan.resources)
"""

from __future__ import annotations

from collections.abc import Iterable

from notes_platform.checks.force_new import FORCE_NEW
from notes_platform.checks.ordering import Finding
from notes_platform.graph.mocks import Recorded

# Inputs that never collide by themselves: the name's own alternatives, and tags.
_NAME_LIKE = frozenset({"namePrefix", "tags", "tagsAll"})

# Values the SDK itself fills in when the program leaves an input out: constants no config or
# code of ours reaches (pulumi_aws elasticache/parameter_group.py: description defaults to
# "Managed by Pulumi"). Any other value is the program's, and counts.
SDK_DEFAULTS: dict[tuple[str, str], object] = {
    ("aws:elasticache/parameterGroup:ParameterGroup", "description"): "Managed by Pulumi",
}

# Type -> inputs the program folds into the fixed name, so that a change of them is a new name
# (checked: the value, with dots as dashes, is part of the name).
NAMED_FROM: dict[str, frozenset[str]] = {
    # notes-<env>-docdb5-0: an engine upgrade (a new family) is a new group beside the old one,
    # which the cluster still uses until it moves to the new one.
    "aws:docdb/clusterParameterGroup:ClusterParameterGroup": frozenset({"family"}),
    # notes-<env>-api-<port>: the group in use stays attached until the new one replaces it.
    "aws:lb/targetGroup:TargetGroup": frozenset({"port"}),
    "aws:elasticache/parameterGroup:ParameterGroup": frozenset({"family"}),
}

# Type -> (the replacing inputs it speaks for, None for all; why a fixed name is fine with them).
REASONS: dict[str, tuple[frozenset[str] | None, str]] = {
    "aws:docdb/cluster:Cluster": (
        None,
        "holds the data: a replacement is never wanted; prod protects it and keeps deletion "
        "protection on, so a replacement fails loudly instead of creating an empty twin, and "
        "the review flags it before",
    ),
    "aws:docdb/clusterInstance:ClusterInstance": (
        None,
        "replaced only with its cluster (clusterIdentifier) or engine; its identifier carries "
        "the cluster's and its index, and prod protects it",
    ),
    "aws:elasticache/replicationGroup:ReplicationGroup": (
        None,
        "a replacement would drop every cached value and session revocation; prod protects it, "
        "and the review flags a replacement before it runs",
    ),
    "aws:ecr/repository:Repository": (
        frozenset({"encryptionConfigurations"}),
        "holds the images: its KMS key (the one replacing input) never changes, and "
        "force_delete is off, so a replacement could not delete the old one's images anyway",
    ),
    "aws:ecs/taskDefinition:TaskDefinition": (
        None,
        "a replacement is a new revision of the same family: ECS registers revisions, it never "
        "refuses a family that exists",
    ),
    "aws:ecs/service:Service": (
        frozenset({"cluster"}),
        "a service name is unique within its cluster, and cluster changes only when the cluster "
        "is replaced: the new service then starts in the new cluster",
    ),
    "aws:iam/rolePolicy:RolePolicy": (
        frozenset({"role"}),
        "an inline policy's name is unique within its role, and role changes only when the role "
        "is replaced under another name: the new policy lands in the new role",
    ),
    "aws:route53/record:Record": (
        frozenset({"zoneId"}),
        "a record is unique within its hosted zone: a new zoneId puts the new record in another "
        "zone, beside nothing",
    ),
    "aws:wafv2/webAcl:WebAcl": (
        frozenset({"scope"}),
        "scope is CLOUDFRONT by design (CloudFront attaches only such ACLs); a distribution uses "
        "the ACL, so delete_before_replace could not delete it first either",
    ),
    "aws:lb/loadBalancer:LoadBalancer": (
        frozenset({"internal", "loadBalancerType"}),
        "internal and loadBalancerType are constants of the component (an internet-facing "
        "application load balancer); prod's deletion protection refuses the delete a "
        "replacement needs, and the review flags one before it runs",
    ),
    "aws:appautoscaling/policy:Policy": (
        None,
        "a scaling policy is named within its scalable target: PutScalingPolicy keys it on the "
        "service namespace, resource id and dimension, then the name, so every replacing input "
        "puts the new policy under another key",
    ),
    "aws:lb/targetGroup:TargetGroup": (
        frozenset({"protocol", "targetType", "vpcId"}),
        "protocol and targetType are constants of the component, and vpcId changes only with a "
        "new VPC, which rebuilds the whole environment; the port, which config changes, is in "
        "the name (NAMED_FROM)",
    ),
}


_UNSET = object()


def _folded(value: object, name: str) -> bool:
    return isinstance(value, (str, int, float)) and str(value).replace(".", "-") in name


def check(resources: Iterable[Recorded]) -> list[Finding]:
    """Every resource whose fixed name would collide with its own replacement."""
    findings = []
    for r in resources:
        replacement = FORCE_NEW.get(r.type)
        if replacement is None or not r.custom or r.inputs.get(replacement.name) is None:
            continue  # a generated name: the replacement gets another one
        name = str(r.inputs[replacement.name])
        folded = {p for p in NAMED_FROM.get(r.type, ()) if _folded(r.inputs.get(p), name)}
        explained, _ = REASONS.get(r.type, (frozenset(), ""))
        if explained is None or r.delete_before_replace:
            continue
        replacing = sorted(
            p
            for p in (replacement.force_new - {replacement.name} - _NAME_LIKE - folded - explained)
            & set(r.inputs)
            if SDK_DEFAULTS.get((r.type, p), _UNSET) != r.inputs[p]
        )
        if not replacing:
            continue
        findings.append(
            Finding(
                r.urn,
                f"fixed {replacement.name} {r.inputs[replacement.name]!r}, and {', '.join(replacing)} "
                "force a replacement: the new one would be created beside the old with the same name "
                "(set delete_before_replace, let the name be generated or derived from them, or give "
                f"a reason in notes_platform/checks/replacement.py; {replacement.source})",
            )
        )
    return findings
