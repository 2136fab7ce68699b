"""Dependencies failing under a running API: a real Redis or database server is stopped."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import pytest

from devtools.localservices import RedisServer, SecantusServer
from tests.app.conftest import metric, new_note, signup

NOTES = "/api/v1/notes"


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def own_mongo() -> Iterator[SecantusServer]:
    with SecantusServer() as server:
        yield server


def test_api_keeps_serving_from_the_database_when_redis_dies(make_client, own_redis: RedisServer) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a working app with a warm cache
    client = make_client(redis_url=own_redis.url, redis_timeout_seconds=0.2, redis_retry_after_seconds=0.5)
    user = signup(client)
    h = user["headers"]
    note = new_note(client, h, title="before")
    client.get(f"{NOTES}/{note['id']}", headers=h)
    # WHEN Redis goes away
    own_redis.stop()
    # THEN reads, writes, listing and logins all still succeed
    assert client.get(f"{NOTES}/{note['id']}", headers=h).status_code == 200
    updated = client.patch(
        f"{NOTES}/{note['id']}", json={"title": "during"}, headers={**h, "If-Match": '"1"'}
    )
    assert updated.status_code == 200, updated.text
    assert client.get(f"{NOTES}/{note['id']}", headers=h).json()["title"] == "during"
    assert client.get(NOTES, headers=h).json()["items"][0]["title"] == "during"
    assert (
        client.post(
            "/api/v1/auth/login", json={"email": user["email"], "password": "correct horse battery staple"}
        ).status_code
        == 200
    )
    # AND the outage is visible: readiness says degraded, metrics count redis errors and open limits
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "degraded", ready.text
    assert metric(client, "notes_dependency_errors_total", dependency="redis") >= 1
    assert metric(client, "notes_rate_limit_fail_open_total") >= 1
    assert metric(client, "notes_cache_requests_total", cache="note", result="bypass") >= 1


def test_redis_outage_costs_one_timeout_not_one_per_request(make_client, own_redis: RedisServer) -> None:  # type: ignore[no-untyped-def]
    client = make_client(redis_url=own_redis.url, redis_timeout_seconds=0.3, redis_retry_after_seconds=30)
    user = signup(client)
    note = new_note(client, user["headers"])
    own_redis.stop()
    client.get(f"{NOTES}/{note['id']}", headers=user["headers"])  # pays the failure once, opens the circuit
    start = time.perf_counter()
    for _ in range(10):
        assert client.get(f"{NOTES}/{note['id']}", headers=user["headers"]).status_code == 200
    # Ten requests at 0.3 s each would take 3 s; with the circuit open they take database time only.
    assert time.perf_counter() - start < 1.5


def test_cache_is_used_again_once_redis_is_back(make_client, own_redis: RedisServer) -> None:  # type: ignore[no-untyped-def]
    client = make_client(
        redis_url=own_redis.url, redis_timeout_seconds=0.2, redis_retry_after_seconds=0.2, cache_ttl_seconds=1
    )
    user = signup(client)
    note = new_note(client, user["headers"])
    own_redis.stop()
    # A write during the outage could not invalidate: the cache is distrusted for one TTL.
    client.patch(f"{NOTES}/{note['id']}", json={"title": "x"}, headers={**user["headers"], "If-Match": '"1"'})
    own_redis.start()
    time.sleep(1.3)
    hits = metric(client, "notes_cache_requests_total", cache="note", result="hit")
    for _ in range(3):
        assert client.get(f"{NOTES}/{note['id']}", headers=user["headers"]).json()["title"] == "x"
    assert metric(client, "notes_cache_requests_total", cache="note", result="hit") >= hits + 1


def test_write_during_redis_outage_is_not_hidden_by_an_old_cache_entry(
    make_client, own_redis: RedisServer
) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a note cached at version 1
    client = make_client(
        redis_url=own_redis.url,
        redis_timeout_seconds=0.2,
        redis_retry_after_seconds=0.1,
        cache_ttl_seconds=30,
    )
    user = signup(client)
    h = user["headers"]
    note = new_note(client, h, title="v1")
    client.get(f"{NOTES}/{note['id']}", headers=h)
    client.get(NOTES, headers=h)
    # WHEN Redis blinks exactly while the note is updated, and comes back with its old entries
    own_redis.stop()
    assert (
        client.patch(
            f"{NOTES}/{note['id']}", json={"title": "v2"}, headers={**h, "If-Match": '"1"'}
        ).status_code
        == 200
    )
    own_redis.start()  # an empty Redis here, but the rule is the same for one that kept its data
    time.sleep(0.2)
    # THEN reads are fresh
    assert client.get(f"{NOTES}/{note['id']}", headers=h).json()["title"] == "v2"
    assert client.get(NOTES, headers=h).json()["items"][0]["title"] == "v2"


def test_database_down_gives_503_with_a_clear_body_and_ready_503(
    make_client, own_mongo: SecantusServer
) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a working app
    client = make_client(mongodb_uri=own_mongo.uri, mongodb_server_selection_timeout_ms=300)
    user = signup(client)
    note = new_note(client, user["headers"])
    assert client.get("/ready").status_code == 200
    # WHEN the database goes away
    own_mongo.stop()
    # THEN data routes answer 503 with the error shape and Retry-After, never a stack trace
    for method, path, body in (
        ("GET", f"{NOTES}/{note['id']}x", None),
        ("GET", NOTES + "?cursor=x", None),
        ("POST", NOTES, {"title": "t"}),
        ("GET", "/api/v1/me", None),
    ):
        response = client.request(method, path, json=body, headers=user["headers"])
        if response.status_code in (400, 404):  # answered before touching the database
            continue
        assert response.status_code == 503, (method, path, response.text)
        assert response.json()["code"] == "database_unavailable"
        assert response.headers["Retry-After"].isdigit()
        assert "Traceback" not in response.text and "pymongo" not in response.text
    login = client.post(
        "/api/v1/auth/login", json={"email": user["email"], "password": "correct horse battery staple"}
    )
    assert login.status_code == 503
    # AND readiness fails while liveness does not
    ready = client.get("/ready")
    assert ready.status_code == 503 and ready.json()["checks"]["database"].startswith("error")
    assert client.get("/health").status_code == 200


def test_app_starts_without_a_database_and_becomes_ready_when_it_appears(make_client) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a database server that is not running yet
    server = SecantusServer()
    try:
        client = make_client(mongodb_uri=server.uri, mongodb_server_selection_timeout_ms=200)
        # THEN the app is up but not ready
        assert client.get("/health").status_code == 200
        assert client.get("/ready").status_code == 503
        # WHEN the database starts THEN indexes get created in the background and it turns ready
        server.start()
        deadline = time.monotonic() + 20
        while client.get("/ready").status_code != 200:
            assert time.monotonic() < deadline, client.get("/ready").text
            time.sleep(0.2)
        assert signup(client)["access_token"]
    finally:
        server.close()


def test_one_slow_redis_reply_does_not_switch_the_cache_off(make_settings) -> None:  # type: ignore[no-untyped-def]
    # GIVEN the gate in front of a working Redis
    from notes_api.core.cache import FAILURES_TO_OPEN, RedisGate  # noqa: PLC0415

    gate = RedisGate(make_settings())

    def slow() -> TimeoutError:
        return TimeoutError("slow reply on a busy event loop")

    # WHEN calls fail now and then, with successes between them
    for _ in range(5):
        for _ in range(FAILURES_TO_OPEN - 1):
            gate.failed("cache_get", slow())
        gate.succeeded()
    # THEN the circuit stays closed
    assert gate.available
    # AND one failed pipeline reported by many of its callers counts once
    shared = slow()
    for _ in range(FAILURES_TO_OPEN * 3):
        gate.failed("cache_get", shared)
    assert gate.available
    # AND only failures in a row open it
    for _ in range(FAILURES_TO_OPEN - 1):
        gate.failed("cache_get", slow())
    assert not gate.available


# Every route that reaches a dependency, fast path and routed alike: (method, path, body).
# The note id is a placeholder replaced by a real note; "?limit=20" sends the list past the
# fast path (it answers only the bare first page).
_BOTH_DOWN_ROUTES = (
    ("GET", NOTES, None),  # fast path: the default first page
    ("GET", f"{NOTES}/{{id}}", None),  # fast path: one note
    ("GET", f"{NOTES}?limit=20", None),
    ("GET", "/api/v1/me", None),
    ("POST", NOTES, {"title": "t"}),
    ("PATCH", f"{NOTES}/{{id}}", {"title": "t"}),
    ("DELETE", f"{NOTES}/{{id}}", None),
    ("POST", "/api/v1/auth/refresh", "refresh"),
    ("POST", "/api/v1/auth/logout", None),
)
# serverSelectionTimeoutMS (NOTES_MONGODB_SERVER_SELECTION_TIMEOUT_MS, 3000 by default) for the
# test below. With the database down a request waits once for pymongo to give up finding a
# server: its selection loop (pymongo/asynchronous/topology.py _select_servers_loop) checks the
# deadline after each wait of up to common.MIN_HEARTBEAT_INTERVAL (0.5 s), so the wait is the
# timeout rounded up to 0.5 s: measured 0.50 s here at 300 ms, 3.02 s at the default.
_SELECTION_MS = 300
_BOTH_DOWN_BOUND_SECONDS = math.ceil(_SELECTION_MS / 500) * 0.5 + 0.5


@pytest.mark.parametrize("cached", [True, False], ids=["warm-cache", "cold-cache"])
def test_both_dependencies_down_every_route_answers_503_json_in_bounded_time(  # type: ignore[no-untyped-def]
    make_client, own_redis: RedisServer, own_mongo: SecantusServer, cached: bool
) -> None:
    # GIVEN a working app whose session checks and cached reads have been exercised
    client = make_client(
        mongodb_uri=own_mongo.uri,
        mongodb_server_selection_timeout_ms=_SELECTION_MS,
        redis_url=own_redis.url,
        redis_timeout_seconds=0.2,
        redis_retry_after_seconds=0.5,
        # Every request asks about its session, so the database fallback is reached each time.
        session_check_cache_seconds=0,
    )
    user = signup(client)
    h = user["headers"]
    note = new_note(client, h)
    if cached:
        assert client.get(NOTES, headers=h).status_code == 200
        assert client.get(f"{NOTES}/{note['id']}", headers=h).status_code == 200
    # WHEN Redis and the database both stop
    own_redis.stop()
    own_mongo.stop()
    # THEN every route, before routing or after it, answers the routes' 503 JSON error (never a
    # 500) with Retry-After, within one server-selection wait plus a margin for this machine
    for method, template, body in _BOTH_DOWN_ROUTES:
        path = template.format(id=note["id"])
        headers = {**h, "If-Match": '"1"'} if method == "PATCH" else h
        payload = {"refresh_token": user["refresh_token"]} if body == "refresh" else body
        start = time.perf_counter()
        response = client.request(method, path, json=payload, headers=headers)
        elapsed = time.perf_counter() - start
        assert response.status_code == 503, (method, path, response.status_code, response.text)
        assert response.headers["content-type"] == "application/json"
        error = response.json()
        assert error["code"] == "database_unavailable", (method, path, error)
        assert error["request_id"] == response.headers["X-Request-ID"]
        assert response.headers["Retry-After"].isdigit()
        assert elapsed < _BOTH_DOWN_BOUND_SECONDS, (method, path, elapsed)
    # AND once both are back (same ports, empty stores), the same client recovers without a restart
    own_mongo.start()
    own_redis.start()
    deadline = time.monotonic() + 15
    while client.get("/ready").status_code != 200:
        assert time.monotonic() < deadline, client.get("/ready").text
        time.sleep(0.1)
    fresh = signup(client)
    assert client.get(NOTES, headers=fresh["headers"]).status_code == 200


def test_a_redis_error_that_escapes_a_route_is_a_503_not_a_500(make_settings) -> None:  # type: ignore[no-untyped-def]
    # GIVEN the app's error handlers and a route whose Redis call is not degraded (a real client
    # pointed at a port where nothing listens: redis-py raises its ConnectionError)
    import redis.asyncio  # noqa: PLC0415
    from fastapi import FastAPI  # noqa: PLC0415
    from fastapi.testclient import TestClient  # noqa: PLC0415

    from devtools.localservices import free_port  # noqa: PLC0415
    from notes_api.core.errors import install_error_handlers  # noqa: PLC0415

    app = FastAPI()
    install_error_handlers(app)

    @app.get("/uses-redis")
    async def uses_redis() -> None:
        client = redis.asyncio.Redis(port=free_port(), socket_connect_timeout=0.5)
        try:
            await client.get("k")
        finally:
            await client.aclose()

    # WHEN it is called
    response = TestClient(app, raise_server_exceptions=False).get("/uses-redis")
    # THEN the answer is the dependency 503 with the error shape and Retry-After
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "redis_unavailable"
    assert response.headers["Retry-After"].isdigit()
