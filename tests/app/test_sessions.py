"""Session state: the database is the source of truth, Redis a cache of it.

Every test runs against a real Redis and a real MongoDB-wire server. "Another task" is a
second app on the same Redis and database that never saw the revocation happen, so what it
answers comes from Redis or the database, not from the memory of the task that revoked.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import redis
from fastapi.testclient import TestClient

from devtools.localservices import RedisServer, SecantusServer
from tests.app.conftest import SIGNING_KEY, command_calls, new_note, signup

ME = "/api/v1/me"


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


def _sid(user: dict[str, Any]) -> str:
    claims = jwt.decode(user["access_token"], SIGNING_KEY, algorithms=["HS256"], audience="notes-api")
    return str(claims["sid"])


def _tasks(make_client: Any, **overrides: Any) -> tuple[TestClient, TestClient]:
    """Task A (where the revocation happens) and task B, which asks Redis on every request."""
    return make_client(**overrides), make_client(session_check_cache_seconds=0, **overrides)


def _refused(response: Any) -> bool:
    return bool(response.status_code == 401 and response.json()["detail"] == "session has ended")


def test_logout_survives_redis_losing_every_key(make_client, redis_server: RedisServer) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a session both tasks have seen live
    task_a, task_b = _tasks(make_client)
    user = signup(task_a)
    assert task_b.get(ME, headers=user["headers"]).status_code == 200
    # WHEN it logs out and then Redis loses its data (FLUSHALL: as an eviction or a failover
    # to an empty replica would)
    assert task_a.post("/api/v1/auth/logout", headers=user["headers"]).status_code == 204
    redis.Redis.from_url(redis_server.url).flushall()
    # THEN the other task still refuses the token: the miss was looked up in the database
    response = task_b.get(ME, headers=user["headers"])
    assert _refused(response), response.text
    # AND the answer is cached again, so the next task finds it in Redis
    assert redis.Redis.from_url(redis_server.url).exists(f"notes:revoked-session:{_sid(user)}") == 1


def test_logout_survives_a_redis_restart(make_client, own_redis: RedisServer) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a logged-out session, with Redis up at the time of the logout
    task_a, task_b = _tasks(make_client, redis_url=own_redis.url, redis_retry_after_seconds=0.2)
    user = signup(task_a)
    assert task_b.get(ME, headers=user["headers"]).status_code == 200
    assert task_a.post("/api/v1/auth/logout", headers=user["headers"]).status_code == 204
    # WHEN Redis restarts on the same port without its data
    own_redis.stop()
    own_redis.start()
    # THEN the token stays refused, while the circuit is open and once it is closed again
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        response = task_b.get(ME, headers=user["headers"])
        assert _refused(response), response.text
        time.sleep(0.1)
    assert redis.Redis.from_url(own_redis.url).exists(f"notes:revoked-session:{_sid(user)}") == 1


def test_family_revoked_by_refresh_reuse_stays_revoked_when_redis_is_flushed(
    make_client, redis_server: RedisServer
) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a family revoked because a spent refresh token was presented again
    task_a, task_b = _tasks(make_client)
    user = signup(task_a)
    rotated = task_a.post("/api/v1/auth/refresh", json={"refresh_token": user["refresh_token"]}).json()
    newest = {"Authorization": f"Bearer {rotated['access_token']}"}
    assert task_b.get(ME, headers=newest).status_code == 200
    replay = task_a.post("/api/v1/auth/refresh", json={"refresh_token": user["refresh_token"]})
    assert replay.status_code == 401
    # WHEN Redis loses its data
    redis.Redis.from_url(redis_server.url).flushall()
    # THEN the family's access tokens, old and new, are refused by the other task
    for headers in (user["headers"], newest):
        response = task_b.get(ME, headers=headers)
        assert _refused(response), response.text


def test_logout_while_redis_is_down_counts_once_redis_is_back_empty(
    make_client, own_redis: RedisServer
) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a session both tasks have seen live
    task_a, task_b = _tasks(
        make_client, redis_url=own_redis.url, redis_timeout_seconds=0.2, redis_retry_after_seconds=0.2
    )
    user = signup(task_a)
    assert task_b.get(ME, headers=user["headers"]).status_code == 200
    # WHEN it logs out while Redis is down, so the revocation reaches the database only
    own_redis.stop()
    assert task_a.post("/api/v1/auth/logout", headers=user["headers"]).status_code == 204
    # AND Redis comes back empty
    own_redis.start()
    time.sleep(0.3)  # past the circuit's retry time: the tasks talk to Redis again
    # THEN both tasks refuse the token, and keep refusing it
    for _ in range(3):
        for task in (task_a, task_b):
            response = task.get(ME, headers=user["headers"])
            assert _refused(response), response.text


def test_logout_while_redis_is_down_is_refused_within_the_window_despite_a_stale_live_entry(
    make_client, own_redis: RedisServer
) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a session task B found live, so Redis caches "live" for the window, and Redis
    # snapshotted then (SAVE writes dump.rdb in its --dir; a restart loads it back)
    live_window, check_window = 3.0, 0.5
    settings = {
        "redis_url": own_redis.url,
        "redis_timeout_seconds": 0.2,
        "redis_retry_after_seconds": 0.2,
        "session_live_cache_seconds": live_window,
        "session_check_cache_seconds": check_window,
    }
    task_a, task_b = make_client(**settings), make_client(**settings)
    user = signup(task_a)
    live_key = f"notes:live-session:{_sid(user)}"
    assert task_b.get(ME, headers=user["headers"]).status_code == 200
    cached = redis.Redis.from_url(own_redis.url)
    assert 0 < cached.pttl(live_key) <= live_window * 1000
    cached.save()
    # WHEN the session logs out while Redis is down (the database alone records it)
    own_redis.stop()
    revoked_at = time.monotonic()
    assert task_a.post("/api/v1/auth/logout", headers=user["headers"]).status_code == 204
    # AND Redis comes back holding the stale "live", and the tasks' circuits close again
    own_redis.start()
    time.sleep(0.3)
    assert redis.Redis.from_url(own_redis.url).exists(live_key) == 1
    # THEN the task that logged out refuses it at once
    assert _refused(task_a.get(ME, headers=user["headers"]))
    # AND task B refuses it within the documented window (live + check), and for good after
    deadline = revoked_at + live_window + check_window + 1.0
    while not _refused(task_b.get(ME, headers=user["headers"])):
        assert time.monotonic() < deadline, "a revoked session outlived its documented window"
        time.sleep(0.1)
    for _ in range(3):
        assert _refused(task_b.get(ME, headers=user["headers"]))


def test_a_live_session_reads_the_database_once_per_window_not_per_request(
    make_client, redis_server: RedisServer
) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a task that asks Redis on every request, and a live session
    client = make_client(session_check_cache_seconds=0, session_live_cache_seconds=60)
    user = signup(client)
    assert client.get(ME, headers=user["headers"]).status_code == 200
    # WHEN it makes more requests within the window
    before = _queries(client)
    for _ in range(5):
        assert client.get(ME, headers=user["headers"]).status_code == 200
    # THEN only /me's own account reads reached the database, no session lookups
    assert _queries(client) - before == 5
    assert redis.Redis.from_url(redis_server.url).exists(f"notes:live-session:{_sid(user)}") == 1


def test_a_token_for_a_session_the_database_does_not_know_is_refused(client: TestClient) -> None:
    # GIVEN a correctly signed access token whose session has no refresh token left in the
    # database (all expired and removed by the TTL index, or never created)
    user = signup(client)
    claims = jwt.decode(user["access_token"], SIGNING_KEY, algorithms=["HS256"], audience="notes-api")
    tokens = client.app.state.services.tokens  # type: ignore[attr-defined]
    orphan, _ = tokens.issue_access(claims["sub"], "f" * 32)
    # WHEN it is used THEN the session counts as ended, not live
    response = client.get(ME, headers={"Authorization": f"Bearer {orphan}"})
    assert _refused(response), response.text


def test_logout_writes_the_database_even_when_redis_is_up(client: TestClient) -> None:
    # GIVEN a session WHEN it logs out with Redis working
    user = signup(client)
    assert client.post("/api/v1/auth/logout", headers=user["headers"]).status_code == 204
    # THEN every refresh token of the family is marked revoked in the database
    sessions = client.app.state.services.accounts.db.sessions  # type: ignore[attr-defined]
    docs = client.portal.call(lambda: sessions.find({"family_id": _sid(user)}).to_list(None))  # type: ignore[union-attr]
    assert docs and all(doc["revoked"] is True for doc in docs), docs


def test_a_session_that_cannot_be_checked_is_not_taken_for_live(
    make_client, redis_server: RedisServer
) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a note in the cache, readable on the fast path by a live session
    with SecantusServer() as database:
        client = make_client(
            mongodb_uri=database.uri, mongodb_server_selection_timeout_ms=300, session_check_cache_seconds=0
        )
        user = signup(client)
        note = new_note(client, user["headers"])
        assert client.get(f"/api/v1/notes/{note['id']}", headers=user["headers"]).status_code == 200
        # WHEN Redis no longer knows the session and the database is down
        redis.Redis.from_url(redis_server.url).delete(f"notes:live-session:{_sid(user)}")
        database.stop()
        response = client.get(f"/api/v1/notes/{note['id']}", headers=user["headers"])
    # THEN the cached note is not served: 503, the session could not be checked
    assert response.status_code == 503 and response.json()["code"] == "database_unavailable", response.text


def test_concurrent_checks_of_one_session_share_one_lookup(make_client, redis_server: RedisServer) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a live session that neither this task nor Redis has an answer for (its cached
    # "live" just expired), while 64 of its requests are in flight
    client = make_client(session_check_cache_seconds=0)
    user = signup(client)
    accounts = client.app.state.services.accounts  # type: ignore[attr-defined]
    redis.Redis.from_url(redis_server.url).flushall()
    before_mget = command_calls(redis_server.url, "mget")
    before_queries = _queries(client)

    async def check_all() -> list[bool]:
        return list(await asyncio.gather(*(accounts.is_revoked(_sid(user)) for _ in range(64))))

    # WHEN they all check the session at once
    answers = client.portal.call(check_all)  # type: ignore[union-attr]
    # THEN all find it live through one Redis read and one database lookup (two queries)
    assert answers == [False] * 64
    assert command_calls(redis_server.url, "mget") - before_mget == 1
    assert _queries(client) - before_queries == 2


def _queries(client: TestClient) -> int:
    database = client.app.state.services.accounts.db  # type: ignore[attr-defined]
    status = client.portal.call(database.db.command, "serverStatus")  # type: ignore[union-attr]
    return int(status["opcounters"]["query"])
