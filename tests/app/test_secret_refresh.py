"""Secrets re-read while serving (core/refresh.py): the JWT key set and the MongoDB URI read by ARN
from Secrets Manager (the moto server, over HTTP as from AWS), a new value in use after one
refresh, a failed refresh that keeps the old one, and the database client switch."""

from __future__ import annotations

import base64
import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from pymongo.errors import InvalidOperation

from devtools.localservices import ExportResources, MotoServer, SecantusServer
from notes_api.core.db import Database, uri_from_secret
from notes_api.core.refresh import SecretsRefresher, database_followed
from notes_api.exports.records import ExportRecords
from notes_api.worker.consumer import Worker
from notes_api.worker.main import build_clients
from notes_api.worker.settings import load_worker_settings
from tests.app.conftest import export_overrides, metric, signup
from tests.app.worker_support import run

OLD = os.urandom(32)
NEW = os.urandom(32)


def key_set(*entries: tuple[str, bytes, int]) -> str:
    keys = [
        {"kid": kid, "key": base64.urlsafe_b64encode(raw).decode().rstrip("="), "not_before": nb}
        for kid, raw, nb in entries
    ]
    return json.dumps({"keys": keys})


@pytest.fixture
def secrets_env(aws_env: dict[str, str], moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    """boto3's Secrets Manager (the app's included) on the moto server; a client for the test."""
    # botocore's service-specific endpoint variable for "Secrets Manager" (AWS SDKs and Tools
    # Reference Guide, "Service-specific endpoints": the service id upper-cased, spaces to "_").
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto_server.url)
    return moto_server.client("secretsmanager")


def new_secret(sm: Any, value: str) -> str:
    return str(sm.create_secret(Name=f"notes/test/{uuid.uuid4().hex[:8]}", SecretString=value)["ARN"])


def refresh(client: TestClient) -> dict[str, str]:
    refresher: SecretsRefresher = client.app.state.secrets_refresher  # type: ignore[attr-defined]
    assert client.portal is not None
    return client.portal.call(refresher.refresh_once)


