"""Notes: per-owner CRUD with optimistic concurrency, cursor paging and cache-aside.

Every query carries ``owner_id``, so another user's note is indistinguishable from a
missing one. Lists are newest first by ``_id`` (an ObjectId grows with time); the cursor is
the last ``_id`` seen, so notes inserted while a client pages appear before its first page,
never as a duplicate or a gap in the pages it is reading.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, NoReturn

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ReturnDocument

from notes_api.core.cache import NoteCache
from notes_api.core.db import Database
from notes_api.core.errors import APIError
from notes_api.models import NoteCreate, NoteOut, NotePage
from notes_api.services.accounts import utcnow

MAX_PAGE = 100

# The largest version the storage can hold. bson writes a Python int as int32 or int64 and
# raises OverflowError past int64 (bson/__init__.py _encode_int, "BSON can only handle up to
# 8-byte ints"): a longer If-Match used to reach the driver and answer 500.
MAX_VERSION = 2**63 - 1
# ASCII digits only, at most as many as MAX_VERSION has: str.isdigit() and int() also take
# other scripts' digits ("٣") and isdigit() superscripts ("²", which int() then refuses).
_VERSION_TAG = re.compile(r"[0-9]{1,19}")
# RFC 9110 5.6.3: optional whitespace around list members is spaces and tabs, nothing else.
_OWS = " \t"


@dataclass(frozen=True, slots=True)
class ListQuery:
    limit: int = 20
    cursor: str | None = None
    tag: str | None = None
    pinned: bool | None = None
    archived: bool | None = None

    def fingerprint(self) -> str:
        key = json.dumps([self.limit, self.tag, self.pinned, self.archived])
        return hashlib.sha256(key.encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class Rendered:
    """A note or page as JSON text ready to send, plus the note's version for the ETag."""

    body: str
    version: int | None = None
    note_id: str | None = None


def etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(header: str | None) -> list[int] | None:
    """None for "*" (any version); otherwise the versions the client claims to hold. Anything
    that is not a version the storage could hold is refused like any other foreign ETag (412)."""
    if header is None:
        raise APIError(428, "precondition_required", "send If-Match with the note's ETag")
    if header.strip(_OWS) == "*":
        return None
    versions = []
    for part in header.split(","):
        member = part.strip(_OWS)
        tag = member.removeprefix("W/").strip('"')
        if _VERSION_TAG.fullmatch(tag) is None or int(tag) > MAX_VERSION:
            raise APIError(412, "version_mismatch", f"If-Match value {member[:40]!r} is not a note ETag")
        versions.append(int(tag))
    return versions


def _note_out(doc: dict[str, Any]) -> NoteOut:
    return NoteOut(
        id=str(doc["_id"]),
        title=doc["title"],
        body=doc["body"],
        tags=doc["tags"],
        pinned=doc["pinned"],
        archived=doc["archived"],
        version=doc["version"],
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
    )


def _oid(note_id: str) -> ObjectId:
    try:
        return ObjectId(note_id)
    except (InvalidId, TypeError) as exc:
        raise _not_found() from exc


def _selector(oid: ObjectId, owner: str, versions: list[int] | None) -> dict[str, Any]:
    """The note, only if it is the owner's and (when versions are given) still at one of them."""
    selector: dict[str, Any] = {"_id": oid, "owner_id": owner}
    if versions is not None:
        selector["version"] = {"$in": versions}
    return selector


# Cache name of the default first page (no filters, default limit): the one the fast path serves.
_FIRST_PAGE = f"list:{ListQuery().fingerprint()}"


def _not_found() -> APIError:
    return APIError(404, "not_found", "note not found")


def encode_cursor(last_id: ObjectId, query: ListQuery) -> str:
    raw = f"{last_id}.{query.fingerprint()}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, query: ListQuery) -> ObjectId:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        id_part, fingerprint = raw.split(".", 1)
        last = ObjectId(id_part)
    except (ValueError, binascii.Error, InvalidId, UnicodeDecodeError) as exc:
        raise APIError(400, "invalid_cursor", "cursor is not one this API issued") from exc
    if fingerprint != query.fingerprint():
        raise APIError(400, "invalid_cursor", "cursor belongs to a list with other filters or limit")
    return last


