"""The JWT signing key rotated end to end against the running API (``python -m notes_api`` as a
child process, SecantusDB, Redis), its key set in Secrets Manager on the moto server.

The rotation is the rotation function's own createSecret / setSecret / testSecret / finishSecret
(notes_rotation.jwt) run against moto; Secrets Manager's part before createSecret (an empty
AWSPENDING version) is left out, which create_pending does not need. Shown here: tokens signed
with the previous key keep working, a token whose kid is unknown is refused, the API has the new
set within one refresh interval (NOTES_SECRETS_REFRESH_SECONDS at its minimum, 5 s) and signs
with the new key once it is active, no request under load fails while all that happens, and once
a later rotation drops the old key its tokens are refused.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jwt
import pytest

from devtools.localservices import MotoServer, RedisServer, SecantusServer, free_port
from notes_rotation import jwt as rotation
from tests.app.test_server_process import ServerProcess, spawn

REFRESH_SECONDS = 5  # NOTES_SECRETS_REFRESH_SECONDS's minimum
ACTIVATION_DELAY = 2 * REFRESH_SECONDS  # as the rotation's default is to the 60 s interval
PASSWORD = "correct horse battery staple"
ME = "/api/v1/me"


@pytest.fixture
def api(
    moto_server: MotoServer,
    redis_server: RedisServer,
    mongo_server: SecantusServer,
    tmp_path: Path,
) -> Iterator[tuple[ServerProcess, Any, str]]:
    """The API following a one-key set in moto's Secrets Manager; (server, client, secret ARN)."""
    sm = moto_server.client("secretsmanager")
    first = rotation.SigningKey(kid="0a0a0a0a", key=rotation.encode_key(os.urandom(32)), not_before=0)
    arn = str(
        sm.create_secret(
            Name=f"notes/test/jwt-signing-key-{uuid.uuid4().hex[:6]}",
            SecretString=rotation.dump_key_set([first]),
        )["ARN"]
    )
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTES_", "PROMETHEUS_", "AWS_"))}
    env.update(moto_server.environment())
    env.update(
        {
            # botocore's service-specific endpoint variable for "Secrets Manager"
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto_server.url,
            "NOTES_ENV": "test",
            "NOTES_PORT": str(port),
            "NOTES_MONGODB_URI": mongo_server.uri,
            "NOTES_MONGODB_DATABASE": f"notes_rot_{uuid.uuid4().hex[:10]}",
            "NOTES_REDIS_URL": redis_server.url,
            "NOTES_JWT_SIGNING_KEY_SECRET_ARN": arn,
            "NOTES_AWS_REGION": MotoServer.REGION,
            "NOTES_SECRETS_REFRESH_SECONDS": str(REFRESH_SECONDS),
            "NOTES_RATE_LIMIT_AUTH": "100000/minute",
            "NOTES_RATE_LIMIT_API": "1000000/minute",
            "NOTES_PASSWORD_HASH_MEMORY_KIB": "1024",
            "NOTES_PASSWORD_HASH_TIME_COST": "1",
            "NOTES_PASSWORD_HASH_PARALLELISM": "1",
        }
    )
    server = spawn(env, port, tmp_path)
    try:
        server.wait_healthy()
        yield server, sm, arn
    finally:
        server.kill()


