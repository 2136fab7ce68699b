"""One error shape for every failure: ``{"detail", "code", "request_id"}``."""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException as StarletteHTTPException

from notes_api.core.logging import request_id_var
from notes_api.core.metrics import DEPENDENCY_ERRORS
from notes_api.models import ErrorBody

log = logging.getLogger("notes_api.errors")

DB_RETRY_AFTER_SECONDS = 5

# What a dependency raises when it cannot answer. pymongo (pymongo/errors.py): ConnectionFailure
# and its subclasses AutoReconnect, NetworkTimeout, NotPrimaryError, ServerSelectionTimeoutError
# and WaitQueueTimeoutError all derive from PyMongoError, which the routes have always answered
# with 503. redis-py (redis/exceptions.py): every error derives from RedisError; Redis failures
# are meant to degrade (core/cache.py), so one that escapes is a 503 too, never a 500.
# botocore (botocore/exceptions.py), for the export queue and bucket: BotoCoreError covers what
# never reached an answer (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError,
# NoCredentialsError), ClientError every error AWS answered (throttling, AccessDenied, a missing
# queue, KMS refusing the key); neither is the client's fault, so both are a 503 too.
DEPENDENCY_FAILURES: tuple[type[Exception], ...] = (PyMongoError, RedisError, BotoCoreError, ClientError)

_DESCRIPTIONS = {
    304: "Not modified",
    400: "Bad request (for example an invalid cursor)",
    401: "Missing, invalid or expired credentials",
    404: "Not found (another user's note answers the same)",
    409: "Conflict",
    412: "Precondition failed: the If-Match version is stale",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Validation error",
    428: "Precondition required: send If-Match",
    429: "Too many requests; see Retry-After and RateLimit-* headers",
    500: "Internal error",
    503: "A dependency (the database, or AWS for exports) is unavailable; retry after Retry-After",
}


class APIError(Exception):
    def __init__(self, status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}


def dependency_unavailable(exc: Exception) -> APIError:
    """The 503 for a dependency that failed, counted and logged once. The routes' handler and
    the fast path (api/fastpath.py, which runs outside the routes' handlers) both answer with it."""
    if isinstance(exc, RedisError):
        dependency, code, what = "redis", "redis_unavailable", "Redis"
    elif isinstance(exc, BotoCoreError | ClientError):
        dependency, code, what = "aws", "aws_unavailable", "AWS (the export queue or bucket)"
    else:
        dependency, code, what = "mongodb", "database_unavailable", "the database"
    DEPENDENCY_ERRORS.labels(dependency, "request").inc()
    log.error("dependency unavailable: %s: %s", type(exc).__name__, exc)
    return APIError(
        503, code, f"{what} is unavailable, retry later", {"Retry-After": str(DB_RETRY_AFTER_SECONDS)}
    )


def _header(description: str, kind: str = "string") -> dict[str, Any]:
    return {"description": description, "schema": {"type": kind}}


_RATE_HEADERS = {
    "Retry-After": _header("seconds to wait", "integer"),
    "RateLimit-Limit": _header("requests allowed per window", "integer"),
    "RateLimit-Remaining": _header("requests left in this window", "integer"),
    "RateLimit-Reset": _header("seconds until the window resets", "integer"),
    "RateLimit-Policy": _header("limit and window, e.g. 10;w=60"),
}
_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": _header("Bearer challenge")},
    412: {"ETag": _header("the note's current version")},
    429: _RATE_HEADERS,
    503: {"Retry-After": _header("seconds to wait", "integer")},
}
ETAG_HEADER = {"ETag": _header('the note\'s version, quoted: "3"')}


def unauthorized(code: str, detail: str, challenge: str = "Bearer") -> APIError:
    """A 401 with the WWW-Authenticate challenge every 401 must carry."""
    return APIError(401, code, detail, {"WWW-Authenticate": challenge})


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries, so the document lists every status a route can answer
    with its headers. 413, 422, 500 and 503 can come from any route that takes a body or
    touches the database."""
    responses: dict[int | str, dict[str, Any]] = {}
    for code in sorted(set(codes)):
        entry: dict[str, Any] = {"model": ErrorBody, "description": _DESCRIPTIONS[code]}
        if code in _HEADERS:
            entry["headers"] = _HEADERS[code]
        responses[code] = entry
    return responses


def error_response(
    status: int,
    code: str,
    detail: str,
    headers: dict[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> JSONResponse:
    body = ErrorBody(detail=detail, code=code, request_id=request_id_var.get(), errors=errors)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, headers=headers)


def _clean_validation_errors(errors: list[Any]) -> list[dict[str, Any]]:
    # Never echo the input back: it may be a password.
    return [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
        for e in errors
    ]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(
            422,
            "validation_error",
            "request validation failed",
            errors=_clean_validation_errors(list(exc.errors())),
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))

    async def _dependency(_: Request, exc: Exception) -> JSONResponse:
        unavailable = dependency_unavailable(exc)
        return error_response(unavailable.status, unavailable.code, unavailable.detail, unavailable.headers)

    for failure in DEPENDENCY_FAILURES:
        app.add_exception_handler(failure, _dependency)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(500, "internal_error", "internal error")
