"""Cache-aside in Redis: hits are counted, and a read after a write is never stale."""

from __future__ import annotations

import redis
from fastapi.testclient import TestClient

from devtools.localservices import RedisServer
from tests.app.conftest import metric, new_note, signup

NOTES = "/api/v1/notes"


def test_second_read_of_a_note_is_a_cache_hit(client: TestClient, redis_server: RedisServer) -> None:
    user = signup(client)
    note = new_note(client, user["headers"])
    hits = metric(client, "notes_cache_requests_total", cache="note", result="hit")
    first = client.get(f"{NOTES}/{note['id']}", headers=user["headers"])
    second = client.get(f"{NOTES}/{note['id']}", headers=user["headers"])
    # THEN the second answer came from Redis and is identical, ETag included
    assert metric(client, "notes_cache_requests_total", cache="note", result="hit") == hits + 1
    assert first.json() == second.json() and first.headers["ETag"] == second.headers["ETag"]
    keys = redis.Redis.from_url(redis_server.url).keys(f"notes:{user_id(client, user)}:*")
    assert keys, "nothing was cached for this user"


def user_id(client: TestClient, user: dict[str, str]) -> str:
    return str(client.get("/api/v1/me", headers=user["headers"]).json()["id"])


def test_read_after_every_kind_of_write_is_fresh(client: TestClient) -> None:
    user = signup(client)
    h = user["headers"]
    note = new_note(client, h, title="v1")
    # Warm both caches.
    client.get(f"{NOTES}/{note['id']}", headers=h)
    client.get(NOTES, headers=h)
    # WHEN the note is updated THEN both the note and the first page show the update at once
    client.patch(f"{NOTES}/{note['id']}", json={"title": "v2"}, headers={**h, "If-Match": '"1"'})
    assert client.get(f"{NOTES}/{note['id']}", headers=h).json()["title"] == "v2"
    assert client.get(NOTES, headers=h).json()["items"][0]["title"] == "v2"
    # WHEN a note is created THEN the cached first page includes it
    other = new_note(client, h, title="second")
    assert [n["id"] for n in client.get(NOTES, headers=h).json()["items"]] == [other["id"], note["id"]]
    # WHEN a note is deleted THEN it is gone from the note cache and the page cache
    client.delete(f"{NOTES}/{other['id']}", headers=h)
    assert client.get(f"{NOTES}/{other['id']}", headers=h).status_code == 404
    assert [n["id"] for n in client.get(NOTES, headers=h).json()["items"]] == [note["id"]]


def test_many_interleaved_writes_and_reads_never_see_stale_data(client: TestClient) -> None:
    user = signup(client)
    h = user["headers"]
    note = new_note(client, h, title="0")
    for version in range(1, 30):
        client.get(f"{NOTES}/{note['id']}", headers=h)  # cache the current version
        client.get(NOTES, headers=h)
        response = client.patch(
            f"{NOTES}/{note['id']}", json={"title": str(version)}, headers={**h, "If-Match": f'"{version}"'}
        )
        assert response.status_code == 200, response.text
        assert client.get(f"{NOTES}/{note['id']}", headers=h).json()["title"] == str(version)
        assert client.get(NOTES, headers=h).json()["items"][0]["title"] == str(version)


def test_one_users_writes_do_not_evict_another_users_cache(client: TestClient) -> None:
    alice, bob = signup(client), signup(client)
    note = new_note(client, alice["headers"])
    client.get(f"{NOTES}/{note['id']}", headers=alice["headers"])
    new_note(client, bob["headers"])
    hits = metric(client, "notes_cache_requests_total", cache="note", result="hit")
    client.get(f"{NOTES}/{note['id']}", headers=alice["headers"])
    assert metric(client, "notes_cache_requests_total", cache="note", result="hit") == hits + 1


def test_cached_entries_expire_with_the_configured_ttl(make_client, redis_server: RedisServer) -> None:  # type: ignore[no-untyped-def]
    client = make_client(cache_ttl_seconds=42)
    user = signup(client)
    note = new_note(client, user["headers"])
    client.get(f"{NOTES}/{note['id']}", headers=user["headers"])
    r = redis.Redis.from_url(redis_server.url)
    ttls = [r.ttl(k) for k in r.keys(f"notes:{user_id(client, user)}:*")]
    assert ttls and all(0 < t <= 42 for t in ttls), ttls


def test_cache_hits_survive_redis_losing_its_scripts(client: TestClient, redis_server: RedisServer) -> None:
    # GIVEN a note in the cache
    user = signup(client)
    note = new_note(client, user["headers"], title="kept")
    client.get(f"{NOTES}/{note['id']}", headers=user["headers"])
    # WHEN Redis loses its scripts (a restart or a failover to a replica that never loaded them)
    redis.Redis.from_url(redis_server.url).script_flush()
    hits = metric(client, "notes_cache_requests_total", cache="note", result="hit")
    errors = metric(client, "notes_dependency_errors_total", dependency="redis")
    response = client.get(f"{NOTES}/{note['id']}", headers=user["headers"])
    # THEN the read is still a hit, with no Redis error counted: the script was loaded again
    assert response.status_code == 200 and response.json()["title"] == "kept"
    assert metric(client, "notes_cache_requests_total", cache="note", result="hit") == hits + 1
    assert metric(client, "notes_dependency_errors_total", dependency="redis") == errors
    # AND the next read uses it as before
    client.get(f"{NOTES}/{note['id']}", headers=user["headers"])
    assert metric(client, "notes_cache_requests_total", cache="note", result="hit") == hits + 2
