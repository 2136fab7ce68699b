from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status

from notes_api.api import API_PREFIX
from notes_api.api.deps import PrincipalDep, ServicesDep
from notes_api.core.errors import ETAG_HEADER, error_responses
from notes_api.models import NoteCreate, NoteOut, NotePage, NoteUpdate
from notes_api.services.notes import MAX_PAGE, ListQuery, Rendered, etag

router = APIRouter(prefix=f"{API_PREFIX}/notes", tags=["notes"])

_COMMON = (401, 429, 500, 503)
_JSON = "application/json"


def _json(rendered: Rendered, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    # Bodies are rendered once by the service (and cached as text), so send them as they are.
    all_headers = dict(headers or {})
    if rendered.version is not None:
        all_headers["ETag"] = etag(rendered.version)
    return Response(rendered.body, status_code=status_code, media_type=_JSON, headers=all_headers)


IfMatch = Annotated[
    str | None, Header(description='ETag of the version you read, e.g. "3"; or *', max_length=200)
]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=NoteOut,
    responses={
        201: {
            "headers": {
                **ETAG_HEADER,
                "Location": {"description": "URL of the new note", "schema": {"type": "string"}},
            }
        },
        **error_responses(413, 422, *_COMMON),
    },
    summary="Create a note",
)
async def create_note(body: NoteCreate, principal: PrincipalDep, services: ServicesDep) -> Response:
    rendered = await services.notes.create(principal.user_id, body)
    return _json(rendered, 201, {"Location": f"{API_PREFIX}/notes/{rendered.note_id}"})


@router.get(
    "",
    response_model=NotePage,
    responses=error_responses(400, 422, *_COMMON),
    summary="List notes, newest first",
)
async def list_notes(
    principal: PrincipalDep,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
    cursor: Annotated[
        str | None, Query(max_length=200, description="next_cursor of the previous page")
    ] = None,
    tag: Annotated[str | None, Query(max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")] = None,
    pinned: bool | None = None,
    archived: bool | None = None,
) -> Response:
    query = ListQuery(limit, cursor, tag.lower() if tag else None, pinned, archived)
    return _json(await services.notes.list(principal.user_id, query))


@router.get(
    "/{note_id}",
    response_model=NoteOut,
    responses={200: {"headers": ETAG_HEADER}, **error_responses(404, *_COMMON)},
    summary="Read a note (ETag carries its version)",
)
async def get_note(note_id: str, principal: PrincipalDep, services: ServicesDep) -> Response:
    return _json(await services.notes.get(principal.user_id, note_id))


@router.patch(
    "/{note_id}",
    response_model=NoteOut,
    responses={200: {"headers": ETAG_HEADER}, **error_responses(404, 412, 413, 422, 428, *_COMMON)},
    summary="Change a note; If-Match is required, a stale version gets 412",
)
async def update_note(
    note_id: str, body: NoteUpdate, principal: PrincipalDep, services: ServicesDep, if_match: IfMatch = None
) -> Response:
    return _json(await services.notes.update(principal.user_id, note_id, if_match, body.changes()))


@router.delete(
    "/{note_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(404, 412, *_COMMON),
    summary="Delete a note; with If-Match, only that version",
)
async def delete_note(
    note_id: str, principal: PrincipalDep, services: ServicesDep, if_match: IfMatch = None
) -> Response:
    await services.notes.delete(principal.user_id, note_id, if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
