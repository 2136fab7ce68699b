"""FastAPI dependencies: services from app state, the authenticated principal, rate limits."""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from notes_api.core.config import Settings
from notes_api.core.errors import APIError, unauthorized
from notes_api.core.ratelimit import Decision, RateLimiter
from notes_api.core.security import TokenError, TokenService
from notes_api.exports.service import ExportsService
from notes_api.services.accounts import Accounts, Principal
from notes_api.services.notes import NotesService


@dataclass
class Services:
    settings: Settings
    tokens: TokenService
    accounts: Accounts
    notes: NotesService
    limiter: RateLimiter
    exports: ExportsService


async def get_services(request: Request) -> Services:
    # async on purpose: FastAPI runs a plain `def` dependency in its thread pool, a thread
    # hop on every request for what is an attribute read.
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]

_bearer = HTTPBearer(auto_error=False, description="access token from /api/v1/auth/login")


_EXPIRED_CHALLENGE = 'Bearer error="invalid_token"'  # RFC 6750: the client should refresh


def client_ip(request: Request, header: str | None = None) -> str:
    """The client's address: from ``header`` when configured and valid (an edge that owns it,
    see Settings.client_ip_header), otherwise the peer, which uvicorn has already taken from
    X-Forwarded-For where the peer is a trusted proxy (``forwarded_allow_ips``)."""
    if header:
        value = request.headers.get(header)
        address = viewer_address(value) if value else None
        if address is not None:
            return address
    return request.client.host if request.client else "unknown"


def viewer_address(value: str) -> str | None:
    """``198.51.100.10:46532`` or ``2001:db8::7:46532`` (CloudFront-Viewer-Address) -> the
    address; None for anything else."""
    host, separator, port = value.strip().rpartition(":")
    # ASCII digits up to 65535: str.isdigit() alone also takes other scripts' digits.
    if not separator or not (port.isascii() and port.isdigit()) or len(port) > 5 or int(port) > 65535:
        return None
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


def raise_if_limited(decision: Decision, scope: str) -> None:
    if not decision.allowed:
        headers = decision.headers()
        headers["Retry-After"] = str(decision.reset_seconds or 1)
        raise APIError(429, "rate_limited", f"too many requests ({scope}); retry later", headers)


# Set by the fast path (api/fastpath.py) when it authenticated a request and then handed it
# on: the dependency below must not verify, check and count the same request twice.
_authenticated: ContextVar[Principal | APIError | None] = ContextVar("notes_authenticated", default=None)


@contextlib.contextmanager
def authenticated_as(outcome: Principal | APIError) -> Iterator[None]:
    token = _authenticated.set(outcome)
    try:
        yield
    finally:
        _authenticated.reset(token)


async def authenticate(services: Services, scheme: str | None, token: str | None) -> Principal:
    """The bearer token checked, its session live, the user's API rate limit counted."""
    if token is None or scheme is None or scheme.lower() != "bearer":
        raise unauthorized("not_authenticated", "send Authorization: Bearer <access token>")
    try:
        claims = services.tokens.decode_access(token)
    except TokenError as exc:
        raise unauthorized("invalid_token", "access token is invalid or expired", _EXPIRED_CHALLENGE) from exc
    if await services.accounts.is_revoked(claims.session_id):
        raise unauthorized("invalid_token", "session has ended", _EXPIRED_CHALLENGE)
    raise_if_limited(await services.limiter.hit_api(claims.user_id), "api")
    return Principal(claims.user_id, claims.session_id)


async def current_principal(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    outcome = _authenticated.get()
    if isinstance(outcome, APIError):
        raise outcome
    if outcome is not None:
        return outcome
    if credentials is None:
        return await authenticate(services, None, None)
    return await authenticate(services, credentials.scheme, credentials.credentials)


PrincipalDep = Annotated[Principal, Depends(current_principal)]
