"""Secrets and keys: KMS keys that rotate and cannot vanish overnight, secrets under our own keys,
IAM without wildcards."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import Policy, ReportViolation, ResourceValidationArgs

from . import resource_types as t
from .common import (
    Settings,
    as_list,
    customer_key,
    days,
    document,
    is_true,
    mapping,
    minimum_days,
    number,
    resource_rule,
    sequence,
    strings_setting,
    text,
    unmet_minimum_days,
)

# Only symmetric encryption keys can rotate automatically.
ROTATABLE_SPECS = ("", "SYMMETRIC_DEFAULT")


@resource_rule(
    "kms-key-rotation",
    "Symmetric KMS keys rotate their key material automatically, at least yearly.",
    types={t.KMS_KEY},
    config={
        "maximumRotationDays": {
            "type": "integer",
            "minimum": 90,
            "maximum": 2560,
            "default": 365,
            "description": "longest rotation period accepted",
        }
    },
)
def kms_key_rotation(args: ResourceValidationArgs, report: ReportViolation, settings: Settings) -> None:
    spec = text(args.props.get("customerMasterKeySpec")) or text(args.props.get("keySpec"))
    if spec not in ROTATABLE_SPECS:
        return
    maximum = settings.integer("maximumRotationDays")
    if not is_true(args.props.get("enableKeyRotation")):
        report("KMS keys must enable automatic rotation.", None)
    elif number(args.props.get("rotationPeriodInDays"), 365) > maximum:
        report(f"KMS keys must rotate at least every {days(maximum)}.", None)


@resource_rule(
    "kms-deletion-window",
    "A scheduled KMS key deletion can be cancelled for long enough to notice it.",
    types={t.KMS_KEY},
    config=minimum_days(
        14, "fewest days between scheduling a key's deletion and the deletion", minimum=7, maximum=30
    ),
)
def kms_deletion_window(args: ResourceValidationArgs, report: ReportViolation, settings: Settings) -> None:
    # AWS waits 30 days when the program says nothing.
    if minimum := unmet_minimum_days(args.props.get("deletionWindowInDays"), 30, settings):
        report(f"KMS keys must have a deletion window of at least {minimum}.", None)


@resource_rule(
    "secret-kms-encrypted",
    "Secrets are encrypted with a customer-managed key, so its key policy decides who reads them.",
    types={t.SECRETS_MANAGER_SECRET},
)
def secret_kms_encrypted(args: ResourceValidationArgs, report: ReportViolation, _: Settings) -> None:
    if not customer_key(args.props.get("kmsKeyId"), "alias/aws/secretsmanager"):
        report("Secrets must be encrypted with a customer-managed KMS key.", None)


@resource_rule(
    "secret-recovery-window",
    "A deleted secret stays recoverable for a while: a mistaken delete is not an outage.",
    types={t.SECRETS_MANAGER_SECRET},
    config={
        **minimum_days(7, "fewest days a deleted secret can be restored", minimum=7, maximum=30),
        "allowForceDelete": {
            "type": "boolean",
            "default": False,
            "description": "accept 0 (deleted at once, the name free again): for a stack that is "
            "destroyed and created again and protects no data",
        },
    },
)
def secret_recovery_window(args: ResourceValidationArgs, report: ReportViolation, settings: Settings) -> None:
    # 0 deletes at once (the provider sends ForceDeleteWithoutRecovery); AWS's default is 30.
    window = args.props.get("recoveryWindowInDays")
    if settings.flag("allowForceDelete") and window is not None and number(window, 30) == 0:
        return
    if minimum := unmet_minimum_days(window, 30, settings):
        report(f"Secrets must stay recoverable for at least {minimum} after deletion.", None)


def _policy_documents(args: ResourceValidationArgs) -> Iterator[Mapping[str, Any]]:
    if args.resource_type == t.IAM_ROLE:
        for inline in sequence(args.props.get("inlinePolicies")):
            yield mapping(document(mapping(inline).get("policy")))
    else:
        yield mapping(document(args.props.get("policy")))


@resource_rule(
    "iam-no-wildcard-actions",
    "IAM policies grant named actions: never '*' or '*:*', never Allow with NotAction.",
    types={*t.IAM_POLICY_DOCUMENTS, t.IAM_ROLE},
    config={"forbiddenActions": strings_setting(["*", "*:*"], "actions no Allow statement may name")},
)
def iam_no_wildcard_actions(
    args: ResourceValidationArgs, report: ReportViolation, settings: Settings
) -> None:
    forbidden = set(settings.strings("forbiddenActions"))
    for policy in _policy_documents(args):
        for statement in map(mapping, as_list(policy.get("Statement"))):
            if statement.get("Effect") != "Allow":
                continue
            if forbidden & set(as_list(statement.get("Action"))):
                report("IAM policies must not allow '*' actions.", None)
            if statement.get("NotAction") is not None:
                report("IAM policies must not allow with NotAction.", None)


@resource_rule(
    "iam-no-admin-policy-attachment",
    "No role, user or group is handed an AWS managed administrator policy.",
    types={*t.IAM_POLICY_ATTACHMENTS, t.IAM_ROLE},
    config={
        "forbiddenPolicies": strings_setting(
            ["AdministratorAccess", "PowerUserAccess", "IAMFullAccess"],
            "AWS managed policy names that may not be attached",
        )
    },
)
def iam_no_admin_policy_attachment(
    args: ResourceValidationArgs, report: ReportViolation, settings: Settings
) -> None:
    arns = as_list(args.props.get("managedPolicyArns")) + as_list(args.props.get("policyArn"))
    for arn in map(text, arns):
        # arn:<partition>:iam::aws:policy/<path/>Name
        name = arn.rsplit("/", 1)[-1] if ":iam::aws:policy/" in arn else ""
        if name in settings.strings("forbiddenPolicies"):
            report(f"IAM principals must not be given {name}.", None)


POLICIES: list[Policy] = [
    kms_key_rotation,
    kms_deletion_window,
    secret_kms_encrypted,
    secret_recovery_window,
    iam_no_wildcard_actions,
    iam_no_admin_policy_attachment,
]
