"""The secret-access check: both stacks' containers read only what their roles may read, and each
mistake of the kind planted into the real plan is found, naming the task, the container, the
variable and the role."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from notes_platform.checks import secret_access
from notes_platform.checks.ordering import TASK_DEFINITION, Finding
from notes_platform.graph.mocks import Recorded
from notes_platform.graph.plan import Plan

STACKS = ("staging", "prod")
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


def one(resources: list[Recorded], type_token: str, name_part: str) -> Recorded:
    found = [r for r in resources if r.type == type_token and name_part in r.name]
    assert len(found) == 1, f"expected one {type_token} named *{name_part}*: {[r.urn for r in found]}"
    return found[0]


def planted(plan: Plan, mutate: Callable[[list[Recorded]], None]) -> list[Recorded]:
    resources = copy.deepcopy(plan.resources)
    mutate(resources)
    return resources


def edit_policy(
    name_part: str, edit: Callable[[list[dict[str, Any]]], None]
) -> Callable[[list[Recorded]], None]:
    """A mutation of the statements of the inline policy named *name_part*."""

    def mutate(resources: list[Recorded]) -> None:
        policy = one(resources, ROLE_POLICY, name_part)
        document = json.loads(policy.inputs["policy"])
        edit(document["Statement"])
        policy.inputs["policy"] = json.dumps(document)

    return mutate


def edit_containers(
    name_part: str, edit: Callable[[dict[str, dict[str, Any]]], None]
) -> Callable[[list[Recorded]], None]:
    """A mutation of the containers (by name) of the task definition named *name_part*."""

    def mutate(resources: list[Recorded]) -> None:
        task = one(resources, TASK_DEFINITION, name_part)
        containers = json.loads(task.inputs["containerDefinitions"])
        edit({c["name"]: c for c in containers})
        task.inputs["containerDefinitions"] = json.dumps(containers)

    return mutate


def drop_resource(sid: str, fragment: str) -> Callable[[list[dict[str, Any]]], None]:
    """Take the ARN containing ``fragment`` out of statement ``sid``."""

    def edit(statements: list[dict[str, Any]]) -> None:
        statement = next(s for s in statements if s.get("Sid") == sid)
        statement["Resource"] = [r for r in statement["Resource"] if fragment not in r]

    return edit


def messages(findings: list[Finding], urn: str) -> list[str]:
    return [f.message for f in findings if f.urn == urn]


@pytest.mark.parametrize("stack", STACKS)
def test_both_stacks_read_only_what_their_roles_may_read(plans: dict[str, Plan], stack: str) -> None:
    # GIVEN the real plan / WHEN checked / THEN every container can read each secret it names
    assert secret_access.check(plans[stack].resources) == []


@pytest.mark.parametrize("stack", STACKS)
def test_a_plan_read_back_from_json_checks_the_same(plans: dict[str, Plan], stack: str) -> None:
    # GIVEN the plan as `plan --json` writes it (no per-property dependencies: roles by name)
    resources = [Recorded.from_json(json.loads(json.dumps(r.to_json()))) for r in plans[stack].resources]
    # THEN it is clean, and a policy without the master secret is still found
    assert secret_access.check(resources) == []
    edit_policy("-api-execution-policy", drop_resource("Secrets", "rds!cluster-"))(resources)
    assert secret_access.check(resources), "the unreadable master secret went unnoticed"


@pytest.mark.parametrize(
    ("policy", "mutation", "task", "container", "variable", "role", "needle"),
    [
        # ECS injects the master secret into dbusers with the execution role.
        (
            "-api-execution-policy",
            drop_resource("Secrets", "rds!cluster-"),
            "-api-task",
            "dbusers",
            "secrets NOTES_DOCDB_MASTER_SECRET",
            "execution role",
            "secretsmanager:GetSecretValue",
        ),
        (
            "-api-execution-policy",
            drop_resource("Secrets", "redis-auth-token"),
            "-api-task",
            "api",
            "secrets NOTES_REDIS_AUTH_TOKEN",
            "execution role",
            "secretsmanager:GetSecretValue",
        ),
        # The API and the worker read the app secret and the JWT key set with their task roles.
        (
            "-api-task-policy",
            drop_resource("ReadSecrets", "jwt-signing-key"),
            "-api-task",
            "api",
            "environment NOTES_JWT_SIGNING_KEY_SECRET_ARN",
            "task role",
            "secretsmanager:GetSecretValue",
        ),
        (
            "-api-task-policy",
            drop_resource("ReadSecrets", "docdb-app"),
            "-api-task",
            "dbusers",
            "environment NOTES_DOCDB_APP_SECRET_ARN",
            "task role",
            "secretsmanager:GetSecretValue",
        ),
        (
            "-worker-task-policy",
            drop_resource("ReadSecrets", "docdb-app"),
            "-worker-task",
            "worker",
            "environment NOTES_MONGODB_URI_SECRET_ARN",
            "task role",
            "secretsmanager:GetSecretValue",
        ),
        # Reading is not enough: Secrets Manager decrypts with the secret's key as the caller.
        (
            "-worker-task-policy",
            lambda statements: statements.remove(
                next(s for s in statements if s.get("Sid") == "ReadSecretsKey")
            ),
            "-worker-task",
            "worker",
            "environment NOTES_MONGODB_URI_SECRET_ARN",
            "task role",
            "kms:Decrypt",
        ),
    ],
)
def test_a_secret_its_role_cannot_read_is_found(
    plans: dict[str, Plan],
    policy: str,
    mutation: Callable[[list[dict[str, Any]]], None],
    task: str,
    container: str,
    variable: str,
    role: str,
    needle: str,
) -> None:
    # GIVEN prod's plan with one grant taken out of a role's policy
    plan = plans["prod"]
    urn = one(plan.resources, TASK_DEFINITION, task).urn
    # WHEN checked
    found = messages(secret_access.check(planted(plan, edit_policy(policy, mutation))), urn)
    # THEN the task definition is reported, once for that container's variable, naming the role
    # (the API container reads the app secret too: it is reported beside dbusers)
    mine = [m for m in found if m.startswith(f"container {container!r} {variable}: ")]
    assert len(mine) == 1, found
    assert mine[0].startswith(f"container {container!r} {variable}: the {role} "), found
    assert needle in mine[0], found


def test_the_master_secret_moved_to_the_api_container_is_found(plans: dict[str, Plan]) -> None:
    # GIVEN the master secret's ARN handed to the API container as a variable its code reads
    plan = plans["staging"]
    urn = one(plan.resources, TASK_DEFINITION, "-api-task").urn

    def leak(containers: dict[str, dict[str, Any]]) -> None:
        master = containers["dbusers"]["secrets"][0]["valueFrom"]
        containers["api"]["environment"].append({"name": "NOTES_DOCDB_MASTER_SECRET_ARN", "value": master})

    # THEN the task role, which never gets the master secret, is reported
    found = messages(secret_access.check(planted(plan, edit_containers("-api-task", leak))), urn)
    assert len(found) == 1 and "NOTES_DOCDB_MASTER_SECRET_ARN: the task role" in found[0], found


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda cs: cs["dbusers"].update(essential=True),
            "container 'api' waits for 'dbusers' to SUCCESS, which is essential",
        ),
        (
            lambda cs: cs["api"].update(dependsOn=[{"containerName": "migrate", "condition": "COMPLETE"}]),
            "container 'api' waits for 'migrate' to COMPLETE, which is not a container of this task",
        ),
        (
            lambda cs: cs["dbusers"]["environment"].append({"name": "NOTES_X_SECRET_ARN", "value": "plain"}),
            "container 'dbusers' environment NOTES_X_SECRET_ARN: 'plain' is not a secret ARN",
        ),
    ],
)
def test_a_container_dependency_ecs_refuses_is_found(
    plans: dict[str, Plan], edit: Callable[[dict[str, dict[str, Any]]], None], expected: str
) -> None:
    # GIVEN staging's API task with its init container planted wrong
    plan = plans["staging"]
    urn = one(plan.resources, TASK_DEFINITION, "-api-task").urn
    found = messages(secret_access.check(planted(plan, edit_containers("-api-task", edit))), urn)
    # THEN it is reported, naming both containers
    assert len(found) == 1 and found[0].startswith(expected), found


def test_wildcards_in_actions_and_resources_grant_like_iam() -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:notes/prod/docdb-app-AbCdEf"
    assert secret_access.allows(
        [{"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"}],
        "secretsmanager:GetSecretValue",
        arn,
    )
    assert secret_access.allows(
        [{"Effect": "Allow", "Action": ["SecretsManager:GetSecretValue"], "Resource": arn[:-6] + "??????"}],
        "secretsmanager:GetSecretValue",
        arn,
    )
    assert not secret_access.allows([{"Effect": "Deny", "Action": "*", "Resource": "*"}], "kms:Decrypt", arn)
    assert secret_access.secret_arn(arn + ":uri::") == arn
    assert secret_access.secret_arn("mongodb://x") is None
