"""POST /api/v1/exports and GET /api/v1/exports/{id} against real Redis, SecantusDB and a moto
server speaking SQS and S3: the message on the queue, the Idempotency-Key, isolation, the
in-flight and rate limits, the 503s of an unreachable queue, an unconfigured service and a
dead database, and the status document of every status with a download that works."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import httpx
import pymongo
import pytest
from fastapi.testclient import TestClient

from devtools.localservices import ExportResources, MotoServer, SecantusServer, free_port
from notes_api.core.config import Settings
from notes_api.core.db import Database
from notes_api.exports.records import ExportRecords
from tests.app.conftest import metric, signup

EXPORTS = "/api/v1/exports"
HEX24 = "0123456789abcdef01234567"


def drain(moto_server: MotoServer, queue_url: str) -> list[dict[str, Any]]:
    """Every message now on the queue (received, so invisible for the queue's timeout after)."""
    sqs = moto_server.client("sqs")
    bodies: list[dict[str, Any]] = []
    while True:
        received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = received.get("Messages", [])
        if not messages:
            return bodies
        bodies.extend(json.loads(m["Body"]) for m in messages)


def stored_exports(mongo_server: SecantusServer, settings: Settings, **query: Any) -> list[dict[str, Any]]:
    mongo: pymongo.MongoClient[dict[str, Any]]
    with pymongo.MongoClient(mongo_server.uri, directConnection=True) as mongo:
        return list(mongo[settings.mongodb_database]["exports"].find(query))


@pytest.fixture
def worker_records(
    make_settings: Callable[..., Settings], export_settings: dict[str, Any]
) -> Iterator[Callable[[str, Any], Any]]:
    """Calls ExportRecords as the worker does (its own client and loop) on the test's database."""
    loop = asyncio.new_event_loop()
    settings = make_settings(**export_settings)
    db = Database(settings)
    records = ExportRecords(db, settings)

    def call(method: str, *args: Any) -> Any:
        return loop.run_until_complete(getattr(records, method)(*args))

    yield call
    loop.run_until_complete(db.close())
    loop.close()


# --- the request ------------------------------------------------------------------------------


def test_a_request_is_accepted_and_its_message_is_on_the_queue(
    exports_client: TestClient, export_resources: ExportResources, moto_server: MotoServer
) -> None:
    # GIVEN a signed-in user
    user = signup(exports_client)
    # WHEN they ask for an export
    response = exports_client.post(EXPORTS, headers=user["headers"])
    # THEN 202 with the id, the status and where to look, also in Location
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "queued" and len(body["id"]) == 24
    assert body["status_url"] == f"{EXPORTS}/{body['id']}" == response.headers["Location"]
    # AND the export rate limit is reported
    assert response.headers["RateLimit-Limit"] == "10" and response.headers["RateLimit-Remaining"] == "9"
    # AND exactly one message is on the queue, in the contract's shape
    me = exports_client.get("/api/v1/me", headers=user["headers"]).json()
    assert drain(moto_server, export_resources.queue_url) == [
        {"v": 1, "export_id": body["id"], "owner_id": me["id"]}
    ]
    # AND the status document says queued, with nothing to download yet
    status = exports_client.get(body["status_url"], headers=user["headers"])
    assert status.status_code == 200, status.text
    document = status.json()
    assert document["status"] == "queued" and document["id"] == body["id"]
    assert document["download_url"] is None and document["download_expires_at"] is None
    created = datetime.fromisoformat(document["created_at"])
    assert datetime.fromisoformat(document["expires_at"]) - created == timedelta(days=7)


def test_the_same_idempotency_key_answers_with_the_same_export_and_sends_one_message(
    exports_client: TestClient, export_resources: ExportResources, moto_server: MotoServer
) -> None:
    user = signup(exports_client)
    key = {"Idempotency-Key": '"8e03978e-40d5-43e8-bc93-6894a57f9324"'}
    # WHEN the same request is sent three times with one key, in the draft's quoted form and bare
    first = exports_client.post(EXPORTS, headers={**user["headers"], **key})
    again = exports_client.post(EXPORTS, headers={**user["headers"], **key})
    bare = exports_client.post(
        EXPORTS, headers={**user["headers"], "Idempotency-Key": "8e03978e-40d5-43e8-bc93-6894a57f9324"}
    )
    # THEN all three are 202 with one export, and one message went to the queue
    assert [r.status_code for r in (first, again, bare)] == [202, 202, 202]
    assert first.json() == again.json() == bare.json()
    assert len(drain(moto_server, export_resources.queue_url)) == 1
    # AND another key makes another export
    other = exports_client.post(EXPORTS, headers={**user["headers"], "Idempotency-Key": "other"})
    assert other.status_code == 202 and other.json()["id"] != first.json()["id"]


def test_two_users_with_the_same_key_get_two_exports(
    exports_client: TestClient, export_resources: ExportResources, moto_server: MotoServer
) -> None:
    alice, bob = signup(exports_client), signup(exports_client)
    key = {"Idempotency-Key": "shared-key"}
    a = exports_client.post(EXPORTS, headers={**alice["headers"], **key})
    b = exports_client.post(EXPORTS, headers={**bob["headers"], **key})
    assert a.status_code == b.status_code == 202
    assert a.json()["id"] != b.json()["id"]
    owners = {m["owner_id"] for m in drain(moto_server, export_resources.queue_url)}
    assert len(owners) == 2


@pytest.mark.parametrize(
    ("value", "status"),
    [
        ("", {422}),  # FastAPI's min_length
        ("k" * 258, {422}),  # FastAPI's max_length (the key plus room for quotes)
        ('"' + "k" * 256 + '"', {422}),
        ("k" * 256, {400}),  # fits the header bound, not the key's
        ('""', {400}),  # an empty Structured Field string
        # Blank: 400 as sent here; a real server's parser strips it to empty first (422).
        ("  ", {400, 422}),
    ],
)
def test_a_bad_idempotency_key_is_refused_naming_the_header(
    exports_client: TestClient,
    export_resources: ExportResources,
    moto_server: MotoServer,
    value: str,
    status: set[int],
) -> None:
    user = signup(exports_client)
    response = exports_client.post(EXPORTS, headers={**user["headers"], "Idempotency-Key": value})
    assert response.status_code in status, response.text
    assert "Idempotency-Key" in response.text
    # AND nothing was queued
    assert drain(moto_server, export_resources.queue_url) == []


def test_a_key_of_255_characters_is_accepted(exports_client: TestClient) -> None:
    user = signup(exports_client)
    response = exports_client.post(EXPORTS, headers={**user["headers"], "Idempotency-Key": "k" * 255})
    assert response.status_code == 202, response.text


def test_a_replay_while_the_first_request_is_unsent_is_a_conflict_then_a_resend(
    exports_client: TestClient,
    export_resources: ExportResources,
    moto_server: MotoServer,
    mongo_server: SecantusServer,
    make_settings: Callable[..., Settings],
    export_settings: dict[str, Any],
) -> None:
    # GIVEN an export whose request died between its record and its message
    user = signup(exports_client)
    made = exports_client.post(EXPORTS, headers={**user["headers"], "Idempotency-Key": "k1"}).json()
    drain(moto_server, export_resources.queue_url)
    settings = make_settings(**export_settings)
    mongo: pymongo.MongoClient[dict[str, Any]]
    with pymongo.MongoClient(mongo_server.uri, directConnection=True) as mongo:
        exports: Any = mongo[settings.mongodb_database]["exports"]
        exports.update_one({"idem": "key:k1"}, {"$set": {"enqueued_at": None}})
        # WHEN the key is replayed at once, THEN 409 with Retry-After (the draft's outstanding request)
        conflict = exports_client.post(EXPORTS, headers={**user["headers"], "Idempotency-Key": "k1"})
        assert conflict.status_code == 409, conflict.text
        assert conflict.json()["code"] == "idempotency_key_in_use" and conflict.headers["Retry-After"] == "1"
        assert drain(moto_server, export_resources.queue_url) == []
        # WHEN it is replayed after the grace period, THEN the same export is sent again
        old = datetime.now().astimezone() - timedelta(minutes=5)
        exports.update_one({"idem": "key:k1"}, {"$set": {"created_at": old}})
        resent = exports_client.post(EXPORTS, headers={**user["headers"], "Idempotency-Key": "k1"})
        assert resent.status_code == 202 and resent.json()["id"] == made["id"]
        assert [m["export_id"] for m in drain(moto_server, export_resources.queue_url)] == [made["id"]]
        resent_record = exports.find_one({"idem": "key:k1"})
        assert resent_record is not None and resent_record["enqueued_at"] is not None


# --- isolation ----------------------------------------------------------------------------------


def test_another_users_export_and_malformed_ids_answer_404(exports_client: TestClient) -> None:
    alice, bob = signup(exports_client), signup(exports_client)
    export = exports_client.post(EXPORTS, headers=alice["headers"]).json()
    # THEN Bob cannot see Alice's export, and it looks exactly like a missing one
    theirs = exports_client.get(export["status_url"], headers=bob["headers"])
    missing = exports_client.get(f"{EXPORTS}/{HEX24}", headers=bob["headers"])
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["code"] == missing.json()["code"] == "not_found"
    # AND malformed ids are 404 too, never 422 or 500
    for bad in ("nope", HEX24.upper(), HEX24 + "0", "%00", "x" * 500):
        response = exports_client.get(f"{EXPORTS}/{bad}", headers=alice["headers"])
        assert response.status_code == 404, (bad, response.text)
    # AND without a token there is nothing at all
    assert exports_client.get(export["status_url"]).status_code == 401
    assert exports_client.post(EXPORTS).status_code == 401


# --- limits -------------------------------------------------------------------------------------


def test_the_in_flight_limit_holds_under_concurrent_requests(
    make_client: Callable[..., TestClient],
    export_settings: dict[str, Any],
    export_resources: ExportResources,
    moto_server: MotoServer,
) -> None:
    # GIVEN at most 2 exports in flight per user
    client = make_client(**export_settings, export_max_in_flight=2)
    user, other = signup(client), signup(client)
    # WHEN the user sends 10 requests at once
    with ThreadPoolExecutor(10) as pool:
        responses = list(pool.map(lambda _: client.post(EXPORTS, headers=user["headers"]), range(10)))
    # THEN 2 are accepted and 8 refused with 429 too_many_exports and Retry-After
    codes = sorted(r.status_code for r in responses)
    assert codes == [202] * 2 + [429] * 8, [r.text for r in responses]
    refused = [r for r in responses if r.status_code == 429]
    assert {r.json()["code"] for r in refused} == {"too_many_exports"}
    assert all(int(r.headers["Retry-After"]) > 0 for r in refused)
    # AND only the 2 accepted reached the queue
    assert len(drain(moto_server, export_resources.queue_url)) == 2
    # AND another user is not held back by it
    assert client.post(EXPORTS, headers=other["headers"]).status_code == 202


def test_a_finished_export_makes_room_for_the_next(
    make_client: Callable[..., TestClient], export_settings: dict[str, Any], worker_records: Any
) -> None:
    client = make_client(**export_settings, export_max_in_flight=1)
    user = signup(client)
    first = client.post(EXPORTS, headers=user["headers"]).json()
    assert client.post(EXPORTS, headers=user["headers"]).status_code == 429
    worker_records("finish", first["id"], "exports/x/y.json.gz", 10, 0)
    assert client.post(EXPORTS, headers=user["headers"]).status_code == 202


def test_the_export_rate_limit(
    make_client: Callable[..., TestClient], export_settings: dict[str, Any]
) -> None:
    # GIVEN 2 export requests an hour per user, and room for more in flight
    client = make_client(**export_settings, rate_limit_exports="2/hour", export_max_in_flight=10)
    user, other = signup(client), signup(client)
    # WHEN a user asks three times
    responses = [client.post(EXPORTS, headers=user["headers"]) for _ in range(3)]
    # THEN the third is refused with rate_limited, Retry-After and the RateLimit fields
    assert [r.status_code for r in responses] == [202, 202, 429]
    limited = responses[2]
    assert limited.json()["code"] == "rate_limited" and "exports" in limited.json()["detail"]
    assert int(limited.headers["Retry-After"]) > 0
    assert limited.headers["RateLimit-Limit"] == "2" and limited.headers["RateLimit-Remaining"] == "0"
    # AND reading a status is not counted against it, and the limit is per user
    assert client.get(responses[0].json()["status_url"], headers=user["headers"]).status_code == 200
    assert client.post(EXPORTS, headers=other["headers"]).status_code == 202
    assert metric(client, "notes_rate_limited_total", scope="exports") >= 1


# --- failures -----------------------------------------------------------------------------------


def test_an_unreachable_queue_answers_503_and_leaves_no_record(
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    export_settings: dict[str, Any],
    mongo_server: SecantusServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN SQS's endpoint is a port nothing listens on
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", f"http://127.0.0.1:{free_port()}")
    client = make_client(**export_settings, export_max_in_flight=1)
    user = signup(client)
    # WHEN the user asks for an export, twice
    responses = [client.post(EXPORTS, headers=user["headers"]) for _ in range(2)]
    # THEN both answer 503 aws_unavailable with Retry-After (the second is not 429: no slot was kept)
    for response in responses:
        assert response.status_code == 503, response.text
        assert response.json()["code"] == "aws_unavailable"
        assert response.headers["Retry-After"].isdigit()
        assert "botocore" not in response.text and "Traceback" not in response.text
    # AND no record was left behind
    assert stored_exports(mongo_server, make_settings(**export_settings)) == []
    assert metric(client, "notes_dependency_errors_total", dependency="sqs") >= 2


def test_a_missing_queue_answers_503_and_leaves_no_record(
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    export_settings: dict[str, Any],
    export_resources: ExportResources,
    mongo_server: SecantusServer,
) -> None:
    # GIVEN a queue URL on the right server that names no queue (SQS answers an error: ClientError)
    gone = export_resources.queue_url + "-gone"
    client = make_client(**{**export_settings, "export_queue_url": gone})
    user = signup(client)
    response = client.post(EXPORTS, headers=user["headers"])
    assert response.status_code == 503 and response.json()["code"] == "aws_unavailable", response.text
    assert stored_exports(mongo_server, make_settings(**export_settings)) == []


def test_exports_unconfigured_answer_503_exports_unavailable(client: TestClient) -> None:
    # GIVEN a service without NOTES_EXPORT_QUEUE_URL / NOTES_EXPORT_BUCKET: it started
    user = signup(client)
    # THEN both routes answer 503 exports_unavailable naming the variables
    for response in (
        client.post(EXPORTS, headers=user["headers"]),
        client.get(f"{EXPORTS}/{HEX24}", headers=user["headers"]),
    ):
        assert response.status_code == 503, response.text
        assert response.json()["code"] == "exports_unavailable"
        assert "NOTES_EXPORT_QUEUE_URL" in response.json()["detail"]
    # AND the rest of the API works
    assert client.get("/api/v1/me", headers=user["headers"]).status_code == 200


def test_the_database_down_answers_503_and_sends_nothing(
    make_client: Callable[..., TestClient],
    export_settings: dict[str, Any],
    export_resources: ExportResources,
    moto_server: MotoServer,
) -> None:
    with SecantusServer() as own_mongo:
        client = make_client(
            **export_settings, mongodb_uri=own_mongo.uri, mongodb_server_selection_timeout_ms=300
        )
        user = signup(client)
        made = client.post(EXPORTS, headers=user["headers"]).json()
        drain(moto_server, export_resources.queue_url)
        # WHEN the database goes away
        own_mongo.stop()
        # THEN requesting and reading answer 503 database_unavailable, and nothing reaches the queue
        for response in (
            client.post(EXPORTS, headers=user["headers"]),
            client.get(made["status_url"], headers=user["headers"]),
        ):
            assert response.status_code == 503, response.text
            assert response.json()["code"] == "database_unavailable"
        assert drain(moto_server, export_resources.queue_url) == []


# --- the status document ------------------------------------------------------------------------


def test_the_status_document_of_each_status_and_a_download_that_works(
    make_client: Callable[..., TestClient],
    export_settings: dict[str, Any],
    export_resources: ExportResources,
    moto_server: MotoServer,
    worker_records: Any,
) -> None:
    client = make_client(**export_settings, export_url_ttl_seconds=120, export_max_in_flight=5)
    user = signup(client)
    me = client.get("/api/v1/me", headers=user["headers"]).json()

    def status(export_id: str) -> dict[str, Any]:
        response = client.get(f"{EXPORTS}/{export_id}", headers=user["headers"])
        assert response.status_code == 200, response.text
        document: dict[str, Any] = response.json()
        assert set(document) == {
            "id", "status", "created_at", "updated_at", "expires_at", "note_count",
            "size_bytes", "error", "download_url", "download_expires_at",
        }  # fmt: skip
        return document

    running, failed, done = (client.post(EXPORTS, headers=user["headers"]).json()["id"] for _ in range(3))
    # running: claimed by a worker
    worker_records("claim", running, 1)
    document = status(running)
    assert document["status"] == "running" and document["download_url"] is None
    assert datetime.fromisoformat(document["updated_at"]) >= datetime.fromisoformat(document["created_at"])
    # failed: the reason, and nothing to download
    worker_records("claim", failed, 5)
    worker_records("fail", failed, "the export failed 5 times: boom")
    document = status(failed)
    assert (document["status"], document["error"], document["download_url"]) == (
        "failed",
        "the export failed 5 times: boom",
        None,
    )
    # done: the worker's object, its facts, and a short-lived URL that downloads it
    key = f"exports/{me['id']}/{done}.json.gz"
    payload = {"notes": [{"title": "one"}]}
    data = gzip.compress(json.dumps(payload).encode())
    moto_server.client("s3").put_object(
        Bucket=export_resources.bucket, Key=key, Body=data, ContentType="application/gzip"
    )
    worker_records("claim", done, 1)
    worker_records("finish", done, key, len(data), 1)
    before = datetime.now().astimezone()
    document = status(done)
    assert (document["status"], document["note_count"], document["size_bytes"], document["error"]) == (
        "done",
        1,
        len(data),
        None,
    )
    expires = datetime.fromisoformat(document["download_expires_at"])
    assert before + timedelta(seconds=110) <= expires <= before + timedelta(seconds=125)
    url = document["download_url"]
    assert url.startswith(moto_server.url) and "X-Amz-Expires=120" in url and "X-Amz-Signature=" in url
    download = httpx.get(url)
    assert download.status_code == 200
    assert download.headers["content-disposition"] == f'attachment; filename="notes-export-{done}.json.gz"'
    assert download.headers["content-type"] == "application/gzip"
    assert json.loads(gzip.decompress(download.content)) == payload


def test_the_records_expire_through_a_ttl_index(
    exports_client: TestClient,
    make_settings: Callable[..., Settings],
    export_settings: dict[str, Any],
    mongo_server: SecantusServer,
) -> None:
    user = signup(exports_client)
    assert exports_client.post(EXPORTS, headers=user["headers"]).status_code == 202
    settings = make_settings(**export_settings)
    mongo: pymongo.MongoClient[dict[str, Any]]
    with pymongo.MongoClient(mongo_server.uri, directConnection=True) as mongo:
        indexes = mongo[settings.mongodb_database]["exports"].index_information()
    assert indexes["expires_ttl"]["key"] == [("expires_at", 1)]
    assert indexes["expires_ttl"]["expireAfterSeconds"] == 0
    (record,) = stored_exports(mongo_server, settings)
    assert record["expires_at"] - record["created_at"] == timedelta(days=settings.export_retention_days)


def test_the_openapi_document_lists_the_export_routes(exports_client: TestClient) -> None:
    document = exports_client.get("/openapi.json").json()
    post = document["paths"][EXPORTS]["post"]
    assert set(post["responses"]) >= {"202", "400", "401", "409", "422", "429", "503"}
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in post["parameters"])
    get = document["paths"][EXPORTS + "/{export_id}"]["get"]
    assert set(get["responses"]) >= {"200", "401", "404", "503"}
