"""Rotated secrets whose program-held version could undo a rotation, checked over the recorded
graph.

A secret with a rotation schedule gets every value after its first from the rotation function.
The program still holds the version it created, and two things about it decide whether a later
``pulumi up`` puts the first value back:

- the labels the rotation moves (AWSCURRENT, AWSPREVIOUS) and the value must not be followed:
  the version ignores changes to ``secretString`` and ``versionStages``, or the next update
  moves AWSCURRENT back to it (the provider's own note on version_stages: a label moved
  elsewhere shows as a perpetual difference);
- the version keeps a label of its own (not one of AWS's three), or after two rotations it has
  none left, Secrets Manager deletes it, and a refresh recreates it as AWSCURRENT with the first
  value (terraform-provider-aws issue 25168; terraform-aws-modules/terraform-aws-secrets-manager
  PR 26 keeps a custom label for that reason).

``infra.secrets.store_secret(rotated=True)`` does both. A secret is rotated when a
``SecretRotation`` depends on it. And a rotation that runs at once must come after what creates
the users it logs in as (``provisioning_findings``).

    findings = check(plan.resources)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from notes_platform.checks.ordering import SECRET, Finding, Graph
from notes_platform.checks.secret_access import containers
from notes_platform.graph.mocks import Recorded

SECRET_ROTATION = "aws:secretsmanager/secretRotation:SecretRotation"  # noqa: S105 (a type token)
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"  # noqa: S105 (a type token)
AWS_STAGES = frozenset({"AWSCURRENT", "AWSPREVIOUS", "AWSPENDING"})
MUST_IGNORE = ("secretString", "versionStages")


def check(resources: Iterable[Recorded]) -> list[Finding]:
    """Every finding; an empty list means all is well."""
    resources = list(resources)
    return version_findings(resources) + provisioning_findings(resources)


def version_findings(resources: Iterable[Recorded]) -> list[Finding]:
    """Each rotated secret's own version: out of the rotation's way."""
    graph = Graph(resources)
    rotated = {
        urn
        for rotation in graph.of_type(SECRET_ROTATION)
        for dependency in rotation.dependencies
        for urn in graph.expand(dependency)
        if urn in graph.by_urn and graph.by_urn[urn].type == SECRET
    }
    findings: list[Finding] = []
    for version in graph.of_type(SECRET_VERSION):
        secrets = sorted(
            urn for dependency in version.dependencies for urn in graph.expand(dependency) if urn in rotated
        )
        if secrets:
            findings += _version_findings(version, secrets[0])
    return findings


def _version_findings(version: Recorded, secret: str) -> list[Finding]:
    found: list[Finding] = []
    missing = [name for name in MUST_IGNORE if name not in version.ignore_changes]
    if missing:
        found.append(
            Finding(
                version.urn,
                f"version of the rotated secret {secret} must ignore changes to {', '.join(missing)}: "
                "the next update would put its first value back as AWSCURRENT",
            )
        )
    stages = version.inputs.get("versionStages") or []
    if not any(isinstance(stage, str) and stage not in AWS_STAGES for stage in stages):
        found.append(
            Finding(
                version.urn,
                f"version of the rotated secret {secret} must keep a staging label of its own "
                "(infra.secrets.INITIAL_STAGE): after two rotations Secrets Manager deletes a version "
                "with no label and a refresh would recreate it as AWSCURRENT",
            )
        )
    return found


# --- a rotation that runs before what creates the users it logs in as -------------------------

TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
ECS_SERVICE = "aws:ecs/service:Service"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"


def provisioning_findings(resources: Iterable[Recorded]) -> list[Finding]:
    """A rotation that runs at once (``rotateImmediately``, AWS's default) logs in with the
    secret's current credentials in its setSecret step; if what creates those credentials' user
    (an init container of an ECS service, a hook Job of a Helm release, found by the secret's ARN
    in their settings) comes later, the first rotation fails and leaves AWSPENDING behind. Every
    such provisioner must come first."""
    graph = Graph(resources)
    findings: list[Finding] = []
    for rotation in graph.of_type(SECRET_ROTATION):
        arn = rotation.inputs.get("secretId")
        if not isinstance(arn, str) or rotation.inputs.get("rotateImmediately") is False:
            continue
        if not rotation.inputs.get("rotationLambdaArn"):
            continue  # a managed rotation: the service that owns the secret rotates it
        waits_for = graph.closure(rotation.urn)
        for provisioner in _provisioners(graph, arn):
            if provisioner.urn not in waits_for:
                findings.append(
                    Finding(
                        rotation.urn,
                        f"rotates {arn} at once but may run before {provisioner.urn}, which creates the "
                        "users its setSecret logs in as: it must wait for it",
                    )
                )
    return findings


def _provisioners(graph: Graph, arn: str) -> list[Recorded]:
    tasks = {t.urn for t in graph.of_type(TASK_DEFINITION) if _init_container_reads(t, arn)}
    services = [
        s
        for s in graph.of_type(ECS_SERVICE)
        if any(u in tasks for d in s.dependencies for u in graph.expand(d))
    ]
    releases = [r for r in graph.of_type(HELM_RELEASE) if _hook_reads(r.inputs.get("values"), arn)]
    return [*services, *releases]


def _init_container_reads(task: Recorded, arn: str) -> bool:
    return any(
        c.get("essential") is False
        and any(isinstance(e, Mapping) and e.get("value") == arn for e in c.get("environment") or [])
        for c in containers(task) or []
    )


def _hook_reads(values: object, arn: str) -> bool:
    dbusers = values.get("dbusers") if isinstance(values, dict) else None
    return isinstance(dbusers, dict) and bool(dbusers.get("enabled")) and dbusers.get("appSecretArn") == arn
