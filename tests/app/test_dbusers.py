"""``python -m notes_api.dbusers`` against Secrets Manager (moto) and a MongoDB-wire server with
access control on (SecantusDB ``--auth``: SCRAM logins and built-in roles enforced, see
tests/rotation/support.py).

Not exercised here: TLS with the Amazon RDS CA bundle, DocumentDB's cluster endpoint and its own
users-and-roles implementation, and the ECS run-task that runs the command on a deploy.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from devtools.localservices import MotoServer
from notes_api import dbusers
from notes_rotation import common
from notes_rotation import docdb_app as rotation
from stacks.config import ROOT
from tests.rotation.support import (
    AuthSecantusServer,
    begin_rotation,
    enable_rotation,
    run_steps,
    secrets_manager,
    value,
)

PASSWORD = "App-password-1:%+?"


@pytest.fixture(scope="module")
def docdb() -> Iterator[AuthSecantusServer]:
    with AuthSecantusServer() as server:
        yield server


@pytest.fixture
def sm() -> Iterator[Any]:
    with secrets_manager() as client:
        yield client


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    """main() points the root logger at this test's stdout; later tests must not write there."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


@dataclass
class Setup:
    environ: dict[str, str]
    app_arn: str
    user: str
    dbname: str

    @property
    def clone(self) -> str:
        return self.user + "_clone"


def app_secret(docdb: AuthSecantusServer, user: str, dbname: str, master_arn: str, **extra: Any) -> str:
    return json.dumps(
        {
            "engine": "mongo",
            "host": "127.0.0.1",
            "port": docdb.port,
            "username": user,
            "password": PASSWORD,
            "dbname": dbname,
            "ssl": False,
            "masterarn": master_arn,
            "uri": f"mongodb://{user}:x@127.0.0.1:{docdb.port}/?authSource=admin&directConnection=true",
            **extra,
        }
    )


@pytest.fixture
def setup(sm: Any, docdb: AuthSecantusServer) -> Setup:
    """The two secrets as the stack makes them; no application user exists yet."""
    suffix = uuid.uuid4().hex[:8]
    user, dbname = f"notes_app_{suffix}", f"notes_{suffix}"
    master = json.dumps({"username": docdb.MASTER_USER, "password": docdb.master_password})
    master_arn = sm.create_secret(Name=f"rds!cluster-{suffix}", SecretString=master)["ARN"]
    app_arn = sm.create_secret(
        Name=f"notes-test-docdb-app-{suffix}", SecretString=app_secret(docdb, user, dbname, master_arn)
    )["ARN"]
    environ = {dbusers.MASTER_SECRET_ENV: master_arn, dbusers.APP_SECRET_ENV: app_arn}
    return Setup(environ, app_arn, user, dbname)


def run(setup: Setup, capsys: pytest.CaptureFixture[str], **environ: str) -> tuple[int, str, str]:
    code = dbusers.main({**setup.environ, **environ})
    out, err = capsys.readouterr()
    return code, out, err


