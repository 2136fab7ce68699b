"""Export records (collection ``exports``), the queue message and the object key.

What the API and the worker share. Written for DocumentDB 5.0 (core/db.py): no transactions
and only unique, compound, multikey and TTL indexes, so both guarantees below rest on unique
indexes alone, never on a read followed by a write.

- Idempotency: ``(owner_id, idem)`` is unique. ``idem`` is ``"key:" + Idempotency-Key`` when the
  client sent one, otherwise ``"id:" + the export's id``, unique by construction (a partial or
  sparse index would be the usual way to skip records without a key; the first is not among
  the index kinds this code relies on, and one field that is always set needs neither).
- The per-user in-flight limit: ``(owner_id, slot)`` is unique. A queued or running export holds
  one of the integer slots ``0 .. max_in_flight-1``; finishing, failing or discarding it sets
  ``slot`` to its own id (a string, never equal to an integer slot), which frees the number. A
  request inserts its record into the first free slot; when every insert hits a taken slot the
  user has ``max_in_flight`` exports in flight, whatever number of requests race for them.

Records expire through a TTL index on ``expires_at`` (created_at + NOTES_EXPORT_RETENTION_DAYS,
the same days the bucket's lifecycle rule keeps the objects), which also frees their
Idempotency-Key.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from notes_api.core.config import Settings
from notes_api.core.db import Database, Doc
from notes_api.services.accounts import utcnow

COLLECTION = "exports"
MESSAGE_VERSION = 1

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
STATUSES = (QUEUED, RUNNING, DONE, FAILED)
IN_FLIGHT = (QUEUED, RUNNING)

# The IETF httpapi Idempotency-Key draft leaves the length to the server; 255 is ours.
MAX_IDEMPOTENCY_KEY = 255
# A failure reason is for a person reading the status document, not a stack trace.
MAX_ERROR = 500

# An export in flight that has not moved for this long, while its owner asks for another one,
# is taken as abandoned (a worker died on the last receive, a request died between the insert
# and the send): it is marked failed so that its slot does not stay taken until the record
# expires. At least an hour, and never less than every receive's job timeout plus one.
MIN_STALE_SECONDS = 3600
ABANDONED = "abandoned: no worker made progress on it in time; request a new export"

_EXPORT_ID = re.compile(r"[0-9a-f]{24}")
# Owner ids are user ids (ObjectId hex); anything safe as one segment of an S3 key passes.
_OWNER_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

INDEXES = [
    IndexModel([("owner_id", ASCENDING), ("idem", ASCENDING)], unique=True, name="owner_idempotency_key"),
    IndexModel([("owner_id", ASCENDING), ("slot", ASCENDING)], unique=True, name="owner_in_flight_slot"),
    # expireAfterSeconds 0: a record goes once its own expires_at has passed.
    IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expires_ttl"),
]


class TooManyExports(Exception):
    """The owner has ``limit`` exports queued or running already."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"{limit} exports are already queued or running")
        self.limit = limit


@dataclass(frozen=True)
class ExportRecord:
    id: str
    owner_id: str
    status: str
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    attempts: int
    object_key: str | None
    size_bytes: int | None
    note_count: int | None
    error: str | None
    # When the API saw its message accepted by SQS; None while the request that created it is
    # still sending (or died doing so).
    enqueued_at: datetime | None = None

    @property
    def in_flight(self) -> bool:
        return self.status in IN_FLIGHT

    @classmethod
    def from_doc(cls, doc: Doc) -> ExportRecord:
        return cls(
            id=str(doc["_id"]),
            owner_id=doc["owner_id"],
            status=doc["status"],
            created_at=doc["created_at"],
            updated_at=doc["updated_at"],
            expires_at=doc["expires_at"],
            attempts=int(doc.get("attempts", 0)),
            object_key=doc.get("object_key"),
            size_bytes=doc.get("size_bytes"),
            note_count=doc.get("note_count"),
            error=doc.get("error"),
            enqueued_at=doc.get("enqueued_at"),
        )


def _oid(export_id: str) -> ObjectId | None:
    """The ObjectId of a well-formed export id; None for anything else (answered as missing)."""
    if not isinstance(export_id, str) or _EXPORT_ID.fullmatch(export_id) is None:
        return None
    try:
        return ObjectId(export_id)
    except (InvalidId, TypeError):
        return None


