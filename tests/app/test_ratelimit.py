"""Rate limits on Redis: strict on auth routes per IP + account, general per user."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.app.conftest import PASSWORD, signup, unique_email

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
