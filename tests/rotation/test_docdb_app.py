"""The DocumentDB app-user rotation (alternating users) against moto's Secrets Manager and a real
MongoDB-wire server with access control on (SecantusDB ``--auth``, tests/rotation/support.py).

What SecantusDB cannot stand in for: TLS with the Amazon RDS CA bundle and DocumentDB's cluster
endpoint (replica set discovery); DocumentDB's own implementation of users and roles (SecantusDB
enforces SCRAM logins and built-in roles by its own tables, secantus/rbac.py); the master secret
being rotated by DocumentDB while a rotation of ours runs.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import pytest
from pymongo import MongoClient
from pymongo.uri_parser import parse_uri

from notes_rotation import common
from notes_rotation import docdb_app as rotation
from tests.rotation.support import (
    AuthSecantusServer,
    begin_rotation,
    create_rotating_secret,
    event,
    run_steps,
    stages,
    value,
)

FIRST_PASSWORD = "first-Password-1:%+?#"  # characters a URI must escape


@dataclass
class App:
    arn: str
    user: str  # the first user, current before any rotation
    dbname: str

    @property
    def clone(self) -> str:
        return self.user + "_clone"


@pytest.fixture
def app(sm: Any, docdb: AuthSecantusServer) -> App:
    """The app's secret as the stack writes it, its first user created by the master user (as the
    database-users task does), and the master secret DocumentDB manages, on moto."""
    suffix = uuid.uuid4().hex[:8]
    user, dbname = f"notes_app_{suffix}", f"notes_{suffix}"
    master_arn = sm.create_secret(
        Name=f"rds!cluster-{suffix}",
        SecretString=json.dumps({"username": docdb.MASTER_USER, "password": docdb.master_password}),
    )["ARN"]
    secret = {
        "engine": "mongo",
        "host": "127.0.0.1",
        "port": docdb.port,
        "username": user,
        "password": FIRST_PASSWORD,
        "dbname": dbname,
        "ssl": False,
        "masterarn": master_arn,
        "uri": f"mongodb://{user}:{quote_plus(FIRST_PASSWORD)}@127.0.0.1:{docdb.port}/?authSource=admin"
        "&directConnection=true&retryWrites=false",
    }
    arn = create_rotating_secret(sm, f"notes-test-docdb-app-{suffix}", json.dumps(secret))
    with docdb.master() as master:
        master.admin.command("createUser", user, pwd=FIRST_PASSWORD, roles=rotation.app_roles(dbname))
    return App(arn, user, dbname)


def rotate(sm: Any, app: App) -> dict[str, Any]:
    """One whole rotation; the secret's new AWSCURRENT value."""
    run_steps(common.dispatch, rotation.STEPS, sm, app.arn, begin_rotation(app.arn))
    return dict(json.loads(value(sm, app.arn)))


def test_a_rotation_switches_to_the_clone_and_both_users_log_in(
    sm: Any, docdb: AuthSecantusServer, app: App
) -> None:
    # GIVEN the first user current, and no clone yet
    old_version = next(iter(stages(sm, app.arn)))
    assert not docdb.exists(app.clone)
    # WHEN the secret rotates
    current = rotate(sm, app)
    # THEN the clone is current with a new password and exactly readWrite on the app's database
    assert current["username"] == app.clone
    assert current["password"] != FIRST_PASSWORD
    assert docdb.roles(app.clone) == [("readWrite", app.dbname)]
    # AND both the old user with its old password and the new one with the new password log in
    assert docdb.logs_in(app.user, FIRST_PASSWORD)
    assert docdb.logs_in(app.clone, current["password"])
    # AND the old version is AWSPREVIOUS, the new one AWSCURRENT
    assert stages(sm, app.arn)[old_version] == ["AWSPREVIOUS"]
    # AND the URI in the secret, kept with its options, works for the app's reads and writes
    assert current["uri"].endswith(
        f"@127.0.0.1:{docdb.port}/?authSource=admin&directConnection=true&retryWrites=false"
    )
    with MongoClient(current["uri"], serverSelectionTimeoutMS=3000) as client:
        client[app.dbname]["notes"].insert_one({"title": "after rotation"})
        assert client[app.dbname]["notes"].count_documents({}) == 1