class ExportRecords:
    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self.max_in_flight = settings.export_max_in_flight
        self.retention = timedelta(days=settings.export_retention_days)
        self.stale_after = timedelta(
            seconds=max(
                MIN_STALE_SECONDS, settings.export_job_timeout_seconds * (settings.export_max_receives + 1)
            )
        )
        self._indexed = False

    @property
    def collection(self) -> AsyncCollection[Doc]:
        # Read on every call: Database.replace_client swaps the client under us.
        return self._db.db[COLLECTION]

    async def ensure_indexes(self) -> None:
        """Idempotent. ``create`` calls it first: the limit and idempotency rest on these indexes."""
        await self.collection.create_indexes(INDEXES)
        self._indexed = True

    async def create(self, owner_id: str, idempotency_key: str | None) -> tuple[ExportRecord, bool]:
        """A new queued export in a free slot, or (with a key) the export that key made before.

        Returns (record, created). Raises TooManyExports when every slot is taken.
        """
        if not self._indexed:
            await self.ensure_indexes()
        if idempotency_key is not None:
            existing = await self._by_key(owner_id, idempotency_key)
            if existing is not None:
                return existing, False
        oid = ObjectId()
        now = utcnow()
        doc: Doc = {
            "_id": oid,
            "owner_id": owner_id,
            "idem": f"key:{idempotency_key}" if idempotency_key is not None else f"id:{oid}",
            "status": QUEUED,
            "created_at": now,
            "updated_at": now,
            "expires_at": now + self.retention,
            "attempts": 0,
            "enqueued_at": None,
        }
        for reclaimed in (False, True):
            for slot in range(self.max_in_flight):
                try:
                    await self.collection.insert_one({**doc, "slot": slot})
                except DuplicateKeyError:
                    # Either index may be the one hit: a racing request with the same key wins
                    # over us whichever slot it took, so look for it before trying the next slot.
                    if idempotency_key is not None:
                        existing = await self._by_key(owner_id, idempotency_key)
                        if existing is not None:
                            return existing, False
                    continue
                return ExportRecord.from_doc({**doc, "slot": slot}), True
            if reclaimed or not await self._reclaim_stale(owner_id):
                break
        raise TooManyExports(self.max_in_flight)

    async def _by_key(self, owner_id: str, idempotency_key: str) -> ExportRecord | None:
        doc = await self.collection.find_one({"owner_id": owner_id, "idem": f"key:{idempotency_key}"})
        return ExportRecord.from_doc(doc) if doc is not None else None

    async def _reclaim_stale(self, owner_id: str) -> bool:
        """Fail the owner's in-flight exports that have not moved for ``stale_after``; True if any."""
        cutoff = utcnow() - self.stale_after
        stale = await self.collection.find(
            {"owner_id": owner_id, "status": {"$in": list(IN_FLIGHT)}, "updated_at": {"$lt": cutoff}},
            {"_id": 1, "updated_at": 1},
        ).to_list(self.max_in_flight * 2 + 10)
        freed = False
        for doc in stale:
            # Conditional on updated_at: a worker that claims it meanwhile keeps it.
            result = await self.collection.update_one(
                {"_id": doc["_id"], "status": {"$in": list(IN_FLIGHT)}, "updated_at": doc["updated_at"]},
                {"$set": _ended(doc["_id"], FAILED, error=ABANDONED)},
            )
            freed = freed or result.modified_count > 0
        return freed

    async def mark_enqueued(self, export_id: str) -> None:
        """The queue accepted the export's message."""
        oid = _oid(export_id)
        if oid is not None:
            await self.collection.update_one({"_id": oid}, {"$set": {"enqueued_at": utcnow()}})

    async def get(self, owner_id: str, export_id: str) -> ExportRecord | None:
        """The owner's export; None for another user's, a missing or a malformed id alike."""
        oid = _oid(export_id)
        if oid is None:
            return None
        doc = await self.collection.find_one({"_id": oid, "owner_id": owner_id})
        return ExportRecord.from_doc(doc) if doc is not None else None

    async def get_by_id(self, export_id: str) -> ExportRecord | None:
        oid = _oid(export_id)
        if oid is None:
            return None
        doc = await self.collection.find_one({"_id": oid})
        return ExportRecord.from_doc(doc) if doc is not None else None

    async def claim(self, export_id: str, attempt: int) -> ExportRecord | None:
        """queued/running -> running with ``attempts = attempt``; None when the export is done,
        failed or gone (the message is then stale: the worker deletes it without work)."""
        oid = _oid(export_id)
        if oid is None:
            return None
        doc = await self.collection.find_one_and_update(
            {"_id": oid, "status": {"$in": list(IN_FLIGHT)}},
            {"$set": {"status": RUNNING, "attempts": int(attempt), "updated_at": utcnow()}},
            return_document=ReturnDocument.AFTER,
        )
        return ExportRecord.from_doc(doc) if doc is not None else None

    async def finish(self, export_id: str, object_key: str, size_bytes: int, note_count: int) -> None:
        """done, with the object's key and size; frees the slot. From any state: the object exists."""
        oid = _oid(export_id)
        if oid is None:
            return
        await self.collection.update_one(
            {"_id": oid},
            {
                "$set": {
                    **_ended(oid, DONE, error=None),
                    "object_key": object_key,
                    "size_bytes": int(size_bytes),
                    "note_count": int(note_count),
                }
            },
        )

    async def fail(self, export_id: str, reason: str) -> None:
        """failed with a reason; frees the slot. A done export stays done."""
        oid = _oid(export_id)
        if oid is None:
            return
        await self.collection.update_one(
            {"_id": oid, "status": {"$in": list(IN_FLIGHT)}},
            {"$set": _ended(oid, FAILED, error=reason[:MAX_ERROR] or "failed")},
        )

    async def discard(self, export_id: str) -> None:
        """Forget the export (its message could not be sent): frees its slot and its key."""
        oid = _oid(export_id)
        if oid is not None:
            await self.collection.delete_one({"_id": oid})


