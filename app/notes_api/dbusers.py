"""``python -m notes_api.dbusers``: create or repair the application's two DocumentDB users.

A one-shot command of the API's image. On ECS it is the API task's init container ``dbusers``
(infra/ecs.py): not essential, and the API container starts only once it exited 0, so every task
that serves has the user in step; a failure stops the task and the deployment circuit breaker
rolls the deployment back. Idempotent: it runs at every task start.

The app's secret (NOTES_DOCDB_APP_SECRET_ARN: AWS's rotation JSON for MongoDB, see
``notes_rotation.docdb_app``) names the current user, ``notes_app`` or ``notes_app_clone``, and
its password. Logged in as the master user (the secret DocumentDB manages for the cluster,
``{"username", "password"}``: its value in NOTES_DOCDB_MASTER_SECRET, as ECS injects it from the
task definition's ``secrets`` so that the task role never reads it, or its ARN in
NOTES_DOCDB_MASTER_SECRET_ARN; the value wins), the task

- creates the current user with the secret's password if it is missing, and sets that password
  if the user exists but the password does not log in;
- creates the other user of the pair with the same password if it is missing, so the alternating
  rotation can start from either; an existing other user keeps its password, which connections
  made before the last rotation still use;
- puts the roles of both back to exactly ``readWrite`` on the secret's ``dbname`` when they differ;
- logs in as the current user and checks the roles the server reports.

TLS: when the secret's ``ssl`` is true, NOTES_MONGODB_TLS_CA_FILE (the service's own setting; the
image ships the bundle) names the CA bundle. The region comes from the secrets' ARNs, or
NOTES_AWS_REGION.

When the server refuses the master login (AuthenticationFailed: after a point-in-time restore,
or a rotation of the master secret that changed another cluster's password, the master password
no longer signs in while the app's users are fine), nothing can be repaired, but an API task can
still serve: the task logs in as the secret's current user instead, and if the server reports
exactly ``readWrite`` on ``dbname`` for it, logs a warning that the users were checked but not
repaired (master login refused) and exits 0. The other user of the pair is not checked then (its
password is not in the secret). Any other failure of the master login exits 1 as before.

Exit codes: 0 done, or (with the warning above) the current user checked without the master
login; 2 configuration (a variable missing, a secret whose content is unusable), named on stderr;
1 a step failed (reading a secret, reaching or changing the database; a refused master login
together with a current user that does not log in or has other roles, both named), named on
stderr. Passwords are never printed.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pymongo import MongoClient
from pymongo.errors import OperationFailure, PyMongoError

from notes_api.core.config import env_name, fetch_secret_with_boto3
from notes_api.core.logging import configure_logging

log = logging.getLogger("notes_api.dbusers")

# Names of variables, not credentials.
MASTER_SECRET_ENV = "NOTES_DOCDB_MASTER_SECRET_ARN"  # noqa: S105
MASTER_VALUE_ENV = "NOTES_DOCDB_MASTER_SECRET"
APP_SECRET_ENV = "NOTES_DOCDB_APP_SECRET_ARN"  # noqa: S105
CA_FILE_ENV = env_name("mongodb_tls_ca_file")
REGION_ENV = env_name("aws_region")
CLONE_SUFFIX = "_clone"
# DocumentDB keeps every user in, and authenticates every user against, the admin database
# (DocumentDB Developer Guide, "Role-based access control", Functional differences).
AUTH_DATABASE = "admin"
APP_FIELDS = ("host", "username", "password", "dbname")
TIMEOUT_MS = 10_000
AUTHENTICATION_FAILED = 18

Fetch = Callable[[str], str]


class Failure(Exception):
    """What stopped the task: ``exit_code`` 2 for configuration, 1 for a failed step."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Outcome:
    """What a run did, one line each, and the warning of a run that could only check."""

    done: list[str] = field(default_factory=list)
    warning: str | None = None


def config_error(message: str) -> Failure:
    return Failure(message, 2)


def step_failed(message: str) -> Failure:
    return Failure(message, 1)


def alternate_username(username: str) -> str:
    """``notes_app`` <-> ``notes_app_clone``, as the rotation function pairs them."""
    return username[: -len(CLONE_SUFFIX)] if username.endswith(CLONE_SUFFIX) else username + CLONE_SUFFIX


def app_roles(dbname: str) -> list[dict[str, str]]:
    return [{"role": "readWrite", "db": dbname}]