def test_a_second_rotation_changes_the_first_users_password_only(
    sm: Any, docdb: AuthSecantusServer, app: App
) -> None:
    # GIVEN one rotation done: the clone is current
    first = rotate(sm, app)
    # WHEN the secret rotates again
    second = rotate(sm, app)
    # THEN the first user is current again, with a password that is neither of the earlier ones
    assert second["username"] == app.user
    assert second["password"] not in {FIRST_PASSWORD, first["password"]}
    # AND its old password no longer logs in, its new one does
    assert not docdb.logs_in(app.user, FIRST_PASSWORD)
    assert docdb.logs_in(app.user, second["password"])
    # AND the clone (now AWSPREVIOUS) keeps the password connections opened with it still use
    assert docdb.logs_in(app.clone, first["password"])
    assert json.loads(value(sm, app.arn, "AWSPREVIOUS"))["username"] == app.clone


def test_every_step_can_run_again(sm: Any, docdb: AuthSecantusServer, app: App) -> None:
    # GIVEN a rotation begun
    token = begin_rotation(app.arn)
    # WHEN each step runs twice in a row (Secrets Manager retries)
    for name in ("createSecret", "createSecret"):
        common.dispatch(event(app.arn, token, name), rotation.STEPS, sm)
    pending = json.loads(sm.get_secret_value(SecretId=app.arn, VersionId=token)["SecretString"])
    for name in ("setSecret", "setSecret", "testSecret", "testSecret", "finishSecret", "finishSecret"):
        common.dispatch(event(app.arn, token, name), rotation.STEPS, sm)
    # THEN the password made the first time is the one in force, and the rotation is done once
    assert json.loads(value(sm, app.arn)) == pending
    assert docdb.logs_in(app.clone, pending["password"])
    assert len(sm.list_secret_version_ids(SecretId=app.arn)["Versions"]) == 2


def test_set_secret_takes_back_roles_added_by_hand(sm: Any, docdb: AuthSecantusServer, app: App) -> None:
    # GIVEN the clone exists with a role on every database (someone widened it)
    with docdb.master() as master:
        roles = [*rotation.app_roles(app.dbname), {"role": "readWriteAnyDatabase", "db": "admin"}]
        master.admin.command("createUser", app.clone, pwd="Someone-elses-1", roles=roles)
    # WHEN the secret rotates
    current = rotate(sm, app)
    # THEN the clone has exactly readWrite on the app's database again, and is refused elsewhere
    assert docdb.roles(app.clone) == [("readWrite", app.dbname)]
    assert docdb.can_write(app.clone, current["password"], app.dbname)
    assert not docdb.can_write(app.clone, current["password"], "other_database")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"username": "notes_admin"}, "is not the pair of AWSCURRENT's"),
        ({"host": "docdb.example.internal"}, "is not AWSCURRENT's"),
        ({"ssl": "false"}, r"\(ssl false\) is not AWSCURRENT's"),
    ],
)
def test_set_secret_refuses_a_pending_value_for_another_user_or_server(
    sm: Any, docdb: AuthSecantusServer, app: App, change: dict[str, str], expected: str
) -> None:
    # GIVEN a pending value written by hand for another user, host or TLS setting
    token = begin_rotation(app.arn)
    pending = {**json.loads(value(sm, app.arn)), "password": "Pending-password-1", **change}
    pending["username"] = change.get("username", app.clone)
    sm.put_secret_value(
        SecretId=app.arn,
        ClientRequestToken=token,
        SecretString=json.dumps(pending),
        VersionStages=["AWSPENDING"],
    )
    # WHEN setSecret runs THEN it refuses, and creates no user
    with pytest.raises(common.RotationError, match=expected):
        common.dispatch(event(app.arn, token, "setSecret"), rotation.STEPS, sm)
    assert not docdb.exists(pending["username"])


def test_set_secret_changes_nothing_when_the_current_credentials_do_not_log_in(
    sm: Any, docdb: AuthSecantusServer, app: App
) -> None:
    # GIVEN the current user's password changed behind the secret's back
    with docdb.master() as master:
        master.admin.command("updateUser", app.user, pwd="Changed-by-hand-1")
    token = begin_rotation(app.arn)
    common.dispatch(event(app.arn, token, "createSecret"), rotation.STEPS, sm)
    # WHEN setSecret runs THEN it refuses before touching the clone
    with pytest.raises(common.RotationError, match="do not log in"):
        common.dispatch(event(app.arn, token, "setSecret"), rotation.STEPS, sm)
    assert not docdb.exists(app.clone)


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        ([{"role": "read", "db": "DB"}], "not exactly readWrite"),
        (
            [{"role": "readWrite", "db": "DB"}, {"role": "readAnyDatabase", "db": "admin"}],
            "not exactly readWrite",
        ),
    ],
)
def test_test_secret_refuses_a_user_without_exactly_read_write(
    sm: Any, docdb: AuthSecantusServer, app: App, roles: list[dict[str, str]], expected: str
) -> None:
    # GIVEN setSecret done, then the pending user's roles changed by hand
    token = begin_rotation(app.arn)
    for name in ("createSecret", "setSecret"):
        common.dispatch(event(app.arn, token, name), rotation.STEPS, sm)
    with docdb.master() as master:
        wrong = [{**r, "db": app.dbname if r["db"] == "DB" else r["db"]} for r in roles]
        master.admin.command("updateUser", app.clone, roles=wrong)
    # WHEN testSecret runs THEN it fails, and AWSCURRENT stays with the first user
    with pytest.raises(common.RotationError, match=expected):
        common.dispatch(event(app.arn, token, "testSecret"), rotation.STEPS, sm)
    assert json.loads(value(sm, app.arn))["username"] == app.user


