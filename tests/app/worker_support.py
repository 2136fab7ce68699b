"""What the export worker's tests share: seeding notes, export records, the worker in-process
on a loop of its own or as the real ``python -m notes_api.worker`` child process, and reading
back what landed in the queue and the bucket."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import secrets
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from bson import ObjectId
from pymongo import MongoClient

from devtools.localservices import ExportResources, MotoServer
from notes_api.core.db import Database
from notes_api.exports.records import ExportRecord, ExportRecords, message_body
from notes_api.worker.settings import WorkerSettings, load_worker_settings

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
_PROSE = (
    "meeting notes draft idea list todo project review plan budget design call follow up release "
    "bug fix deploy queue worker export import backup archive tag pinned markdown"
)
WORDS = _PROSE.split()


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    # A loop of its own, never installed as the thread's: asyncio.run() would leave the main
    # thread without a current loop, which later tests (Pulumi's mocks) ask for.
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


def text_body(size: int, rng: Any = None) -> str:
    """Prose-like text of about ``size`` characters (compresses like real notes, about 3:1)."""
    words: list[str] = []
    length = 0
    while length < size:
        word = WORDS[secrets.randbelow(len(WORDS))] if rng is None else rng.choice(WORDS)
        words.append(word)
        length += len(word) + 1
    return " ".join(words)[:size]


def random_body(size: int) -> str:
    """Incompressible-ish text (about 3:4 after gzip): big exports with few notes."""
    return secrets.token_urlsafe(size)[:size]


def seed_notes(
    uri: str, database: str, owner_id: str, count: int, body: Callable[[int], str], body_size: int = 1000
) -> list[str]:
    """``count`` notes of ``owner_id`` stored the way NotesService.create stores them; their ids
    in ``_id`` order."""
    client: MongoClient[dict[str, Any]] = MongoClient(uri)
    try:
        start = datetime.now(UTC) - timedelta(days=1)
        ids: list[str] = []
        for offset in range(0, count, 2000):
            docs = []
            for i in range(offset, min(count, offset + 2000)):
                created = start + timedelta(milliseconds=i)
                docs.append(
                    {
                        "_id": ObjectId(),
                        "owner_id": owner_id,
                        "title": f"note {i}",
                        "body": body(body_size),
                        "tags": ["seed", f"t{i % 7}"],
                        "pinned": i % 5 == 0,
                        "archived": i % 11 == 0,
                        "version": 1 + i % 3,
                        "created_at": created,
                        "updated_at": created + timedelta(seconds=i % 3),
                    }
                )
            client[database]["notes"].insert_many(docs)
            ids += [str(doc["_id"]) for doc in docs]
        return ids
    finally:
        client.close()


def worker_settings(
    mongo_uri: str, database: str, resources: ExportResources, **overrides: Any
) -> WorkerSettings:
    values: dict[str, Any] = {
        "env": "test",
        "mongodb_uri": mongo_uri,
        "mongodb_database": database,
        "mongodb_server_selection_timeout_ms": 1500,
        "export_queue_url": resources.queue_url,
        "export_bucket": resources.bucket,
        "export_max_receives": resources.max_receives,
        "export_retry_base_seconds": 0,
        "aws_region": MotoServer.REGION,
    }
    values.update(overrides)
    return load_worker_settings(**values)


async def new_export(settings: WorkerSettings, owner_id: str) -> ExportRecord:
    db = Database(settings)
    try:
        record, created = await ExportRecords(db, settings).create(owner_id, None)
        assert created
        return record
    finally:
        await db.close()


async def read_record(settings: WorkerSettings, export_id: str) -> ExportRecord | None:
    db = Database(settings)
    try:
        return await ExportRecords(db, settings).get_by_id(export_id)
    finally:
        await db.close()


def enqueue(sqs: Any, resources: ExportResources, record: ExportRecord) -> str:
    body = message_body(record.id, record.owner_id)
    sqs.send_message(QueueUrl=resources.queue_url, MessageBody=body)
    return body


def read_export(s3: Any, bucket: str, key: str) -> dict[str, Any]:
    raw = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    document: dict[str, Any] = json.loads(gzip.decompress(raw))
    return document


def object_keys(s3: Any, bucket: str) -> list[str]:
    return [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def open_uploads(s3: Any, bucket: str) -> list[dict[str, Any]]:
    uploads: list[dict[str, Any]] = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return uploads


def queue_depth(sqs: Any, queue_url: str) -> int:
    """Messages in the queue, visible or in flight."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
    return sum(int(attributes[name]) for name in names)


def drain(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every message currently visible in ``queue_url`` (received, so hidden for 30 s)."""
    found: list[dict[str, Any]] = []
    while True:
        answer = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        messages = answer.get("Messages", [])
        if not messages:
            return found
        found += messages


def worker_environment(
    moto: MotoServer, mongo_uri: str, database: str, resources: ExportResources, **extra: str
) -> dict[str, str]:
    """The child's environment: NOTES_* of this process dropped, boto3 pointed at moto."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTES_", "AWS_"))}
    env.update(moto.environment())
    env.update(
        {
            "NOTES_ENV": "test",
            "NOTES_MONGODB_URI": mongo_uri,
            "NOTES_MONGODB_DATABASE": database,
            "NOTES_EXPORT_QUEUE_URL": resources.queue_url,
            "NOTES_EXPORT_BUCKET": resources.bucket,
            "NOTES_EXPORT_MAX_RECEIVES": str(resources.max_receives),
            "NOTES_EXPORT_RETRY_BASE_SECONDS": "0",
            "NOTES_AWS_REGION": MotoServer.REGION,
        }
    )
    env.update(extra)
    return env
