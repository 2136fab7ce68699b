"""The real ``python -m notes_api.worker`` as a child process, against a real moto server (SQS
and S3 over HTTP) and a real MongoDB-wire server: configuration errors, production without
Redis or a signing key, JSON logs, and SIGTERM before, during and twice during an export."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

from devtools.localservices import ExportResources, MotoServer, SecantusServer, create_export_resources
from devtools.worker_process import WorkerProcess, wait_until
from notes_api.exports.records import DONE, RUNNING, object_key
from notes_api.worker.consumer import WAIT_SECONDS
from notes_api.worker.settings import WorkerSettings
from tests.app.worker_support import (
    ROOT,
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
    worker_environment,
    worker_settings,
)

# Notes of 1 KB of random text: about 18 MB of gzip, three 8 MiB parts, a few seconds of work,
# so a signal sent once the multipart upload has begun lands in the middle of the export.
LARGE_EXPORT_NOTES = 24000
LARGE_OWNER = "owner-large"


@pytest.fixture(scope="module")
def large_database(mongo_server: SecantusServer) -> str:
    """A database seeded once for the module with one owner's large set of notes."""
    database = f"notes_worker_{uuid.uuid4().hex[:10]}"
    seed_notes(mongo_server.uri, database, LARGE_OWNER, LARGE_EXPORT_NOTES, random_body)
    return database


@pytest.fixture
def workers() -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.stop()


def _settings(mongo_server: SecantusServer, database: str, resources: ExportResources) -> WorkerSettings:
    return worker_settings(mongo_server.uri, database, resources)


# --- start-up ---------------------------------------------------------------------------


