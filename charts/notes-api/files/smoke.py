"""The HTTP round trip every running notes API must pass: health, register, login, create, read,
list, delete.

One function for both places that prove an API works: ``make image-test`` runs it against the
freshly built container on loopback, ``notes-platform verify STACK`` through the stack's public
URL (CloudFront, the WAF, the ALB's origin rule, the service). Standard library only: the
image test runs it from the host without the tooling's dependencies, and a smoke must not be
the thing that fails to import.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

API = "/api/v1"
# Names the caller in the service's access log and in WAF logs; urllib's default
# "Python-urllib/3.x" says nothing about who sent it.
USER_AGENT = "notes-platform-smoke/1"


class SmokeFailed(Exception):
    """A request answered something other than what the round trip expects (the message says what)."""


@dataclass(frozen=True)
class Step:
    """One step of the round trip: what was asked and what came back."""

    name: str
    passed: bool
    saw: str


@dataclass(frozen=True)
class Api:
    """A JSON client for the notes API at ``base_url`` (``https://api.example.com``, no trailing /)."""

    base_url: str
    timeout: float = 10.0

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """(status, decoded JSON or text). Any HTTP status is an answer; no answer raises OSError."""
        request = urllib.request.Request(  # noqa: S310 (the URL is the stack's own, http(s) only: see verify)
            f"{self.base_url.rstrip('/')}{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                **({"Authorization": f"Bearer {token}"} if token else {}),
                **(headers or {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def expect(self, status: int, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        """The decoded body when the answer is ``status``, else :class:`SmokeFailed` naming the request."""
        got, payload = self.call(method, path, body, token)
        if got != status:
            raise SmokeFailed(f"{method} {path}: expected {status}, got {got}: {str(payload)[:300]}")
        return payload


def round_trip(api: Api, *, label: str = "smoke") -> list[Step]:
    """Run every step in order and stop at the first that fails (the later ones depend on it).

    The last step of a failed run is the failing one; a request that gets no answer at all
    (refused, timed out, TLS) is a failed step too, never an exception. Each run registers a
    new account (``<label>-<random>@example.com``) and deletes the note it created.
    """
    steps: list[Step] = []
    state: dict[str, Any] = {
        "email": f"{label}-{uuid.uuid4().hex[:12]}@example.com",
        "password": secrets.token_urlsafe(18),
    }
    for name, action in _STEPS:
        started = time.monotonic()
        try:
            saw = action(api, state)
        except (SmokeFailed, OSError, KeyError, TypeError) as exc:
            # OSError covers URLError, refused connections, timeouts and certificate errors;
            # KeyError/TypeError a body without the field the next step needs.
            steps.append(Step(name, False, _describe(exc)))
            return steps
        steps.append(Step(name, True, f"{saw} ({time.monotonic() - started:.2f}s)"))
    return steps


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError):
        return f"no answer: {exc.reason}"
    if isinstance(exc, KeyError):
        return f"the answer has no {exc}"
    return str(exc) or type(exc).__name__


def _health(api: Api, state: dict[str, Any]) -> str:
    body = api.expect(200, "GET", "/health")
    if not isinstance(body, dict) or body.get("status") != "ok":
        raise SmokeFailed(f"GET /health: expected {{'status': 'ok'}}, got {body}")
    return "GET /health 200 ok"


def _register(api: Api, state: dict[str, Any]) -> str:
    api.expect(201, "POST", f"{API}/auth/register", {"email": state["email"], "password": state["password"]})
    return f"POST {API}/auth/register 201 {state['email']}"


def _login(api: Api, state: dict[str, Any]) -> str:
    tokens = api.expect(
        200, "POST", f"{API}/auth/login", {"email": state["email"], "password": state["password"]}
    )
    state["token"] = tokens["access_token"]
    return f"POST {API}/auth/login 200 with an access token"


def _create(api: Api, state: dict[str, Any]) -> str:
    note = api.expect(201, "POST", f"{API}/notes", {"title": "smoke", "body": state["email"]}, state["token"])
    state["note"] = note["id"]
    return f"POST {API}/notes 201 note {note['id']}"


def _read(api: Api, state: dict[str, Any]) -> str:
    note = api.expect(200, "GET", f"{API}/notes/{state['note']}", token=state["token"])
    if note.get("title") != "smoke" or note.get("body") != state["email"]:
        raise SmokeFailed(f"GET {API}/notes/{state['note']}: the note came back changed: {note}")
    return f"GET {API}/notes/{state['note']} 200, as created"


def _list(api: Api, state: dict[str, Any]) -> str:
    page = api.expect(200, "GET", f"{API}/notes", token=state["token"])
    ids = [item["id"] for item in page["items"]]
    if ids != [state["note"]]:
        raise SmokeFailed(f"GET {API}/notes: expected [{state['note']}], got {ids}")
    return f"GET {API}/notes 200 lists {state['note']}"


def _delete(api: Api, state: dict[str, Any]) -> str:
    path = f"{API}/notes/{state['note']}"
    api.expect(204, "DELETE", path, token=state["token"])
    # A 204 that left the note readable would pass a status-only check.
    api.expect(404, "GET", path, token=state["token"])
    return f"DELETE {path} 204, then GET 404"


_STEPS = (
    ("health", _health),
    ("register", _register),
    ("login", _login),
    ("create", _create),
    ("read", _read),
    ("list", _list),
    ("delete", _delete),
)
STEP_NAMES = tuple(name for name, _ in _STEPS)
