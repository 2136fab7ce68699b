"""`notes-platform restore-repoint` end to end against moto (Secrets Manager and ECS, in-process
``mock_aws``) and, for DocumentDB, which moto lacks (its CreateDBCluster refuses engine docdb),
DescribeDBClusters answers a botocore Stubber checks against the API model (verify_world.stubbed)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import NoCredentialsError
from moto import mock_aws

from devtools.tlsfiles import make_tls_files
from notes_platform.cli import main
from notes_platform.operations.repoint import ConnectResult
from tests.notes_platform.operations.test_docdb_secret import (
    APP_SECRET,
    OLD,
    OPTIONS,
    PASSWORD,
    RESTORED,
    URI,
)
from tests.notes_platform.release.verify_world import stubbed

REGION = "eu-west-1"
ACCOUNT = "123456789012"
APP, LEGACY = "notes/prod/docdb-app", "notes/prod/docdb-uri"
NEW_MASTER = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:rds!cluster-0a1b2c3d-GhIjKl"
CLUSTER = "notes-prod-docdb-restored"


def restored(**overrides: Any) -> dict[str, Any]:
    """DescribeDBClusters' answer for the restored cluster, available with a writer."""
    cluster = {
        "DBClusterIdentifier": CLUSTER,
        "Engine": "docdb",
        "Status": "available",
        "Endpoint": RESTORED,
        "Port": 27017,
        "DBClusterMembers": [{"DBInstanceIdentifier": f"{CLUSTER}-1", "IsClusterWriter": True}],
        "MasterUserSecret": {"SecretArn": NEW_MASTER, "SecretStatus": "active"},
    }
    return {"DBClusters": [{**cluster, **overrides}]}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield


def prod(*, secrets: dict[str, str] | None = None, worker: bool = True) -> None:
    """Prod as the repoint finds it: its secret(s) and its API (and worker) services."""
    manager = boto3.client("secretsmanager", region_name=REGION)
    for name, value in (secrets if secrets is not None else {APP: json.dumps(APP_SECRET)}).items():
        manager.create_secret(Name=name, SecretString=value)
    ecs = boto3.client("ecs", region_name=REGION)
    ecs.create_cluster(clusterName="notes-prod")
    names = ["notes-prod-api", "notes-prod-worker"] if worker else ["notes-prod-api"]
    for name in names:
        ecs.register_task_definition(
            family=name, containerDefinitions=[{"name": "app", "image": "notes-api", "memory": 512}]
        )
        ecs.create_service(cluster="notes-prod", serviceName=name, taskDefinition=f"{name}:1", desiredCount=2)


def deployment(service: str) -> str:
    ecs = boto3.client("ecs", region_name=REGION)
    return str(
        ecs.describe_services(cluster="notes-prod", services=[service])["services"][0]["deployments"][0]["id"]
    )


def current(name: str) -> str:
    # The stage named: moto 5 answers a GetSecretValue without one with the newest version even
    # after UpdateSecretVersionStage moved AWSCURRENT back (AWS answers AWSCURRENT's).
    manager = boto3.client("secretsmanager", region_name=REGION)
    return str(manager.get_secret_value(SecretId=name, VersionStage="AWSCURRENT")["SecretString"])


def stages(name: str) -> dict[str, list[str]]:
    described = boto3.client("secretsmanager", region_name=REGION).describe_secret(SecretId=name)
    return dict(described["VersionIdsToStages"])


