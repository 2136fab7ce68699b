"""Check planned resource inputs against the AWS API models botocore bundles.

The provider validates most inputs only when it calls AWS, minutes into a deployment. For the
inputs that are free-form JSON or map one-to-one onto an AWS request, ``check`` finds the same
mistakes from a plan: required members, types, minimums and maximums, enum values, patterns,
and a few documented rules the models cannot express (Fargate sizes, IAM policy grammar,
dashboard bodies). Each finding names the resource URN and the Pulumi property path.

    findings = check(plan.resources)
    if findings:
        print(render(findings))

Each module holds the families of one AWS service (a ``Family``: the resource types, the
request they map onto, the renames and the documented rules); a new family is listed in
``FAMILIES``, and tests/notes_platform/test_apimodels.py then holds every property of its pulumi_aws
types against the request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple, Protocol

from notes_platform.checks.apimodels import cloudfront, cloudwatch, ecs, elbv2, iam, wafv2
from notes_platform.checks.apimodels._shapes import Family

FAMILIES: tuple[Family, ...] = (
    ecs.FAMILY,
    *wafv2.FAMILIES,
    *cloudwatch.FAMILIES,
    *iam.FAMILIES,
    *elbv2.FAMILIES,
    *cloudfront.FAMILIES,
)
_BY_TYPE: dict[str, list[Family]] = {}
for _family in FAMILIES:
    for _type in _family.types:
        _BY_TYPE.setdefault(_type, []).append(_family)


class Resource(Protocol):
    """What ``check`` reads of a recorded resource (``notes_platform.graph.mocks.Recorded`` has it)."""

    @property
    def type(self) -> str: ...

    @property
    def urn(self) -> str: ...

    @property
    def inputs(self) -> Mapping[str, Any]: ...


class Finding(NamedTuple):
    urn: str
    path: str  # Pulumi property path, e.g. containerDefinitions[0].portMappings[0].protocol
    message: str


def covered_types() -> frozenset[str]:
    """The resource types ``check`` knows how to read."""
    return frozenset(_BY_TYPE)


def check(resources: Iterable[Resource]) -> list[Finding]:
    """Every finding in ``resources``, in their order; an empty list means all is well.
    Service models load on first need, so a stack without WAF never loads wafv2's."""
    findings: list[Finding] = []
    for resource in resources:
        for family in _BY_TYPE.get(resource.type, ()):

            def report(path: str, message: str, urn: str = resource.urn) -> None:
                findings.append(Finding(urn, path, message))

            family.check(resource.inputs, report)
    return findings


def render(findings: Iterable[Finding]) -> str:
    """Findings grouped by resource, for people; an empty string when there are none."""
    grouped: dict[str, list[Finding]] = {}
    for finding in findings:
        grouped.setdefault(finding.urn, []).append(finding)
    if not grouped:
        return ""
    count = sum(len(items) for items in grouped.values())
    lines = [f"{count} finding{'s' if count != 1 else ''} against the AWS API models:"]
    for urn, items in grouped.items():
        lines += ["", urn]
        lines += [f"  {item.path or '(resource)'}: {item.message}" for item in items]
    return "\n".join(lines) + "\n"
