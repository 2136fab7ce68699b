"""Rotation policies: in prod every secret rotates within 90 days or carries a RotationExempt tag with
its reason; every Lambda function logs to an encrypted group of the stack; a Lambda role holds "*"
only for the actions AWS grants on "*" alone, and no managed policy."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.rotation_policy import rotation_policy
from notes_platform.checks.policy_pack import evaluate
from policies.notes_policies import resource_types as t
from policies.notes_policies import rotation
from tests.policies.harness import (
    ACCOUNT,
    Mutation,
    Resource,
    StackMutation,
    adding,
    check_stack,
    in_order,
    named,
    on,
    option,
    removing,
    resource,
    setting,
    stack_mutation_test,
    without,
)

REGION = "eu-west-1"
JWT_NAME = "notes/prod/jwt-signing-key"
JWT_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{JWT_NAME}-AbCdEf"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f0"
FUNCTION_NAME = "notes-prod-rotate-jwt"
GROUP_NAME = f"/aws/lambda/{FUNCTION_NAME}"
GROUP_ARN = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{GROUP_NAME}"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{FUNCTION_NAME}"


def _r(
    type_token: str,
    name: str,
    inputs: dict[str, Any],
    component: str = "SecretRotationFunction",
    **extra: Any,
) -> Resource:
    return resource(type_token, name, inputs, component=component, **extra)


SECRET = _r(
    t.SECRETS_MANAGER_SECRET,
    "prod-jwt-signing-key-secret",
    {"name": JWT_NAME, "kmsKeyId": KEY},
    "GeneratedSecret",
)
REDIS_SECRET = _r(
    t.SECRETS_MANAGER_SECRET,
    "prod-redis-auth-token-g3-secret",
    {
        "name": "notes/prod/redis-auth-token-g3",
        "kmsKeyId": KEY,
        "tags": {rotation.EXEMPT_TAG: "a generation secret, rotated by the rotate-cache-token workflow"},
    },
    "RedisCache",
)
LOG_GROUP = _r(
    t.LOG_GROUP, "prod-rotation-jwt-logs", {"name": GROUP_NAME, "kmsKeyId": KEY, "retentionInDays": 90}
)
ROLE = _r(t.IAM_ROLE, "prod-rotation-jwt-role", {"name": FUNCTION_NAME})
POLICY = _r(
    "aws:iam/rolePolicy:RolePolicy",
    "prod-rotation-jwt-policy",
    {
        "role": f"{FUNCTION_NAME}-0f1e2d3c",
        "policy": json.dumps(
            rotation_policy(
                region=REGION, secret_arn=JWT_ARN, secrets_kms_key_arn=KEY, log_group_arn=GROUP_ARN
            )
        ),
    },
    dependencies=[ROLE["urn"]],
)
FUNCTION = _r(
    t.LAMBDA_FUNCTION,
    "prod-rotation-jwt-function",
    {"name": FUNCTION_NAME, "role": ROLE_ARN, "loggingConfig": {"logFormat": "Text", "logGroup": GROUP_NAME}},
    dependencies=[ROLE["urn"], LOG_GROUP["urn"], POLICY["urn"]],
)
ROTATION = _r(
    t.SECRET_ROTATION,
    "prod-rotation-jwt-rotation",
    {
        "secretId": JWT_ARN,
        "rotationLambdaArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FUNCTION_NAME}",
        "rotationRules": {"automaticallyAfterDays": 30},
    },
    dependencies=[SECRET["urn"], FUNCTION["urn"]],
)


def graph() -> list[Resource]:
    """A prod stack's rotated JWT secret, its function, and a secret exempt with its reason."""
    return json.loads(json.dumps([SECRET, REDIS_SECRET, LOG_GROUP, ROLE, POLICY, FUNCTION, ROTATION]))


UNROTATED = "Secrets must rotate in prod, or carry a RotationExempt tag naming the reason."
TOO_SLOW = "Secret rotations must run at least every 90 days in prod."
NOT_SCOPED = (
    "Lambda function roles must not grant '*' resources but for actions that have no "
    "resource-level permissions."
)


def _granting(*statements: dict[str, Any]) -> Any:
    def change(target: Resource) -> None:
        document = json.loads(target["inputs"]["policy"])
        document["Statement"] += list(statements)
        target["inputs"]["policy"] = json.dumps(document)

    return change


