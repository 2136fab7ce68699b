"""Test support for the rotation functions and the database-users task: Secrets Manager in
process (moto's ``mock_aws``), what Secrets Manager itself does around a rotation, and SecantusDB
with access control on.

Secrets Manager, before it invokes createSecret, creates the new version under the
ClientRequestToken, labelled AWSPENDING and without a value (Secrets Manager User Guide, "How
rotation works"; the AWS templates' dispatcher depends on it). moto's RotateSecret does so only
on its way to invoking a Lambda function it would run in Docker, so :func:`begin_rotation` does
that one step on moto's backend, and :func:`enable_rotation` turns rotation on there the way a
RotateSecret with a schedule does. Every step of ours then runs against moto's real
Secrets Manager API (GetSecretValue, PutSecretValue, DescribeSecret, UpdateSecretVersionStage,
GetRandomPassword).
"""

from __future__ import annotations

import contextlib
import secrets
import time
import uuid
from collections.abc import Iterator
from typing import Any, Self

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.secretsmanager.models import secretsmanager_backends
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from devtools.localservices import SecantusServer
from notes_rotation.common import Steps

REGION = "us-east-1"
STEP_NAMES = ("createSecret", "setSecret", "testSecret", "finishSecret")


@contextlib.contextmanager
def secrets_manager() -> Iterator[Any]:
    """A Secrets Manager client on moto, in process; boto3's default client (the one the Lambda
    handlers make) reaches the same fake through the environment set here."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
        }.items():
            patch.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_REGION"):
            patch.delenv(name, raising=False)
        with mock_aws():
            yield boto3.client("secretsmanager", region_name=REGION)


def _backend_secret(arn: str) -> Any:
    return secretsmanager_backends[DEFAULT_ACCOUNT_ID][REGION].secrets[arn]


def enable_rotation(arn: str, days: int = 30) -> None:
    """What RotateSecret with RotationRules does to the secret's metadata (no rotation run)."""
    secret = _backend_secret(arn)
    secret.rotation_requested = True
    secret.rotation_enabled = True
    secret.rotation_lambda_arn = f"arn:aws:lambda:{REGION}:{DEFAULT_ACCOUNT_ID}:function:rotation"
    secret.auto_rotate_after_days = days


def begin_rotation(arn: str, token: str | None = None) -> str:
    """What Secrets Manager does before createSecret: a new version under ``token``, labelled
    AWSPENDING (taken off any other version), with no value."""
    token = token or str(uuid.uuid4())
    secret = _backend_secret(arn)
    secret.remove_version_stages_from_old_versions(["AWSPENDING"])
    secret.versions[token] = {
        "createdate": int(time.time()),
        "version_id": token,
        "version_stages": ["AWSPENDING"],
    }
    return token


def create_rotating_secret(client: Any, name: str, value: str) -> str:
    """A secret with ``value`` as AWSCURRENT and rotation on; its ARN."""
    arn = str(client.create_secret(Name=name, SecretString=value)["ARN"])
    enable_rotation(arn)
    return arn


def event(arn: str, token: str, step: str) -> dict[str, str]:
    return {"SecretId": arn, "ClientRequestToken": token, "Step": step}


def run_steps(
    dispatch: Any, steps: Steps, client: Any, arn: str, token: str, names: tuple[str, ...] = STEP_NAMES
) -> None:
    for name in names:
        dispatch(event(arn, token, name), steps, client)


def stages(client: Any, arn: str) -> dict[str, list[str]]:
    """Version id -> its staging labels, as DescribeSecret reports them."""
    return {v: sorted(s) for v, s in client.describe_secret(SecretId=arn)["VersionIdsToStages"].items() if s}


def value(client: Any, arn: str, stage: str = "AWSCURRENT") -> str:
    return str(client.get_secret_value(SecretId=arn, VersionStage=stage)["SecretString"])


class AuthSecantusServer(SecantusServer):
    """SecantusDB with access control on (``--auth``): every command but the handshake needs a
    logged-in user, and each command needs a role that grants its action (secantus/rbac.py).

    SecantusDB has no localhost exception for the first user; its CLI documents provisioning as
    "connect once without auth and run createUser, then restart with --auth". So the server starts
    once without access control on durable storage, gets a ``root`` user in ``admin`` (the
    cluster's master user), and restarts on the same port and files with ``--auth``."""

    MASTER_USER = "master"

    def __init__(self) -> None:
        super().__init__(durable=True)
        self.master_password = secrets.token_urlsafe(18)
        self.auth = False

    def command(self) -> list[str]:
        return [*super().command(), *(["--auth"] if self.auth else [])]

    def start(self, timeout: float = 20.0) -> Self:
        if not self.auth:
            super().start(timeout)
            with MongoClient(self.uri) as client:
                roles = [{"role": "root", "db": "admin"}]
                client.admin.command("createUser", self.MASTER_USER, pwd=self.master_password, roles=roles)
            self.stop()
            self.auth = True
        return super().start(timeout)

    def client(self, username: str, password: str) -> MongoClient[Any]:
        return MongoClient(
            host="127.0.0.1",
            port=self.port,
            username=username,
            password=password,
            authSource="admin",
            directConnection=True,
            serverSelectionTimeoutMS=3000,
        )

    def master(self) -> MongoClient[Any]:
        return self.client(self.MASTER_USER, self.master_password)

    def logs_in(self, username: str, password: str) -> bool:
        with self.client(username, password) as client:
            try:
                client.admin.command("connectionStatus")
            except OperationFailure as exc:
                if exc.code == 18:  # AuthenticationFailed
                    return False
                raise
        return True

    def roles(self, username: str) -> list[tuple[str, str]]:
        with self.master() as client:
            users = client.admin.command("usersInfo", username)["users"]
        return sorted((r["role"], r["db"]) for r in users[0]["roles"]) if users else []

    def exists(self, username: str) -> bool:
        with self.master() as client:
            return bool(client.admin.command("usersInfo", username)["users"])

    def can_write(self, username: str, password: str, database: str) -> bool:
        with self.client(username, password) as client:
            try:
                client[database]["writes"].insert_one({"by": username})
            except OperationFailure as exc:
                if exc.code == 13:  # Unauthorized
                    return False
                raise
        return True
