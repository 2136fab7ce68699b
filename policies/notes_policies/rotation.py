"""Secret rotation: in prod every secret rotates on a schedule of at most N days or says why it does
not (AWS Foundational Security Best Practices, SecretsManager.1 and .4), and the Lambda functions
that rotate them log to an encrypted group of the stack and hold no "*" resource they can avoid."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pulumi_policy import Policy, PolicyResource, ReportViolation, StackValidationArgs

from . import resource_types as t
from .common import (
    Settings,
    as_list,
    current_stack,
    days,
    document,
    is_false,
    mapping,
    number,
    of_type,
    references,
    sequence,
    stack_rule,
    stacks_setting,
    strings_setting,
    text,
)

EXEMPT_TAG = "RotationExempt"
# Actions AWS grants on "*" only (no resource-level permissions): a function in a VPC manages its
# network interfaces (Lambda Developer Guide, "Giving Lambda functions access to resources in an
# Amazon VPC"), and GetRandomPassword names no secret (Secrets Manager User Guide, "Lambda rotation
# function execution role permissions"). infra/rotation_policy.py grants exactly these on "*".
WILDCARD_ONLY_ACTIONS = [
    "ec2:AssignPrivateIpAddresses",
    "ec2:CreateNetworkInterface",
    "ec2:DeleteNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:UnassignPrivateIpAddresses",
    "secretsmanager:GetRandomPassword",
]
_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_UNIT_DAYS = {"minute": 1 / 1440, "hour": 1 / 24, "day": 1.0}


def schedule_days(expression: str) -> float | None:
    """The longest gap, in days, between two runs of a rotation ``scheduleExpression``, or None
    when it cannot be read. Secrets Manager takes ``rate(N days|hours)`` and a six-field
    ``cron()`` (Secrets Manager User Guide, "Schedule expressions in Secrets Manager rotation");
    for cron the bound is coarse but never too low: any month day or weekday runs at least
    daily, a weekday set weekly, a month-day set monthly, a month set yearly."""
    rate = _RATE.match(expression.strip())
    if rate:
        return int(rate.group(1)) * _UNIT_DAYS[rate.group(2).rstrip("s")]
    stripped = expression.strip()
    fields = stripped[5:-1].split() if stripped.startswith("cron(") and stripped.endswith(")") else []
    return _cron_days(fields) if len(fields) == 6 else None


def _cron_days(fields: list[str]) -> float:
    _, _, day_of_month, month, day_of_week, _ = fields
    if month not in ("*", "?"):
        return 366.0
    if day_of_month in ("*", "?"):
        return 1.0 if day_of_week in ("*", "?") else 7.0
    return 31.0


def _names(secret: PolicyResource) -> Callable[[Any], bool]:
    """Whether a secret id typed into a rotation names ``secret``: its name, or its ARN (the name,
    a hyphen and six random characters: Secrets Manager User Guide, "Secret ARN")."""
    name = text(secret.props.get("name"))
    return lambda value: bool(name) and (value == name or f":secret:{name}-" in text(value))


def _rotation_days(rotation: PolicyResource) -> float | None:
    rules = mapping(rotation.props.get("rotationRules"))
    if rules.get("automaticallyAfterDays") is not None:
        return number(rules.get("automaticallyAfterDays"), float("inf"))
    expression = text(rules.get("scheduleExpression"))
    return schedule_days(expression) if expression else None


@stack_rule(
    "secret-rotated",
    "In prod, every Secrets Manager secret rotates on a schedule of at most maximumDays, or carries "
    "a RotationExempt tag that says why it cannot (a value rotated by another workflow).",
    config={
        "stacks": stacks_setting("stacks whose secrets must rotate"),
        "maximumDays": {
            "type": "integer",
            "minimum": 1,
            "maximum": 365,
            "default": 90,
            "description": "longest time between two rotations of a secret",
        },
    },
)
def secret_rotated(args: StackValidationArgs, report: ReportViolation, settings: Settings) -> None:
    stack = current_stack(args)
    if stack not in settings.strings("stacks"):
        return
    maximum = settings.integer("maximumDays")
    rotations = of_type(args, t.SECRET_ROTATION)
    for secret in of_type(args, t.SECRETS_MANAGER_SECRET):
        if text(mapping(secret.props.get("tags")).get(EXEMPT_TAG)).strip():
            continue
        own = [
            r
            for r in rotations
            if references(r, "secretId", secret, _names(secret))
            and not is_false(r.props.get("rotationEnabled"))
        ]
        if not own:
            report(
                f"Secrets must rotate in {stack}, or carry a {EXEMPT_TAG} tag naming the reason.", secret.urn
            )
        elif not any((gap := _rotation_days(r)) is not None and gap <= maximum for r in own):
            report(f"Secret rotations must run at least every {days(maximum)} in {stack}.", secret.urn)


def _log_group_of(function: PolicyResource, groups: list[PolicyResource]) -> PolicyResource | None:
    """The group the function logs to: ``loggingConfig.logGroup``, else Lambda's default
    ``/aws/lambda/<function name>``."""
    named = text(mapping(function.props.get("loggingConfig")).get("logGroup")) or (
        f"/aws/lambda/{text(function.props.get('name'))}" if text(function.props.get("name")) else ""
    )
    for group in groups:
        name = text(group.props.get("name"))
        fed = function.property_dependencies.get("loggingConfig") or []
        if any(d.urn == group.urn for d in fed) or (name and name == named):
            return group
    return None


@stack_rule(
    "lambda-logs-encrypted",
    "Every Lambda function logs to a log group of the stack that is KMS-encrypted, never to one "
    "Lambda creates on first use (unencrypted, kept forever).",
)
def lambda_logs_encrypted(args: StackValidationArgs, report: ReportViolation, _: Settings) -> None:
    groups = of_type(args, t.LOG_GROUP)
    for function in of_type(args, t.LAMBDA_FUNCTION):
        group = _log_group_of(function, groups)
        if group is None:
            report("Lambda functions must log to a log group of the stack.", function.urn)
        elif not text(group.props.get("kmsKeyId")):
            report("Lambda functions must log to a KMS-encrypted log group.", function.urn)


def _role_named(role: PolicyResource) -> Callable[[Any], bool]:
    """Whether a value names ``role``: its name, or an ARN ending in it."""
    name = text(role.props.get("name"))
    return lambda value: bool(name) and (text(value) == name or text(value).endswith(f"/{name}"))


def _roles_of(function: PolicyResource, roles: list[PolicyResource]) -> list[PolicyResource]:
    return [role for role in roles if references(function, "role", role, _role_named(role))]


def _documents(role: PolicyResource, policies: list[PolicyResource]) -> list[Any]:
    own = [p for p in policies if references(p, "role", role, _role_named(role))]
    inline = [mapping(item).get("policy") for item in sequence(role.props.get("inlinePolicies"))]
    return [document(p.props.get("policy")) for p in own] + [document(v) for v in inline]


@stack_rule(
    "lambda-role-scoped-resources",
    "A Lambda function's role names the resources it may act on: '*' only for actions AWS grants on "
    "'*' alone, and no managed policy (their resources are '*').",
    config={
        "wildcardActions": strings_setting(WILDCARD_ONLY_ACTIONS, "actions a Lambda role may hold on '*'"),
    },
)
def lambda_role_scoped_resources(
    args: StackValidationArgs, report: ReportViolation, settings: Settings
) -> None:
    allowed = set(settings.strings("wildcardActions"))
    roles = of_type(args, t.IAM_ROLE)
    policies = of_type(args, "aws:iam/rolePolicy:RolePolicy")
    attachments = of_type(args, t.IAM_POLICY_ATTACHMENTS)
    for function in of_type(args, t.LAMBDA_FUNCTION):
        for role in _roles_of(function, roles):
            for policy in _documents(role, policies):
                for statement in map(mapping, as_list(mapping(policy).get("Statement"))):
                    if statement.get("Effect") != "Allow":
                        continue
                    wildcard = "*" in as_list(statement.get("Resource")) or statement.get("NotResource")
                    if wildcard and not set(map(text, as_list(statement.get("Action")))) <= allowed:
                        report(
                            "Lambda function roles must not grant '*' resources but for actions that have "
                            "no resource-level permissions.",
                            function.urn,
                        )
            attached = [a for a in attachments if references(a, "role", role, _role_named(role))]
            if attached or sequence(role.props.get("managedPolicyArns")):
                report("Lambda function roles must not attach managed policies.", function.urn)


POLICIES: list[Policy] = [secret_rotated, lambda_logs_encrypted, lambda_role_scoped_resources]