def run(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *argv: str,
    docdb: Callable[[], Any] | None = None,
) -> tuple[int, str, str]:
    """`notes-platform restore-repoint prod ...` with moto's clients and a stubbed DocumentDB."""
    answer = docdb or (lambda: stubbed("docdb", [("describe_db_clusters", restored())]))

    def clients(region: str) -> Callable[[str], Any]:
        assert region == REGION, "the region comes from Pulumi.prod.yaml"
        return lambda service: answer() if service == "docdb" else boto3.client(service, region_name=region)

    monkeypatch.setattr("notes_platform.commands.restore_repoint._clients", clients)
    code = main(["restore-repoint", "prod", "--cluster-endpoint", RESTORED, *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_app_secret_is_repointed_its_services_redeployed_and_the_rollback_works(
    aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN prod reading the old cluster, its API and worker running
    prod()
    before = {name: deployment(name) for name in ("notes-prod-api", "notes-prod-worker")}
    old_version = next(v for v, s in stages(APP).items() if "AWSCURRENT" in s)
    # WHEN the secret is repointed at the restored cluster
    code, out, err = run(monkeypatch, capsys, "--yes")
    # THEN the new AWSCURRENT points at it with the same user, password and options, and the
    # restored cluster's own master secret
    assert code == 0, err
    written = json.loads(current(APP))
    assert written == APP_SECRET | {
        "host": RESTORED,
        "masterarn": NEW_MASTER,
        "uri": f"mongodb://notes_app:{PASSWORD}@{RESTORED}:27017/notes?{OPTIONS}",
    }
    # and the version it replaced is AWSPREVIOUS
    new_version = next(v for v, s in stages(APP).items() if "AWSCURRENT" in s)
    assert "AWSPREVIOUS" in stages(APP)[old_version] and new_version != old_version
    # and both services got a new deployment
    assert all(deployment(name) != before[name] for name in before)
    assert "notes-prod-api: new deployment" in out and "notes-prod-worker: new deployment" in out
    # and the output shows the diff but never the password, and says what to run next
    assert f'+  "host": "{RESTORED}",' in out
    assert "p@ss/w0rd" not in out + err and PASSWORD not in out + err
    assert "next: notes-platform verify prod" in out
    # WHEN the printed rollback command runs (the same stage move, through the API)
    rollback = next(line for line in out.splitlines() if "rollback:" in line)
    assert f"--move-to-version-id {old_version} --remove-from-version-id {new_version}" in rollback
    boto3.client("secretsmanager", region_name=REGION).update_secret_version_stage(
        SecretId=APP, VersionStage="AWSCURRENT", MoveToVersionId=old_version, RemoveFromVersionId=new_version
    )
    # THEN the app's secret points at the old cluster again
    assert json.loads(current(APP)) == APP_SECRET


def test_both_secrets_the_app_has_read_are_repointed(
    aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN prod with the app user's JSON secret and the older URI-only one
    prod(secrets={APP: json.dumps(APP_SECRET), LEGACY: URI})
    # WHEN repointed
    code, out, err = run(monkeypatch, capsys, "--yes")
    # THEN both point at the restored cluster, the plain one still a plain URI
    assert code == 0, err
    assert current(LEGACY) == URI.replace(OLD, RESTORED)
    assert json.loads(current(APP))["host"] == RESTORED
    assert f"{LEGACY} (uri): {OLD}:27017 -> {RESTORED}:27017" in out


def test_a_dry_run_checks_and_shows_but_writes_and_redeploys_nothing(
    aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prod()
    before = deployment("notes-prod-api")
    code, out, _ = run(monkeypatch, capsys, "--dry-run")
    assert code == 0
    assert "dry run: nothing written" in out and f'+  "host": "{RESTORED}",' in out
    assert json.loads(current(APP)) == APP_SECRET
    assert len(stages(APP)) == 1 and deployment("notes-prod-api") == before


def test_a_stack_without_a_worker_redeploys_its_api_and_says_so(
    aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prod(worker=False)
    code, out, err = run(monkeypatch, capsys, "--yes")
    assert code == 0, err
    assert "note: notes-prod-worker: no such service in notes-prod, nothing to redeploy" in out
    assert "notes-prod-api: new deployment" in out


def test_a_secret_already_pointing_there_is_not_written_again_but_the_services_roll(
    aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a repoint whose redeploy must be run again (the secret is already written)
    prod(
        secrets={
            APP: json.dumps(
                APP_SECRET | {"host": RESTORED, "masterarn": NEW_MASTER, "uri": URI.replace(OLD, RESTORED)}
            )
        }
    )
    before = deployment("notes-prod-api")
    # WHEN it runs again THEN no new version is written, and the services roll anyway
    code, out, _ = run(monkeypatch, capsys, "--yes")
    assert code == 0
    assert f"{APP}: already points at {RESTORED}: not written" in out
    assert len(stages(APP)) == 1 and deployment("notes-prod-api") != before


# --- refusals: each before anything is written ------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        (RESTORED.replace(".cluster-", ".cluster-ro-"), "the reader endpoint (cluster-ro-) takes no writes"),
        (RESTORED.replace("eu-west-1", "us-east-1"), "in us-east-1, but the stack runs in eu-west-1"),
        ("notes-prod-docdb-1.c1a2b3c4d5e6.eu-west-1.docdb.amazonaws.com", "an instance endpoint"),
    ],
)
def test_an_endpoint_that_is_not_a_cluster_endpoint_of_the_region_exits_2_before_aws(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], endpoint: str, message: str
) -> None:
    # GIVEN no AWS at all: a client asked for would fail the test
    monkeypatch.setattr("notes_platform.commands.restore_repoint._clients", lambda region: pytest.fail)
    code = main(["restore-repoint", "prod", "--cluster-endpoint", endpoint, "--yes"])
    assert code == 2
    assert message in capsys.readouterr().err


def test_a_port_out_of_range_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["restore-repoint", "prod", "--cluster-endpoint", RESTORED, "--port", "80", "--yes"])
    assert code == 2 and "1150-65535" in capsys.readouterr().err


@pytest.mark.parametrize(("ci", "tty"), [("true", True), ("", False)], ids=["CI=true", "stdin-not-a-tty"])
def test_without_yes_and_without_a_terminal_it_refuses_and_touches_nothing(
    aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], ci: str, tty: bool
) -> None:
    # GIVEN a run in CI (even at a terminal), or with stdin that is no terminal, and no --yes
    prod()
    monkeypatch.setenv("CI", ci)
    monkeypatch.setattr("sys.stdin.isatty", lambda: tty)
    # WHEN it runs THEN exit 5 naming the reason, and the secret is as it was
    code, _, err = run(monkeypatch, capsys)
    assert code == 5
    assert "refusing to write without --yes" in err and "CI=true or stdin is not a TTY" in err
    assert json.loads(current(APP)) == APP_SECRET


def test_at_a_terminal_it_writes_only_after_the_environments_name_is_typed(
    aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prod()
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr("notes_platform.commands.restore_repoint._interactive", lambda: True)
    # WHEN the operator answers something else THEN nothing is written (exit 5)
    monkeypatch.setattr("builtins.input", lambda prompt: "staging")
    code, _, err = run(monkeypatch, capsys)
    assert code == 5 and "'staging' is not 'prod': nothing written" in err
    assert json.loads(current(APP)) == APP_SECRET
    # WHEN they type the environment's name THEN it is written
    monkeypatch.setattr("builtins.input", lambda prompt: "prod")
    code, _, err = run(monkeypatch, capsys)
    assert code == 0, err
    assert json.loads(current(APP))["host"] == RESTORED


def test_no_secret_exits_3_naming_the_secrets_looked_for(
    aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prod(secrets={})
    code, _, err = run(monkeypatch, capsys, "--yes")
    assert code == 3
    assert f"none of the app's database secrets exists in {REGION}: {APP}, {LEGACY}" in err


def test_a_secret_being_rotated_exits_3_and_is_left_alone(
    aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a rotation stopped half-way: a version labelled AWSPENDING only
    prod()
    boto3.client("secretsmanager", region_name=REGION).put_secret_value(
        SecretId=APP, SecretString=json.dumps(APP_SECRET | {"password": "next"}), VersionStages=["AWSPENDING"]
    )
    # WHEN repointed THEN refused naming the version and the way out; nothing written
    code, _, err = run(monkeypatch, capsys, "--yes")
    assert code == 3
    assert "a rotation is under way" in err and "cancel-rotate-secret --secret-id notes/prod/docdb-app" in err
    assert json.loads(current(APP)) == APP_SECRET and len(stages(APP)) == 2


def test_a_secret_of_another_shape_exits_3(
    aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prod(secrets={APP: '{"username": "notes_app"}'})
    code, _, err = run(monkeypatch, capsys, "--yes")
    assert code == 3 and f"{APP}: JSON without a string `uri`" in err


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (restored(Status="creating"), "status 'creating'; wait until it is available"),
        (restored(DBClusterMembers=[]), "no writer instance yet"),
        (restored(Endpoint=RESTORED.replace("c1a2b3c4d5e6", "zzzzzzzzzzzz")), "its endpoint is"),
        (restored(Port=27018), "listens on 27018, not 27017"),
        (restored(Engine="aurora-postgresql"), "engine 'aurora-postgresql', not docdb"),
    ],
)
def test_a_restored_cluster_that_is_not_ready_exits_4_before_anything_is_written(
    aws: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    answer: dict[str, Any],
    message: str,
) -> None:
    prod()
    code, _, err = run(
        monkeypatch, capsys, "--yes", docdb=lambda: stubbed("docdb", [("describe_db_clusters", answer)])
    )
    assert code == 4 and message in err
    assert json.loads(current(APP)) == APP_SECRET


def test_a_cluster_that_does_not_exist_exits_4(
    aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prod()
    missing = lambda: stubbed("docdb", [], errors=[("describe_db_clusters", "DBClusterNotFoundFault", 404)])  # noqa: E731
    code, _, err = run(monkeypatch, capsys, "--yes", docdb=missing)
    assert code == 4 and f"no cluster {CLUSTER} in {REGION}" in err


def test_a_restored_cluster_without_a_managed_master_secret_keeps_masterarn_and_says_so(
    aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prod()
    answer = restored()
    del answer["DBClusters"][0]["MasterUserSecret"]
    code, out, _ = run(
        monkeypatch, capsys, "--yes", docdb=lambda: stubbed("docdb", [("describe_db_clusters", answer)])
    )
    assert code == 0
    assert json.loads(current(APP))["masterarn"] == APP_SECRET["masterarn"]
    assert "manages no master secret" in out and "restore step 3" in out


def test_a_stack_whose_api_service_is_missing_exits_7_before_writing(
    aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the secret but no ECS services (the wrong account or region, say)
    boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name=APP, SecretString=json.dumps(APP_SECRET)
    )
    boto3.client("ecs", region_name=REGION).create_cluster(clusterName="notes-prod")
    code, _, err = run(monkeypatch, capsys, "--yes")
    assert code == 7 and "no ACTIVE service notes-prod-api in cluster notes-prod" in err
    assert json.loads(current(APP)) == APP_SECRET


def test_aws_out_of_reach_exits_8(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def unreachable(region: str) -> Callable[[str], Any]:
        def client(service: str) -> Any:
            raise NoCredentialsError

        return client

    monkeypatch.setattr("notes_platform.commands.restore_repoint._clients", unreachable)
    code = main(["restore-repoint", "prod", "--cluster-endpoint", RESTORED, "--yes"])
    assert code == 8 and "AWS could not be reached" in capsys.readouterr().err


# --- --check-connect, as the command runs it ----------------------------------------------------


def test_check_connect_without_a_route_to_the_cluster_says_so_and_goes_on(
    aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # GIVEN no route to the restored cluster's endpoint (no network here, as outside the VPC)
    prod()
    ca = make_tls_files(tmp_path).ca_file
    # WHEN repointed with --check-connect
    code, out, err = run(
        monkeypatch, capsys, "--yes", "--check-connect", "--ca-file", str(ca), "--connect-timeout", "1"
    )
    # THEN the check is skipped, saying why, and the repoint goes on
    assert code == 0, err
    assert "check-connect: skipped: not reachable from here" in out
    assert json.loads(current(APP))["host"] == RESTORED


def test_check_connect_refused_by_the_cluster_exits_6_and_writes_nothing(
    aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a cluster that refuses the sign-in (the verdict test_repoint_connect.py gets from a real
    # TLS server; here the endpoint is DocumentDB's, out of reach, so the verdict is handed in)
    prod()
    seen: list[str] = []

    def refused(uri: str, ca_file: str | None, timeout: float) -> ConnectResult:
        seen.append(uri)
        return ConnectResult("failed", "the cluster refused: authentication failed")

    monkeypatch.setattr("notes_platform.operations.repoint.check_connection", refused)
    code, out, _ = run(monkeypatch, capsys, "--yes", "--check-connect")
    # THEN exit 6, nothing written, and the check used the new URI (restored host, same password)
    assert code == 6 and "check-connect: failed" in out
    assert json.loads(current(APP)) == APP_SECRET
    assert seen == [f"mongodb://notes_app:{PASSWORD}@{RESTORED}:27017/notes?{OPTIONS}"]