def login(server: ServerProcess) -> dict[str, Any]:
    email = f"rot-{uuid.uuid4().hex[:10]}@example.com"
    assert server.post("/api/v1/auth/register", {"email": email, "password": PASSWORD}).status == 201
    response = server.post("/api/v1/auth/login", {"email": email, "password": PASSWORD})
    assert response.status == 200, response.body
    tokens: dict[str, Any] = response.json()
    return tokens


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def kid(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


def resigned(token: str, key: bytes, kid_header: str) -> str:
    """The same claims (a live session's) signed with ``key`` under ``kid_header``."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return jwt.encode(claims, key, algorithm="HS256", headers={"kid": kid_header})


def rotate(sm: Any, arn: str, monkeypatch: pytest.MonkeyPatch, **env: int) -> rotation.SigningKey:
    """One rotation by the rotation function's four steps; returns the key it added."""
    for name, value in env.items():
        monkeypatch.setenv(name, str(value))
    token = str(uuid.uuid4())
    for step in (rotation.STEPS.create, rotation.STEPS.set, rotation.STEPS.test, rotation.STEPS.finish):
        step(sm, arn, token)
    keys = rotation.parse_key_set(
        sm.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")["SecretString"]
    )
    return keys[-1]


def within(seconds: float, check: Callable[[], bool]) -> float | None:
    """Seconds until ``check`` held, polled every 0.2 s; None if it did not within ``seconds``."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if check():
            return time.monotonic() - start
        time.sleep(0.2)
    return None


class Load:
    """Clients calling GET /me and refreshing their tokens in a loop; every answer is recorded."""

    def __init__(self, server: ServerProcess, clients: int) -> None:
        self.server = server
        self.sessions = [login(server) for _ in range(clients)]
        self.stop = threading.Event()
        self.statuses: list[int] = []
        self.failures: list[str] = []
        self.kids: set[str] = set()
        self._pool = ThreadPoolExecutor(clients)
        self._runs = [self._pool.submit(self._client, session) for session in self.sessions]

    def _client(self, session: dict[str, Any]) -> None:
        count = 0
        while not self.stop.is_set():
            count += 1
            if count % 10 == 0:  # a new token now and then: signing goes on during the rotation
                response = self.server.post(
                    "/api/v1/auth/refresh", {"refresh_token": session["refresh_token"]}
                )
                if response.status == 200:
                    session.update(response.json())
                    self.kids.add(kid(session["access_token"]))
            else:
                response = self.server.get(ME, headers=bearer(session["access_token"]))
            self.statuses.append(response.status)
            if not 200 <= response.status < 300:
                self.failures.append(f"{response.status} {response.body[:200]!r}")

    def finish(self) -> None:
        self.stop.set()
        for run in self._runs:
            run.result(timeout=30)
        self._pool.shutdown()


def test_a_key_rotation_under_load_logs_nobody_out_and_refuses_unknown_kids(
    api: tuple[ServerProcess, Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, sm, arn = api
    # GIVEN a user signed in with the first key, and clients busy with the API
    user = login(server)
    old_token = user["access_token"]
    assert kid(old_token) == "0a0a0a0a"
    load = Load(server, clients=4)
    try:
        time.sleep(1)
        # WHEN the key rotates: a new key, active ACTIVATION_DELAY seconds after createSecret
        new = rotate(sm, arn, monkeypatch, ACTIVATION_DELAY_SECONDS=ACTIVATION_DELAY)
        rotated_at = time.monotonic()
        new_key = rotation.decode_key(new.key)
        assert new.kid != "0a0a0a0a"

        # THEN within one refresh interval the API accepts tokens of the new key
        with_new_key = resigned(old_token, new_key, new.kid)
        picked_up = within(
            REFRESH_SECONDS + 3, lambda: server.get(ME, headers=bearer(with_new_key)).status == 200
        )
        assert picked_up is not None, f"the new key was not accepted within {REFRESH_SECONDS + 3} s"

        # AND once the new key is active, new tokens are signed with it
        def signs_with_new_key() -> bool:
            return kid(login(server)["access_token"]) == new.kid

        active = within(ACTIVATION_DELAY + REFRESH_SECONDS + 5, signs_with_new_key)
        assert active is not None, "no token was signed with the new key after its not_before"
        assert time.monotonic() - rotated_at >= ACTIVATION_DELAY - 1, "signed with the new key too early"
        # AND the token signed with the previous key still works
        assert server.get(ME, headers=bearer(old_token)).status == 200
        # AND a token whose kid is in no set is refused, whichever key signed it
        for key in (secrets.token_bytes(32), new_key):
            refused = server.get(ME, headers=bearer(resigned(old_token, key, "ffffffff")))
            assert refused.status == 401, refused.body
        time.sleep(1)
    finally:
        load.finish()
    # AND no request of the load failed while all that happened
    assert load.failures == [], load.failures[:10]
    assert len(load.statuses) > 100, len(load.statuses)
    assert new.kid in load.kids, "the load's clients never got a token of the new key"

    # WHEN a later rotation drops the first key (its successor active longer than KEEP_SECONDS)
    rotate(sm, arn, monkeypatch, ACTIVATION_DELAY_SECONDS=ACTIVATION_DELAY, KEEP_SECONDS=0)
    # THEN within one refresh interval its tokens are refused, cached or not
    refused_after = within(
        REFRESH_SECONDS + 3, lambda: server.get(ME, headers=bearer(old_token)).status == 401
    )
    assert refused_after is not None, "a token of a dropped key was still accepted"
