"""Rate limits on Redis: strict on auth routes per IP + account, general per user."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from devtools.localservices import RedisServer
from notes_api.api.deps import viewer_address
from tests.app.conftest import PASSWORD, command_calls, signup, unique_email

LOGIN = "/api/v1/auth/login"


def test_login_is_limited_per_ip_and_account_with_retry_after(make_client) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a limit of 3 login attempts a minute
    client: TestClient = make_client(rate_limit_auth="3/minute")
    email = unique_email()
    client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    # WHEN an attacker keeps guessing one account's password
    answers = [client.post(LOGIN, json={"email": email, "password": f"guess-{i}-xxxxx"}) for i in range(3)]
    blocked = client.post(LOGIN, json={"email": email, "password": PASSWORD})
    # THEN the fourth attempt is refused (429, Retry-After, RateLimit-*), even with the right password
    assert [a.status_code for a in answers] == [401, 401, 401]
    assert blocked.status_code == 429, blocked.text
    assert blocked.json()["code"] == "rate_limited"
    assert 1 <= int(blocked.headers["Retry-After"]) <= 60
    assert blocked.headers["RateLimit-Limit"] == "3"
    assert blocked.headers["RateLimit-Remaining"] == "0"
    assert blocked.headers["RateLimit-Policy"] == "3;w=60"
    # AND another account from the same address is not affected
    other = unique_email()
    assert (
        client.post("/api/v1/auth/register", json={"email": other, "password": PASSWORD}).status_code == 201
    )


def test_successful_auth_responses_advertise_the_remaining_budget(make_client) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = make_client(rate_limit_auth="5/minute")
    email = unique_email()
    first = client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    second = client.post(LOGIN, json={"email": email, "password": PASSWORD})
    third = client.post(LOGIN, json={"email": email, "password": PASSWORD})
    assert (
        first.headers["RateLimit-Remaining"],
        second.headers["RateLimit-Remaining"],
        third.headers["RateLimit-Remaining"],
    ) == ("4", "4", "3")


def test_api_is_limited_per_user(make_client) -> None:  # type: ignore[no-untyped-def]
    # GIVEN 5 API requests a minute per user
    client: TestClient = make_client(rate_limit_api="5/minute")
    alice, bob = signup(client), signup(client)
    codes = [client.get("/api/v1/notes", headers=alice["headers"]).status_code for _ in range(6)]
    # THEN alice's sixth request is refused, bob still gets through
    assert codes == [200] * 5 + [429]
    assert client.get("/api/v1/notes", headers=bob["headers"]).status_code == 200
    refused = client.get("/api/v1/me", headers=alice["headers"])
    assert refused.status_code == 429 and "Retry-After" in refused.headers


def test_rate_limits_fail_open_when_redis_is_unreachable(make_client) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a limit of 1/minute but no Redis to count in
    client: TestClient = make_client(
        rate_limit_auth="1/minute",
        rate_limit_api="1/minute",
        redis_url="redis://127.0.0.1:9/0",
        redis_timeout_seconds=0.2,
    )
    user = signup(client)  # register + login: two auth hits
    # THEN requests are let through (and counted as fail-open), not refused
    assert [client.get("/api/v1/notes", headers=user["headers"]).status_code for _ in range(3)] == [200] * 3
    assert "notes_rate_limit_fail_open_total" in client.get("/metrics").text


def test_disabled_rate_limits_never_refuse(make_client) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = make_client(rate_limit_enabled=False, rate_limit_api="1/minute")
    user = signup(client)
    assert {client.get("/api/v1/notes", headers=user["headers"]).status_code for _ in range(4)} == {200}


def test_api_limit_is_leased_but_never_exceeded(make_client, redis_server: RedisServer) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a limit large enough to lease (400 a minute, leases of 10)
    client: TestClient = make_client(rate_limit_api="400/minute", rate_limit_api_lease=10)
    user = signup(client)
    calls = command_calls(redis_server.url, "evalsha")
    # WHEN the user sends 401 requests
    codes = [client.get("/api/v1/me", headers=user["headers"]).status_code for _ in range(401)]
    # THEN exactly the limit passes: every hit was counted in Redis before it was spent
    assert codes.count(200) == 400 and codes[-1] == 429, codes[-5:]
    # AND Redis was asked about once per lease, not once per request (the refusal near
    # the limit costs a few single hits)
    assert command_calls(redis_server.url, "evalsha") - calls <= 400 // 10 + 5


def test_leases_of_several_processes_stay_under_the_limit(make_client) -> None:  # type: ignore[no-untyped-def]
    # GIVEN two API processes (apps) sharing one Redis, 300 requests a minute, leases of 10
    first: TestClient = make_client(rate_limit_api="300/minute", rate_limit_api_lease=10)
    second: TestClient = make_client(rate_limit_api="300/minute", rate_limit_api_lease=10)
    user = signup(first)
    # WHEN the user's requests alternate between them
    codes = [
        (first if index % 2 else second).get("/api/v1/me", headers=user["headers"]).status_code
        for index in range(330)
    ]
    # THEN together they never serve more than the limit, and refuse at most one unspent
    # lease per process early
    served = codes.count(200)
    assert 300 - 2 * 9 <= served <= 300, served
    assert set(codes) == {200, 429}


def test_small_limits_are_counted_one_by_one(make_client, redis_server: RedisServer) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a limit under 20 leases
    client: TestClient = make_client(rate_limit_api="50/minute", rate_limit_api_lease=10)
    user = signup(client)
    calls = command_calls(redis_server.url, "evalsha")
    codes = [client.get("/api/v1/me", headers=user["headers"]).status_code for _ in range(20)]
    # THEN every request asked Redis
    assert codes == [200] * 20
    assert command_calls(redis_server.url, "evalsha") - calls >= 20


VIEWER = "CloudFront-Viewer-Address"


def _logins(client: TestClient, email: str, headers: dict[str, str], count: int) -> list[int]:
    return [
        client.post(LOGIN, json={"email": email, "password": f"guess-{i}-xxxxx"}, headers=headers).status_code
        for i in range(count)
    ]


def test_auth_limits_count_the_viewer_address_the_edge_sets(make_client) -> None:  # type: ignore[no-untyped-def]
    # GIVEN the API behind CloudFront (client_ip_header) and 2 login attempts a minute
    client: TestClient = make_client(rate_limit_auth="2/minute", client_ip_header=VIEWER)
    email = unique_email()
    client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    # WHEN one viewer, from changing source ports and with a forged X-Forwarded-For each
    # time, keeps guessing
    codes = [
        client.post(
            LOGIN,
            json={"email": email, "password": "guess-xxxxxxx"},
            headers={VIEWER: f"198.51.100.10:{40000 + i}", "X-Forwarded-For": f"203.0.113.{i}"},
        ).status_code
        for i in range(3)
    ]
    # THEN its third attempt is refused: neither the port nor the forged header is an address
    assert codes == [401, 401, 429]
    # AND another viewer (IPv6) still has its own budget for the same account
    assert _logins(client, email, {VIEWER: "2001:db8::7:443"}, 1) == [401]


def test_without_the_setting_the_edge_header_is_ignored(make_client) -> None:  # type: ignore[no-untyped-def]
    # GIVEN no client_ip_header: a client could write the header itself
    client: TestClient = make_client(rate_limit_auth="2/minute")
    email = unique_email()
    client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    codes = [_logins(client, email, {VIEWER: f"198.51.100.{i}:1"}, 1)[0] for i in range(3)]
    # THEN every attempt counts against the one peer address
    assert codes == [401, 401, 429]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("198.51.100.10:46532", "198.51.100.10"),
        ("2001:db8::7:443", "2001:db8::7"),
        ("[2001:db8::7]:443", "2001:db8::7"),
        ("198.51.100.10", None),
        ("not-an-address:80", None),
        ("", None),
    ],
)
def test_viewer_address_parsing(value: str, expected: str | None) -> None:
    assert viewer_address(value) == expected
