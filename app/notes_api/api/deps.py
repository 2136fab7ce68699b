"""FastAPI dependencies: services from app state, the authenticated principal, rate limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from notes_api.core.config import Settings
from notes_api.core.errors import APIError, unauthorized
from notes_api.core.ratelimit import Decision, RateLimiter
from notes_api.core.security import TokenError, TokenService
from notes_api.services.accounts import Accounts, Principal
from notes_api.services.notes import NotesService


@dataclass
class Services:
    settings: Settings
    tokens: TokenService
    accounts: Accounts
    notes: NotesService
    limiter: RateLimiter


async def get_services(request: Request) -> Services:
    # async on purpose: FastAPI runs a plain `def` dependency in its thread pool, a thread
    # hop on every request for what is an attribute read.
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]

_bearer = HTTPBearer(auto_error=False, description="access token from /api/v1/auth/login")


_EXPIRED_CHALLENGE = 'Bearer error="invalid_token"'  # RFC 6750: the client should refresh


def client_ip(request: Request) -> str:
    # uvicorn has already applied X-Forwarded-For from the trusted proxies (--forwarded-allow-ips).
    return request.client.host if request.client else "unknown"


def raise_if_limited(decision: Decision, scope: str) -> None:
    if not decision.allowed:
        headers = decision.headers()
        headers["Retry-After"] = str(decision.reset_seconds or 1)
        raise APIError(429, "rate_limited", f"too many requests ({scope}); retry later", headers)


async def current_principal(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthorized("not_authenticated", "send Authorization: Bearer <access token>")
    try:
        claims = services.tokens.decode_access(credentials.credentials)
    except TokenError as exc:
        raise unauthorized("invalid_token", "access token is invalid or expired", _EXPIRED_CHALLENGE) from exc
    if await services.accounts.is_revoked(claims.session_id):
        raise unauthorized("invalid_token", "session has ended", _EXPIRED_CHALLENGE)
    decision = await services.limiter.hit("api", services.limiter.api_item, claims.user_id, detailed=False)
    raise_if_limited(decision, "api")
    return Principal(claims.user_id, claims.session_id)


PrincipalDep = Annotated[Principal, Depends(current_principal)]
