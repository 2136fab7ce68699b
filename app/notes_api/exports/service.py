"""The API's side of exports: record then enqueue, and the status with a presigned download URL.

Order of a request: the record first (it takes a slot of the per-user limit and the
Idempotency-Key), then SQS SendMessage. If the send fails the record is discarded, so a 503
never leaves behind an export that holds a slot and that no message will ever run. If the send
failed only as far as we could tell (a timeout after SQS took the message), the worker finds no
record and drops the message (``ExportRecords.claim`` answers None).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta
from typing import Any, cast

from botocore.exceptions import BotoCoreError, ClientError
from pymongo.errors import PyMongoError

from notes_api.core.config import Settings, env_name
from notes_api.core.errors import APIError
from notes_api.core.metrics import DEPENDENCY_ERRORS
from notes_api.exports.records import (
    DONE,
    QUEUED,
    ExportRecord,
    ExportRecords,
    TooManyExports,
    message_body,
)
from notes_api.models import ExportOut, ExportState
from notes_api.services.accounts import utcnow

log = logging.getLogger("notes_api.exports")

# A replay of an Idempotency-Key whose first request has not yet seen SQS accept the message
# is answered 409 (the draft's "request outstanding") for this long; after it, that request
# is taken as dead and the replay sends the message again, which is harmless: handling is
# idempotent, and the object key a pure function of the ids.
SEND_GRACE_SECONDS = 30.0
# How soon a client may try again after 409 or 429 too_many_exports: exports take seconds.
CONFLICT_RETRY_AFTER_SECONDS = 1
IN_FLIGHT_RETRY_AFTER_SECONDS = 30

AWS_FAILURES = (BotoCoreError, ClientError)


def unavailable() -> APIError:
    return APIError(
        503,
        "exports_unavailable",
        f"exports are not configured on this service ({env_name('export_queue_url')} and "
        f"{env_name('export_bucket')})",
    )


def download_filename(export_id: str) -> str:
    return f"notes-export-{export_id}.json.gz"


class ExportsService:
    def __init__(self, records: ExportRecords, settings: Settings, sqs: Any = None, s3: Any = None) -> None:
        self.records = records
        self.queue_url = settings.export_queue_url
        self.bucket = settings.export_bucket
        self.url_ttl = settings.export_url_ttl_seconds
        self.sqs = sqs
        self.s3 = s3

    @classmethod
    def from_settings(cls, records: ExportRecords, settings: Settings) -> ExportsService:
        """With the queue and bucket configured, boto3 clients for them; otherwise none (every
        call answers 503 exports_unavailable), and boto3 is never imported."""
        if not settings.exports_configured:
            return cls(records, settings)
        from notes_api.exports.aws import s3_client, sqs_client  # noqa: PLC0415

        return cls(records, settings, sqs_client(settings), s3_client(settings))

    @property
    def configured(self) -> bool:
        return self.sqs is not None and self.s3 is not None and bool(self.queue_url and self.bucket)

    async def request(self, owner_id: str, idempotency_key: str | None) -> tuple[ExportRecord, bool]:
        """(the export, created?) for POST /exports; APIError 429/409/503 as documented."""
        if not self.configured:
            raise unavailable()
        try:
            record, created = await self.records.create(owner_id, idempotency_key)
        except TooManyExports as exc:
            raise APIError(
                429,
                "too_many_exports",
                f"{exc.limit} of your exports are queued or running; wait for one to finish",
                {"Retry-After": str(IN_FLIGHT_RETRY_AFTER_SECONDS)},
            ) from exc
        if created:
            await self._send_or_discard(record)
        elif record.enqueued_at is None and record.status == QUEUED:
            await self._resend_outstanding(record)
        return record, created

    async def _send_or_discard(self, record: ExportRecord) -> None:
        try:
            await self._send(record)
        except AWS_FAILURES:
            try:
                await self.records.discard(record.id)
            except PyMongoError:
                # Left queued and unsent: its owner's next request past the stale bound
                # (records.MIN_STALE_SECONDS) fails it and takes the slot back.
                log.exception("could not discard export %s after its message failed", record.id)
            raise  # the dependency handler answers 503 aws_unavailable
        await self._mark_enqueued(record)

    async def _resend_outstanding(self, record: ExportRecord) -> None:
        age = (utcnow() - record.created_at).total_seconds()
        if age < SEND_GRACE_SECONDS:
            raise APIError(
                409,
                "idempotency_key_in_use",
                "a request with this Idempotency-Key is still being processed; retry shortly",
                {"Retry-After": str(CONFLICT_RETRY_AFTER_SECONDS)},
            )
        # The request that made it died between the insert and the send, or its message was
        # sent but never marked: send (again). Not discarded on failure: it may be in the queue.
        await self._send(record)
        await self._mark_enqueued(record)

    async def _send(self, record: ExportRecord) -> None:
        body = message_body(record.id, record.owner_id)
        try:
            await asyncio.to_thread(self.sqs.send_message, QueueUrl=self.queue_url, MessageBody=body)
        except AWS_FAILURES:
            DEPENDENCY_ERRORS.labels("sqs", "send_message").inc()
            raise

    async def _mark_enqueued(self, record: ExportRecord) -> None:
        # The message is out: the export is real even if this write fails, so answer 202 anyway.
        try:
            await self.records.mark_enqueued(record.id)
        except PyMongoError:
            log.warning("export %s was sent but could not be marked as sent", record.id, exc_info=True)

    async def status(self, owner_id: str, export_id: str) -> ExportOut:
        if not self.configured:
            raise unavailable()
        record = await self.records.get(owner_id, export_id)
        if record is None:
            raise APIError(404, "not_found", "export not found")
        url: str | None = None
        url_expires: datetime | None = None
        if record.status == DONE and record.object_key:
            # Taken before signing: the URL's own clock starts no earlier, so this is never late.
            url_expires = utcnow() + timedelta(seconds=self.url_ttl)
            url = await self._presign(record)
        return ExportOut(
            id=record.id,
            status=cast(ExportState, record.status),
            created_at=record.created_at,
            updated_at=record.updated_at,
            expires_at=record.expires_at,
            note_count=record.note_count,
            size_bytes=record.size_bytes,
            error=record.error,
            download_url=url,
            download_expires_at=url_expires if url else None,
        )

    async def _presign(self, record: ExportRecord) -> str:
        params = {
            "Bucket": self.bucket,
            "Key": record.object_key,
            # Saved as a file by a browser, under a name that says what it is, whatever the key.
            "ResponseContentDisposition": f'attachment; filename="{download_filename(record.id)}"',
            "ResponseContentType": "application/gzip",
        }
        try:
            # Off the loop: signing may first fetch the task role's credentials over HTTP.
            url: str = await asyncio.to_thread(
                self.s3.generate_presigned_url, "get_object", Params=params, ExpiresIn=self.url_ttl
            )
        except AWS_FAILURES:
            DEPENDENCY_ERRORS.labels("s3", "presign").inc()
            raise
        return url

    async def close(self) -> None:
        for client in (self.sqs, self.s3):
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()
