"""Fixtures: a real Redis and a real MongoDB-wire server (SecantusDB) on free loopback ports,
and an app wired to them with a fresh database per test; for exports, a moto server (SQS and
S3 over HTTP) with a fresh queue, dead-letter queue and bucket per test."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from devtools.localservices import (
    ExportResources,
    MotoServer,
    RedisServer,
    SecantusServer,
    create_export_resources,
)
from notes_api.core.config import Settings, load_settings
from notes_api.main import create_app

SIGNING_KEY = "k" * 48


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def mongo_server() -> Iterator[SecantusServer]:
    with SecantusServer() as server:
        yield server


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@contextlib.contextmanager
def aws_environment(server: MotoServer) -> Iterator[dict[str, str]]:
    """boto3's environment pointed at ``server`` (endpoints, dummy credentials, region) for the
    duration, restored after; for fixtures wider than one test, which cannot use ``monkeypatch``."""
    environment = server.environment()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environment.items():
            patch.setenv(name, value)
        # A profile or a global endpoint from the machine running the tests must not win.
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_REGION"):
            patch.delenv(name, raising=False)
        yield environment


@pytest.fixture
def aws_env(moto_server: MotoServer) -> Iterator[dict[str, str]]:
    """This test's boto3 clients, the app's included, reach the moto server."""
    with aws_environment(moto_server) as environment:
        yield environment


@pytest.fixture
def export_resources(moto_server: MotoServer) -> ExportResources:
    """A fresh export queue (with its DLQ and redrive policy) and bucket for this test."""
    return create_export_resources(moto_server)


def export_overrides(resources: ExportResources) -> dict[str, Any]:
    """Settings that point the app (or the worker) at ``resources``."""
    return {
        "export_queue_url": resources.queue_url,
        "export_bucket": resources.bucket,
        "export_max_receives": resources.max_receives,
        "aws_region": MotoServer.REGION,
    }


@pytest.fixture
def export_settings(export_resources: ExportResources, aws_env: dict[str, str]) -> dict[str, Any]:
    """Overrides for ``make_settings``/``make_client`` with exports configured against moto."""
    return export_overrides(export_resources)


@pytest.fixture
def exports_client(make_client: Callable[..., TestClient], export_settings: dict[str, Any]) -> TestClient:
    return make_client(**export_settings)


@pytest.fixture
def make_settings(redis_server: RedisServer, mongo_server: SecantusServer) -> Callable[..., Settings]:
    redis.Redis.from_url(redis_server.url).flushall()
    database = f"notes_test_{uuid.uuid4().hex[:10]}"

    def factory(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "env": "test",
            "mongodb_uri": mongo_server.uri,
            "mongodb_database": database,
            "mongodb_server_selection_timeout_ms": 1500,
            "redis_url": redis_server.url,
            "jwt_signing_key": SIGNING_KEY,
            "access_log": False,
            "rate_limit_auth": "1000/minute",
            "rate_limit_api": "10000/minute",
            # Cheap argon2id so hundreds of sign-ups stay fast; production cost is tested on its own.
            "password_hash_time_cost": 1,
            "password_hash_memory_kib": 1024,
            "password_hash_parallelism": 1,
        }
        values.update(overrides)
        return load_settings(**values)

    return factory


@pytest.fixture
def make_client(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., TestClient]]:
    opened: list[TestClient] = []

    def factory(**overrides: Any) -> TestClient:
        client = TestClient(create_app(make_settings(**overrides)), base_url="https://testserver")
        client.__enter__()  # runs the lifespan: pools open, indexes created
        opened.append(client)
        return client

    yield factory
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


def command_calls(url: str, command: str) -> int:
    """How many times the Redis at ``url`` has run ``command`` (lower-case), from its stats."""
    stats = redis.Redis.from_url(url).info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


def metric(client: TestClient, sample: str, **labels: str) -> float:
    """Sum of the /metrics samples named ``sample`` whose labels include ``labels``."""
    total = 0.0
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for found in family.samples:
            if found.name == sample and labels.items() <= found.labels.items():
                total += found.value
    return total


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


PASSWORD = "correct horse battery staple"


def signup(client: TestClient, email: str | None = None) -> dict[str, Any]:
    """Register and log in; return the token pair plus ready-made auth headers."""
    email = email or unique_email()
    response = client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    login = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    tokens: dict[str, Any] = login.json()
    tokens["email"] = email
    tokens["headers"] = {"Authorization": f"Bearer {tokens['access_token']}"}
    return tokens


def new_note(client: TestClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"title": "a note", "body": "some *markdown*", **fields}
    response = client.post("/api/v1/notes", json=body, headers=headers)
    assert response.status_code == 201, response.text
    note: dict[str, Any] = response.json()
    return note
