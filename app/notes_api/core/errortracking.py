"""Optional error tracking with Sentry (sentry-sdk), off unless a DSN is configured.

``NOTES_SENTRY_DSN``, or ``NOTES_SENTRY_DSN_SECRET_ARN`` read at start-up like the other
secrets (core/config.py), turns it on. Nothing personal or secret leaves the process:

- the SDK's own data collection is at its most restrictive (sentry-sdk 3's ``data_collection``,
  the successor of 2.x's ``send_default_pii=False``): no user, no cookies, no request bodies,
  no local variables of stack frames; headers and query parameters with sensitive names
  filtered by the SDK;
- ``scrub`` (the ``before_send`` hook, run on every event and transaction) then drops what
  remains of the request's body and cookies, the Authorization and Cookie headers, every header
  or query parameter whose value looks like a token, the user, and replaces e-mail addresses
  and bearer tokens (JWTs) in every string of the event: messages, exception values, extra,
  contexts, breadcrumbs;
- each event carries the request id (``X-Request-ID``, core/middleware.py) as the tag
  ``request_id``, so an event leads to the request's log lines.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Receive, Scope, Send

from notes_api import __version__
from notes_api.core.config import Settings
from notes_api.core.logging import request_id_var

if TYPE_CHECKING:
    from sentry_sdk.transport import Transport

REQUEST_ID_TAG = "request_id"
FILTERED = "[Filtered]"
EMAIL_SUBSTITUTE = "[email]"

_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# A JWT (three base64url parts, the first a JSON header: "eyJ"), anywhere in a string, and an
# authorisation scheme followed by its credentials.
_BEARER = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*|(?i:\b(?:bearer|basic)\s+)\S+")
# A whole header or query value that is one opaque word of 20+ base64/hex characters with both
# letters and digits: refresh tokens (43 base64url characters), API keys, session ids.
_OPAQUE = re.compile(r"(?=[^ ]*[A-Za-z])(?=[^ ]*[0-9])[A-Za-z0-9_\-+/=.~]{20,}")
_SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-amz-security-token"}
)
_SECRET_NAME = re.compile(
    r"(?i)auth|token|secret|passw|session|cookie|key|jwt|csrf|xsrf|signature|credential"
)


def looks_like_token(value: str) -> bool:
    text = value.strip()
    return bool(_BEARER.search(text) or _OPAQUE.fullmatch(text))


def scrub_text(text: str) -> str:
    """E-mail addresses and bearer tokens replaced, the rest kept."""
    return _BEARER.sub(FILTERED, _EMAIL.sub(EMAIL_SUBSTITUTE, text))


def _scrub_value(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {key: _scrub_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub_value(item) for item in value]
    return value


def _secret_pair(name: str, value: Any) -> bool:
    return bool(_SECRET_NAME.search(name)) or (isinstance(value, str) and looks_like_token(value))


def _scrub_headers(headers: Any) -> Any:
    if isinstance(headers, dict):
        return {
            name: value
            for name, value in headers.items()
            if name.lower() not in _SECRET_HEADERS and not _secret_pair(name, value)
        }
    if isinstance(headers, list):  # [[name, value], ...], the other form the protocol allows
        return [
            pair
            for pair in headers
            if not (
                isinstance(pair, list | tuple)
                and len(pair) == 2
                and (str(pair[0]).lower() in _SECRET_HEADERS or _secret_pair(str(pair[0]), pair[1]))
            )
        ]
    return {}


def _scrub_query(query: Any) -> Any:
    if isinstance(query, str):
        pairs = parse_qsl(query, keep_blank_values=True)
        return urlencode([(name, FILTERED if _secret_pair(name, value) else value) for name, value in pairs])
    if isinstance(query, dict):
        return {name: FILTERED if _secret_pair(name, value) else value for name, value in query.items()}
    return ""


def _scrub_request(request: dict[str, Any]) -> dict[str, Any]:
    cleaned = {key: value for key, value in request.items() if key not in ("data", "cookies", "env")}
    if "headers" in cleaned:
        cleaned["headers"] = _scrub_headers(cleaned["headers"])
    if "query_string" in cleaned:
        cleaned["query_string"] = _scrub_query(cleaned["query_string"])
    if isinstance(cleaned.get("url"), str):
        url, _, query = cleaned["url"].partition("?")
        cleaned["url"] = f"{url}?{_scrub_query(query)}" if query else url
    return cleaned


def scrub(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Sentry's ``before_send``: the event without bodies, cookies, tokens or e-mail addresses,
    tagged with the request id when there is one."""
    event.pop("user", None)
    request = event.get("request")
    if isinstance(request, dict):
        event["request"] = _scrub_request(request)
    breadcrumbs = event.get("breadcrumbs")
    crumbs = breadcrumbs.get("values") if isinstance(breadcrumbs, dict) else breadcrumbs
    for crumb in crumbs if isinstance(crumbs, list) else []:
        if isinstance(crumb, dict) and isinstance(crumb.get("data"), dict):
            data = crumb["data"]
            crumb["data"] = {name: FILTERED if _secret_pair(name, v) else v for name, v in data.items()}
    request_id = request_id_var.get()
    tags = event.get("tags")
    if request_id is not None and (not isinstance(tags, dict) or REQUEST_ID_TAG not in tags):
        event["tags"] = {**(tags if isinstance(tags, dict) else {}), REQUEST_ID_TAG: request_id}
    scrubbed: dict[str, Any] = _scrub_value(event)
    return scrubbed


def sentry_options(settings: Settings) -> dict[str, Any]:
    """``sentry_sdk.init``'s keyword arguments for ``settings`` (the DSN included)."""
    return {
        "dsn": settings.secret("sentry_dsn"),
        "environment": settings.sentry_environment or settings.env,
        "release": settings.sentry_release or f"{settings.service_name}@{__version__}",
        "server_name": settings.service_name,  # not the host name: a task's name says nothing
        "before_send": scrub,
        "traces_sample_rate": None,  # errors only; tracing stays with OpenTelemetry
        "max_request_body_size": "never",
        "data_collection": {
            "user_info": False,
            "cookies": {"mode": "off"},
            "http_bodies": [],
            "http_headers": {"request": {"mode": "denylist"}},
            "url_query_params": {"mode": "denylist"},
            "stack_frame_variables": False,
            "database_query_data": False,
        },
    }


def init_sentry(settings: Settings, transport: type[Transport] | None = None) -> bool:
    """Start the SDK if a DSN is configured; returns whether it did."""
    if settings.sentry_dsn is None:
        return False
    import sentry_sdk  # noqa: PLC0415 (only deployments with a DSN pay for its import)

    options = sentry_options(settings)
    if transport is not None:
        options["transport"] = transport
    sentry_sdk.init(**options)
    return True


class SentryRequestTag:
    """Puts the request id on the request's Sentry scope. Sits inside RequestContextMiddleware
    (which sets the id) and only when Sentry is on: an exception that escapes the app is
    captured by Sentry's own outer middleware after RequestContextMiddleware has reset the id,
    but the isolation scope Sentry made for the request still carries this tag."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            import sentry_sdk  # noqa: PLC0415 (in sys.modules already once init_sentry ran)

            request_id = request_id_var.get()
            if request_id is not None:
                sentry_sdk.get_isolation_scope().set_tag(REQUEST_ID_TAG, request_id)
        await self.app(scope, receive, send)
