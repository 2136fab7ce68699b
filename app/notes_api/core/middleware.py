"""Pure ASGI middleware (no BaseHTTPMiddleware: it copies every body and costs throughput)."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Iterable

from starlette.datastructures import MutableHeaders
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from notes_api.core.logging import request_id_var
from notes_api.core.metrics import REQUEST_DURATION, labelled

access_log = logging.getLogger("notes_api.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
# Scope key of the route template for a request answered before routing (api/fastpath.py).
ROUTE_TEMPLATE = "notes.route_template"
# Headers this middleware owns: whatever the application set is replaced.
_REPLACED = frozenset({b"x-request-id"})
_REPLACED_API = frozenset({b"x-request-id", b"cache-control"})


def _raw(*pairs: tuple[str, str]) -> tuple[tuple[bytes, bytes], ...]:
    return tuple((name.encode("latin-1"), value.encode("latin-1")) for name, value in pairs)


class RequestContextMiddleware:
    """Request id, security headers, the duration histogram and the access log line."""

    def __init__(self, app: ASGIApp, hsts_max_age: int, access_log_enabled: bool = True) -> None:
        self.app = app
        self.access_log_enabled = access_log_enabled
        # Raw (lower-case bytes) header pairs, added unless the response set its own: this
        # runs on every response, and building a Headers object per response cost more.
        self.common_headers = _raw(
            ("strict-transport-security", f"max-age={hsts_max_age}; includeSubDomains"),
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            ("referrer-policy", "no-referrer"),
            ("cross-origin-resource-policy", "same-origin"),
        )
        self.api_headers = _raw(("content-security-policy", "default-src 'none'; frame-ancestors 'none'"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = header(scope, b"x-request-id")
        request_id = incoming if incoming and _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        path: str = scope["path"]
        is_api = path.startswith("/api/")
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                replaced = _REPLACED_API if is_api else _REPLACED
                headers = [pair for pair in message.get("headers", ()) if pair[0].lower() not in replaced]
                present = {name.lower() for name, _ in headers}
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                if is_api:
                    # Notes are private: no shared cache (CDN, proxy) may keep a copy.
                    headers.append((b"cache-control", b"no-store"))
                    headers.extend(pair for pair in self.api_headers if pair[0] not in present)
                headers.extend(pair for pair in self.common_headers if pair[0] not in present)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            template = getattr(route, "path", None) or scope.get(ROUTE_TEMPLATE) or "unmatched"
            labelled(REQUEST_DURATION, template, scope["method"], str(status)).observe(elapsed)
            if self.access_log_enabled:
                access_log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": path,
                        "route": template,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "client": _client(scope),
                    },
                )
            request_id_var.reset(token)


class BodySizeLimitMiddleware:
    """413 for bodies over the limit, whether announced by Content-Length or streamed."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max):
            await _send_413(send, self.max)
            return
        if declared is not None or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            # The server enforces Content-Length framing, so the declared size is the size.
            await self.app(scope, receive, send)
            return
        # Chunked upload: read it here, bounded, so an oversized one is a 413 rather than
        # a parse error deep inside the framework.
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max:
                await _send_413(send, self.max)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)


class GZipWhenAccepted(GZipMiddleware):
    """Starlette's gzip for clients that accept it; the others skip its identity responder,
    which buffers and re-parses every response (and its settings) only to add one header.

    What they get is the same: ``Vary: Accept-Encoding`` on a response the gzip path could
    have compressed (no Content-Encoding, a compressible type, at least ``minimum_size``
    bytes or of unknown length), the response untouched otherwise.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or b"gzip" in (header_bytes(scope, b"accept-encoding") or b""):
            await super().__call__(scope, receive, send)
            return

        async def send_with_vary(message: Message) -> None:
            if message["type"] == "http.response.start" and self._compressible(message):
                raw: list[tuple[bytes, bytes]] = list(message.get("headers", ()))
                if any(name.lower() == b"vary" for name, _ in raw):
                    MutableHeaders(raw=raw).add_vary_header("Accept-Encoding")
                else:  # the usual case, without building a Headers object per response
                    raw.append((b"vary", b"Accept-Encoding"))
                message["headers"] = raw
            await send(message)

        await self.app(scope, receive, send_with_vary)

    def _compressible(self, message: Message) -> bool:
        if message["status"] == 206:
            return False
        media_type, length = "", None
        for name, value in message.get("headers", ()):
            lowered = name.lower()
            if lowered == b"content-encoding":
                return False
            if lowered == b"content-type":
                media_type = value.decode("latin-1").partition(";")[0].strip().lower()
            elif lowered == b"content-length":
                length = value
        if {media_type, media_type.partition("/")[0] + "/*"} & set(self.exclude_content_types):
            return False
        return length is None or not length.isdigit() or int(length) >= self.minimum_size


async def _send_413(send: Send, limit: int) -> None:
    body = json.dumps(
        {
            "detail": f"request body exceeds {limit} bytes",
            "code": "body_too_large",
            "request_id": request_id_var.get(),
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def header_bytes(scope: Scope, name: bytes) -> bytes | None:
    """The first request header ``name`` (lower-case, as ASGI gives them), undecoded."""
    headers: Iterable[tuple[bytes, bytes]] = scope.get("headers", ())
    for key, value in headers:
        if key == name:
            return value
    return None


def header(scope: Scope, name: bytes) -> str | None:
    value = header_bytes(scope, name)
    return value.decode("latin-1") if value is not None else None


def _client(scope: Scope) -> str | None:
    client = scope.get("client")
    return client[0] if client else None
