"""TLS to the database and to Redis, as DocumentDB and ElastiCache (in-transit encryption)
require it: real servers that accept TLS only, a CA file, and a Redis AUTH token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from devtools.localservices import RedisServer, SecantusServer
from devtools.tlsfiles import TlsFiles, make_tls_files
from tests.app.conftest import metric, new_note, signup

TOKEN = "auth-token-for-tests-0123456789abcdef"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def tls_mongo(tls: TlsFiles) -> Iterator[SecantusServer]:
    with SecantusServer(tls=tls) as server:
        yield server


@pytest.fixture(scope="module")
def tls_redis(tls: TlsFiles) -> Iterator[RedisServer]:
    with RedisServer(password=TOKEN, tls=tls) as server:
        yield server


def test_database_over_tls_with_the_ca_file(make_client, tls_mongo: SecantusServer, tls: TlsFiles) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a database that only speaks TLS, and the CA bundle that signed its certificate
    client: TestClient = make_client(mongodb_uri=tls_mongo.uri, mongodb_tls_ca_file=str(tls.ca_file))
    # WHEN the API is used THEN everything works over the encrypted connection
    user = signup(client)
    note = new_note(client, user["headers"])
    assert client.get(f"/api/v1/notes/{note['id']}", headers=user["headers"]).status_code == 200
    assert client.get("/ready").json()["checks"]["database"] == "ok"


def test_database_certificate_from_another_ca_is_refused(
    make_client,  # type: ignore[no-untyped-def]
    tls_mongo: SecantusServer,
    tmp_path: Path,
) -> None:
    # GIVEN a CA file that did not sign the server's certificate
    other = make_tls_files(tmp_path / "other")
    client: TestClient = make_client(
        mongodb_uri=tls_mongo.uri,
        mongodb_tls_ca_file=str(other.ca_file),
        mongodb_server_selection_timeout_ms=300,
    )
    # THEN the service never talks to it: not ready, data routes 503
    ready = client.get("/ready")
    assert ready.status_code == 503, ready.text
    login = client.post("/api/v1/auth/login", json={"email": "a@example.com", "password": "x" * 12})
    assert login.status_code == 503


def test_redis_over_tls_with_auth_token(make_client, tls_redis: RedisServer, tls: TlsFiles) -> None:  # type: ignore[no-untyped-def]
    # GIVEN Redis with TLS only and AUTH required, like ElastiCache with in-transit encryption
    client: TestClient = make_client(
        redis_url=tls_redis.url,
        redis_auth_token=TOKEN,
        redis_ca_file=str(tls.ca_file),
        redis_timeout_seconds=1.0,
    )
    user = signup(client)
    note = new_note(client, user["headers"])
    client.get(f"/api/v1/notes/{note['id']}", headers=user["headers"])
    client.get(f"/api/v1/notes/{note['id']}", headers=user["headers"])
    # THEN the cache is used and readiness sees Redis
    assert metric(client, "notes_cache_requests_total", cache="note", result="hit") >= 1
    assert client.get("/ready").json()["checks"]["redis"] == "ok"


def test_wrong_redis_token_degrades_but_serves(make_client, tls_redis: RedisServer, tls: TlsFiles) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = make_client(
        redis_url=tls_redis.url,
        redis_auth_token="wrong-token",
        redis_ca_file=str(tls.ca_file),
        redis_timeout_seconds=1.0,
    )
    user = signup(client)
    assert client.get("/api/v1/notes", headers=user["headers"]).status_code == 200
    ready = client.get("/ready").json()
    assert ready["status"] == "degraded" and ready["checks"]["redis"].startswith("error"), ready
