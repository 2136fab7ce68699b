"""Secrets and keys policies: KMS rotation and deletion window, secrets under our keys and
recoverable, IAM without wildcard actions or administrator policies."""

from __future__ import annotations

import json

from policies.notes_policies import secrets
from tests.policies import fixtures as f
from tests.policies.harness import (
    Happy,
    Mutation,
    applied,
    assert_passes,
    check,
    happy_path_test,
    mutation_test,
    removing,
    setting,
)

HAPPY: Happy = [
    (secrets.kms_key_rotation, f.kms_key),
    (secrets.kms_deletion_window, f.kms_key),
    (secrets.secret_kms_encrypted, f.secret),
    (secrets.secret_recovery_window, f.secret),
    (secrets.iam_no_wildcard_actions, f.role_policy),
    (secrets.iam_no_wildcard_actions, f.iam_policy),
    (secrets.iam_no_wildcard_actions, f.role_with_inline_policy),
    (secrets.iam_no_admin_policy_attachment, f.policy_attachment),
    (secrets.iam_no_admin_policy_attachment, f.role_with_inline_policy),
]


def _document(*statements: dict[str, object]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


WILDCARD = "IAM policies must not allow '*' actions."
SECRET_KEY = "Secrets must be encrypted with a customer-managed KMS key."
ADMIN = "IAM principals must not be given AdministratorAccess."

MUTATIONS = [
    Mutation(
        secrets.kms_key_rotation,
        f.kms_key,
        setting("enableKeyRotation", False),
        "KMS keys must enable automatic rotation.",
        "rotation off",
    ),
    Mutation(
        secrets.kms_key_rotation,
        f.kms_key,
        setting("rotationPeriodInDays", 730),
        "KMS keys must rotate at least every 365 days.",
        "every two years",
    ),
    Mutation(
        secrets.kms_deletion_window,
        f.kms_key,
        setting("deletionWindowInDays", 7),
        "KMS keys must have a deletion window of at least 14 days.",
        "the shortest window",
    ),
    Mutation(secrets.secret_kms_encrypted, f.secret, removing("kmsKeyId"), SECRET_KEY, "the default key"),
    Mutation(
        secrets.secret_kms_encrypted,
        f.secret,
        setting("kmsKeyId", "alias/aws/secretsmanager"),
        SECRET_KEY,
        "the AWS managed key by alias",
    ),
    Mutation(
        secrets.secret_recovery_window,
        f.secret,
        setting("recoveryWindowInDays", 0),
        "Secrets must stay recoverable for at least 7 days after deletion.",
        "deleted at once",
    ),
    Mutation(
        secrets.iam_no_wildcard_actions,
        f.role_policy,
        setting("policy", _document({"Effect": "Allow", "Action": "*", "Resource": "*"})),
        WILDCARD,
        "'*'",
    ),
    Mutation(
        secrets.iam_no_wildcard_actions,
        f.iam_policy,
        setting(
            "policy",
            json.dumps({"Statement": {"Effect": "Allow", "Action": ["ecs:*", "*:*"], "Resource": "*"}}),
        ),
        WILDCARD,
        "'*:*' in a lone statement",
    ),
    Mutation(
        secrets.iam_no_wildcard_actions,
        f.iam_policy,
        setting("policy", _document({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})),
        "IAM policies must not allow with NotAction.",
        "Allow with NotAction",
    ),
    Mutation(
        secrets.iam_no_wildcard_actions,
        f.role_with_inline_policy,
        setting("inlinePolicies.0.policy", _document({"Effect": "Allow", "Action": "*"})),
        WILDCARD,
        "a role's inline policy",
    ),
    Mutation(
        secrets.iam_no_admin_policy_attachment,
        f.policy_attachment,
        setting("policyArn", "arn:aws:iam::aws:policy/AdministratorAccess"),
        ADMIN,
        "an attachment",
    ),
    Mutation(
        secrets.iam_no_admin_policy_attachment,
        f.role_with_inline_policy,
        setting("managedPolicyArns", ["arn:aws-us-gov:iam::aws:policy/AdministratorAccess"]),
        ADMIN,
        "a role's managed policies, another partition",
    ),
]


test_the_happy_path_passes = happy_path_test(HAPPY)
test_one_change_is_reported = mutation_test(MUTATIONS)


def test_an_asymmetric_key_cannot_rotate_and_is_not_asked_to() -> None:
    key = applied(f.kms_key(), setting("keySpec", "RSA_2048"), setting("enableKeyRotation", False))
    assert_passes(secrets.kms_key_rotation, key)


def test_a_deny_with_wildcards_is_fine() -> None:
    denial = applied(
        f.iam_policy(), setting("policy", _document({"Effect": "Deny", "Action": "*", "Resource": "*"}))
    )
    assert_passes(secrets.iam_no_wildcard_actions, denial)


def test_a_disposable_stack_may_delete_secrets_at_once_and_only_at_once() -> None:
    # GIVEN staging's setting allowForceDelete (its secrets' names must be free again when it is
    # destroyed and created again)
    disposable = {"allowForceDelete": True}
    # WHEN a secret is deleted at once, or kept for fewer days than the minimum
    at_once = applied(f.secret(), setting("recoveryWindowInDays", 0))
    three_days = applied(f.secret(), setting("recoveryWindowInDays", 3))
    # THEN 0 passes, a short window is still reported, and without the setting 0 is reported too
    assert_passes(secrets.secret_recovery_window, at_once, disposable)
    assert check(secrets.secret_recovery_window, three_days, settings=disposable) == [
        "Secrets must stay recoverable for at least 7 days after deletion."
    ], three_days["urn"]
    assert check(secrets.secret_recovery_window, at_once) == [
        "Secrets must stay recoverable for at least 7 days after deletion."
    ], at_once["urn"]
