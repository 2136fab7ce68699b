"""Rotation of the application's DocumentDB user (secret ``notes-<env>-docdb-app``).

Handler: ``notes_rotation.docdb_app.lambda_handler``. Needs pymongo and dnspython next to the
package (``make rotation-deps``) and, for TLS, the DocumentDB CA bundle at DOCDB_CA_FILE.

Alternating users, as AWS's SecretsManagerMongoDBRotationMultiUser function does
(aws-samples/aws-secrets-manager-rotation-lambdas): each rotation gives the *other* user of the
pair ``notes_app`` / ``notes_app_clone`` a new password and makes it current, so the user the API
connected with keeps its password, and every open connection keeps working, until the rotation
after next. The secret is AWS's rotation JSON for MongoDB plus the ready-made URI the API reads::

    {"engine": "mongo", "host", "port", "username", "password", "dbname", "ssl",
     "masterarn": "<ARN of the master user's secret>", "uri": "mongodb://..."}

- createSecret copies AWSCURRENT, flips the user name, takes a new password from
  GetRandomPassword and writes the new user information into ``uri`` (its hosts and options kept).
- setSecret, as the AWS function does, refuses a pending user other than the current one's pair
  or a host other than the current one's (checked here before any login, so no password goes to
  another host), returns at once when the AWSPENDING credentials already log in (a retry), logs
  in with the current credentials (a secret that does not work is not rotated on the strength of
  the master's rights), then logs in as the master user and creates the pending user, or updates
  its password, with exactly ``readWrite`` on ``dbname``: roles anyone added by hand are taken
  away, never copied.
- testSecret logs in as the pending user, checks the roles the server reports for the connection
  and makes a read and a write on ``dbname`` that change nothing.
- finishSecret moves AWSCURRENT (``common.finish_secret``).

The master secret is the one DocumentDB manages for the cluster (``manage_master_user_password``).
Only its ``username`` and ``password`` are read and the host comes from the app secret: RDS's
managed secrets hold exactly those two keys (AWS's RDS multi-user functions detect a service-made
master secret that way), and DocumentDB's guide ("Password management with Amazon DocumentDB and
AWS Secrets Manager") does not spell the format out, so nothing more is assumed. In
DocumentDB every user lives in, and authenticates against, the ``admin`` database (DocumentDB
Developer Guide, "Role-based access control", Functional differences); createUser, updateUser
and usersInfo are supported (Developer Guide, "Supported MongoDB APIs", User management).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote_plus, urlsplit, urlunsplit

from bson import ObjectId
from pymongo import MongoClient
from pymongo.errors import OperationFailure, PyMongoError

from notes_rotation.common import (
    CURRENT,
    PENDING,
    RotationError,
    Steps,
    create_pending,
    dispatch,
    finish_secret,
    log,
    random_password,
    secret_string,
)

CA_FILE_ENV = "DOCDB_CA_FILE"
CLONE_SUFFIX = "_clone"
AUTH_DATABASE = "admin"
REQUIRED_FIELDS = ("engine", "host", "username", "password", "dbname", "masterarn")
# The collection testSecret reads and "writes" (a delete that matches nothing) to prove readWrite.
CHECK_COLLECTION = "notes"
TIMEOUT_MS = 5000
# DocumentDB's authentication failure, as MongoDB's: AuthenticationFailed.
AUTHENTICATION_FAILED = 18
# The options the stack's URI carries for DocumentDB: TLS, its replica set name, reads that may go
# to replicas, and no retryable writes, which DocumentDB does not support.
URI_OPTIONS = "authSource=admin&replicaSet=rs0&readPreference=secondaryPreferred&retryWrites=false"

Secret = dict[str, Any]


def alternate_username(username: str) -> str:
    """``notes_app`` <-> ``notes_app_clone``."""
    if username.endswith(CLONE_SUFFIX):
        return username[: -len(CLONE_SUFFIX)]
    return username + CLONE_SUFFIX


def app_roles(dbname: str) -> list[dict[str, str]]:
    return [{"role": "readWrite", "db": dbname}]


def parse_app_secret(value: str, what: str) -> Secret:
    try:
        secret = json.loads(value)
    except ValueError:
        raise RotationError(f"{what} is not JSON") from None
    if not isinstance(secret, dict):
        raise RotationError(f"{what} is not a JSON object")
    missing = [field for field in REQUIRED_FIELDS if field not in secret]
    if missing:
        raise RotationError(f"{what} has no {', '.join(missing)}")
    if secret["engine"] != "mongo":
        raise RotationError(f"{what} has engine {secret['engine']!r}, not 'mongo'")
    return secret


def parse_master_secret(value: str, arn: str) -> tuple[str, str]:
    try:
        secret = json.loads(value)
        return str(secret["username"]), str(secret["password"])
    except (ValueError, TypeError, KeyError):
        raise RotationError(f"master secret {arn} is not JSON with username and password") from None


def uses_tls(secret: Mapping[str, Any]) -> bool:
    ssl = secret.get("ssl", True)
    return ssl is True or (isinstance(ssl, str) and ssl.lower() == "true")


def build_uri(secret: Mapping[str, Any], username: str, password: str) -> str:
    """``secret['uri']`` with new user information (hosts, database and options kept), or a URI
    with the stack's DocumentDB options when the secret has none. pymongo wants the user name and
    password percent-escaped with quote_plus (pymongo docs, MongoClient)."""
    userinfo = f"{quote_plus(username)}:{quote_plus(password)}"
    uri = secret.get("uri")
    if not uri:
        tls = "&tls=true" if uses_tls(secret) else ""
        port = secret.get("port", 27017)
        return f"mongodb://{userinfo}@{secret['host']}:{port}/?{URI_OPTIONS}{tls}"
    parts = urlsplit(str(uri))
    hosts = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{hosts}"))


def client_options(secret: Mapping[str, Any]) -> dict[str, Any]:
    """Where and how to reach the server of ``secret``: host, port and TLS with the CA bundle."""
    options: dict[str, Any] = {
        "host": secret["host"],
        "port": int(secret.get("port", 27017)),
        "retryWrites": False,
        "connectTimeoutMS": TIMEOUT_MS,
        "serverSelectionTimeoutMS": TIMEOUT_MS,
        "appname": "notes-rotation",
    }
    if uses_tls(secret):
        ca_file = os.environ.get(CA_FILE_ENV)
        if not ca_file:
            raise RotationError(f"{CA_FILE_ENV} is required: the secret asks for TLS (ssl is true)")
        if not os.path.isfile(ca_file):
            raise RotationError(f"{CA_FILE_ENV}={ca_file} is not a file (the DocumentDB CA bundle)")
        options |= {"tls": True, "tlsCAFile": ca_file}
    return options


@contextmanager
def connect(secret: Mapping[str, Any], username: str, password: str) -> Iterator[MongoClient[Any]]:
    client: MongoClient[Any] = MongoClient(
        **client_options(secret), username=username, password=password, authSource=AUTH_DATABASE
    )
    try:
        yield client
    finally:
        client.close()


def logs_in(secret: Mapping[str, Any], username: str, password: str) -> bool:
    """Whether the credentials authenticate; False only for a refused login, so an unreachable
    server is an error, not a sign that the password is not set yet."""
    with connect(secret, username, password) as client:
        try:
            client[AUTH_DATABASE].command("connectionStatus")
        except OperationFailure as exc:
            if exc.code == AUTHENTICATION_FAILED:
                return False
            raise
    return True


def create_secret(client: Any, arn: str, token: str) -> None:
    def make(current_value: str) -> str:
        pending = parse_app_secret(current_value, f"AWSCURRENT of {arn}")
        pending["username"] = alternate_username(pending["username"])
        pending["password"] = random_password(client)
        pending["uri"] = build_uri(pending, pending["username"], pending["password"])
        log.info("createSecret: version %s of %s is user %s", token, arn, pending["username"])
        return json.dumps(pending)

    create_pending(client, arn, token, make)


def set_secret(client: Any, arn: str, token: str) -> None:
    current = parse_app_secret(secret_string(client, arn, CURRENT), f"AWSCURRENT of {arn}")
    pending = parse_app_secret(secret_string(client, arn, PENDING, token), f"AWSPENDING of {arn}")
    user = pending["username"]
    # Checked before anything logs in, so that no password is ever sent to another host.
    if user != alternate_username(current["username"]):
        raise RotationError(f"AWSPENDING user {user} is not the pair of AWSCURRENT's {current['username']}")
    where = ("host", "port", "ssl")
    if [pending.get(k) for k in where] != [current.get(k) for k in where]:
        raise RotationError(
            f"AWSPENDING host {pending['host']}:{pending.get('port')} (ssl {pending.get('ssl')}) is not "
            f"AWSCURRENT's {current['host']}:{current.get('port')} (ssl {current.get('ssl')})"
        )
    if logs_in(pending, user, pending["password"]):
        log.info("setSecret: user %s already has the AWSPENDING password of %s", user, arn)
        return
    if not logs_in(current, current["username"], current["password"]):
        raise RotationError(f"the AWSCURRENT credentials of {arn} do not log in; nothing is changed")

    master_arn = str(current["masterarn"])
    master_user, master_password = parse_master_secret(secret_string(client, master_arn, CURRENT), master_arn)
    roles = app_roles(str(pending["dbname"]))
    try:
        with connect(current, master_user, master_password) as master:
            admin = master[AUTH_DATABASE]
            if admin.command("usersInfo", user)["users"]:
                # updateUser replaces the whole roles array: anything added by hand goes.
                admin.command("updateUser", user, pwd=pending["password"], roles=roles)
                log.info(
                    "setSecret: updated user %s (password, roles readWrite on %s)", user, pending["dbname"]
                )
            else:
                admin.command("createUser", user, pwd=pending["password"], roles=roles)
                log.info("setSecret: created user %s with readWrite on %s", user, pending["dbname"])
    except PyMongoError as exc:
        # The driver's message names the server's refusal, never the password.
        raise RotationError(f"setSecret: cannot set user {user} as master user {master_user}: {exc}") from exc


def check_roles(status: Mapping[str, Any], username: str, dbname: str) -> None:
    info = status.get("authInfo", {})
    users = [u.get("user") for u in info.get("authenticatedUsers", [])]
    if username not in users:
        raise RotationError(f"connectionStatus does not show {username} as logged in: {users}")
    if "authenticatedUserRoles" not in info:
        # MongoDB documents the field; a server that leaves it out cannot be checked this way.
        log.warning("testSecret: the server does not report the roles of %s", username)
        return
    roles = sorted((r.get("role"), r.get("db")) for r in info["authenticatedUserRoles"])
    if roles != [("readWrite", dbname)]:
        raise RotationError(f"user {username} has roles {roles}, not exactly readWrite on {dbname}")


def test_secret(client: Any, arn: str, token: str) -> None:
    pending = parse_app_secret(secret_string(client, arn, PENDING, token), f"AWSPENDING of {arn}")
    user, dbname = pending["username"], str(pending["dbname"])
    try:
        with connect(pending, user, pending["password"]) as app:
            check_roles(app[AUTH_DATABASE].command("connectionStatus"), user, dbname)
            probe = {"_id": ObjectId()}  # a fresh id: matches no document
            collection = app[dbname][CHECK_COLLECTION]
            collection.find_one(probe)
            collection.delete_one(probe)
    except PyMongoError as exc:
        raise RotationError(
            f"testSecret: user {user} of {arn} cannot read and write {dbname}: {exc}"
        ) from exc
    log.info("testSecret: user %s of %s logs in and reads and writes %s", user, arn, dbname)


STEPS = Steps(create=create_secret, set=set_secret, test=test_secret, finish=finish_secret)


def lambda_handler(event: Mapping[str, Any], context: object) -> None:
    """Lambda entry point: ``{"SecretId", "ClientRequestToken", "Step"}`` from Secrets Manager."""
    dispatch(event, STEPS)
