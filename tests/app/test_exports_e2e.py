"""Note exports end to end: the API (real Redis and MongoDB-wire server) takes the request, SQS
(moto's server) carries the message, the real worker process writes the export to S3 (moto),
the status says done, and the presigned URL downloads a document with every note in it. And
the same road when the export cannot be written: retries, failed with a reason, the DLQ."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from devtools.localservices import ExportResources, MotoServer, SecantusServer
from devtools.worker_process import WorkerProcess, wait_until
from notes_api.core.config import Settings
from notes_api.exports.records import message_body
from notes_api.worker.export import FORMAT
from tests.app.conftest import new_note, signup
from tests.app.worker_support import drain, queue_depth, seed_notes, text_body, worker_environment

EXPORTS = "/api/v1/exports"
NOTES = "/api/v1/notes"
SEEDED = 1500


@pytest.fixture
def workers() -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.stop()


def _status_until(client: TestClient, url: str, headers: dict[str, str], final: str) -> list[dict[str, Any]]:
    """GET the status document until it says ``final``; every document seen, in order."""
    seen: list[dict[str, Any]] = []

    def reached() -> bool:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        seen.append(response.json())
        return bool(seen[-1]["status"] == final)

    wait_until(reached, 60, f"{url} to be {final}", interval=0.1)
    return seen


def test_request_queue_worker_s3_status_download_with_every_note(
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    export_settings: dict[str, Any],
    export_resources: ExportResources,
    moto_server: MotoServer,
    mongo_server: SecantusServer,
    workers: list[WorkerProcess],
) -> None:
    # GIVEN a user with notes made through the API (tags, flags, an edit) and many more stored
    client = make_client(**export_settings)
    database = make_settings().mongodb_database
    user = signup(client)
    owner = client.get("/api/v1/me", headers=user["headers"]).json()["id"]
    made = [
        new_note(client, user["headers"], title=f"api note {i}", tags=[f"t{i % 3}"], pinned=i % 4 == 0)
        for i in range(12)
    ]
    edit = client.patch(
        f"{NOTES}/{made[0]['id']}", json={"archived": True}, headers={**user["headers"], "If-Match": '"1"'}
    )
    assert edit.status_code == 200, edit.text
    seeded = seed_notes(mongo_server.uri, database, owner, SEEDED, text_body)
    # AND another user's note, which is not theirs to export
    other = signup(client)
    foreign = new_note(client, other["headers"], title="someone else's")
    # AND the worker running, as `python -m notes_api.worker` runs in its task
    workers.append(
        WorkerProcess(worker_environment(moto_server, mongo_server.uri, database, export_resources))
    )

    # WHEN the user asks for an export
    accepted = client.post(EXPORTS, headers=user["headers"])

    # THEN it is accepted and queued, with a status URL
    assert accepted.status_code == 202, accepted.text
    export = accepted.json()
    assert export["status"] == "queued" and accepted.headers["Location"] == export["status_url"]
    # AND the status goes to done, with the facts of the export and a download URL
    seen = _status_until(client, export["status_url"], user["headers"], "done")
    assert {document["status"] for document in seen} <= {"queued", "running", "done"}
    done = seen[-1]
    assert done["note_count"] == SEEDED + len(made) and done["error"] is None
    assert done["download_url"] and done["download_expires_at"]
    # AND the message is gone from the queue
    assert queue_depth(moto_server.client("sqs"), export_resources.queue_url) == 0

    # WHEN the user downloads it
    download = httpx.get(done["download_url"], timeout=30)

    # THEN it is the gzip JSON document the status announced
    assert download.status_code == 200, download.text
    assert download.headers["content-type"] == "application/gzip"
    assert len(download.content) == done["size_bytes"]
    document = json.loads(gzip.decompress(download.content))
    assert document["format"] == FORMAT and document["owner_id"] == owner
    assert document["note_count"] == len(document["notes"]) == SEEDED + len(made)
    # AND every note of the user is in it once, in _id order, and nobody else's
    exported = {note["id"]: note for note in document["notes"]}
    assert len(exported) == len(document["notes"])
    assert set(exported) == {note["id"] for note in made} | set(seeded)
    assert [note["id"] for note in document["notes"]] == sorted(exported)
    assert foreign["id"] not in exported
    # AND the notes made through the API are exactly what the API answers for them
    for note in made:
        assert exported[note["id"]] == client.get(f"{NOTES}/{note['id']}", headers=user["headers"]).json()
    assert exported[made[0]["id"]]["archived"] is True and exported[made[0]["id"]]["version"] == 2


def test_an_export_that_cannot_be_written_is_retried_then_failed_with_a_reason_and_dead_lettered(
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    export_settings: dict[str, Any],
    export_resources: ExportResources,
    moto_server: MotoServer,
    mongo_server: SecantusServer,
    workers: list[WorkerProcess],
) -> None:
    # GIVEN a worker pointed at a bucket that does not exist (retries without delay)
    client = make_client(**export_settings)
    database = make_settings().mongodb_database
    user = signup(client)
    owner = client.get("/api/v1/me", headers=user["headers"]).json()["id"]
    new_note(client, user["headers"], title="one note")
    env = worker_environment(
        moto_server, mongo_server.uri, database, export_resources, NOTES_EXPORT_BUCKET="no-such-export-bucket"
    )
    worker = WorkerProcess(env)
    workers.append(worker)

    # WHEN the user asks for an export
    accepted = client.post(EXPORTS, headers=user["headers"])
    assert accepted.status_code == 202, accepted.text
    export = accepted.json()

    # THEN after NOTES_EXPORT_MAX_RECEIVES failed receives the status is failed, with a reason
    failed = _status_until(client, export["status_url"], user["headers"], "failed")[-1]
    assert failed["error"] == "storage error: NoSuchBucket on PutObject"
    assert failed["download_url"] is None and failed["note_count"] is None
    records = worker.records()
    retries = [r for r in records if r["message"].startswith(f"export {export['id']} failed on receive")]
    assert [r["receive_count"] for r in retries] == list(range(1, export_resources.max_receives))
    assert worker.logged(
        f"export {export['id']} failed on its last receive ({export_resources.max_receives})"
    )
    # AND the queue's redrive policy has moved the message to the dead-letter queue
    sqs = moto_server.client("sqs")
    dead = wait_until(lambda: drain(sqs, export_resources.dlq_url), 30, "the message in the DLQ")
    assert [message["Body"] for message in dead] == [message_body(export["id"], owner)]
    assert queue_depth(sqs, export_resources.queue_url) == 0
    # AND the worker is still running
    assert worker.proc.poll() is None
