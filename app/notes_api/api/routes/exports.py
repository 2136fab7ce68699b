"""Note exports: request one (202, queued for the worker) and read its status."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import APIRouter, Header, Response, status

from notes_api.api import API_PREFIX
from notes_api.api.deps import PrincipalDep, ServicesDep, raise_if_limited
from notes_api.core.errors import APIError, error_responses
from notes_api.exports.records import MAX_IDEMPOTENCY_KEY
from notes_api.exports.service import unavailable as exports_unavailable
from notes_api.models import ExportAccepted, ExportOut, ExportState

router = APIRouter(prefix=f"{API_PREFIX}/exports", tags=["exports"])

_COMMON = (401, 429, 500, 503)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        # +2: the quotes of the Structured Field string form around a key of the maximum length.
        max_length=MAX_IDEMPOTENCY_KEY + 2,
        description=(
            "a unique value per intended export, e.g. a UUID, as a Structured Field string "
            '("...", IETF httpapi Idempotency-Key draft) or bare. The same key again answers 202 '
            "with the same export for as long as the export is kept; 409 while its first request "
            f"is still being processed. At most {MAX_IDEMPOTENCY_KEY} characters."
        ),
    ),
]


def idempotency_key(value: str | None) -> str | None:
    """The key from the header: a Structured Field string (RFC 8941 3.3.3, ``"..."`` with ``\\"``
    and ``\\\\`` escapes), as the draft specifies, or the bare value many clients send."""
    if value is None:
        return None
    key = value.strip(" \t")
    if len(key) >= 2 and key.startswith('"') and key.endswith('"'):
        key = key[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    # RFC 8941 strings are printable ASCII; so are the keys we keep.
    if not key or len(key) > MAX_IDEMPOTENCY_KEY or not all(" " <= char <= "~" for char in key):
        raise APIError(
            400,
            "invalid_idempotency_key",
            f"the Idempotency-Key header must hold 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters",
        )
    return key


def status_url(export_id: str) -> str:
    return f"{API_PREFIX}/exports/{export_id}"


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ExportAccepted,
    responses={
        202: {
            "description": "Accepted: queued for the worker (or the export an Idempotency-Key made before)",
            "headers": {
                "Location": {"description": "status URL of the export", "schema": {"type": "string"}}
            },
        },
        409: {
            **error_responses(409)[409],
            "description": "A request with this Idempotency-Key is still being processed",
        },
        **error_responses(400, 422, *_COMMON),
    },
    summary="Export all your notes (one gzip-compressed JSON document), in the background",
)
async def request_export(
    principal: PrincipalDep, services: ServicesDep, idempotency: IdempotencyKey = None
) -> Response:
    key = idempotency_key(idempotency)
    if not services.exports.configured:
        # Before the rate limit: a request that cannot run should not use up the caller's quota.
        raise exports_unavailable()
    decision = await services.limiter.hit_exports(principal.user_id)
    raise_if_limited(decision, "exports")
    record, _created = await services.exports.request(principal.user_id, key)
    body = ExportAccepted(
        id=record.id, status=cast(ExportState, record.status), status_url=status_url(record.id)
    )
    return Response(
        body.model_dump_json(),
        status_code=status.HTTP_202_ACCEPTED,
        media_type="application/json",
        headers={"Location": status_url(record.id), **decision.headers()},
    )


@router.get(
    "/{export_id}",
    response_model=ExportOut,
    responses=error_responses(404, *_COMMON),
    summary="An export's status; a short-lived download URL once it is done",
)
async def get_export(export_id: str, principal: PrincipalDep, services: ServicesDep) -> ExportOut:
    return await services.exports.status(principal.user_id, export_id)
