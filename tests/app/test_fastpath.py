"""Cached reads answered before routing: the same answer as the routed path, the same
checks, nothing counted twice."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.app.conftest import metric, new_note, signup

NOTES = "/api/v1/notes"
# A query string the routes ignore sends a request past the fast path, through the router.
ROUTED = "?via=router"


def _comparable(headers: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name != "x-request-id"}


def test_cached_note_is_answered_like_the_routed_path(client: TestClient) -> None:
    # GIVEN a note whose cached copy is warm
    user = signup(client)
    note = new_note(client, user["headers"], title="same either way", tags=["x"])
    client.get(f"{NOTES}/{note['id']}", headers=user["headers"])
    hits = metric(client, "notes_cache_requests_total", cache="note", result="hit")
    # WHEN it is read by the fast path and through the router
    fast = client.get(f"{NOTES}/{note['id']}", headers=user["headers"])
    routed = client.get(f"{NOTES}/{note['id']}{ROUTED}", headers=user["headers"])
    # THEN both were cache hits with identical status, body and headers (request id aside)
    assert metric(client, "notes_cache_requests_total", cache="note", result="hit") == hits + 2
    assert fast.status_code == routed.status_code == 200
    assert fast.content == routed.content
    assert _comparable(dict(fast.headers)) == _comparable(dict(routed.headers))
    assert fast.headers["ETag"] == '"1"' and fast.headers["Cache-Control"] == "no-store"


def test_cached_first_page_is_answered_like_the_routed_path(client: TestClient) -> None:
    user = signup(client)
    for index in range(3):
        new_note(client, user["headers"], title=f"n{index}")
    client.get(NOTES, headers=user["headers"])
    fast = client.get(NOTES, headers=user["headers"])
    routed = client.get(f"{NOTES}{ROUTED}", headers=user["headers"])
    assert fast.status_code == routed.status_code == 200
    assert fast.content == routed.content
    assert _comparable(dict(fast.headers)) == _comparable(dict(routed.headers))
    assert [item["title"] for item in fast.json()["items"]] == ["n2", "n1", "n0"]


def test_fast_path_requests_are_labelled_with_the_route_template(client: TestClient) -> None:
    user = signup(client)
    note = new_note(client, user["headers"])
    client.get(f"{NOTES}/{note['id']}", headers=user["headers"])
    labels = {"route": f"{NOTES}/{{note_id}}", "method": "GET", "status": "200"}
    before = metric(client, "http_request_duration_seconds_count", **labels)
    client.get(f"{NOTES}/{note['id']}", headers=user["headers"])
    # THEN the request counts under its template, never under its concrete path
    assert metric(client, "http_request_duration_seconds_count", **labels) == before + 1
    assert metric(client, "http_request_duration_seconds_count", route=f"{NOTES}/{note['id']}") == 0


def test_a_miss_is_looked_up_once_and_then_served_from_the_database(client: TestClient) -> None:
    # GIVEN a note never read (its cache is cold)
    user = signup(client)
    note = new_note(client, user["headers"], title="cold")
    misses = metric(client, "notes_cache_requests_total", cache="note", result="miss")
    # WHEN it is read once
    response = client.get(f"{NOTES}/{note['id']}", headers=user["headers"])
    # THEN the fast path's miss was handed on: one miss counted, the database answered,
    # and the copy it stored answers the next read
    assert response.status_code == 200 and response.json()["title"] == "cold"
    assert metric(client, "notes_cache_requests_total", cache="note", result="miss") == misses + 1
    hits = metric(client, "notes_cache_requests_total", cache="note", result="hit")
    client.get(f"{NOTES}/{note['id']}", headers=user["headers"])
    assert metric(client, "notes_cache_requests_total", cache="note", result="hit") == hits + 1


def test_fast_path_refuses_what_the_router_refuses(client: TestClient) -> None:
    user = signup(client)
    note = new_note(client, user["headers"])
    path = f"{NOTES}/{note['id']}"
    client.get(path, headers=user["headers"])
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic abc"}):
        fast, routed = client.get(path, headers=headers), client.get(path + ROUTED, headers=headers)
        assert fast.status_code == routed.status_code == 401, headers
        assert fast.json()["code"] == routed.json()["code"], headers
        assert fast.headers["WWW-Authenticate"] == routed.headers["WWW-Authenticate"], headers


def test_a_logged_out_session_cannot_read_its_cached_notes(client: TestClient) -> None:
    # GIVEN a warm cache for a session
    user = signup(client)
    note = new_note(client, user["headers"])
    client.get(f"{NOTES}/{note['id']}", headers=user["headers"])
    # WHEN the session logs out
    out = client.post("/api/v1/auth/logout", headers=user["headers"])
    assert out.status_code == 204, out.text
    # THEN its access token no longer reads the cached note
    refused = client.get(f"{NOTES}/{note['id']}", headers=user["headers"])
    assert refused.status_code == 401 and refused.json()["code"] == "invalid_token"


def test_another_users_cached_note_is_not_found(client: TestClient) -> None:
    alice, bob = signup(client), signup(client)
    note = new_note(client, alice["headers"])
    client.get(f"{NOTES}/{note['id']}", headers=alice["headers"])
    assert client.get(f"{NOTES}/{note['id']}", headers=bob["headers"]).status_code == 404


def test_rate_limited_fast_path_request_is_counted_once(make_client: Callable[..., TestClient]) -> None:
    # GIVEN 4 API requests a minute, a note and its warm cache (3 requests used so far)
    client = make_client(rate_limit_api="4/minute")
    user = signup(client)
    note = new_note(client, user["headers"])
    path = f"{NOTES}/{note['id']}"
    codes = [client.get(path, headers=user["headers"]).status_code for _ in range(4)]
    # THEN the fast path and the router did not both count a request: exactly 3 more pass
    assert codes == [200, 200, 200, 429]
    refused = client.get(path, headers=user["headers"])
    assert refused.status_code == 429 and refused.headers["Retry-After"]