@pytest.mark.parametrize("variable", ["NOTES_MONGODB_URI", "NOTES_EXPORT_QUEUE_URL", "NOTES_EXPORT_BUCKET"])
def test_the_worker_exits_2_naming_the_missing_variable(variable: str) -> None:
    # GIVEN an environment with everything but one of the three things the worker needs
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTES_")}
    env.update(
        {
            "NOTES_ENV": "test",
            "NOTES_MONGODB_URI": "mongodb://127.0.0.1:9/",
            "NOTES_EXPORT_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/q",
            "NOTES_EXPORT_BUCKET": "notes-test-exports",
            "NOTES_AWS_REGION": "eu-west-1",
        }
    )
    del env[variable]
    # WHEN it starts
    done = subprocess.run(
        [sys.executable, "-m", "notes_api.worker"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    # THEN it exits 2 with one line naming the variable
    assert done.returncode == 2, done
    assert done.stderr.startswith(f"notes-worker: configuration error: {variable} is required"), done.stderr


def test_in_production_without_redis_or_a_signing_key_it_exports_logs_json_and_stops_cleanly(
    moto_server: MotoServer,
    mongo_server: SecantusServer,
    export_resources: ExportResources,
    workers: list[WorkerProcess],
) -> None:
    # GIVEN production settings with no Redis and no JWT key, and a queue URL in AWS's own form
    # (boto3 still reaches moto: the endpoint comes from AWS_ENDPOINT_URL_SQS, not the URL)
    database = f"notes_worker_{uuid.uuid4().hex[:10]}"
    queue_name = export_resources.queue_url.rsplit("/", 1)[1]
    aws_queue_url = f"https://sqs.{MotoServer.REGION}.amazonaws.com/123456789012/{queue_name}"
    env = worker_environment(
        moto_server,
        mongo_server.uri,
        database,
        export_resources,
        NOTES_ENV="production",
        NOTES_EXPORT_QUEUE_URL=aws_queue_url,
    )
    assert not any(name.startswith(("NOTES_REDIS", "NOTES_JWT")) for name in env)
    settings = _settings(mongo_server, database, export_resources)
    seed_notes(mongo_server.uri, database, "owner-p", 30, random_body)
    record = run(new_export(settings, "owner-p"))
    enqueue(moto_server.client("sqs"), export_resources, record)

    # WHEN the worker runs
    worker = WorkerProcess(env)
    workers.append(worker)
    worker.wait_logged(f"export {record.id} done")

    # THEN the export is done, and its log line is JSON with the job's counts
    done = run(read_record(settings, record.id))
    assert done is not None and done.status == DONE and done.note_count == 30
    line = next(r for r in worker.records() if r["message"].startswith(f"export {record.id} done"))
    assert line["level"] == "INFO" and line["logger"] == "notes_api.worker"
    assert line["notes"] == 30 and line["bytes"] == done.size_bytes and line["seconds"] > 0
    assert line["export_id"] == record.id and line["receive_count"] == 1

    # WHEN it is sent SIGTERM while idle (in a long poll)
    started = time.monotonic()
    worker.signal(signal.SIGTERM)
    code = worker.wait(WAIT_SECONDS + 10)
    # THEN it waits out its poll at most, and exits 0 having logged the stop
    assert code == 0, worker.output()
    assert time.monotonic() - started < WAIT_SECONDS + 5
    assert worker.logged("worker stopped"), worker.output()


# --- SIGTERM during an export ---------------------------------------------------------------


def _start_large_export(
    moto_server: MotoServer,
    mongo_server: SecantusServer,
    database: str,
    resources: ExportResources,
    workers: list[WorkerProcess],
    grace: str,
) -> tuple[WorkerSettings, str, WorkerProcess]:
    """An export of the large owner queued and a worker in the middle of it: its multipart
    upload has begun. Returns (settings, export id, worker)."""
    settings = _settings(mongo_server, database, resources)
    record = run(new_export(settings, LARGE_OWNER))
    enqueue(moto_server.client("sqs"), resources, record)
    env = worker_environment(
        moto_server, mongo_server.uri, database, resources, NOTES_SHUTDOWN_GRACE_SECONDS=grace
    )
    worker = WorkerProcess(env)
    workers.append(worker)
    s3 = moto_server.client("s3")
    wait_until(lambda: open_uploads(s3, resources.bucket), 60, "the export's multipart upload to begin")
    return settings, record.id, worker


def _check_exported_once(
    moto_server: MotoServer, resources: ExportResources, settings: WorkerSettings, export_id: str
) -> None:
    s3, sqs = moto_server.client("s3"), moto_server.client("sqs")
    record = run(read_record(settings, export_id))
    assert record is not None and record.status == DONE, record
    key = object_key(settings.export_prefix, LARGE_OWNER, export_id)
    assert record.object_key == key and record.note_count == LARGE_EXPORT_NOTES
    assert object_keys(s3, resources.bucket) == [key]
    assert open_uploads(s3, resources.bucket) == []
    assert queue_depth(sqs, resources.queue_url) == 0
    document = read_export(s3, resources.bucket, key)
    assert document["note_count"] == len(document["notes"]) == LARGE_EXPORT_NOTES
    assert len({note["id"] for note in document["notes"]}) == LARGE_EXPORT_NOTES


def _second_worker_completes(
    moto_server: MotoServer,
    mongo_server: SecantusServer,
    database: str,
    resources: ExportResources,
    workers: list[WorkerProcess],
    export_id: str,
) -> WorkerProcess:
    env = worker_environment(moto_server, mongo_server.uri, database, resources)
    second = WorkerProcess(env)
    workers.append(second)
    # The returned message is visible at once: no wait for the queue's visibility timeout.
    second.wait_logged(f"export {export_id} done", timeout=60)
    return second


def test_sigterm_past_the_grace_returns_the_message_at_once_and_another_worker_completes_it(
    moto_server: MotoServer,
    mongo_server: SecantusServer,
    large_database: str,
    workers: list[WorkerProcess],
) -> None:
    # GIVEN a worker with no shutdown grace, in the middle of a large export
    resources = create_export_resources(moto_server, visibility_timeout=600)
    settings, export_id, first = _start_large_export(
        moto_server, mongo_server, large_database, resources, workers, grace="0"
    )

    # WHEN it is sent SIGTERM
    first.signal(signal.SIGTERM)
    code = first.wait(15)

    # THEN it stopped the export, aborted its upload, gave the message back and exited 0
    assert code == 0, first.output()
    assert first.logged("returned: the worker is stopping"), first.output()
    assert not first.logged(f"export {export_id} done"), first.output()
    s3 = moto_server.client("s3")
    assert open_uploads(s3, resources.bucket) == []
    assert object_keys(s3, resources.bucket) == []
    stopped = run(read_record(settings, export_id))
    assert stopped is not None and stopped.status == RUNNING

    # WHEN another worker polls (the queue's own visibility timeout is 600 s)
    second = _second_worker_completes(
        moto_server, mongo_server, large_database, resources, workers, export_id
    )

    # THEN it exports it, on the message's second receive, exactly once
    _check_exported_once(moto_server, resources, settings, export_id)
    done = next(r for r in second.records() if r["message"].startswith(f"export {export_id} done"))
    assert done["receive_count"] == 2


def test_sigterm_within_the_grace_lets_the_export_finish_then_exits_0(
    moto_server: MotoServer,
    mongo_server: SecantusServer,
    large_database: str,
    workers: list[WorkerProcess],
) -> None:
    # GIVEN a worker with a long grace, in the middle of a large export
    resources = create_export_resources(moto_server, visibility_timeout=600)
    settings, export_id, worker = _start_large_export(
        moto_server, mongo_server, large_database, resources, workers, grace="60"
    )

    # WHEN it is sent SIGTERM
    started = time.monotonic()
    worker.signal(signal.SIGTERM)
    code = worker.wait(60)

    # THEN it finished the export first, took no other message, and exited 0 without waiting
    # for another long poll
    assert code == 0, worker.output()
    assert worker.logged(f"export {export_id} done"), worker.output()
    assert time.monotonic() - started < 30
    _check_exported_once(moto_server, resources, settings, export_id)


def test_a_second_signal_stops_the_export_at_once_and_the_message_goes_back(
    moto_server: MotoServer,
    mongo_server: SecantusServer,
    large_database: str,
    workers: list[WorkerProcess],
) -> None:
    # GIVEN a worker with a long grace, in the middle of a large export, already told to stop
    resources = create_export_resources(moto_server, visibility_timeout=600)
    settings, export_id, first = _start_large_export(
        moto_server, mongo_server, large_database, resources, workers, grace="60"
    )
    first.signal(signal.SIGTERM)
    first.wait_logged("SIGTERM: taking no new message")

    # WHEN a second signal comes (Ctrl-C after `make dev` was asked to stop, or the platform)
    started = time.monotonic()
    first.signal(signal.SIGINT)
    code = first.wait(15)

    # THEN it exits 0 at once, its upload aborted and the message back in the queue
    assert code == 0, first.output()
    assert time.monotonic() - started < 5, first.output()
    assert first.logged("returned: the worker is stopping"), first.output()
    assert open_uploads(moto_server.client("s3"), resources.bucket) == []
    # AND another worker completes the export, once
    _second_worker_completes(moto_server, mongo_server, large_database, resources, workers, export_id)
    _check_exported_once(moto_server, resources, settings, export_id)