def _role_pairs(roles: Sequence[Mapping[str, Any]]) -> list[tuple[Any, Any]]:
    return sorted((r.get("role"), r.get("db")) for r in roles)


def read_secret(fetch: Fetch, variable: str, environ: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
    """(ARN, JSON object) of the secret whose ARN ``variable`` holds."""
    arn = environ[variable].strip()
    try:
        value = fetch(arn)
    except Exception as exc:  # botocore raises many types; all mean the secret was not read
        raise step_failed(f"cannot read {variable}={arn}: {exc}") from exc
    return arn, parse_secret(variable, value, f"={arn}")


def parse_secret(variable: str, value: str, where: str) -> dict[str, Any]:
    """A secret's JSON object; ``where`` names it in the message (never the value)."""
    try:
        secret = json.loads(value)
    except ValueError:
        secret = None
    if not isinstance(secret, dict):
        raise config_error(f"{variable}{where} does not hold a JSON object")
    return secret


def read_master(fetch: Fetch, environ: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
    """(what names it in messages, JSON object) of the master secret: the injected value when
    set, else the secret whose ARN is given."""
    value = environ.get(MASTER_VALUE_ENV, "")
    if value.strip():
        return MASTER_VALUE_ENV, parse_secret(MASTER_VALUE_ENV, value, "")
    arn, secret = read_secret(fetch, MASTER_SECRET_ENV, environ)
    return f"{MASTER_SECRET_ENV}={arn}", secret


def client_options(app: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    ssl = app.get("ssl", True)
    options: dict[str, Any] = {
        "host": app["host"],
        "port": int(app.get("port", 27017)),
        "retryWrites": False,  # DocumentDB does not support retryable writes
        "connectTimeoutMS": TIMEOUT_MS,
        "serverSelectionTimeoutMS": TIMEOUT_MS,
        "appname": "notes-dbusers",
        "authSource": AUTH_DATABASE,
    }
    if ssl is True or (isinstance(ssl, str) and ssl.lower() == "true"):
        ca_file = environ.get(CA_FILE_ENV, "").strip()
        if not ca_file:
            raise config_error(
                f"{CA_FILE_ENV} is required: {APP_SECRET_ENV}'s secret asks for TLS (ssl true)"
            )
        if not os.path.isfile(ca_file):
            raise config_error(f"{CA_FILE_ENV}={ca_file} is not a file (the DocumentDB CA bundle)")
        options |= {"tls": True, "tlsCAFile": ca_file}
    return options


@contextmanager
def connect(options: Mapping[str, Any], username: str, password: str) -> Iterator[MongoClient[Any]]:
    client: MongoClient[Any] = MongoClient(**options, username=username, password=password)
    try:
        yield client
    finally:
        client.close()


def logs_in(options: Mapping[str, Any], username: str, password: str) -> bool:
    with connect(options, username, password) as client:
        try:
            client[AUTH_DATABASE].command("connectionStatus")
        except OperationFailure as exc:
            if exc.code == AUTHENTICATION_FAILED:
                return False
            raise
    return True


def sync_user(
    admin: Any, options: Mapping[str, Any], user: str, password: str, dbname: str, current: bool
) -> str:
    """Create ``user`` or repair it; what was done, for the log."""
    roles = app_roles(dbname)
    found = admin.command("usersInfo", user)["users"]
    if not found:
        admin.command("createUser", user, pwd=password, roles=roles)
        return f"{user}: created with readWrite on {dbname}"
    done = []
    if _role_pairs(found[0].get("roles", [])) != _role_pairs(roles):
        # updateUser replaces the whole roles array.
        admin.command("updateUser", user, roles=roles)
        done.append(f"roles {_role_pairs(found[0].get('roles', []))} replaced by readWrite on {dbname}")
    if current and not logs_in(options, user, password):
        admin.command("updateUser", user, pwd=password)
        done.append("password set to the secret's")
    return f"{user}: " + ("; ".join(done) if done else "in step")


def verify_current(options: Mapping[str, Any], user: str, password: str, dbname: str) -> None:
    with connect(options, user, password) as client:
        status = client[AUTH_DATABASE].command("connectionStatus")
    roles = status.get("authInfo", {}).get("authenticatedUserRoles")
    if roles is not None and _role_pairs(roles) != _role_pairs(app_roles(dbname)):
        raise step_failed(
            f"verify: {user} logs in with roles {_role_pairs(roles)}, not readWrite on {dbname}"
        )


def check_without_master(
    options: Mapping[str, Any], app: Mapping[str, Any], refused: OperationFailure
) -> Outcome:
    """The master login was refused: the current user as it is, if it logs in with exactly readWrite.

    Unlike ``verify_current``, roles the server does not report fail the check: without the master
    login nothing else says the user is least-privilege.
    """
    user, host, dbname = app["username"], app["host"], app["dbname"]
    first = f"log in as the master user on {host}: {refused}"
    try:
        with connect(options, user, app["password"]) as client:
            status = client[AUTH_DATABASE].command("connectionStatus")
    except PyMongoError as exc:
        # The driver never puts a password in its errors.
        raise step_failed(
            f"{first}; and log in as {user} (the app secret's current user) on {host}: {exc}"
        ) from exc
    roles = status.get("authInfo", {}).get("authenticatedUserRoles")
    if roles is None or _role_pairs(roles) != _role_pairs(app_roles(dbname)):
        reported = "no roles" if roles is None else f"roles {_role_pairs(roles)}"
        raise step_failed(
            f"{first}; and {user} logs in, but the server reports {reported} for it, "
            f"not exactly readWrite on {dbname}"
        )
    return Outcome(
        warning=(
            f"database users checked but not repaired (master login refused on {host}): {user} logs in "
            f"with exactly readWrite on {dbname}; {alternate_username(user)} was not checked. Set the "
            "cluster's master password to the master secret's (README, \"Day-2 operations\")"
        )
    )


def run(environ: Mapping[str, str], fetch: Fetch) -> Outcome:
    """Bring both users in step, or only check the current one when the master login is refused."""
    if not environ.get(MASTER_VALUE_ENV, "").strip() and not environ.get(MASTER_SECRET_ENV, "").strip():
        raise config_error(
            f"{MASTER_VALUE_ENV} (the master secret's value) or {MASTER_SECRET_ENV} (its ARN) is required"
        )
    if not environ.get(APP_SECRET_ENV, "").strip():
        raise config_error(f"{APP_SECRET_ENV} is required (the ARN of the secret to read)")
    master_source, master = read_master(fetch, environ)
    if not isinstance(master.get("username"), str) or not isinstance(master.get("password"), str):
        raise config_error(f"{master_source} has no username and password")
    app_arn, app = read_secret(fetch, APP_SECRET_ENV, environ)
    missing = [f for f in APP_FIELDS if not isinstance(app.get(f), str) or not app[f]]
    if missing:
        raise config_error(f"{APP_SECRET_ENV}={app_arn} has no {', '.join(missing)}")
    options = client_options(app, environ)
    user, password, dbname = app["username"], app["password"], app["dbname"]

    step = "log in as the master user"
    try:
        with connect(options, master["username"], master["password"]) as client:
            admin = client[AUTH_DATABASE]
            try:
                admin.command("connectionStatus")  # the driver logs in on the first command
            except OperationFailure as exc:
                if exc.code != AUTHENTICATION_FAILED:
                    raise
                # Raises Failure, never PyMongoError, so the handler below does not rename it.
                return check_without_master(options, app, exc)
            step = f"create or update {user}"
            done = [sync_user(admin, options, user, password, dbname, current=True)]
            other = alternate_username(user)
            step = f"create or update {other}"
            done.append(sync_user(admin, options, other, password, dbname, current=False))
        step = f"log in as {user}"
        verify_current(options, user, password, dbname)
    except PyMongoError as exc:
        # The server's refusal or the connection error; the driver never puts a password in it.
        raise step_failed(f"{step} on {app['host']}: {exc}") from exc
    return Outcome(done)


def main(environ: Mapping[str, str] | None = None, fetch: Fetch | None = None) -> int:
    configure_logging()
    env = os.environ if environ is None else environ
    region = env.get(REGION_ENV) or None
    try:
        outcome = run(env, fetch or (lambda arn: fetch_secret_with_boto3(arn, region)))
    except Failure as exc:
        print(f"notes-dbusers: {exc}", file=sys.stderr)
        return exc.exit_code
    for line in outcome.done:
        log.info(line)
    if outcome.warning is not None:
        log.warning(outcome.warning)
    else:
        log.info("database users in step")
    return 0


if __name__ == "__main__":
    sys.exit(main())
