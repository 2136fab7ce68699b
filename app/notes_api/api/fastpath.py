"""Cached reads without the framework's per-request machinery.

A cached read is two small Redis replies and a body that is already JSON text; FastAPI's
routing and dependency resolution cost more than the rest of it put together. This ASGI
middleware answers the two hot reads, ``GET /api/v1/notes/{id}`` and the default first page
``GET /api/v1/notes`` (no query string), straight from the cache, through the same
functions the routes use: ``authenticate`` (token, session, rate limit) and the notes
service's cache lookups.

It answers only a cache hit for an authenticated request. Everything else (no or bad
token, rate limited, a miss, any other route or method) goes on to the application
unchanged, carrying what was already decided, so nothing is verified, counted or looked
up twice: the principal (or the 401/429 to raise) and the cache miss with its generation.
The response is built by the same ``Response`` class with the same headers, and the outer
middleware (request id, security headers, metrics by route template, gzip, CORS) wraps
both paths alike.

A dependency failure met here (the session check falls back to the database while Redis is
down, and raises pymongo's ServerSelectionTimeoutError when that is down too) is handed on
like a refusal, as the routes' 503: this middleware runs outside the routes' exception
handlers, where it would otherwise become a 500.
"""

from __future__ import annotations

from bson import ObjectId
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from notes_api.api import API_PREFIX
from notes_api.api.deps import Services, authenticate, authenticated_as
from notes_api.core.cache import NoteCache
from notes_api.core.errors import DEPENDENCY_FAILURES, APIError, dependency_unavailable
from notes_api.core.middleware import ROUTE_TEMPLATE, header
from notes_api.services.notes import Rendered, etag

LIST_PATH = f"{API_PREFIX}/notes"
_NOTE_PREFIX = f"{LIST_PATH}/"
NOTE_TEMPLATE = f"{_NOTE_PREFIX}{{note_id}}"
_JSON = "application/json"


class CachedReadFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = _kind(scope)
        services: Services | None = getattr(scope["app"].state, "services", None) if kind else None
        authorization = header(scope, b"authorization") if services is not None else None
        if kind is None or services is None or authorization is None:
            await self.app(scope, receive, send)
            return
        scheme, _, token = authorization.partition(" ")
        try:
            # Split like the framework's HTTPBearer, so both paths accept the same headers.
            principal = await authenticate(services, scheme or None, token or None)
            owner = principal.user_id
            if kind == "note":
                note_id = scope["path"][len(_NOTE_PREFIX) :]
                found, name, generation = await services.notes.cached_note(owner, note_id)
            else:
                found, name, generation = await services.notes.cached_page(owner)
        except APIError as refused:
            await self._hand_on(refused, scope, receive, send)
            return
        except DEPENDENCY_FAILURES as exc:
            # Token, session, rate limit or cache: whichever failed, the route would have met
            # the same failure through the same functions and answered this 503.
            await self._hand_on(dependency_unavailable(exc), scope, receive, send)
            return
        if found is None:
            with authenticated_as(principal), NoteCache.miss_known(owner, name, generation):
                await self.app(scope, receive, send)
            return
        # Labels the request in the metrics by its template, as if the router had matched it.
        scope[ROUTE_TEMPLATE] = LIST_PATH if kind == "list" else NOTE_TEMPLATE
        await _response(found)(scope, receive, send)

    async def _hand_on(self, refused: APIError, scope: Scope, receive: Receive, send: Send) -> None:
        # The route raises it from its principal dependency, so the app's own handler answers
        # (same body, headers and metrics labels as a routed request) and nothing runs twice.
        with authenticated_as(refused):
            await self.app(scope, receive, send)


def _kind(scope: Scope) -> str | None:
    if scope["type"] != "http" or scope["method"] != "GET" or scope.get("query_string"):
        return None
    path: str = scope["path"]
    if path == LIST_PATH:
        return "list"
    if path.startswith(_NOTE_PREFIX) and ObjectId.is_valid(path[len(_NOTE_PREFIX) :]):
        return "note"
    return None


def _response(rendered: Rendered) -> Response:
    # Exactly what the routes send (routes/notes.py _json): same class, same headers.
    headers = {"ETag": etag(rendered.version)} if rendered.version is not None else None
    return Response(rendered.body, media_type=_JSON, headers=headers)
