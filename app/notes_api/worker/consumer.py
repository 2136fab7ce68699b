"""The export queue's consumer: one message at a time, deleted only after its export is recorded.

For each message:

1. a body that is not an export message is logged and made visible again at once: the queue's
   redrive policy moves it to the dead-letter queue after maxReceiveCount receives (the worker
   has no permission to send to the DLQ itself, and needs none);
2. an export that is done, failed or gone (a redelivery, a stale message) is deleted without work;
3. otherwise the export is claimed (running), written to ``<prefix><owner>/<id>.json.gz`` (a
   pure function of the ids, so a redelivery overwrites the same object) and recorded done with
   its key, size and note count; only then is the message deleted;
4. on an error the upload is aborted; before NOTES_EXPORT_MAX_RECEIVES receives the message
   becomes visible again after a backoff (ChangeMessageVisibility); at that receive the export
   is marked failed with a short reason and the message made visible at once, so the redrive
   policy moves it to the DLQ on its next receive.

Shutdown (SIGTERM or SIGINT): no new message is taken; the current export may finish within
NOTES_SHUTDOWN_GRACE_SECONDS, after which it stops at its next checkpoint, aborts its upload and
makes its message visible at once (ChangeMessageVisibility 0) for another worker. A second
signal stops the export at once the same way. A long poll in progress is waited for (at most
20 s) and a message it returns is handed back the same way: a poll abandoned mid-flight could
still take a message that would then stay invisible for the whole visibility timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from pymongo.errors import PyMongoError

from notes_api.exports.records import ExportRecords, object_key, parse_message
from notes_api.worker.export import (
    ExportAborted,
    ExportResult,
    ExportTimedOut,
    JobControl,
    S3Stream,
    write_export,
)
from notes_api.worker.settings import WorkerSettings

log = logging.getLogger("notes_api.worker")

# The longest long poll SQS allows ("The maximum long polling wait time is 20 seconds", SQS
# Developer Guide, "Setting-up long polling"). botocore's default read timeout (60 s) exceeds
# it, as the same page requires of the HTTP client.
WAIT_SECONDS = 20
# After a failed ReceiveMessage (network, throttling), wait this long, doubling up to the max.
RECEIVE_ERROR_FIRST_DELAY = 1.0
RECEIVE_ERROR_MAX_DELAY = 30.0
# A failure reason is read by the user in the export's status: short, no stack trace.
MAX_REASON = 200

T = TypeVar("T")


@dataclass(frozen=True)
class Received:
    message_id: str
    receipt: str
    body: str
    receive_count: int

    @classmethod
    def from_sqs(cls, message: dict[str, Any]) -> Received:
        attributes = message.get("Attributes") or {}
        return cls(
            message_id=str(message.get("MessageId", "")),
            receipt=str(message["ReceiptHandle"]),
            body=str(message.get("Body", "")),
            receive_count=int(attributes.get("ApproximateReceiveCount", 1)),
        )


def failure_reason(exc: BaseException) -> str:
    """What the user reads in the status document: the kind of failure and the service's error
    code, never a stack trace, a URI or a credential (``str(exc)`` of a driver error may hold the
    connection string's host list, and botocore's carries request details)."""
    if isinstance(exc, ExportTimedOut):
        reason = str(exc)
    elif isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        reason = f"storage error: {error.get('Code', 'unknown')} on {exc.operation_name}"
    elif isinstance(exc, BotoCoreError):
        reason = f"storage unreachable: {type(exc).__name__}"
    elif isinstance(exc, PyMongoError):
        reason = f"database error: {type(exc).__name__}"
    else:
        reason = f"internal error: {type(exc).__name__}"
    return reason[:MAX_REASON]


def _in_daemon_thread(loop: asyncio.AbstractEventLoop, call: Callable[[], T]) -> asyncio.Future[T]:
    """``call`` in a thread of its own that never holds up the process's exit.

    For the long poll only: asyncio's default executor joins its threads at exit, which would
    keep a worker told to stop at once waiting for up to 20 s on a poll it no longer wants.
    """
    future: asyncio.Future[T] = loop.create_future()

    def settle(outcome: Callable[[], None]) -> None:
        if not future.done():
            outcome()

    def run() -> None:
        outcome: Callable[[], None]
        try:
            outcome = functools.partial(future.set_result, call())
        except BaseException as exc:
            outcome = functools.partial(future.set_exception, exc)
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting
            loop.call_soon_threadsafe(settle, outcome)

    threading.Thread(target=run, name="sqs-long-poll", daemon=True).start()
    return future


class Worker:
    def __init__(
        self,
        settings: WorkerSettings,
        records: ExportRecords,
        notes: Any,
        sqs: Any,
        s3: Any,
        between_jobs: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        if settings.export_queue_url is None or settings.export_bucket is None:
            raise ValueError("the worker needs NOTES_EXPORT_QUEUE_URL and NOTES_EXPORT_BUCKET")
        self.settings = settings
        self.records = records
        self.notes = notes  # a callable returning the notes collection (the client may be replaced)
        self.sqs = sqs
        self.s3 = s3
        # Awaited before each long poll, with no export running: where the worker switches to a
        # rotated database URI (worker/main.py), so no job loses its client halfway.
        self.between_jobs = between_jobs
        self.queue_url: str = settings.export_queue_url
        self.bucket: str = settings.export_bucket
        self.stopping = False
        self.grace_over = False
        self.hurry = asyncio.Event()
        self.control: JobControl | None = None
        self.jobs: dict[str, int] = {"done": 0, "skipped": 0, "retried": 0, "failed": 0, "returned": 0}
        self.wait_seconds = WAIT_SECONDS
        self._receive_delay = RECEIVE_ERROR_FIRST_DELAY

    # --- signals ----------------------------------------------------------------------------

    def request_stop(self, signum: int = signal.SIGTERM) -> None:
        name = signal.Signals(signum).name
        if not self.stopping:
            self.stopping = True
            grace = self.settings.shutdown_grace_seconds
            log.info("%s: taking no new message; the current export may finish within %g s", name, grace)
            asyncio.get_running_loop().call_later(grace, self._end_grace)
            return
        log.warning("%s again: stopping now, the current export's message goes back to the queue", name)
        self._end_grace()
        self.hurry.set()

    def _end_grace(self) -> None:
        self.grace_over = True
        if self.control is not None:
            self.control.stop_requested = True

    # --- the loop ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Poll and handle messages until a signal asks to stop."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.request_stop, signum)
        log.info("worker started: queue %s, bucket %s", self.queue_url, self.bucket)
        try:
            while not self.stopping:
                if self.between_jobs is not None:
                    await self.between_jobs()
                await self.poll_once()
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
        log.info("worker stopped", extra={"jobs": dict(self.jobs)})

    async def poll_once(self) -> Received | None:
        """One long poll and, if it brought a message, its handling; the message or None."""
        try:
            message = await self._receive()
        except (BotoCoreError, ClientError) as exc:
            log.error("ReceiveMessage failed (%s); retrying in %.0f s", _error_code(exc), self._receive_delay)
            await self._sleep(self._receive_delay)
            self._receive_delay = min(self._receive_delay * 2, RECEIVE_ERROR_MAX_DELAY)
            return None
        self._receive_delay = RECEIVE_ERROR_FIRST_DELAY
        if message is None:
            return None
        if self.stopping:
            self.jobs["returned"] += 1
            await self._set_visibility(message, 0, "returned: the worker is stopping")
            return message
        await self.handle(message)
        return message

    async def _sleep(self, seconds: float) -> None:
        """Sleep, cut short by a second signal (a first one ends the loop after the sleep)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.hurry.wait(), seconds)

    async def _receive(self) -> Received | None:
        poll = _in_daemon_thread(
            asyncio.get_running_loop(),
            lambda: self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=1,
                WaitTimeSeconds=self.wait_seconds,
                # The receive count decides between a retry and the final failure. The name of
                # the parameter that replaced AttributeNames, "discontinued but supported for
                # backward compatibility" (botocore's SQS model, ReceiveMessage).
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            ),
        )
        hurry = asyncio.ensure_future(self.hurry.wait())
        try:
            await asyncio.wait({poll, hurry}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            hurry.cancel()
        if not poll.done():
            return None  # told to stop at once: the poll is left to its daemon thread
        messages = poll.result().get("Messages") or []
        return Received.from_sqs(messages[0]) if messages else None

    # --- one message -------------------------------------------------------------------------

    async def handle(self, message: Received) -> None:
        started = time.monotonic()
        try:
            export_id, owner_id = parse_message(message.body)
        except ValueError as exc:
            log.warning(
                "malformed message %s (receive %d): %s; left to the queue's redrive policy",
                message.message_id,
                message.receive_count,
                str(exc)[:MAX_REASON],
            )
            await self._set_visibility(message, 0, "malformed")
            return
        context = {"export_id": export_id, "receive_count": message.receive_count}
        try:
            record = await self.records.get(owner_id, export_id)
            claimed = await self.records.claim(export_id, message.receive_count) if record else None
            if claimed is None:
                state = record.status if record is not None else "missing"
                log.info("export %s is %s: message deleted without work", export_id, state, extra=context)
                self.jobs["skipped"] += 1
                await self._delete(message)
                return
            key = object_key(self.settings.export_prefix, owner_id, export_id)
            result = await self._export(owner_id, export_id, key)
            # Recorded before the message goes: a crash in between redelivers a message whose
            # export is done, which step 2 deletes without work.
            await self.records.finish(export_id, key, result.size_bytes, result.note_count)
        except ExportAborted:
            self.jobs["returned"] += 1
            await self._set_visibility(message, 0, "returned: the worker is stopping", context)
            return
        except Exception as exc:
            await self._failed(message, export_id, exc, context)
            return
        await self._delete(message)
        self.jobs["done"] += 1
        log.info(
            "export %s done: %d notes, %d bytes in %.2f s",
            export_id,
            result.note_count,
            result.size_bytes,
            time.monotonic() - started,
            extra={
                **context,
                "notes": result.note_count,
                "bytes": result.size_bytes,
                "parts": result.parts,
                "seconds": round(time.monotonic() - started, 3),
            },
        )

    async def _export(self, owner_id: str, export_id: str, key: str) -> ExportResult:
        self.control = JobControl(
            timeout_seconds=self.settings.export_job_timeout_seconds, stop_requested=self.grace_over
        )
        stream = S3Stream(
            self.s3,
            self.bucket,
            key,
            content_disposition=f'attachment; filename="notes-export-{export_id}.json.gz"',
        )
        try:
            return await write_export(
                self.notes(), stream, owner_id, exported_at=datetime.now(UTC), control=self.control
            )
        finally:
            self.control = None

    async def _failed(
        self, message: Received, export_id: str, exc: Exception, context: dict[str, Any]
    ) -> None:
        reason = failure_reason(exc)
        if message.receive_count < self.settings.export_max_receives:
            delay = self.settings.retry_delay(message.receive_count)
            self.jobs["retried"] += 1
            log.warning(
                "export %s failed on receive %d of %d (%s); retrying in %d s",
                export_id,
                message.receive_count,
                self.settings.export_max_receives,
                reason,
                delay,
                extra=context,
            )
            await self._set_visibility(message, delay, "retry", context)
            return
        self.jobs["failed"] += 1
        log.error(
            "export %s failed on its last receive (%d): %s; the queue moves the message to the DLQ",
            export_id,
            message.receive_count,
            reason,
            extra=context,
        )
        try:
            await self.records.fail(export_id, reason)
        except PyMongoError as db_exc:
            log.error("could not mark export %s failed: %s", export_id, type(db_exc).__name__, extra=context)
        # Visible at once: SQS moves a message whose receive count exceeds maxReceiveCount to the
        # DLQ when it is next received, so nothing waits out a backoff first.
        await self._set_visibility(message, 0, "to the dead-letter queue", context)

    async def _delete(self, message: Received) -> None:
        try:
            await asyncio.to_thread(
                self.sqs.delete_message, QueueUrl=self.queue_url, ReceiptHandle=message.receipt
            )
        except (BotoCoreError, ClientError) as exc:
            # The message comes back after its visibility timeout and is deleted without work.
            log.error("DeleteMessage failed for %s: %s", message.message_id, _error_code(exc))

    async def _set_visibility(
        self, message: Received, seconds: int, why: str, context: dict[str, Any] | None = None
    ) -> None:
        try:
            await asyncio.to_thread(
                self.sqs.change_message_visibility,
                QueueUrl=self.queue_url,
                ReceiptHandle=message.receipt,
                VisibilityTimeout=seconds,
            )
        except (BotoCoreError, ClientError) as exc:
            # The message comes back after the queue's visibility timeout instead.
            log.error("ChangeMessageVisibility failed for %s: %s", message.message_id, _error_code(exc))
            return
        log.info("message %s visible in %d s (%s)", message.message_id, seconds, why, extra=context or {})


def _error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "unknown"))
    return type(exc).__name__