STACK_MUTATIONS = [
    StackMutation(
        rotation.secret_rotated,
        without("prod-rotation-jwt-rotation"),
        [(UNROTATED, SECRET["urn"])],
        "no rotation",
    ),
    StackMutation(
        rotation.secret_rotated,
        on("prod-rotation-jwt-rotation", setting("rotationRules.automaticallyAfterDays", 120)),
        [(TOO_SLOW, SECRET["urn"])],
        "every 120 days",
    ),
    StackMutation(
        rotation.secret_rotated,
        on("prod-rotation-jwt-rotation", setting("rotationRules", {"scheduleExpression": "rate(100 days)"})),
        [(TOO_SLOW, SECRET["urn"])],
        "a rate of 100 days",
    ),
    StackMutation(
        rotation.secret_rotated,
        on(
            "prod-rotation-jwt-rotation",
            setting("rotationRules", {"scheduleExpression": "cron(0 4 1 1 ? *)"}),
        ),
        [(TOO_SLOW, SECRET["urn"])],
        "a yearly cron",
    ),
    StackMutation(
        rotation.secret_rotated,
        on("prod-rotation-jwt-rotation", setting("rotationEnabled", False)),
        [(UNROTATED, SECRET["urn"])],
        "rotation switched off",
    ),
    StackMutation(
        rotation.secret_rotated,
        on("prod-redis-auth-token-g3-secret", setting("tags.RotationExempt", " ")),
        [(UNROTATED, REDIS_SECRET["urn"])],
        "an exemption without a reason",
    ),
    StackMutation(
        rotation.secret_rotated,
        in_order(
            on(
                "prod-rotation-jwt-rotation", setting("secretId", JWT_ARN.replace("jwt-signing-key", "other"))
            ),
            on("prod-rotation-jwt-rotation", option("dependencies", [FUNCTION["urn"]])),
        ),
        [(UNROTATED, SECRET["urn"])],
        "a rotation of another secret",
    ),
    StackMutation(
        rotation.lambda_logs_encrypted,
        on("prod-rotation-jwt-logs", removing("kmsKeyId")),
        [("Lambda functions must log to a KMS-encrypted log group.", FUNCTION["urn"])],
        "an unencrypted group",
    ),
    StackMutation(
        rotation.lambda_logs_encrypted,
        without("prod-rotation-jwt-logs"),
        [("Lambda functions must log to a log group of the stack.", FUNCTION["urn"])],
        "the group Lambda would create",
    ),
    StackMutation(
        rotation.lambda_role_scoped_resources,
        on(
            "prod-rotation-jwt-policy",
            _granting({"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}),
        ),
        [(NOT_SCOPED, FUNCTION["urn"])],
        "every secret's value",
    ),
    StackMutation(
        rotation.lambda_role_scoped_resources,
        on(
            "prod-rotation-jwt-policy",
            _granting({"Effect": "Allow", "Action": "kms:Decrypt", "NotResource": KEY}),
        ),
        [(NOT_SCOPED, FUNCTION["urn"])],
        "NotResource",
    ),
    StackMutation(
        rotation.lambda_role_scoped_resources,
        adding(
            _r(
                "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
                "prod-rotation-jwt-vpc-access",
                {
                    "role": FUNCTION_NAME,
                    "policyArn": "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole",
                },
                dependencies=[ROLE["urn"]],
            )
        ),
        [("Lambda function roles must not attach managed policies.", FUNCTION["urn"])],
        "AWSLambdaVPCAccessExecutionRole (logs and ENIs on '*')",
    ),
]

# Every rule here judges the stack as a whole.
MUTATIONS: list[Mutation] = []

test_one_stack_change_is_reported = stack_mutation_test(STACK_MUTATIONS, graph)


@pytest.mark.parametrize("policy", rotation.POLICIES, ids=lambda p: p.name)
def test_the_rotated_stack_passes(policy: Any) -> None:
    # GIVEN the JWT secret rotated every 30 days by a scoped, encrypted-logging function, and the
    # Redis token exempt with its reason / WHEN validated / THEN nothing is reported
    assert check_stack(policy, graph()) == []


def test_the_whole_pack_passes_the_rotation_resources() -> None:
    assert [v for v in evaluate(graph(), "prod") if v.policy.startswith(("secret-rotated", "lambda-"))] == []


@pytest.mark.parametrize(
    "schedule",
    [
        {"automaticallyAfterDays": 90},
        {"scheduleExpression": "rate(30 days)"},
        {"scheduleExpression": "cron(0 4 1 * ? *)"},
        {"scheduleExpression": "cron(0 4 ? * SUN *)"},
        {"scheduleExpression": "rate(12 hours)"},
    ],
    ids=str,
)
def test_schedules_of_at_most_90_days_pass(schedule: dict[str, Any]) -> None:
    g = graph()
    named(g, "prod-rotation-jwt-rotation")["inputs"]["rotationRules"] = schedule
    assert check_stack(rotation.secret_rotated, g) == []


def test_a_rotation_naming_the_secret_by_arn_needs_no_dependency() -> None:
    # GIVEN the secret's ARN typed into the rotation, no recorded dependency on the secret
    g = graph()
    named(g, "prod-rotation-jwt-rotation")["dependencies"] = [FUNCTION["urn"]]
    # THEN the name inside the ARN is enough
    assert check_stack(rotation.secret_rotated, g) == []


def test_staging_secrets_need_not_rotate() -> None:
    g = [
        {**r, "urn": r["urn"].replace("urn:pulumi:prod::", "urn:pulumi:staging::")}
        for r in graph()
        if r["type"] != t.SECRET_ROTATION
    ]
    assert check_stack(rotation.secret_rotated, g) == []


@pytest.mark.parametrize(
    ("expression", "days"),
    [
        ("rate(7 days)", 7),
        ("rate(1 day)", 1),
        ("rate(6 hours)", 0.25),
        ("cron(0 4 * * ? *)", 1),
        ("cron(0 4 ? * MON *)", 7),
        ("cron(0 4 1,15 * ? *)", 31),
        ("cron(0 4 1 6 ? *)", 366),
        ("rate(2 weeks)", None),
        ("cron(0 4 * *)", None),
        ("at(2026-01-01T00:00:00)", None),
    ],
)
def test_schedule_days_bounds_the_gap_between_rotations(expression: str, days: float | None) -> None:
    assert rotation.schedule_days(expression) == days
