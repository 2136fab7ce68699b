"""The CI roles' permissions, as documents: each environment's deploy stays within its own names."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.bootstrap.permissions import (
    INLINE_ROLE_POLICY_LIMIT,
    deploy_policy,
    policy_size,
    preview_policy,
)

ACCOUNT = "123456789012"
BUCKET = "arn:aws:s3:::notes-platform-state-123456789012"
KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/state"


def _deploy(environment: str, **kwargs: Any) -> dict[str, Any]:
    return deploy_policy(
        environment=environment,
        account=ACCOUNT,
        project="notes-platform",
        bucket_arn=BUCKET,
        key_arn=KEY,
        **kwargs,
    )


def _allowed(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in document["Statement"] if s["Effect"] == "Allow"]


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement.get("Action", [])
    return [action] if isinstance(action, str) else list(action)


def test_a_deploy_policy_fits_a_roles_inline_quota() -> None:
    # GIVEN each environment's deploy policy THEN IAM accepts its size (whitespace not counted)
    for environment in ("staging", "prod"):
        assert policy_size(_deploy(environment, readable_stacks=("staging",))) < INLINE_ROLE_POLICY_LIMIT
    # AND a planted oversized document is caught by the same measure
    bloated = _deploy("staging")
    bloated["Statement"].append(
        {"Sid": "Pad", "Effect": "Allow", "Action": ["s3:GetObject"] * 800, "Resource": "*"}
    )
    assert policy_size(bloated) > INLINE_ROLE_POLICY_LIMIT


def test_staging_deploy_never_names_prods_resources() -> None:
    # WHEN the staging deploy policy is rendered
    text = json.dumps(_allowed(_deploy("staging")))
    # THEN no Allow names prod's resources, and the only state it writes is staging's
    assert "prod" not in text
    writes = next(s for s in _deploy("staging")["Statement"] if s["Sid"] == "StateWriteOwnStack")
    assert all("/notes-platform/staging" in r for r in writes["Resource"])
    # AND the check would notice a planted prod grant
    planted = _deploy("staging")
    planted["Statement"].append(
        {"Sid": "X", "Effect": "Allow", "Action": "ecs:*", "Resource": "arn:aws:ecs:*:1:cluster/notes-prod"}
    )
    assert "prod" in json.dumps(_allowed(planted))


def test_prod_reads_stagings_checkpoint_only_when_configured() -> None:
    # GIVEN prod configured to read staging's state (promote reads staging's outputs)
    reads = next(
        s for s in _deploy("prod", readable_stacks=("staging",))["Statement"] if s["Sid"] == "StateRead"
    )
    # THEN it may read staging's checkpoint, and without the setting it may not
    assert f"{BUCKET}/.pulumi/stacks/notes-platform/staging.json*" in reads["Resource"]
    alone = next(s for s in _deploy("prod")["Statement"] if s["Sid"] == "StateRead")
    assert not any("staging" in r for r in alone["Resource"])


def test_the_state_key_is_used_but_never_administered() -> None:
    # GIVEN a deploy policy
    statements = {s["Sid"]: s for s in _deploy("staging")["Statement"]}
    # THEN a Deny covers every action on the state key except using it
    guard = statements["StateKeyIsUsedNotAdministered"]
    assert guard["Effect"] == "Deny" and guard["Resource"] == KEY
    assert set(guard["NotAction"]) == {"kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"}
    # AND the deny on other environments' tagged resources leaves the state key to that guard
    other = statements["NeverAnotherEnvironmentsResources"]
    assert other["NotResource"] == KEY
    assert other["Condition"]["Null"] == {"aws:ResourceTag/Environment": "false"}


@pytest.mark.parametrize("environment", ["staging", "prod"])
def test_deploy_roles_may_pass_only_their_own_roles_to_their_services(environment: str) -> None:
    statements = {s["Sid"]: s for s in _deploy(environment)["Statement"]}
    passing = statements["PassNamedRolesToTheirServices"]
    assert passing["Resource"] == f"arn:aws:iam::{ACCOUNT}:role/notes-{environment}-*"
    assert passing["Condition"]["StringEquals"]["iam:PassedToService"] == [
        "ecs-tasks.amazonaws.com",
        "vpc-flow-logs.amazonaws.com",
    ]


def test_the_preview_policy_writes_nothing() -> None:
    # GIVEN the preview policy over both stacks
    document = preview_policy(
        account=ACCOUNT, project="notes-platform", stacks=("staging", "prod"), bucket_arn=BUCKET, key_arn=KEY
    )
    actions = [a for s in _allowed(document) for a in _actions(s)]
    # THEN every action reads (describe, list, get, decrypt): none creates, changes or deletes
    writes = [a for a in actions if not a.split(":")[1].startswith(("Describe", "List", "Get", "Decrypt"))]
    assert writes == []
    # AND a planted write would be seen
    planted = [*actions, "s3:PutObject"]
    assert [a for a in planted if not a.split(":")[1].startswith(("Describe", "List", "Get", "Decrypt"))] == [
        "s3:PutObject"
    ]