def _ended(oid: ObjectId, status: str, error: str | None) -> Doc:
    # slot := the id (a string) frees the integer slot the export held.
    return {"status": status, "slot": str(oid), "error": error, "updated_at": utcnow()}


def message_body(export_id: str, owner_id: str) -> str:
    """The queue message: ``{"v": 1, "export_id": "<24 hex>", "owner_id": "<user id>"}``."""
    if _EXPORT_ID.fullmatch(export_id) is None:
        raise ValueError(f"export_id must be 24 lower-case hex digits, not {export_id!r}")
    if _OWNER_ID.fullmatch(owner_id) is None:
        raise ValueError(f"owner_id must be 1-64 letters, digits, '_' or '-', not {owner_id!r}")
    return json.dumps(
        {"v": MESSAGE_VERSION, "export_id": export_id, "owner_id": owner_id}, separators=(",", ":")
    )


def parse_message(body: str) -> tuple[str, str]:
    """(export_id, owner_id) from a message body; ValueError naming what is wrong. Fields a
    later version of the API adds are ignored, so workers and API can be rolled in any order."""
    try:
        data: Any = json.loads(body)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"message body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"message body is not a JSON object but {type(data).__name__}")
    version = data.get("v")
    if version != MESSAGE_VERSION or isinstance(version, bool):
        raise ValueError(f"message version 'v' must be {MESSAGE_VERSION}, not {version!r}")
    export_id, owner_id = data.get("export_id"), data.get("owner_id")
    if not isinstance(export_id, str) or _EXPORT_ID.fullmatch(export_id) is None:
        raise ValueError(f"message 'export_id' must be 24 lower-case hex digits, not {export_id!r}")
    if not isinstance(owner_id, str) or _OWNER_ID.fullmatch(owner_id) is None:
        raise ValueError(f"message 'owner_id' must be 1-64 letters, digits, '_' or '-', not {owner_id!r}")
    return export_id, owner_id


def object_key(prefix: str, owner_id: str, export_id: str) -> str:
    """``<prefix><owner_id>/<export_id>.json.gz``: a pure function of the ids, so a redelivered
    message overwrites the same object instead of making a second export."""
    if _OWNER_ID.fullmatch(owner_id) is None:
        raise ValueError(f"owner_id must be 1-64 letters, digits, '_' or '-', not {owner_id!r}")
    if _EXPORT_ID.fullmatch(export_id) is None:
        raise ValueError(f"export_id must be 24 lower-case hex digits, not {export_id!r}")
    return f"{prefix}{owner_id}/{export_id}.json.gz"