class NotesService:
    def __init__(self, db: Database, cache: NoteCache) -> None:
        self.db = db
        self.cache = cache

    async def create(self, owner: str, data: NoteCreate) -> Rendered:
        now = utcnow()
        doc = {"owner_id": owner, **data.model_dump(), "version": 1, "created_at": now, "updated_at": now}
        result = await self.db.notes.insert_one(doc)
        doc["_id"] = result.inserted_id
        await self.cache.invalidate(owner)
        return Rendered(_note_out(doc).model_dump_json(), 1, str(doc["_id"]))

    async def cached_note(self, owner: str, note_id: str) -> tuple[Rendered | None, str, str | None]:
        """(the note from the cache or None, its cache name, the generation) without the
        database: the cached half of ``get``, and the fast path's read (``api/fastpath.py``)."""
        name = f"note:{_oid(note_id)}"
        generation, cached = await self.cache.get("note", owner, name)
        if cached is None:
            return None, name, generation
        version, _, body = cached.partition("|")
        return Rendered(body, int(version)), name, generation

    async def cached_page(
        self, owner: str, name: str = _FIRST_PAGE
    ) -> tuple[Rendered | None, str, str | None]:
        """A first page from the cache, like ``cached_note``; by default the default one (no
        filters, default limit), the page the fast path serves."""
        generation, cached = await self.cache.get("list", owner, name)
        return (Rendered(cached) if cached is not None else None), name, generation

    async def get(self, owner: str, note_id: str) -> Rendered:
        found, name, generation = await self.cached_note(owner, note_id)
        if found is not None:
            return found
        doc = await self.db.notes.find_one({"_id": _oid(note_id), "owner_id": owner})
        if doc is None:
            raise _not_found()
        rendered = Rendered(_note_out(doc).model_dump_json(), doc["version"])
        await self.cache.put(owner, generation, name, f"{rendered.version}|{rendered.body}")
        return rendered

    async def list(self, owner: str, query: ListQuery) -> Rendered:
        if not 1 <= query.limit <= MAX_PAGE:
            raise APIError(400, "invalid_limit", f"limit must be between 1 and {MAX_PAGE}")
        filters: dict[str, Any] = {"owner_id": owner}
        if query.tag is not None:
            filters["tags"] = query.tag
        if query.pinned is not None:
            filters["pinned"] = query.pinned
        if query.archived is not None:
            filters["archived"] = query.archived
        first_page = query.cursor is None
        generation: str | None = None
        name = f"list:{query.fingerprint()}"
        if first_page:
            found, _, generation = await self.cached_page(owner, name)
            if found is not None:
                return found
            collection = self.db.notes
        else:
            filters["_id"] = {"$lt": decode_cursor(query.cursor or "", query)}
            collection = self.db.notes_lagging
        docs = await collection.find(filters).sort("_id", -1).limit(query.limit + 1).to_list(query.limit + 1)
        more = len(docs) > query.limit
        docs = docs[: query.limit]
        page = NotePage(
            items=[_note_out(d) for d in docs],
            next_cursor=encode_cursor(docs[-1]["_id"], query) if more and docs else None,
        )
        rendered = Rendered(page.model_dump_json())
        if first_page:
            await self.cache.put(owner, generation, name, rendered.body)
        return rendered

    async def update(
        self, owner: str, note_id: str, if_match: str | None, changes: dict[str, Any]
    ) -> Rendered:
        oid = _oid(note_id)
        selector = _selector(oid, owner, parse_if_match(if_match))
        doc = await self.db.notes.find_one_and_update(
            selector,
            {"$set": {**changes, "updated_at": utcnow()}, "$inc": {"version": 1}},
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            await self._raise_missing_or_stale(oid, owner)
        await self.cache.invalidate(owner)
        return Rendered(_note_out(doc).model_dump_json(), doc["version"])

    async def delete(self, owner: str, note_id: str, if_match: str | None) -> None:
        oid = _oid(note_id)
        # If-Match is optional on delete: without it, any version goes.
        selector = _selector(oid, owner, parse_if_match(if_match) if if_match is not None else None)
        result = await self.db.notes.delete_one(selector)
        if result.deleted_count == 0:
            await self._raise_missing_or_stale(oid, owner)
        await self.cache.invalidate(owner)

    async def _raise_missing_or_stale(self, oid: ObjectId, owner: str) -> NoReturn:
        current = await self.db.notes.find_one({"_id": oid, "owner_id": owner}, {"version": 1})
        if current is None:
            raise _not_found()
        raise APIError(
            412,
            "version_mismatch",
            f"the note changed since you read it; current version is {current['version']}",
            {"ETag": etag(current["version"])},
        )