def test_the_roles_check_needs_the_user_and_tolerates_an_unreported_role_list() -> None:
    # GIVEN a server that reports the logged-in user but not its roles
    status = {"authInfo": {"authenticatedUsers": [{"user": "u", "db": "admin"}]}}
    # THEN the roles check lets it through (the read and the write that follow still run)
    rotation.check_roles(status, "u", "notes")
    # AND a connection that is not the user's fails
    with pytest.raises(common.RotationError, match="does not show u"):
        rotation.check_roles({"authInfo": {"authenticatedUsers": []}}, "u", "notes")


def test_the_write_check_alone_refuses_a_read_only_user(
    sm: Any, docdb: AuthSecantusServer, app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN setSecret done, the pending user made read-only by hand, and no roles report to go by
    token = begin_rotation(app.arn)
    for name in ("createSecret", "setSecret"):
        common.dispatch(event(app.arn, token, name), rotation.STEPS, sm)
    with docdb.master() as master:
        master.admin.command("updateUser", app.clone, roles=[{"role": "read", "db": app.dbname}])
    monkeypatch.setattr(rotation, "check_roles", lambda *args: None)
    # WHEN testSecret runs THEN the delete that matches nothing is refused, and so is the rotation
    with pytest.raises(common.RotationError, match=f"cannot read and write {app.dbname}"):
        common.dispatch(event(app.arn, token, "testSecret"), rotation.STEPS, sm)


def test_the_uri_escapes_the_new_credentials_and_keeps_hosts_and_options() -> None:
    secret = {"host": "h", "uri": "mongodb://old:old@a:27017,b:27017/notes?tls=true&replicaSet=rs0"}
    uri = rotation.build_uri(secret, "notes_app_clone", "p:w%d+?#/@")
    parsed = parse_uri(uri)
    assert (parsed["username"], parsed["password"]) == ("notes_app_clone", "p:w%d+?#/@")
    assert parsed["nodelist"] == [("a", 27017), ("b", 27017)]
    assert parsed["database"] == "notes"
    assert parsed["options"]["replicaSet"] == "rs0"


def test_a_secret_without_a_uri_gets_the_stacks_documentdb_options() -> None:
    uri = rotation.build_uri({"host": "cluster.example", "port": 27017, "ssl": True}, "u", "p")
    assert uri == (
        "mongodb://u:p@cluster.example:27017/?authSource=admin&replicaSet=rs0"
        "&readPreference=secondaryPreferred&retryWrites=false&tls=true"
    )


def test_tls_needs_the_ca_bundle_named_by_its_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    secret = {"host": "cluster.example", "port": 27017, "ssl": True}
    monkeypatch.delenv(rotation.CA_FILE_ENV, raising=False)
    with pytest.raises(common.RotationError, match="DOCDB_CA_FILE is required"):
        rotation.client_options(secret)
    monkeypatch.setenv(rotation.CA_FILE_ENV, str(tmp_path / "missing.pem"))
    with pytest.raises(common.RotationError, match="is not a file"):
        rotation.client_options(secret)
    bundle = tmp_path / "global-bundle.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv(rotation.CA_FILE_ENV, str(bundle))
    assert rotation.client_options(secret)["tlsCAFile"] == str(bundle)
    assert "tls" not in rotation.client_options({**secret, "ssl": "false"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mongodb://u:p@h/", "is not JSON"),
        ('{"engine": "mongo", "host": "h"}', "has no username, password, dbname, masterarn"),
        (
            json.dumps(
                {
                    "engine": "postgres",
                    "host": "h",
                    "username": "u",
                    "password": "p",
                    "dbname": "d",
                    "masterarn": "m",
                }
            ),
            "not 'mongo'",
        ),
    ],
)
def test_an_unusable_secret_is_named_without_its_value(text: str, expected: str) -> None:
    with pytest.raises(common.RotationError, match=expected) as raised:
        rotation.parse_app_secret(text, "AWSCURRENT of arn:x")
    assert "p@h" not in str(raised.value)
