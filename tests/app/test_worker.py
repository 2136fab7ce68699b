"""The export worker in-process, against a real moto server (SQS and S3 over HTTP) and a real
MongoDB-wire server: the document, the multipart upload, idempotent redelivery, retries, the
dead-letter path and what a failure records. Signals and the real entry point are in
test_worker_process.py."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from fastapi.testclient import TestClient
from pymongo.errors import ServerSelectionTimeoutError

from devtools.localservices import ExportResources, MotoServer, SecantusServer
from notes_api.core.config import ConfigError, Settings
from notes_api.core.db import Database
from notes_api.exports.records import DONE, FAILED, ExportRecords, message_body, object_key
from notes_api.worker.consumer import Worker, failure_reason
from notes_api.worker.export import (
    FORMAT,
    MIN_PART_SIZE,
    ExportAborted,
    ExportTimedOut,
    JobControl,
    S3Stream,
    write_export,
)
from notes_api.worker.settings import WorkerSettings, load_worker_settings
from tests.app.conftest import new_note, signup
from tests.app.worker_support import (
    drain,
    enqueue,
    new_export,
    object_keys,
    open_uploads,
    queue_depth,
    random_body,
    read_export,
    read_record,
    run,
    seed_notes,
    worker_settings,
)

NOTES = "/api/v1/notes"


@pytest.fixture
def settings(
    make_settings: Callable[..., Settings],
    mongo_server: SecantusServer,
    export_resources: ExportResources,
    aws_env: dict[str, str],
) -> WorkerSettings:
    """The worker's settings on this test's database, queue and bucket; retries without delay."""
    return worker_settings(mongo_server.uri, make_settings().mongodb_database, export_resources)


@pytest.fixture
def sqs(moto_server: MotoServer) -> Any:
    return moto_server.client("sqs")


@pytest.fixture
def s3(moto_server: MotoServer) -> Any:
    return moto_server.client("s3")


async def _polls(settings: WorkerSettings, count: int, wait_seconds: int = 1) -> Worker:
    """A worker built like ``python -m notes_api.worker`` builds it, polling ``count`` times."""
    from notes_api.worker.main import build_clients  # noqa: PLC0415

    db = Database(settings)
    sqs, s3 = build_clients(settings)
    worker = Worker(settings, ExportRecords(db, settings), lambda: db.notes, sqs, s3)
    worker.wait_seconds = wait_seconds
    try:
        for _ in range(count):
            await worker.poll_once()
    finally:
        await db.close()
    return worker


# --- the document -----------------------------------------------------------------------


def test_an_export_holds_every_note_exactly_as_the_api_returns_it(
    make_client: Callable[..., TestClient],
    export_settings: dict[str, Any],
    settings: WorkerSettings,
    sqs: Any,
    s3: Any,
    export_resources: ExportResources,
) -> None:
    # GIVEN notes made through the API: tags, flags, an edited one (version 2), an empty body
    client = make_client(**export_settings)
    user = signup(client)
    owner = client.get("/api/v1/me", headers=user["headers"]).json()["id"]
    made = [
        new_note(client, user["headers"], title="plain"),
        new_note(client, user["headers"], title="tagged", tags=["work", "q3"], pinned=True),
        new_note(client, user["headers"], title="old", body="", archived=True),
        new_note(client, user["headers"], title="unicode ✓", body="é\n```\ncode\n```\n\u2028"),
    ]
    edited = client.patch(
        f"{NOTES}/{made[0]['id']}", json={"body": "edited"}, headers={**user["headers"], "If-Match": '"1"'}
    )
    assert edited.status_code == 200, edited.text
    # AND another user's note, which must not appear
    other = signup(client)
    new_note(client, other["headers"], title="not yours")
    record = run(new_export(settings, owner))
    enqueue(sqs, export_resources, record)

    # WHEN the worker takes the message
    worker = run(_polls(settings, 1))

    # THEN the export is done, recorded with its key, size and count, and the message is gone
    assert worker.jobs["done"] == 1, worker.jobs
    done = run(read_record(settings, record.id))
    assert done is not None and done.status == DONE and done.error is None
    key = object_key(settings.export_prefix, owner, record.id)
    assert done.object_key == key and done.note_count == 4
    head = s3.head_object(Bucket=export_resources.bucket, Key=key)
    assert done.size_bytes == head["ContentLength"]
    assert head["ContentType"] == "application/gzip"
    assert head["ContentDisposition"] == f'attachment; filename="notes-export-{record.id}.json.gz"'
    assert queue_depth(sqs, export_resources.queue_url) == 0
    # AND the object is one gzip JSON document whose notes are what GET returns, in _id order
    document = read_export(s3, export_resources.bucket, key)
    assert list(document) == ["format", "exported_at", "owner_id", "notes", "note_count"]
    assert document["format"] == FORMAT and document["owner_id"] == owner
    assert document["note_count"] == len(document["notes"]) == 4
    assert datetime.fromisoformat(document["exported_at"]).tzinfo is not None
    expected = [client.get(f"{NOTES}/{note['id']}", headers=user["headers"]).json() for note in made]
    assert document["notes"] == expected
    assert document["notes"][0]["version"] == 2 and document["notes"][0]["body"] == "edited"


def test_a_large_export_goes_up_in_parts_of_at_least_5_mib_and_leaves_no_upload_open(
    settings: WorkerSettings, mongo_server: SecantusServer, s3: Any, export_resources: ExportResources
) -> None:
    # GIVEN 9,000 notes of 1 KB of random text: about 6.8 MB after gzip
    ids = seed_notes(mongo_server.uri, settings.mongodb_database, "big-owner", 9000, random_body)
    key = "exports/big-owner/big.json.gz"

    async def export() -> Any:
        db = Database(settings)
        try:
            stream = S3Stream(s3, export_resources.bucket, key, "attachment", part_size=MIN_PART_SIZE)
            return await write_export(db.notes, stream, "big-owner", exported_at=datetime.now(UTC))
        finally:
            await db.close()

    # WHEN it is exported with S3's minimum part size
    result = run(export())

    # THEN it went up as a two-part upload (S3's ETag of a multipart object ends in -<parts>)
    assert result.parts == 2 and result.size_bytes > MIN_PART_SIZE
    head = s3.head_object(Bucket=export_resources.bucket, Key=key)
    assert head["ETag"].strip('"').endswith("-2") and head["ContentLength"] == result.size_bytes
    # AND no multipart upload is left open
    assert open_uploads(s3, export_resources.bucket) == []
    # AND every note is there once, in _id order
    document = read_export(s3, export_resources.bucket, key)
    assert [note["id"] for note in document["notes"]] == ids
    assert document["note_count"] == result.note_count == 9000


def test_a_part_size_below_s3s_minimum_is_refused(s3: Any) -> None:
    with pytest.raises(ValueError, match="at least 5242880 bytes"):
        S3Stream(s3, "bucket-name", "key", "attachment", part_size=MIN_PART_SIZE - 1)


class _StopOnceUploading(JobControl):
    """Asks the export to stop at the first checkpoint after its multipart upload began, as the
    end of the shutdown grace does."""

    def __init__(self, stream: S3Stream) -> None:
        super().__init__()
        self.stream = stream

    def check(self) -> None:
        if self.stream.upload_id is not None:
            self.stop_requested = True
        super().check()


def test_an_export_stopped_midway_aborts_its_multipart_upload(
    settings: WorkerSettings, mongo_server: SecantusServer, s3: Any, export_resources: ExportResources
) -> None:
    # GIVEN an export big enough for several parts, asked to stop once its first part is up
    seed_notes(mongo_server.uri, settings.mongodb_database, "owner-a", 9000, random_body)
    stream = S3Stream(s3, export_resources.bucket, "exports/owner-a/x.json.gz", "a", part_size=MIN_PART_SIZE)

    async def export() -> None:
        db = Database(settings)
        try:
            control = _StopOnceUploading(stream)
            await write_export(db.notes, stream, "owner-a", exported_at=datetime.now(UTC), control=control)
        finally:
            await db.close()

    # WHEN it runs
    with pytest.raises(ExportAborted):
        run(export())
    # THEN its upload had begun, and is gone: no open multipart upload, no object
    assert stream.parts, "the test meant to stop the export after its first part"
    assert open_uploads(s3, export_resources.bucket) == []
    assert object_keys(s3, export_resources.bucket) == []


def test_an_export_past_its_time_limit_stops_and_says_so(
    settings: WorkerSettings, mongo_server: SecantusServer, s3: Any, export_resources: ExportResources
) -> None:
    # GIVEN a job whose time is already up
    seed_notes(mongo_server.uri, settings.mongodb_database, "owner-t", 10, random_body)
    control = JobControl(timeout_seconds=5)
    control.started -= 6

    async def export() -> None:
        db = Database(settings)
        try:
            stream = S3Stream(s3, export_resources.bucket, "exports/owner-t/x.json.gz", "a")
            await write_export(db.notes, stream, "owner-t", exported_at=datetime.now(UTC), control=control)
        finally:
            await db.close()

    # WHEN it runs, THEN it stops with a reason fit for the user, and writes nothing
    with pytest.raises(ExportTimedOut) as raised:
        run(export())
    assert failure_reason(raised.value) == "the export took longer than 5 s"
    assert object_keys(s3, export_resources.bucket) == []


# --- idempotency ------------------------------------------------------------------------


def test_the_same_message_twice_gives_one_object_and_one_done_record(
    settings: WorkerSettings,
    mongo_server: SecantusServer,
    sqs: Any,
    s3: Any,
    export_resources: ExportResources,
) -> None:
    # GIVEN an export whose message was sent twice (SQS delivers at least once)
    seed_notes(mongo_server.uri, settings.mongodb_database, "owner-r", 50, random_body)
    record = run(new_export(settings, "owner-r"))
    enqueue(sqs, export_resources, record)
    enqueue(sqs, export_resources, record)

    # WHEN the worker takes both
    worker = run(_polls(settings, 2))

    # THEN the first is exported and the second deleted without work
    assert worker.jobs == {"done": 1, "skipped": 1, "retried": 0, "failed": 0, "returned": 0}
    assert object_keys(s3, export_resources.bucket) == [object_key("exports/", "owner-r", record.id)]
    done = run(read_record(settings, record.id))
    assert done is not None and done.status == DONE and done.note_count == 50 and done.attempts == 1
    assert queue_depth(sqs, export_resources.queue_url) == 0


def test_a_message_whose_first_receiver_died_comes_back_and_is_exported_once(
    settings: WorkerSettings,
    mongo_server: SecantusServer,
    sqs: Any,
    s3: Any,
    export_resources: ExportResources,
) -> None:
    # GIVEN a message received by a worker that died before deleting it (visibility 1 s)
    seed_notes(mongo_server.uri, settings.mongodb_database, "owner-v", 20, random_body)
    record = run(new_export(settings, "owner-v"))
    enqueue(sqs, export_resources, record)
    taken = sqs.receive_message(QueueUrl=export_resources.queue_url, VisibilityTimeout=1, WaitTimeSeconds=1)
    assert len(taken["Messages"]) == 1

    # WHEN its visibility timeout has expired and a worker polls
    time.sleep(1.2)
    worker = run(_polls(settings, 1, wait_seconds=2))

    # THEN that worker exports it, on the message's second receive
    assert worker.jobs["done"] == 1, worker.jobs
    done = run(read_record(settings, record.id))
    assert done is not None and done.status == DONE and done.attempts == 2
    assert object_keys(s3, export_resources.bucket) == [done.object_key]
    assert queue_depth(sqs, export_resources.queue_url) == 0


@pytest.mark.parametrize("state", ["done", "failed", "missing", "another owner"])
def test_a_message_for_an_export_that_needs_no_work_is_deleted_without_any(
    settings: WorkerSettings, sqs: Any, s3: Any, export_resources: ExportResources, state: str
) -> None:
    # GIVEN a message whose export is already done or failed, gone, or not the message's owner's
    record = run(new_export(settings, "owner-s"))
    body = message_body(record.id, "owner-s")

    async def prepare() -> None:
        db = Database(settings)
        records = ExportRecords(db, settings)
        try:
            if state == "done":
                await records.finish(record.id, "exports/owner-s/earlier.json.gz", 10, 1)
            elif state == "failed":
                await records.fail(record.id, "an earlier failure")
            elif state == "missing":
                await records.discard(record.id)
        finally:
            await db.close()

    run(prepare())
    if state == "another owner":
        body = message_body(record.id, "someone-else")
    before = run(read_record(settings, record.id))
    sqs.send_message(QueueUrl=export_resources.queue_url, MessageBody=body)

    # WHEN the worker takes it
    worker = run(_polls(settings, 1))

    # THEN it is deleted, nothing is written and the record is as it was
    assert worker.jobs["skipped"] == 1, worker.jobs
    assert queue_depth(sqs, export_resources.queue_url) == 0
    assert object_keys(s3, export_resources.bucket) == []
    assert run(read_record(settings, record.id)) == before


# --- failures, retries and the dead-letter queue -----------------------------------------


def test_a_job_that_always_fails_is_retried_then_failed_with_a_reason_and_dead_lettered(
    make_settings: Callable[..., Settings],
    mongo_server: SecantusServer,
    sqs: Any,
    export_resources: ExportResources,
    aws_env: dict[str, str],
) -> None:
    # GIVEN a worker pointed at a bucket that does not exist, and an export queued
    settings = worker_settings(
        mongo_server.uri,
        make_settings().mongodb_database,
        export_resources,
        export_bucket="no-such-bucket-for-exports",
    )
    seed_notes(mongo_server.uri, settings.mongodb_database, "owner-f", 5, random_body)
    record = run(new_export(settings, "owner-f"))
    enqueue(sqs, export_resources, record)
    max_receives = export_resources.max_receives

    # WHEN it polls once per allowed receive, and once more
    worker = run(_polls(settings, max_receives + 1))

    # THEN every receive failed: retried until the last one, which marked the export failed
    assert worker.jobs["retried"] == max_receives - 1 and worker.jobs["failed"] == 1, worker.jobs
    failed = run(read_record(settings, record.id))
    assert failed is not None and failed.status == FAILED and failed.attempts == max_receives
    assert failed.error == "storage error: NoSuchBucket on PutObject"
    # AND the queue's redrive policy moved the message to the dead-letter queue
    assert queue_depth(sqs, export_resources.queue_url) == 0
    dead = drain(sqs, export_resources.dlq_url)
    assert [message["Body"] for message in dead] == [message_body(record.id, "owner-f")]


@pytest.mark.parametrize(
    "body",
    [
        "not json at all",
        '{"v": 2, "export_id": "0123456789abcdef01234567", "owner_id": "u"}',
        '{"v": 1, "export_id": "../../etc/passwd", "owner_id": "u"}',
        "[1, 2, 3]",
    ],
)
def test_a_malformed_message_goes_the_dead_letter_way_and_the_worker_carries_on(
    settings: WorkerSettings,
    mongo_server: SecantusServer,
    sqs: Any,
    s3: Any,
    export_resources: ExportResources,
    body: str,
) -> None:
    # GIVEN a message that is not an export message, followed by a good one
    sqs.send_message(QueueUrl=export_resources.queue_url, MessageBody=body)
    seed_notes(mongo_server.uri, settings.mongodb_database, "owner-m", 3, random_body)
    record = run(new_export(settings, "owner-m"))
    enqueue(sqs, export_resources, record)

    # WHEN the worker polls until both are dealt with
    worker = run(_polls(settings, export_resources.max_receives + 2))

    # THEN the good export is done and the bad message sits in the dead-letter queue
    done = run(read_record(settings, record.id))
    assert done is not None and done.status == DONE
    assert [message["Body"] for message in drain(sqs, export_resources.dlq_url)] == [body]
    assert queue_depth(sqs, export_resources.queue_url) == 0
    assert worker.jobs["done"] == 1


def test_retry_delays_double_from_the_base_up_to_the_cap() -> None:
    settings = WorkerSettings(export_retry_base_seconds=10, export_retry_max_seconds=60)
    assert [settings.retry_delay(count) for count in range(1, 7)] == [10, 20, 40, 60, 60, 60]
    assert WorkerSettings(export_retry_base_seconds=0).retry_delay(4) == 0


def test_a_failure_reason_names_the_kind_and_code_never_the_error_text() -> None:
    secret = "mongodb://admin:hunter2@db.internal:27017"
    client_error = ClientError(
        {"Error": {"Code": "AccessDenied", "Message": f"denied for {secret}"}}, "CompleteMultipartUpload"
    )
    cases = [
        (client_error, "storage error: AccessDenied on CompleteMultipartUpload"),
        (EndpointConnectionError(endpoint_url=secret), "storage unreachable: EndpointConnectionError"),
        (ServerSelectionTimeoutError(secret), "database error: ServerSelectionTimeoutError"),
        (KeyError(secret), "internal error: KeyError"),
    ]
    for error, expected in cases:
        assert failure_reason(error) == expected
        assert "hunter2" not in failure_reason(error)


# --- configuration ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("missing", "variable"),
    [
        ("mongodb_uri", "NOTES_MONGODB_URI"),
        ("export_queue_url", "NOTES_EXPORT_QUEUE_URL"),
        ("export_bucket", "NOTES_EXPORT_BUCKET"),
    ],
)
def test_the_worker_refuses_to_start_without_what_it_needs_naming_the_variable(
    missing: str, variable: str
) -> None:
    values: dict[str, Any] = {
        "mongodb_uri": "mongodb://127.0.0.1:1/",
        "export_queue_url": "https://sqs.eu-west-1.amazonaws.com/123456789012/notes-prod-exports",
        "export_bucket": "notes-prod-exports",
        "aws_region": "eu-west-1",
    }
    values[missing] = None
    with pytest.raises(ConfigError, match=f"^{variable} is required by the export worker"):
        load_worker_settings(**values)


def test_in_production_the_worker_needs_neither_redis_nor_a_signing_key() -> None:
    settings = load_worker_settings(
        env="production",
        mongodb_uri="mongodb://127.0.0.1:1/",
        export_queue_url="https://sqs.eu-west-1.amazonaws.com/123456789012/notes-prod-exports",
        export_bucket="notes-prod-exports",
        aws_region="eu-west-1",
        redis_url=None,
        jwt_signing_key=None,
    )
    assert settings.is_production and settings.redis_url is None and settings.jwt_signing_key is None


def test_in_production_the_worker_refuses_a_plain_http_queue_url() -> None:
    with pytest.raises(ConfigError, match=r"^NOTES_EXPORT_QUEUE_URL must be an https://"):
        load_worker_settings(
            env="production",
            mongodb_uri="mongodb://127.0.0.1:1/",
            export_queue_url="http://sqs.eu-west-1.amazonaws.com/123456789012/notes-prod-exports",
            export_bucket="notes-prod-exports",
            aws_region="eu-west-1",
        )


def test_only_the_database_secret_is_read_by_arn() -> None:
    # GIVEN ARNs for all three secrets (an environment copied from the API's)
    asked: list[str] = []

    def fetch(arn: str) -> str:
        asked.append(arn)
        return "mongodb://127.0.0.1:1/"

    # WHEN the worker loads its settings
    settings = load_worker_settings(
        fetch=fetch,
        mongodb_uri=None,
        mongodb_uri_secret_arn="arn:aws:secretsmanager:eu-west-1:123456789012:secret:db",
        redis_auth_token_secret_arn="arn:aws:secretsmanager:eu-west-1:123456789012:secret:redis",
        jwt_signing_key_secret_arn="arn:aws:secretsmanager:eu-west-1:123456789012:secret:jwt",
        export_queue_url="https://sqs.eu-west-1.amazonaws.com/123456789012/q",
        export_bucket="notes-prod-exports",
        aws_region="eu-west-1",
    )
    # THEN only the database's secret was read
    assert asked == ["arn:aws:secretsmanager:eu-west-1:123456789012:secret:db"]
    assert settings.secret("mongodb_uri") == "mongodb://127.0.0.1:1/"
