"""Identity: roles GitHub Actions can assume are scoped to exact subjects and our audience.

A role that trusts GitHub's OIDC provider without a ``sub`` condition, or with a wildcard in it,
can be assumed by a workflow of any repository (or any branch, pull request or environment of
ours); GitHub's "Configuring OpenID Connect in Amazon Web Services" asks for at least one
condition that keeps untrusted repositories out, and the audience ``sts.amazonaws.com``
(https://docs.github.com/en/actions/how-tos/secure-your-work/security-harden-deployments/oidc-in-aws).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import Policy, ReportViolation, ResourceValidationArgs

from . import resource_types as t
from .common import Settings, as_list, document, mapping, resource_rule, text

GITHUB_ISSUER = "token.actions.githubusercontent.com"
SUB = f"{GITHUB_ISSUER}:sub"
AUD = f"{GITHUB_ISSUER}:aud"
AUDIENCE = "sts.amazonaws.com"


def _github_statements(policy: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Allow statements of a trust policy that let GitHub's OIDC tokens assume the role."""
    for statement in map(mapping, as_list(policy.get("Statement"))):
        if statement.get("Effect") != "Allow":
            continue
        actions = {text(a) for a in as_list(statement.get("Action"))}
        federated = [text(p) for p in as_list(mapping(statement.get("Principal")).get("Federated"))]
        if "sts:AssumeRoleWithWebIdentity" in actions and any(p.endswith(GITHUB_ISSUER) for p in federated):
            yield statement


def _values(condition: Mapping[str, Any], key: str) -> dict[str, list[str]]:
    """Operator -> values of ``key`` across a statement's condition block."""
    found: dict[str, list[str]] = {}
    for operator, clauses in condition.items():
        clause = mapping(clauses)
        if key in clause:
            found[str(operator)] = [text(v) for v in as_list(clause[key])]
    return found


def trust_problems(policy: Mapping[str, Any]) -> list[str]:
    """What makes a GitHub trust policy too wide (empty: scoped)."""
    problems: list[str] = []
    for statement in _github_statements(policy):
        condition = mapping(statement.get("Condition"))
        subs = _values(condition, SUB)
        matching = {
            op: vals for op, vals in subs.items() if op.split(":")[-1] in {"StringEquals", "StringLike"}
        }
        if not matching:
            problems.append("GitHub OIDC trust policies must require the sub claim with StringEquals.")
        elif any(
            "*" in v or "?" in v or not v.startswith("repo:") for vals in matching.values() for v in vals
        ):
            problems.append("GitHub OIDC trust policies must name each sub claim exactly, without wildcards.")
        auds = _values(condition, AUD).get("StringEquals")
        if auds != [AUDIENCE]:
            problems.append(f"GitHub OIDC trust policies must require aud {AUDIENCE} with StringEquals.")
    return problems


@resource_rule(
    "github-oidc-trust-scoped",
    "Roles GitHub Actions can assume name their exact sub claims (repository and environment, "
    "pull_request or branch) and require the sts.amazonaws.com audience.",
    types={t.IAM_ROLE},
)
def github_oidc_trust_scoped(
    args: ResourceValidationArgs, report: ReportViolation, settings: Settings
) -> None:
    for problem in trust_problems(mapping(document(args.props.get("assumeRolePolicy")))):
        report(problem, None)


POLICIES: list[Policy] = [github_oidc_trust_scoped]
