"""SecretRotationFunction and ManagedSecretRotation under mocks: the function in the private subnets
with a group of its own, a role limited to its one secret, a KMS-encrypted log group, an Errors
alarm, Secrets Manager's invoke permission for this account and secret only, and a schedule that
waits for the permission; the DocumentDB function's way to the cluster; the package's contents;
and the managed schedule of the master secret with no function."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest

from infra import rotation_code
from infra.rotation import (
    ACTIVATION_DELAY_ENV,
    CA_FILE_ENV,
    KEEP_ENV,
    ManagedSecretRotation,
    ManagedSecretRotationArgs,
    SecretRotationFunction,
    SecretRotationFunctionArgs,
)
from infra.rotation_policy import ENI_ACTIONS, RANDOM_PASSWORD_ACTION
from notes_platform.checks import ordering
from notes_platform.graph.mocks import ACCOUNT_ID, Recorded
from tests.infra.harness import Graph, run
from tests.type_tokens import (
    EGRESS_RULE,
    IAM_ROLE,
    IAM_ROLE_POLICY,
    INGRESS_RULE,
    LAMBDA_FUNCTION,
    LAMBDA_PERMISSION,
    LOG_GROUP,
    METRIC_ALARM,
    SECRET_ROTATION,
    SECRET_VERSION,
    SECURITY_GROUP,
)

REGION = "eu-west-1"
SECRETS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/secrets"
LOGS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/logs"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:notes-prod-alarms"
MASTER = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:rds!cluster-0f1e2d3c-AbCdEf"
DOCDB_SG = "sg-docdb"
VPC_CIDR = "10.20.0.0/16"
SUBNETS = ["subnet-private-a", "subnet-private-b"]
# Any small archive: the packaging has tests of its own below.
CODE = pulumi.AssetArchive({"notes_rotation/__init__.py": pulumi.StringAsset("")})


def rotation_args(
    name: str, secret_arn: Any, ready: list[pulumi.Resource], **overrides: Any
) -> SecretRotationFunctionArgs:
    values: dict[str, Any] = {
        "environment": "prod",
        "name": name,
        "region": REGION,
        "account_id": ACCOUNT_ID,
        "secret_arn": secret_arn,
        "secret_ready": ready,
        "secrets_kms_key_arn": SECRETS_KEY,
        "logs_kms_key_arn": LOGS_KEY,
        "topic_arn": TOPIC,
        "vpc_id": "vpc-1",
        "subnet_ids": SUBNETS,
        "https_egress_cidr": VPC_CIDR,
        "log_retention_days": 90,
        "code": CODE,
    }
    if name == "docdb-app":
        values |= {"docdb_security_group_id": DOCDB_SG, "master_secret_arn": MASTER}
    return SecretRotationFunctionArgs(**{**values, **overrides})


def secret_arn_of(name: str) -> str:
    return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:notes/prod/{name}-AbCdEf"


def build(name: str, **overrides: Any) -> Graph:
    def program() -> Any:
        # The secret's first value, which the rotation waits for.
        version = aws.secretsmanager.SecretVersion(
            f"{name}-version", secret_id=secret_arn_of(name), secret_string="{}"
        )
        component = SecretRotationFunction(
            f"prod-rotation-{name}", rotation_args(name, secret_arn_of(name), [version], **overrides)
        )
        return [component.function.arn, component.rotation.id, component.errors_alarm.arn]

    return run(program, region=REGION)


@pytest.fixture(scope="module")
def jwt() -> Graph:
    return build("jwt")


@pytest.fixture(scope="module")
def docdb() -> Graph:
    return build("docdb-app")


def policy_of(graph: Graph) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(graph.one(IAM_ROLE_POLICY).inputs["policy"])
    return document


def statement(graph: Graph, sid: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [s for s in policy_of(graph)["Statement"] if s["Sid"] == sid]
    assert len(found) == 1, f"{sid} in {policy_of(graph)}"
    return found[0]


def secret_arn(graph: Graph) -> str:
    return secret_arn_of(graph.one(LAMBDA_FUNCTION).inputs["name"].removeprefix("notes-prod-rotate-"))


def test_the_jwt_function_runs_the_package_in_the_private_subnets(jwt: Graph) -> None:
    # GIVEN the JWT rotation function / WHEN planned
    function = jwt.one(LAMBDA_FUNCTION)
    group = jwt.one(SECURITY_GROUP)
    # THEN Python 3.12 runs the jwt handler with its two settings, in the private subnets and its own group
    assert function.inputs["name"] == "notes-prod-rotate-jwt"
    assert function.inputs["runtime"] == "python3.12"
    assert function.inputs["handler"] == "notes_rotation.jwt.lambda_handler"
    assert function.inputs["environment"]["variables"] == {ACTIVATION_DELAY_ENV: "180", KEEP_ENV: "1200"}
    assert function.inputs["vpcConfig"]["subnetIds"] == SUBNETS
    assert function.property_dependencies["vpcConfig"] == [group.urn]
    assert function.inputs["reservedConcurrentExecutions"] == 2
    # ... and CreateFunction waits for the role's policy (the ENI permissions) and the rules
    assert jwt.one(IAM_ROLE_POLICY).urn in function.dependencies
    assert {r.urn for r in jwt.of_type(EGRESS_RULE)} <= set(function.dependencies)


def test_the_jwt_function_reaches_only_the_secrets_manager_endpoint(jwt: Graph) -> None:
    # GIVEN the JWT function's group / THEN nothing inbound, HTTPS to the VPC (the interface endpoint)
    (egress,) = jwt.of_type(EGRESS_RULE)
    assert (egress.inputs["fromPort"], egress.inputs["toPort"], egress.inputs["cidrIpv4"]) == (
        443,
        443,
        VPC_CIDR,
    )
    assert jwt.of_type(INGRESS_RULE) == []


def test_logs_go_to_its_own_encrypted_group_with_the_stack_retention(jwt: Graph) -> None:
    group = jwt.one(LOG_GROUP)
    function = jwt.one(LAMBDA_FUNCTION)
    assert group.inputs["name"] == "/aws/lambda/notes-prod-rotate-jwt"
    assert (group.inputs["kmsKeyId"], group.inputs["retentionInDays"]) == (LOGS_KEY, 90)
    assert function.inputs["loggingConfig"]["logGroup"] == group.inputs["name"]
    assert function.property_dependencies["loggingConfig"] == [group.urn]


def test_the_jwt_role_may_rotate_its_one_secret_and_nothing_else(jwt: Graph) -> None:
    # GIVEN the role's policy
    document = policy_of(jwt)
    arn = secret_arn(jwt)
    # THEN the four rotation calls on the secret, the key through Secrets Manager for it only
    rotate = statement(jwt, "RotateTheSecret")
    assert rotate["Resource"] == arn
    assert sorted(rotate["Action"]) == [
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
    ]
    key = statement(jwt, "SecretsKeyThroughSecretsManager")
    assert key["Resource"] == SECRETS_KEY and sorted(key["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert key["Condition"]["StringEquals"] == {
        "kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com",
        "kms:EncryptionContext:SecretARN": [arn],
    }
    # ... no passwords to generate, "*" only for the network interfaces
    assert [s["Sid"] for s in document["Statement"] if s["Resource"] == "*"] == ["VpcNetworkInterfaces"]
    assert all(RANDOM_PASSWORD_ACTION not in s["Action"] for s in document["Statement"])
    logs = statement(jwt, "OwnLogGroup")
    group_arn = f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:/aws/lambda/notes-prod-rotate-jwt"
    assert logs["Resource"] == [group_arn, f"{group_arn}:log-stream:*"]
    # ... and Lambda alone may assume the role, for this account
    trust = json.loads(jwt.one(IAM_ROLE).inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}}


def test_secrets_manager_may_invoke_it_for_this_account_and_secret_only(jwt: Graph) -> None:
    permission = jwt.one(LAMBDA_PERMISSION)
    function = jwt.one(LAMBDA_FUNCTION)
    assert permission.inputs["action"] == "lambda:InvokeFunction"
    assert permission.inputs["principal"] == "secretsmanager.amazonaws.com"
    assert permission.inputs["sourceAccount"] == ACCOUNT_ID
    assert permission.inputs["sourceArn"] == secret_arn(jwt)
    assert permission.property_dependencies["function"] == [function.urn]


def test_the_schedule_names_the_function_and_waits_for_permission_and_value(jwt: Graph) -> None:
    # GIVEN the rotation / THEN every 30 days with the function, after the permission and the first value
    rotation = jwt.one(SECRET_ROTATION)
    function = jwt.one(LAMBDA_FUNCTION)
    assert rotation.inputs["secretId"] == secret_arn(jwt)
    assert rotation.inputs["rotationRules"] == {"automaticallyAfterDays": 30}
    assert rotation.property_dependencies["rotationLambdaArn"] == [function.urn]
    assert rotation.inputs["rotateImmediately"] is True
    assert {jwt.one(LAMBDA_PERMISSION).urn, jwt.one(SECRET_VERSION).urn} <= set(rotation.dependencies)
    # ... which the ordering check finds in order
    assert ordering.check(jwt.resources) == []


def test_a_rotation_that_does_not_wait_for_its_permission_is_found(jwt: Graph) -> None:
    # GIVEN the plan with the rotation's dependency on the permission planted away
    resources = [Recorded.from_json(r.to_json()) for r in jwt.resources]
    rotation = next(r for r in resources if r.type == SECRET_ROTATION)
    permission = next(r for r in resources if r.type == LAMBDA_PERMISSION)
    rotation.dependencies = [d for d in rotation.dependencies if d != permission.urn]
    # WHEN checked / THEN the rotation is named with what it must wait for
    findings = ordering.check(resources)
    assert [f.urn for f in findings] == [rotation.urn], findings
    assert permission.urn in findings[0].message and "cannot invoke" in findings[0].message


def test_a_rotation_with_no_permission_at_all_is_found(jwt: Graph) -> None:
    resources = [Recorded.from_json(r.to_json()) for r in jwt.resources if r.type != LAMBDA_PERMISSION]
    rotation = next(r for r in resources if r.type == SECRET_ROTATION)
    findings = ordering.check(resources)
    assert [f.urn for f in findings] == [rotation.urn]
    assert "no lambda Permission for secretsmanager.amazonaws.com" in findings[0].message


def test_errors_page_the_alarm_topic(jwt: Graph) -> None:
    alarm = jwt.one(METRIC_ALARM)
    assert alarm.inputs["name"] == "notes-prod-rotation-jwt-errors"
    assert (alarm.inputs["namespace"], alarm.inputs["metricName"]) == ("AWS/Lambda", "Errors")
    assert alarm.inputs["dimensions"] == {"FunctionName": "notes-prod-rotate-jwt"}
    assert (alarm.inputs["threshold"], alarm.inputs["treatMissingData"]) == (1, "notBreaching")
    assert alarm.inputs["alarmActions"] == [TOPIC]


def test_the_docdb_function_reaches_documentdb_whose_group_admits_it(docdb: Graph) -> None:
    # GIVEN the DocumentDB function / THEN 27017 out to DocumentDB's group, and that group admits it
    group = docdb.one(SECURITY_GROUP)
    out = docdb.one(EGRESS_RULE, "prod-rotation-docdb-app-out-docdb")
    assert (out.inputs["fromPort"], out.inputs["referencedSecurityGroupId"]) == (27017, DOCDB_SG)
    (admit,) = docdb.of_type(INGRESS_RULE)
    assert admit.inputs["securityGroupId"] == DOCDB_SG and admit.inputs["fromPort"] == 27017
    assert admit.property_dependencies["referencedSecurityGroupId"] == [group.urn]
    function = docdb.one(LAMBDA_FUNCTION)
    assert function.inputs["handler"] == "notes_rotation.docdb_app.lambda_handler"
    assert function.inputs["environment"]["variables"] == {CA_FILE_ENV: "/var/task/global-bundle.pem"}
    assert function.inputs["timeout"] == 60


def test_the_docdb_role_reads_the_master_secret_and_makes_passwords(docdb: Graph) -> None:
    arn = secret_arn(docdb)
    assert statement(docdb, "ReadTheMasterSecret") == {
        "Sid": "ReadTheMasterSecret",
        "Effect": "Allow",
        "Action": ["secretsmanager:GetSecretValue"],
        "Resource": MASTER,
    }
    assert statement(docdb, "GeneratePasswords")["Action"] == [RANDOM_PASSWORD_ACTION]
    condition = statement(docdb, "SecretsKeyThroughSecretsManager")["Condition"]["StringEquals"]
    assert condition["kms:EncryptionContext:SecretARN"] == [arn, MASTER]
    assert sorted(statement(docdb, "VpcNetworkInterfaces")["Action"]) == sorted(ENI_ACTIONS)


@pytest.mark.parametrize(
    ("name", "overrides", "message"),
    [
        ("redis", {}, r"name='redis': app/notes_rotation has functions for jwt, docdb-app"),
        ("jwt", {"rotation_days": 0}, r"rotation_days=0: rotate at least yearly"),
        ("jwt", {"rotation_days": 366}, r"rotation_days=366"),
        ("jwt", {"log_retention_days": 45}, r"log_retention_days=45 is not a value CloudWatch Logs accepts"),
        ("jwt", {"reserved_concurrency": 0}, r"reserved_concurrency=0: 0 would stop every rotation"),
        ("jwt", {"docdb_security_group_id": DOCDB_SG}, r"jwt: docdb_security_group_id is for the DocumentDB"),
        ("docdb-app", {"master_secret_arn": None}, r"docdb-app: master_secret_arn is required"),
        ("docdb-app", {"docdb_security_group_id": None}, r"docdb-app: docdb_security_group_id is required"),
        ("jwt", {"keep_seconds": -1}, r"seconds cannot be negative"),
    ],
)
def test_impossible_rotation_args_fail_in_the_constructor(
    name: str, overrides: dict[str, Any], message: str
) -> None:
    # GIVEN args the functions or AWS cannot take / WHEN built / THEN ValueError names the field
    with pytest.raises(ValueError, match=message):
        run(
            lambda: SecretRotationFunction(
                "bad", rotation_args(name, "arn:aws:secretsmanager:x", [], **overrides)
            )
        )


def test_the_master_secret_rotates_on_a_schedule_without_a_function() -> None:
    # GIVEN DocumentDB's managed master secret / WHEN its rotation is planned
    graph = run(
        lambda: (
            ManagedSecretRotation(
                "prod-docdb-master", ManagedSecretRotationArgs("prod", MASTER, 30)
            ).rotation.id
        )
    )
    rotation = graph.one(SECRET_ROTATION)
    # THEN the schedule alone (managed rotation), not at deploy time
    assert rotation.inputs["secretId"] == MASTER
    assert "rotationLambdaArn" not in rotation.inputs
    assert rotation.inputs["rotationRules"] == {"automaticallyAfterDays": 30}
    assert rotation.inputs["rotateImmediately"] is False
    with pytest.raises(ValueError, match=r"rotation_days=400"):
        run(lambda: ManagedSecretRotation("bad", ManagedSecretRotationArgs("prod", MASTER, 400)))


def test_the_function_environment_names_are_the_packages_own() -> None:
    from notes_rotation import docdb_app, jwt  # noqa: PLC0415 (the Lambda package, on the test path)

    assert (jwt.ACTIVATION_DELAY_ENV, jwt.KEEP_ENV, docdb_app.CA_FILE_ENV) == (
        ACTIVATION_DELAY_ENV,
        KEEP_ENV,
        CA_FILE_ENV,
    )


# --- the package ---------------------------------------------------------------------------------


@dataclass
class Deps:
    path: Path

    def make(self) -> Path:
        (self.path / "pymongo").mkdir(parents=True)
        (self.path / "pymongo" / "__init__.py").write_text("")
        (self.path / "bson" / "__pycache__").mkdir(parents=True)
        (self.path / "bson" / "__pycache__" / "x.cpython-312.pyc").write_bytes(b"")
        (self.path / rotation_code.CA_BUNDLE).write_text("-----BEGIN CERTIFICATE-----\n")
        return self.path


def test_the_package_holds_the_source_files_under_notes_rotation_only() -> None:
    assets = rotation_code.package_assets()
    assert {"notes_rotation/__init__.py", "notes_rotation/common.py", "notes_rotation/jwt.py"} <= set(assets)
    assert not [key for key in assets if "__pycache__" in key or key.endswith(".pyc")]


def test_the_docdb_package_adds_the_deps_at_the_root(tmp_path: Path) -> None:
    # GIVEN build/rotation-deps as `make rotation-deps` leaves it
    deps = Deps(tmp_path / "rotation-deps").make()
    # WHEN packaged with deps / THEN pymongo and the CA bundle sit next to notes_rotation/, no bytecode
    archive = rotation_code.code_archive(with_deps=True, deps_dir=deps)
    assert {"pymongo/__init__.py", "global-bundle.pem", "notes_rotation/jwt.py"} <= set(archive.assets)
    assert not [key for key in archive.assets if "__pycache__" in key]


def test_missing_deps_warn_in_a_plan_and_stop_a_deployment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "absent"
    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *_, **__: warnings.append(message))
    # GIVEN no build/rotation-deps, in a plan (preview or mocks): the function is packaged without them
    monkeypatch.setattr(rotation_code, "deploying", lambda: False)
    archive = rotation_code.code_archive(with_deps=True, deps_dir=missing)
    assert "global-bundle.pem" not in archive.assets
    assert warnings and "make rotation-deps" in warnings[0]
    # ... and in a real `pulumi up` the program stops, naming the make target
    monkeypatch.setattr(rotation_code, "deploying", lambda: True)
    with pytest.raises(ValueError, match=r"run `make rotation-deps` before `pulumi up`"):
        rotation_code.code_archive(with_deps=True, deps_dir=missing)
    # ... while the JWT function never needs them
    assert "notes_rotation/jwt.py" in rotation_code.code_archive(with_deps=False, deps_dir=missing).assets


def test_the_offline_plan_does_not_count_as_deploying() -> None:
    # GIVEN a program under the plan's mocks (preview off, as `notes-platform plan` runs it)
    seen: list[bool] = []

    def program() -> None:
        seen.append(rotation_code.deploying())

    run(program)
    # THEN deploying() says no, so a missing build/rotation-deps only warns
    assert seen == [False]
