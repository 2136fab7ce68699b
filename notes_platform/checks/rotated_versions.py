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
``SecretRotation`` depends on it.

    findings = check(plan.resources)
"""

from __future__ import annotations

from collections.abc import Iterable

from notes_platform.checks.ordering import SECRET, Finding, Graph
from notes_platform.graph.mocks import Recorded

SECRET_ROTATION = "aws:secretsmanager/secretRotation:SecretRotation"  # noqa: S105 (a type token)
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"  # noqa: S105 (a type token)
AWS_STAGES = frozenset({"AWSCURRENT", "AWSPREVIOUS", "AWSPENDING"})
MUST_IGNORE = ("secretString", "versionStages")


def check(resources: Iterable[Recorded]) -> list[Finding]:
    """Every finding; an empty list means all is well."""
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
