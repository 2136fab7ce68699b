"""ApiService with an init container and secrets its code reads by ARN: the init container runs
first and is not essential, the master secret reaches only it and only through the execution
role, and the task role reads exactly the secrets named by ARN."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest

from infra.ecs import ApiService, InitContainer, check_environment, init_container_definition
from notes_platform.graph.mocks import ACCOUNT_ID, Recorded
from tests.infra.harness import Graph, run
from tests.infra.test_ecs import DIGEST, LISTENER_NAME, REPOSITORY, SECRETS_KEY, staging_args
from tests.type_tokens import ECS_SERVICE, IAM_ROLE_POLICY, TASK_DEFINITION

PREFIX = f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT_ID}:secret:"
MASTER = f"{PREFIX}rds!cluster-0b1c2d3e-AbCdEf"
APP = f"{PREFIX}notes/staging/docdb-app-GhIjKl"
JWT = f"{PREFIX}notes/staging/jwt-signing-key-MnOpQr"
REDIS = f"{PREFIX}notes/staging/redis-auth-token-g1-StUvWx"
DBUSERS = InitContainer(
    name="dbusers",
    command=("python", "-m", "notes_api.dbusers"),
    environment_variables={"NOTES_DOCDB_APP_SECRET_ARN": APP},
    secrets={"NOTES_DOCDB_MASTER_SECRET": MASTER},
)


def overrides(**more: Any) -> dict[str, Any]:
    return {
        "secrets": {"NOTES_REDIS_AUTH_TOKEN": REDIS},
        "environment_variables": {
            "NOTES_ENV": "production",
            "NOTES_MONGODB_URI_SECRET_ARN": APP,
            "NOTES_JWT_SIGNING_KEY_SECRET_ARN": JWT,
        },
        "task_secret_arns": [APP, JWT],
        "init_container": DBUSERS,
        **more,
    }


@pytest.fixture(scope="module")
def graph() -> Graph:
    def build() -> Any:
        listener = aws.lb.Listener(
            LISTENER_NAME, load_balancer_arn="arn:aws:elasticloadbalancing:lb", port=443, default_actions=[]
        )
        versions = [
            aws.secretsmanager.SecretVersion(f"version-{i}", secret_id=arn, secret_string="x")
            for i, arn in enumerate((APP, JWT, REDIS))
        ]
        service = ApiService("staging-api", staging_args(listener, versions, **overrides()))
        return service.service_name

    return run(build)


def containers(graph: Graph) -> dict[str, dict[str, Any]]:
    task = graph.one(TASK_DEFINITION)
    return {c["name"]: c for c in json.loads(task.inputs["containerDefinitions"])}


def policy(graph: Graph, name_part: str) -> tuple[Recorded, list[dict[str, Any]]]:
    found = graph.one(IAM_ROLE_POLICY, name_part)
    return found, json.loads(found.inputs["policy"])["Statement"]


def test_the_api_starts_only_after_the_init_container_exited_0(graph: Graph) -> None:
    # GIVEN the task definition  WHEN its containers are read
    api, dbusers = containers(graph)["api"], containers(graph)["dbusers"]
    # THEN the API waits for dbusers to succeed, and dbusers is not essential (ECS: SUCCESS only
    # on a non-essential container), runs the command and writes to its own log stream
    assert api["dependsOn"] == [{"containerName": "dbusers", "condition": "SUCCESS"}], api
    assert api["essential"] is True
    assert dbusers["essential"] is False
    assert dbusers["command"] == ["python", "-m", "notes_api.dbusers"]
    assert dbusers["image"] == api["image"] == f"{REPOSITORY}@{DIGEST}"
    assert dbusers["logConfiguration"]["options"]["awslogs-stream-prefix"] == "dbusers"
    assert "dependsOn" not in dbusers and "healthCheck" not in dbusers and dbusers["portMappings"] == []


def test_the_init_container_is_hardened_like_the_api(graph: Graph) -> None:
    api, dbusers = containers(graph)["api"], containers(graph)["dbusers"]
    for key in ("readonlyRootFilesystem", "user", "privileged", "linuxParameters", "mountPoints"):
        assert dbusers[key] == api[key], key
    assert dbusers["linuxParameters"]["capabilities"]["drop"] == ["ALL"]


def test_the_master_secret_reaches_only_the_init_container_through_the_execution_role(graph: Graph) -> None:
    api, dbusers = containers(graph)["api"], containers(graph)["dbusers"]
    # THEN ECS injects it into dbusers, the API container has neither it nor its ARN
    assert dbusers["secrets"] == [{"name": "NOTES_DOCDB_MASTER_SECRET", "valueFrom": MASTER}]
    assert MASTER not in json.dumps(api)
    # AND the execution role may read it and the Redis token; the task role may not read it
    execution, statements = policy(graph, "staging-api-execution-policy")
    reads = next(s for s in statements if s["Sid"] == "Secrets")
    assert reads["Resource"] == sorted([MASTER, REDIS]), execution.urn
    task, task_statements = policy(graph, "staging-api-task-policy")
    assert MASTER not in json.dumps(task_statements), task.urn


def test_the_task_role_reads_exactly_the_secrets_named_by_arn(graph: Graph) -> None:
    task, statements = policy(graph, "staging-api-task-policy")
    by_sid = {s["Sid"]: s for s in statements}
    assert by_sid["ReadSecrets"] == {
        "Sid": "ReadSecrets",
        "Effect": "Allow",
        "Action": "secretsmanager:GetSecretValue",
        "Resource": sorted([APP, JWT]),
    }, task.urn
    assert by_sid["ReadSecretsKey"]["Action"] == "kms:Decrypt"
    assert by_sid["ReadSecretsKey"]["Resource"] == SECRETS_KEY
    assert by_sid["ReadSecretsKey"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}
    }
    # AND the variables name them in plain text: ARNs, not values
    env = {e["name"]: e["value"] for e in containers(graph)["api"]["environment"]}
    assert (env["NOTES_MONGODB_URI_SECRET_ARN"], env["NOTES_JWT_SIGNING_KEY_SECRET_ARN"]) == (APP, JWT)


def test_the_service_waits_for_the_task_roles_policy(graph: Graph) -> None:
    # GIVEN the API and dbusers read secrets with the task role as they start
    service = graph.one(ECS_SERVICE)
    task_policy = graph.one(IAM_ROLE_POLICY, "staging-api-task-policy")
    # THEN the service is created after that policy
    assert task_policy.urn in service.dependencies, service.dependencies


def test_the_init_container_definition_alone() -> None:
    # GIVEN the pure function  WHEN called  THEN it is the API's hardening minus port and checks
    definition = init_container_definition(
        args=staging_args(pulumi.Output.from_input("x"), init_container=DBUSERS),  # type: ignore[arg-type]
        init=DBUSERS,
        image="img",
        log_group="/ecs/notes-staging/api",
        environment={"NOTES_DOCDB_APP_SECRET_ARN": APP},
        secrets={"NOTES_DOCDB_MASTER_SECRET": MASTER},
    )
    assert (definition["name"], definition["essential"], definition["user"]) == (
        "dbusers",
        False,
        "10001:10001",
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"init_container": InitContainer(name="api", command=("x",))}, "is the API container's name"),
        ({"init_container": InitContainer(name="dbusers", command=())}, "init_container.command is empty"),
        (
            {
                "init_container": InitContainer(
                    name="dbusers", command=("x",), environment_variables={"NOTES_DB_PASSWORD": "p"}
                )
            },
            "look like secrets but are plain environment variables",
        ),
        (
            {"init_container": InitContainer(name="dbusers", command=("x",), secrets={"M": "{'password'}"})},
            r"init_container.secrets\['M'\] must be a secret ARN",
        ),
        (
            {"environment_variables": {"NOTES_MONGODB_URI_SECRET_ARN": "mongodb://u:p@h"}},
            r"environment_variables\['NOTES_MONGODB_URI_SECRET_ARN'\] must be a secret ARN",
        ),
    ],
)
def test_impossible_init_and_secret_arguments_fail_in_the_constructor(
    change: dict[str, Any], message: str
) -> None:
    def build() -> None:
        listener = aws.lb.Listener(
            "l", load_balancer_arn="arn:aws:elasticloadbalancing:lb", port=443, default_actions=[]
        )
        ApiService("bad-api", staging_args(listener, **overrides(**change)))

    with pytest.raises(ValueError, match=message):
        run(build)


def test_secrets_read_by_arn_need_their_versions_too() -> None:
    # GIVEN no ECS-injected secrets but one the code reads by ARN, and no versions
    # WHEN checked  THEN it is refused: the task would start before the value exists
    with pytest.raises(ValueError, match="without secret_versions"):
        check_environment({}, {}, [], (), task_secret_arns=[APP])
