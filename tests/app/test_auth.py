"""Accounts: register, login, refresh rotation with reuse detection, logout, /me."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from devtools.localservices import SecantusServer
from notes_api.models import MAX_REFRESH_TOKEN
from tests.app.conftest import PASSWORD, SIGNING_KEY, signup, unique_email


def test_register_returns_the_account_without_its_password(client: TestClient) -> None:
    # GIVEN a fresh email WHEN it registers
    email = unique_email()
    response = client.post("/api/v1/auth/register", json={"email": email.upper(), "password": PASSWORD})
    # THEN 201 with the normalised email and no hash of any kind
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["email"] == email.lower()
    assert set(body) == {"id", "email", "created_at"}


def test_register_twice_with_the_same_email_is_a_conflict(client: TestClient) -> None:
    email = unique_email()
    assert (
        client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD}).status_code == 201
    )
    # WHEN the same address registers again, in other case
    again = client.post("/api/v1/auth/register", json={"email": email.upper(), "password": PASSWORD})
    # THEN 409 email_taken
    assert again.status_code == 409 and again.json()["code"] == "email_taken", again.text


def test_register_rejects_weak_password_and_bad_email(client: TestClient) -> None:
    short = client.post("/api/v1/auth/register", json={"email": unique_email(), "password": "short"})
    bad = client.post("/api/v1/auth/register", json={"email": "not-an-email", "password": PASSWORD})
    assert short.status_code == 422 and short.json()["errors"][0]["loc"] == ["body", "password"]
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["body", "email"]
    # The rejected password is never echoed back.
    assert "short" not in short.text.replace("string_too_short", "")


def test_password_is_stored_as_argon2id_with_the_production_cost(make_client) -> None:  # type: ignore[no-untyped-def]
    # GIVEN the default (production) hashing cost
    client = make_client(
        password_hash_time_cost=3, password_hash_memory_kib=65536, password_hash_parallelism=4
    )
    user = signup(client)
    services = client.app.state.services  # type: ignore[attr-defined]
    doc = client.portal.call(services.accounts.db.users.find_one, {"email": user["email"]})  # type: ignore[union-attr]
    assert doc["password_hash"].startswith("$argon2id$v=19$m=65536,t=3,p=4$"), doc["password_hash"][:32]
    assert PASSWORD not in str(doc)


def test_login_with_wrong_password_or_unknown_email_is_401_alike(client: TestClient) -> None:
    user = signup(client)
    wrong = client.post("/api/v1/auth/login", json={"email": user["email"], "password": "wrong password!"})
    unknown = client.post("/api/v1/auth/login", json={"email": unique_email(), "password": PASSWORD})
    # THEN both answers are identical, so the endpoint does not reveal who has an account
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]
    assert wrong.headers["WWW-Authenticate"].startswith("Bearer")


def test_login_upgrades_a_hash_made_with_an_older_cost(make_client) -> None:  # type: ignore[no-untyped-def]
    # GIVEN an account hashed with a cheaper cost
    cheap = make_client()
    user = signup(cheap)
    # WHEN it logs in to an app configured with a higher cost
    stronger = make_client(password_hash_time_cost=2)
    assert (
        stronger.post("/api/v1/auth/login", json={"email": user["email"], "password": PASSWORD}).status_code
        == 200
    )
    # THEN the stored hash now carries the new cost, and the password still works
    users = stronger.app.state.services.accounts.db.users  # type: ignore[attr-defined]
    doc = stronger.portal.call(users.find_one, {"email": user["email"]})  # type: ignore[union-attr]
    assert ",t=2," in doc["password_hash"]
    assert (
        stronger.post("/api/v1/auth/login", json={"email": user["email"], "password": PASSWORD}).status_code
        == 200
    )


def test_access_token_is_a_short_lived_jwt(client: TestClient) -> None:
    user = signup(client)
    claims = jwt.decode(user["access_token"], SIGNING_KEY, algorithms=["HS256"], audience="notes-api")
    assert claims["exp"] - claims["iat"] == 15 * 60 == user["expires_in"]
    assert user["refresh_expires_in"] == 7 * 24 * 3600
    assert claims["typ"] == "access" and claims["sid"]


def test_me_returns_the_account(client: TestClient) -> None:
    user = signup(client)
    me = client.get("/api/v1/me", headers=user["headers"])
    assert me.status_code == 200 and me.json()["email"] == user["email"], me.text


def test_me_without_or_with_bad_token_is_401(client: TestClient) -> None:
    missing = client.get("/api/v1/me")
    garbage = client.get("/api/v1/me", headers={"Authorization": "Bearer not.a.jwt"})
    other_key = jwt.encode(
        {
            "sub": "x",
            "sid": "y",
            "exp": int(time.time()) + 60,
            "iat": int(time.time()),
            "iss": "notes-api",
            "aud": "notes-api",
            "typ": "access",
        },
        "z" * 48,
        algorithm="HS256",
    )
    forged = client.get("/api/v1/me", headers={"Authorization": f"Bearer {other_key}"})
    for response in (missing, garbage, forged):
        assert response.status_code == 401, response.text
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_expired_access_token_is_401(client: TestClient) -> None:
    user = signup(client)
    tokens = client.app.state.services.tokens  # type: ignore[attr-defined]
    claims = jwt.decode(user["access_token"], SIGNING_KEY, algorithms=["HS256"], audience="notes-api")
    old, _ = tokens.issue_access(claims["sub"], claims["sid"], now=time.time() - 3600)
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {old}"})
    assert response.status_code == 401 and response.json()["code"] == "invalid_token"


def test_refresh_rotates_the_refresh_token(client: TestClient) -> None:
    user = signup(client)
    # WHEN the refresh token is spent
    first = client.post("/api/v1/auth/refresh", json={"refresh_token": user["refresh_token"]})
    assert first.status_code == 200, first.text
    rotated = first.json()
    # THEN a new pair comes back and the new access token works
    assert rotated["refresh_token"] != user["refresh_token"]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {rotated['access_token']}"})
    assert me.status_code == 200
    # AND the next refresh token works once more
    second = client.post("/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert second.status_code == 200, second.text


def test_reuse_of_a_spent_refresh_token_revokes_the_whole_family(client: TestClient) -> None:
    # GIVEN a session whose first refresh token was already spent
    user = signup(client)
    rotated = client.post("/api/v1/auth/refresh", json={"refresh_token": user["refresh_token"]}).json()
    # WHEN the spent token is presented again (a thief replaying it)
    replay = client.post("/api/v1/auth/refresh", json={"refresh_token": user["refresh_token"]})
    # THEN it is refused, and so is the legitimate newer token of the same family
    assert replay.status_code == 401 and replay.json()["code"] == "invalid_refresh_token"
    newer = client.post("/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert newer.status_code == 401, newer.text
    # AND the family's access tokens stop working
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {rotated['access_token']}"})
    assert me.status_code == 401 and me.json()["detail"] == "session has ended"


def test_reuse_revocation_leaves_other_sessions_alone(client: TestClient) -> None:
    user = signup(client)
    other = client.post("/api/v1/auth/login", json={"email": user["email"], "password": PASSWORD}).json()
    client.post("/api/v1/auth/refresh", json={"refresh_token": user["refresh_token"]})
    client.post("/api/v1/auth/refresh", json={"refresh_token": user["refresh_token"]})  # reuse
    still = client.post("/api/v1/auth/refresh", json={"refresh_token": other["refresh_token"]})
    assert still.status_code == 200, still.text


def test_unknown_refresh_token_is_401(client: TestClient) -> None:
    response = client.post("/api/v1/auth/refresh", json={"refresh_token": "x" * 43})
    assert response.status_code == 401 and response.json()["code"] == "invalid_refresh_token"


def _refresh_raw(client: TestClient, token_json: str) -> Any:
    # The token as JSON text, so a lone surrogate escape reaches the server as a client could send it.
    return client.post(
        "/api/v1/auth/refresh",
        content=f'{{"refresh_token": {token_json}}}'.encode(),
        headers={"Content-Type": "application/json"},
    )


@pytest.mark.parametrize(
    "malformed",
    [
        "access-token",
        "empty",
        "one-char-short",
        "one-char-long",
        "padded-with-space",
        "base64-padding",
        "non-ascii",
        "at-the-bound",
    ],
)
def test_every_malformed_refresh_token_is_the_same_401_as_an_unknown_one(
    client: TestClient, malformed: str
) -> None:
    # GIVEN a live session, and what an unknown, well-formed token gets
    user = signup(client)
    real = user["refresh_token"]
    unknown = client.post("/api/v1/auth/refresh", json={"refresh_token": "x" * 43})
    token_json = {
        "access-token": json.dumps(user["access_token"]),  # the mix-up of issue 12
        "empty": '""',
        "one-char-short": json.dumps(real[:-1]),
        "one-char-long": json.dumps(real + "A"),
        "padded-with-space": json.dumps(f" {real}"),
        "base64-padding": json.dumps(real + "="),
        "non-ascii": json.dumps(real[:-1] + "é", ensure_ascii=False),
        "at-the-bound": json.dumps("a" * MAX_REFRESH_TOKEN),
    }[malformed]
    # WHEN it is presented as a refresh token
    response = _refresh_raw(client, token_json)
    # THEN 401 with exactly the body every other bad refresh token gets
    assert response.status_code == 401, response.text
    body, expected = response.json(), unknown.json()
    assert (body["code"], body["detail"]) == (expected["code"], expected["detail"])
    assert body["code"] == "invalid_refresh_token"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    # AND the session it came from is untouched: its real refresh token still works once
    again = client.post("/api/v1/auth/refresh", json={"refresh_token": real})
    assert again.status_code == 200, again.text


def test_a_malformed_refresh_token_is_refused_without_asking_the_database(make_client) -> None:  # type: ignore[no-untyped-def]
    # GIVEN an app whose database has gone away after a login
    with SecantusServer() as database:
        client = make_client(mongodb_uri=database.uri, mongodb_server_selection_timeout_ms=300)
        user = signup(client)
        database.stop()
        # WHEN its access token is sent as a refresh token
        response = client.post("/api/v1/auth/refresh", json={"refresh_token": user["access_token"]})
    # THEN 401 at once: no token of that shape was ever issued, so there is nothing to look up
    assert response.status_code == 401 and response.json()["code"] == "invalid_refresh_token", response.text


def test_refresh_token_past_the_bound_is_422_and_past_the_body_limit_413(client: TestClient) -> None:
    # GIVEN the field's bound and the service's body limit (NOTES_MAX_BODY_BYTES, default 256 KiB)
    # WHEN a string one past the bound is sent THEN 422 naming the field, like any over-long field
    over = client.post("/api/v1/auth/refresh", json={"refresh_token": "a" * (MAX_REFRESH_TOKEN + 1)})
    assert over.status_code == 422, over.text
    assert over.json()["errors"][0]["loc"] == ["body", "refresh_token"]
    assert "aaaa" not in over.text  # the input is never echoed
    # AND a body past the limit is refused before it is parsed
    huge = client.post("/api/v1/auth/refresh", json={"refresh_token": "a" * (300 * 1024)})
    assert huge.status_code == 413, huge.text


@pytest.mark.parametrize("not_text", ["43", "null", "[]", '"' + "\\ud800" * 43 + '"'])
def test_a_refresh_token_that_is_not_text_is_422(client: TestClient, not_text: str) -> None:
    # GIVEN a value that is no string at all: a number, null, a list, or lone UTF-16
    # surrogates (which pydantic's JSON parser refuses: "unable to parse raw data as a
    # unicode string"), so a malformed request rather than a malformed token
    # WHEN it is sent as the refresh token THEN 422 naming the field, as for any wrong type
    response = _refresh_raw(client, not_text)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["body", "refresh_token"]


def test_logout_revokes_access_and_refresh_tokens(client: TestClient) -> None:
    user = signup(client)
    # WHEN the session logs out
    out = client.post("/api/v1/auth/logout", headers=user["headers"])
    assert out.status_code == 204, out.text
    # THEN neither its access token nor its refresh token works any more
    assert client.get("/api/v1/me", headers=user["headers"]).status_code == 401
    refresh = client.post("/api/v1/auth/refresh", json={"refresh_token": user["refresh_token"]})
    assert refresh.status_code == 401


def test_logout_is_enforced_from_the_database_when_redis_is_unavailable(make_client) -> None:  # type: ignore[no-untyped-def]
    # GIVEN an app whose Redis is unreachable (closed port)
    client = make_client(redis_url="redis://127.0.0.1:9/0", redis_timeout_seconds=0.2)
    user = signup(client)
    assert client.post("/api/v1/auth/logout", headers=user["headers"]).status_code == 204
    # THEN the revoked session is still refused: the fallback reads the database
    assert client.get("/api/v1/me", headers=user["headers"]).status_code == 401


def test_refresh_token_is_stored_only_as_a_digest(client: TestClient) -> None:
    user = signup(client)
    services = client.app.state.services  # type: ignore[attr-defined]
    docs = client.portal.call(lambda: services.accounts.db.sessions.find({}).to_list(None))  # type: ignore[union-attr]
    assert docs and all(user["refresh_token"] not in str(doc) for doc in docs)


def test_logout_on_another_task_takes_effect_within_the_session_check_window(make_client) -> None:  # type: ignore[no-untyped-def]
    # GIVEN two tasks of the API sharing the database and Redis, trusting a live session 0.5 s
    task_a = make_client(session_check_cache_seconds=0.5)
    task_b = make_client(session_check_cache_seconds=0.5)
    user = signup(task_a)
    assert task_b.get("/api/v1/me", headers=user["headers"]).status_code == 200
    # WHEN the session logs out through task A
    assert task_a.post("/api/v1/auth/logout", headers=user["headers"]).status_code == 204
    # THEN task A refuses it at once, and task B within the window
    assert task_a.get("/api/v1/me", headers=user["headers"]).status_code == 401
    time.sleep(0.6)
    assert task_b.get("/api/v1/me", headers=user["headers"]).status_code == 401


def test_a_remembered_token_still_expires(make_client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a token verified (and so remembered) while valid
    client = make_client()
    user = signup(client)
    assert client.get("/api/v1/me", headers=user["headers"]).status_code == 200
    # WHEN its expiry has passed
    claims = jwt.decode(user["access_token"], SIGNING_KEY, algorithms=["HS256"], audience="notes-api")
    monkeypatch.setattr("notes_api.core.security.time.time", lambda: claims["exp"] + 60)
    # THEN it is refused like any expired token
    response = client.get("/api/v1/me", headers=user["headers"])
    assert response.status_code == 401 and response.json()["code"] == "invalid_token"