def test_a_fresh_database_gets_both_users_with_read_write_only(
    setup: Setup, docdb: AuthSecantusServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN neither user exists
    assert not docdb.exists(setup.user)
    # WHEN the task runs
    code, out, err = run(setup, capsys)
    # THEN it succeeds, both users log in with the secret's password and have exactly readWrite
    assert (code, err) == (0, "")
    for user in (setup.user, setup.clone):
        assert docdb.logs_in(user, PASSWORD)
        assert docdb.roles(user) == [("readWrite", setup.dbname)]
    assert f"{setup.user}: created with readWrite on {setup.dbname}" in out
    # AND the roles are enforced: its database yes, another database and user management no
    assert docdb.can_write(setup.user, PASSWORD, setup.dbname)
    assert not docdb.can_write(setup.user, PASSWORD, "other_database")
    # AND no password was printed
    assert PASSWORD not in out + err
    assert docdb.master_password not in out + err


def test_a_second_run_changes_nothing(
    setup: Setup, docdb: AuthSecantusServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the task ran once, and the other user's password then moved on (a rotation did it)
    run(setup, capsys)
    with docdb.master() as master:
        master.admin.command("updateUser", setup.clone, pwd="Rotated-password-1")
    # WHEN it runs again
    code, out, _ = run(setup, capsys)
    # THEN both users are reported in step and the other user keeps its own password
    assert code == 0
    assert f"{setup.user}: in step" in out
    assert f"{setup.clone}: in step" in out
    assert docdb.logs_in(setup.clone, "Rotated-password-1")


def test_widened_roles_and_a_drifted_password_are_put_back(
    setup: Setup, docdb: AuthSecantusServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN both users exist, widened by hand, and the current user's password changed by hand
    wide = [{"role": "readWrite", "db": setup.dbname}, {"role": "readWriteAnyDatabase", "db": "admin"}]
    with docdb.master() as master:
        master.admin.command("createUser", setup.user, pwd="Drifted-password-1", roles=wide)
        master.admin.command("createUser", setup.clone, pwd="Clone-password-1", roles=wide)
    # WHEN the task runs
    code, out, _ = run(setup, capsys)
    # THEN both have exactly readWrite again, the current user the secret's password, the other
    # user its own
    assert code == 0
    assert docdb.roles(setup.user) == docdb.roles(setup.clone) == [("readWrite", setup.dbname)]
    assert docdb.logs_in(setup.user, PASSWORD)
    assert not docdb.logs_in(setup.user, "Drifted-password-1")
    assert docdb.logs_in(setup.clone, "Clone-password-1")
    assert not docdb.can_write(setup.user, PASSWORD, "other_database")
    assert "password set to the secret's" in out


def test_it_works_with_the_rotation_from_either_user(
    sm: Any, setup: Setup, docdb: AuthSecantusServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the task ran, then the secret rotated (the clone is current with a new password)
    run(setup, capsys)
    arn = setup.app_arn
    enable_rotation(arn)
    run_steps(common.dispatch, rotation.STEPS, sm, arn, begin_rotation(arn))
    rotated = json.loads(value(sm, arn))
    assert rotated["username"] == setup.clone
    # WHEN the task runs on the next deploy
    code, out, _ = run(setup, capsys)
    # THEN it finds both in step: the clone on the new password, the first user on the old one
    assert code == 0
    assert f"{setup.clone}: in step" in out
    assert docdb.logs_in(setup.clone, rotated["password"])
    assert docdb.logs_in(setup.user, PASSWORD)


def test_the_master_secret_injected_as_a_value_is_used_instead_of_its_arn(
    sm: Any, setup: Setup, docdb: AuthSecantusServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the master secret's JSON in NOTES_DOCDB_MASTER_SECRET, as ECS injects it from the task
    # definition's `secrets` (the task role cannot read it), and its ARN variable pointing nowhere
    master = value(sm, setup.environ[dbusers.MASTER_SECRET_ENV])
    gone = setup.environ[dbusers.MASTER_SECRET_ENV] + "-gone"
    # WHEN the task runs
    code, out, err = run(setup, capsys, **{dbusers.MASTER_VALUE_ENV: master, dbusers.MASTER_SECRET_ENV: gone})
    # THEN the value is used (the ARN is never read), both users are made, no password printed
    assert (code, err) == (0, ""), err
    assert docdb.logs_in(setup.user, PASSWORD)
    assert docdb.roles(setup.clone) == [("readWrite", setup.dbname)]
    assert docdb.master_password not in out + err


def test_the_injected_value_alone_is_enough(
    setup: Setup, docdb: AuthSecantusServer, sm: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN only the value, no ARN variable at all
    master = value(sm, setup.environ[dbusers.MASTER_SECRET_ENV])
    environ = {dbusers.APP_SECRET_ENV: setup.app_arn, dbusers.MASTER_VALUE_ENV: master}
    # WHEN the task runs THEN it succeeds
    assert dbusers.main(environ) == 0, capsys.readouterr().err
    assert docdb.logs_in(setup.clone, PASSWORD)


@pytest.mark.parametrize(
    ("injected", "expected"),
    [
        ("not json at all", "NOTES_DOCDB_MASTER_SECRET does not hold a JSON object"),
        ('{"username": "notesadmin"}', "NOTES_DOCDB_MASTER_SECRET has no username and password"),
    ],
)
def test_an_unusable_injected_master_secret_exits_2_naming_the_variable(
    setup: Setup, docdb: AuthSecantusServer, capsys: pytest.CaptureFixture[str], injected: str, expected: str
) -> None:
    # GIVEN a value ECS injected that is not the master secret's JSON
    code, _, err = run(setup, capsys, **{dbusers.MASTER_VALUE_ENV: injected})
    # THEN it exits 2 naming the variable, prints nothing of the value, and creates nobody
    assert code == 2
    assert expected in err
    assert "not json at all" not in err
    assert not docdb.exists(setup.user)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {dbusers.MASTER_SECRET_ENV: ""},
            "NOTES_DOCDB_MASTER_SECRET (the master secret's value) or "
            "NOTES_DOCDB_MASTER_SECRET_ARN (its ARN) is required",
        ),
        ({dbusers.APP_SECRET_ENV: " "}, "NOTES_DOCDB_APP_SECRET_ARN is required"),
    ],
)
def test_a_missing_variable_exits_2_naming_it(
    setup: Setup, capsys: pytest.CaptureFixture[str], change: dict[str, str], expected: str
) -> None:
    code, _, err = run(setup, capsys, **change)
    assert code == 2
    assert expected in err


@pytest.mark.parametrize(
    ("secret", "expected"),
    [
        ("mongodb://u:p@h/", "does not hold a JSON object"),
        ('{"engine": "mongo", "host": "h", "username": "u"}', "has no password, dbname"),
    ],
)
def test_an_unusable_app_secret_exits_2_naming_the_variable(
    sm: Any, setup: Setup, capsys: pytest.CaptureFixture[str], secret: str, expected: str
) -> None:
    sm.put_secret_value(SecretId=setup.app_arn, SecretString=secret)
    code, _, err = run(setup, capsys)
    assert code == 2
    assert f"NOTES_DOCDB_APP_SECRET_ARN={setup.app_arn}" in err
    assert expected in err
    assert "u:p@h" not in err


def test_tls_without_the_ca_bundle_exits_2_naming_its_variable(
    sm: Any, setup: Setup, docdb: AuthSecantusServer, capsys: pytest.CaptureFixture[str]
) -> None:
    master_arn = setup.environ[dbusers.MASTER_SECRET_ENV]
    sm.put_secret_value(
        SecretId=setup.app_arn, SecretString=app_secret(docdb, setup.user, setup.dbname, master_arn, ssl=True)
    )
    code, _, err = run(setup, capsys)
    assert code == 2
    assert "NOTES_MONGODB_TLS_CA_FILE is required" in err


WRONG_MASTER = "Wrong-master-password-1"


def refuse_master(sm: Any, setup: Setup) -> None:
    """The master secret's password no longer signs in: a restored cluster still on the password of
    its restore time, or a rotation of the master secret that changed another cluster's."""
    master_arn = setup.environ[dbusers.MASTER_SECRET_ENV]
    master = {"username": AuthSecantusServer.MASTER_USER, "password": WRONG_MASTER}
    sm.put_secret_value(SecretId=master_arn, SecretString=json.dumps(master))


def logged(out: str, level: str) -> list[str]:
    """The messages of one level among the JSON log lines main() wrote."""
    records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [r["message"] for r in records if r.get("level") == level]


def test_a_refused_master_login_with_the_app_user_in_step_exits_0_with_a_warning(
    sm: Any, setup: Setup, docdb: AuthSecantusServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the users in step from an earlier run, then a master secret the server refuses
    assert run(setup, capsys)[0] == 0
    refuse_master(sm, setup)
    # WHEN the task runs (an API task starting after a restore)
    code, out, err = run(setup, capsys)
    # THEN it exits 0, so the API container may start, with one warning saying that the users were
    # checked, not repaired, and why
    assert (code, err) == (0, ""), err
    [warning] = logged(out, "WARNING")
    assert warning.startswith("database users checked but not repaired (master login refused on 127.0.0.1)")
    assert f"{setup.user} logs in with exactly readWrite on {setup.dbname}" in warning
    assert f"{setup.clone} was not checked" in warning
    assert "database users in step" not in out
    # AND nothing was changed, and no password printed
    assert docdb.roles(setup.user) == [("readWrite", setup.dbname)]
    assert docdb.logs_in(setup.user, PASSWORD)
    for secret in (PASSWORD, WRONG_MASTER, docdb.master_password):
        assert secret not in out + err


def test_a_refused_master_login_without_the_app_user_exits_1_naming_both(
    sm: Any, setup: Setup, docdb: AuthSecantusServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a master secret whose password the server refuses, and no app user yet
    refuse_master(sm, setup)
    # WHEN the task runs
    code, out, err = run(setup, capsys)
    # THEN it exits 1 naming both refused logins, and no user was created
    assert code == 1
    assert "log in as the master user on 127.0.0.1: authentication failed" in err.lower()
    assert f"; and log in as {setup.user} (the app secret's current user) on 127.0.0.1: " in err
    assert err.lower().count("authentication failed,") == 2, err
    assert not docdb.exists(setup.user)
    assert logged(out, "WARNING") == []
    for secret in (PASSWORD, WRONG_MASTER, docdb.master_password):
        assert secret not in out + err


def test_a_refused_master_login_with_a_widened_app_user_exits_1_naming_its_roles(
    sm: Any, setup: Setup, docdb: AuthSecantusServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the current user logs in but holds more than readWrite on its database, and the master
    # login is refused, so nothing can put the roles back
    wide = [{"role": "readWrite", "db": setup.dbname}, {"role": "readWriteAnyDatabase", "db": "admin"}]
    with docdb.master() as master:
        master.admin.command("createUser", setup.user, pwd=PASSWORD, roles=wide)
    refuse_master(sm, setup)
    # WHEN the task runs
    code, _, err = run(setup, capsys)
    # THEN it exits 1 naming the refused master login and the roles the server reports
    assert code == 1
    assert "log in as the master user on 127.0.0.1: authentication failed" in err.lower()
    assert f"; and {setup.user} logs in, but the server reports roles " in err
    assert "readWriteAnyDatabase" in err
    assert f"not exactly readWrite on {setup.dbname}" in err
    assert PASSWORD not in err


def test_a_secret_that_cannot_be_read_exits_1(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    missing = setup.app_arn + "-gone"
    code, _, err = run(setup, capsys, **{dbusers.APP_SECRET_ENV: missing})
    assert code == 1
    assert f"cannot read NOTES_DOCDB_APP_SECRET_ARN={missing}" in err


def test_the_module_runs_as_a_command(docdb: AuthSecantusServer, moto_server: MotoServer) -> None:
    # GIVEN moto's server as Secrets Manager, reached through boto3's own endpoint variable
    client = moto_server.client("secretsmanager")
    suffix = uuid.uuid4().hex[:8]
    user, dbname = f"notes_app_{suffix}", f"notes_{suffix}"
    master = json.dumps({"username": docdb.MASTER_USER, "password": docdb.master_password})
    master_arn = client.create_secret(Name=f"rds!cluster-{suffix}", SecretString=master)["ARN"]
    app_arn = client.create_secret(
        Name=f"notes-test-docdb-app-{suffix}", SecretString=app_secret(docdb, user, dbname, master_arn)
    )["ARN"]
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "NOTES_"))},
        **moto_server.environment(),
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto_server.url,
        dbusers.MASTER_SECRET_ENV: master_arn,
        dbusers.APP_SECRET_ENV: app_arn,
    }
    command = [sys.executable, "-m", "notes_api.dbusers"]
    # WHEN `python -m notes_api.dbusers` runs, as the ECS task's command
    done = subprocess.run(
        command, env=environ, check=False, capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    # THEN it exits 0 with both users made, and prints no password
    assert done.returncode == 0, done.stderr
    assert docdb.logs_in(user, PASSWORD)
    assert docdb.logs_in(user + "_clone", PASSWORD)
    assert PASSWORD not in done.stdout + done.stderr
    # AND without its variables it exits 2 naming the first one
    environ.pop(dbusers.MASTER_SECRET_ENV)
    refused = subprocess.run(
        command, env=environ, check=False, capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert refused.returncode == 2
    assert "or NOTES_DOCDB_MASTER_SECRET_ARN (its ARN) is required" in refused.stderr
