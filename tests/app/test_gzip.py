"""Gzip only for clients that ask: the others get what Starlette's gzip middleware gives them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from notes_api.core.middleware import GZipWhenAccepted

MINIMUM = 500


async def _endpoint(request: Request) -> Response:
    kind = request.path_params["kind"]
    if kind == "stream":

        async def chunks() -> AsyncIterator[bytes]:
            yield b"x" * 100
            yield b"y" * 100

        return StreamingResponse(chunks(), media_type="text/plain")
    size = {"small": 10, "large": 5000, "edge": MINIMUM}.get(kind, 5000)
    headers = {"Content-Encoding": "br"} if kind == "encoded" else {}
    if kind == "vary":
        headers["Vary"] = "Origin"
    media = "image/png" if kind == "image" else "application/json"
    status = 206 if kind == "partial" else 200
    return Response(b"a" * size, status_code=status, media_type=media, headers=headers)


def _client(middleware: type) -> TestClient:
    app = Starlette(
        routes=[Route("/{kind}", _endpoint)],
        middleware=[Middleware(middleware, minimum_size=MINIMUM)],
    )
    return TestClient(app)


KINDS = ["small", "large", "edge", "stream", "encoded", "vary", "image", "partial"]


@pytest.mark.parametrize("kind", KINDS)
def test_clients_without_gzip_get_what_starlette_gives_them(kind: str) -> None:
    # GIVEN the same response behind Starlette's gzip and behind ours
    ours, theirs = _client(GZipWhenAccepted), _client(GZipMiddleware)
    # WHEN a client that does not accept gzip asks
    mine = ours.get(f"/{kind}", headers={"Accept-Encoding": "identity"})
    reference = theirs.get(f"/{kind}", headers={"Accept-Encoding": "identity"})
    # THEN status, body and headers are the same
    assert mine.status_code == reference.status_code, kind
    assert mine.content == reference.content, kind
    assert mine.headers.get("vary") == reference.headers.get("vary"), kind
    assert mine.headers.get("content-encoding") == reference.headers.get("content-encoding"), kind


@pytest.mark.parametrize("kind", KINDS)
def test_clients_with_gzip_get_starlettes_gzip(kind: str) -> None:
    mine = _client(GZipWhenAccepted).get(f"/{kind}", headers={"Accept-Encoding": "gzip"})
    reference = _client(GZipMiddleware).get(f"/{kind}", headers={"Accept-Encoding": "gzip"})
    assert mine.headers.get("content-encoding") == reference.headers.get("content-encoding"), kind
    assert mine.content == reference.content, kind
    if kind == "large":
        assert mine.headers["content-encoding"] == "gzip"