def kid(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


@pytest.fixture
def keyed_client(make_client: Callable[..., TestClient], secrets_env: Any) -> tuple[TestClient, Any, str]:
    arn = new_secret(secrets_env, key_set(("old", OLD, 0)))
    client = make_client(jwt_signing_key=None, jwt_signing_key_secret_arn=arn, aws_region=MotoServer.REGION)
    return client, secrets_env, arn


def test_a_rotated_key_set_is_in_use_after_one_refresh(keyed_client: tuple[TestClient, Any, str]) -> None:
    # GIVEN the API started with a one-key set read by ARN, and a user holding a token of that key
    client, sm, arn = keyed_client
    user = signup(client)
    assert kid(user["access_token"]) == "old"
    changed_before = metric(
        client, "notes_secret_refreshes_total", secret="jwt_signing_key", result="changed"
    )
    # WHEN the secret gains a new, active key and the API refreshes
    sm.put_secret_value(SecretId=arn, SecretString=key_set(("old", OLD, 0), ("new", NEW, 1)))
    assert refresh(client) == {"jwt_signing_key": "changed"}
    # THEN new tokens are signed with the new key, and the old token still works
    again = client.post("/api/v1/auth/refresh", json={"refresh_token": user["refresh_token"]})
    assert again.status_code == 200, again.text
    assert kid(again.json()["access_token"]) == "new"
    assert client.get("/api/v1/me", headers=user["headers"]).status_code == 200
    assert (
        metric(client, "notes_secret_refreshes_total", secret="jwt_signing_key", result="changed")
        == changed_before + 1
    )
    # AND a refresh that finds the same value changes nothing
    assert refresh(client) == {"jwt_signing_key": "unchanged"}


def test_once_the_old_key_leaves_the_set_its_tokens_are_refused(
    keyed_client: tuple[TestClient, Any, str],
) -> None:
    # GIVEN a token of the old key, used once (so verified and cached)
    client, sm, arn = keyed_client
    user = signup(client)
    assert client.get("/api/v1/me", headers=user["headers"]).status_code == 200
    # WHEN a rotation leaves only the new key and the API refreshes
    sm.put_secret_value(SecretId=arn, SecretString=key_set(("new", NEW, 1)))
    assert refresh(client) == {"jwt_signing_key": "changed"}
    # THEN the old token is refused: the cache does not keep it alive
    refused = client.get("/api/v1/me", headers=user["headers"])
    assert refused.status_code == 401, refused.text


@pytest.mark.parametrize("breakage", ["deleted", "not a key set", "a short-lived outage"])
def test_a_failed_refresh_keeps_the_key_set_in_use(
    keyed_client: tuple[TestClient, Any, str],
    breakage: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a serving API and a signed-in user
    client, sm, arn = keyed_client
    user = signup(client)
    failed_before = metric(client, "notes_secret_refreshes_total", secret="jwt_signing_key", result="failed")
    # WHEN the secret cannot be read, or holds something that is not a key set
    if breakage == "deleted":
        sm.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    elif breakage == "not a key set":
        sm.put_secret_value(SecretId=arn, SecretString='{"keys": "oops ' + NEW.hex() + '"}')
    else:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:9")  # nothing listens
    with caplog.at_level(logging.WARNING, logger="notes_api.refresh"):
        assert refresh(client) == {"jwt_signing_key": "failed"}
    # THEN the old set stays in use: the token works and logins still sign with the old key
    assert client.get("/api/v1/me", headers=user["headers"]).status_code == 200
    login = client.post("/api/v1/auth/refresh", json={"refresh_token": user["refresh_token"]})
    assert login.status_code == 200 and kid(login.json()["access_token"]) == "old"
    # AND the failure is logged (naming the variable, never the value) and counted
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("NOTES_JWT_SIGNING_KEY" in w and "keeping the previous value" in w for w in warnings), warnings
    assert not any(NEW.hex() in w for w in warnings), warnings
    assert (
        metric(client, "notes_secret_refreshes_total", secret="jwt_signing_key", result="failed")
        == failed_before + 1
    )


# --- the MongoDB URI ------------------------------------------------------------------------


def app_secret(uri: str) -> str:
    """AWS's rotation JSON for MongoDB, as notes/<env>/docdb-app holds it."""
    return json.dumps({"engine": "mongo", "host": "127.0.0.1", "username": "notes_app", "uri": uri})


@pytest.mark.parametrize(
    ("value", "uri"),
    [
        ("mongodb://h:27017/?tls=true", "mongodb://h:27017/?tls=true"),
        (app_secret("mongodb://u:p@h:27017/notes"), "mongodb://u:p@h:27017/notes"),
    ],
)
def test_a_mongodb_secret_is_a_uri_or_json_with_one(value: str, uri: str) -> None:
    assert uri_from_secret(value) == uri


def test_a_json_mongodb_secret_without_a_uri_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError, match="without a string 'uri'") as refused:
        uri_from_secret('{"password": "hunter2"}')
    assert "hunter2" not in str(refused.value)


@pytest.fixture
def db_client(
    make_client: Callable[..., TestClient], secrets_env: Any, mongo_server: SecantusServer
) -> tuple[TestClient, Any, str]:
    arn = new_secret(secrets_env, app_secret(mongo_server.uri))
    client = make_client(mongodb_uri=None, mongodb_uri_secret_arn=arn, aws_region=MotoServer.REGION)
    return client, secrets_env, arn


def test_a_rotated_mongodb_uri_gets_a_new_client_and_the_old_one_closes_after_its_grace(
    db_client: tuple[TestClient, Any, str], mongo_server: SecantusServer
) -> None:
    # GIVEN the API connected with the URI of the app's JSON secret, serving a user
    client, sm, arn = db_client
    db: Database = client.app.state.services.accounts.db  # type: ignore[attr-defined]
    db.retire_after_seconds = 1.0
    user = signup(client)
    old = db.client
    # WHEN the secret's URI changes (the alternating user's, here the same server with an option)
    sm.put_secret_value(SecretId=arn, SecretString=app_secret(mongo_server.uri + "&appname=b"))
    assert refresh(client) == {"mongodb_uri": "changed"}
    # THEN requests run on a new client at once, and the old one still answers during its grace
    assert db.client is not old and client.portal is not None
    assert client.get("/api/v1/me", headers=user["headers"]).status_code == 200
    assert client.portal.call(old.admin.command, "ping")["ok"] == 1
    # AND it is closed once the grace is over
    time.sleep(1.5)
    with pytest.raises(InvalidOperation):
        client.portal.call(old.admin.command, "ping")
    assert client.get("/ready").status_code == 200


def test_the_export_worker_switches_to_a_rotated_uri_between_jobs(
    secrets_env: Any,
    mongo_server: SecantusServer,
    export_resources: ExportResources,
) -> None:
    # GIVEN the worker's settings with the URI by ARN, and a rotation that happens while it polls
    arn = new_secret(secrets_env, app_secret(mongo_server.uri))
    settings = load_worker_settings(
        env="test",
        mongodb_uri_secret_arn=arn,
        mongodb_database="notes_worker_refresh",
        **export_overrides(export_resources),
    )
    seen: list[str] = []

    async def scenario() -> list[str]:
        db = Database(settings)
        refresher = SecretsRefresher(settings, database_followed(settings, db))
        refresher.interval = 0  # due at every call, not once a minute

        async def between_jobs() -> None:
            await refresher.refresh_if_due()
            seen.append(db._uri)
            if len(seen) == 1:
                secrets_env.put_secret_value(
                    SecretId=arn, SecretString=app_secret(mongo_server.uri + "&appname=w")
                )
            else:
                worker.stopping = True

        sqs, s3 = build_clients(settings)
        worker = Worker(settings, ExportRecords(db, settings), lambda: db.notes, sqs, s3, between_jobs)
        worker.wait_seconds = 0
        try:
            await worker.run()
        finally:
            await db.close()
        return seen

    # WHEN the worker runs two polls
    uris = run(scenario())
    # THEN it was on the first URI before the rotation and on the new one at the next gap
    assert uris == [mongo_server.uri, mongo_server.uri + "&appname=w"]
