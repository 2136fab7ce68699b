"""Export records against a real MongoDB-wire server (SecantusDB): the in-flight limit and the
idempotency key under concurrent requests, the worker's transitions, the TTL index, and the
message body and object key the API and the worker share."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine, Iterator
from datetime import timedelta
from typing import Any, TypeVar

import pytest

from notes_api.core.config import Settings
from notes_api.core.db import Database
from notes_api.exports.records import (
    ABANDONED,
    ExportRecord,
    ExportRecords,
    TooManyExports,
    message_body,
    object_key,
    parse_message,
)
from notes_api.services.accounts import utcnow

T = TypeVar("T")
OWNER = "6650f0c2a1b2c3d4e5f60718"
OTHER = "6650f0c2a1b2c3d4e5f60719"


@pytest.fixture
def run() -> Iterator[Callable[[Coroutine[Any, Any, Any]], Any]]:
    # A loop of its own, never installed as the thread's (tests/conftest.py explains why).
    loop = asyncio.new_event_loop()

    def _run(coroutine: Coroutine[Any, Any, T]) -> T:
        return loop.run_until_complete(coroutine)

    yield _run
    loop.close()


@pytest.fixture
def open_records(
    make_settings: Callable[..., Settings], run: Callable[[Coroutine[Any, Any, Any]], Any]
) -> Iterator[Callable[..., ExportRecords]]:
    databases: list[Database] = []

    def factory(**overrides: Any) -> ExportRecords:
        settings = make_settings(**overrides)
        db = Database(settings)
        databases.append(db)
        return ExportRecords(db, settings)

    yield factory
    for db in databases:
        run(db.close())


def test_concurrent_requests_never_exceed_the_in_flight_limit(open_records, run) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a limit of 3 exports in flight per user
    records = open_records(export_max_in_flight=3)

    async def burst() -> list[Any]:
        return await asyncio.gather(*(records.create(OWNER, None) for _ in range(12)), return_exceptions=True)

    # WHEN 12 requests of one user race, and another user asks once
    outcomes = run(burst())
    other, created = run(records.create(OTHER, None))
    # THEN exactly 3 were created, the other 9 were refused with the limit named
    made = [o for o in outcomes if isinstance(o, tuple)]
    refused = [o for o in outcomes if isinstance(o, TooManyExports)]
    assert len(made) == 3 and len(refused) == 9, outcomes
    assert {r.limit for r in refused} == {3}
    assert all(created for _, created in made)
    # AND the stored records agree: 3 queued for the user, in 3 distinct slots
    docs = run(records.collection.find({"owner_id": OWNER}).to_list(None))
    assert len(docs) == 3 and sorted(d["slot"] for d in docs) == [0, 1, 2]
    # AND the other user's limit is their own
    assert created and other.status == "queued"


def test_a_finished_or_failed_or_discarded_export_frees_its_slot(open_records, run) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a user at the limit of 2
    records = open_records(export_max_in_flight=2)
    first, _ = run(records.create(OWNER, None))
    second, _ = run(records.create(OWNER, None))
    with pytest.raises(TooManyExports):
        run(records.create(OWNER, None))
    # WHEN one finishes, THEN one more fits
    run(records.finish(first.id, "exports/x/y.json.gz", 10, 1))
    third, _ = run(records.create(OWNER, None))
    with pytest.raises(TooManyExports):
        run(records.create(OWNER, None))
    # WHEN one fails, THEN one more fits
    run(records.fail(second.id, "boom"))
    fourth, _ = run(records.create(OWNER, None))
    # WHEN one is discarded, THEN one more fits and the discarded one is gone
    run(records.discard(third.id))
    run(records.create(OWNER, None))
    assert run(records.get_by_id(third.id)) is None
    assert run(records.get(OWNER, fourth.id)) is not None


def test_one_idempotency_key_makes_one_export_even_when_requests_race(open_records, run) -> None:  # type: ignore[no-untyped-def]
    records = open_records(export_max_in_flight=5)

    async def burst(owner: str) -> Any:
        return await asyncio.gather(*(records.create(owner, "key-1") for _ in range(8)))

    # WHEN 8 requests of one user race with the same key
    outcomes = run(burst(OWNER))
    # THEN one export was created and every request got it
    assert len({record.id for record, _ in outcomes}) == 1
    assert sorted(created for _, created in outcomes) == [False] * 7 + [True]
    assert run(records.collection.count_documents({"owner_id": OWNER})) == 1
    # AND another user with the same key gets an export of their own
    other, created = run(records.create(OTHER, "key-1"))
    assert created and other.id != outcomes[0][0].id
    # AND a user at the limit still gets the export a key already made (a replay is not a new one)
    for _ in range(4):
        run(records.create(OWNER, None))
    replay, created = run(records.create(OWNER, "key-1"))
    assert not created and replay.id == outcomes[0][0].id


def test_the_worker_transitions(open_records, run) -> None:  # type: ignore[no-untyped-def]
    records = open_records()
    record, _ = run(records.create(OWNER, None))
    # claim: queued -> running, the attempt recorded; again on a redelivery
    claimed = run(records.claim(record.id, 1))
    assert claimed is not None and claimed.status == "running" and claimed.attempts == 1
    assert run(records.claim(record.id, 2)).attempts == 2
    # finish: done with the object's facts; a done export is never claimed or failed again
    run(records.finish(record.id, "exports/o/e.json.gz", 1234, 7))
    done = run(records.get(OWNER, record.id))
    assert (done.status, done.object_key, done.size_bytes, done.note_count, done.error) == (
        "done",
        "exports/o/e.json.gz",
        1234,
        7,
        None,
    )
    assert run(records.claim(record.id, 3)) is None
    run(records.fail(record.id, "late failure"))
    assert run(records.get(OWNER, record.id)).status == "done"
    # fail: failed with the reason, never claimed again
    other, _ = run(records.create(OWNER, None))
    run(records.fail(other.id, "x" * 2000))
    failed = run(records.get_by_id(other.id))
    assert failed.status == "failed" and failed.error == "x" * 500
    assert run(records.claim(other.id, 1)) is None
    # missing or malformed ids are None everywhere, never an error
    for bad in ("0" * 24, "not-an-id", "", "ZZ" * 12):
        assert run(records.claim(bad, 1)) is None
        assert run(records.get_by_id(bad)) is None
        assert run(records.get(OWNER, bad)) is None
        run(records.finish(bad, "k", 1, 1))
        run(records.fail(bad, "r"))
        run(records.discard(bad))


def test_records_are_owner_scoped(open_records, run) -> None:  # type: ignore[no-untyped-def]
    records = open_records()
    record, _ = run(records.create(OWNER, None))
    assert run(records.get(OTHER, record.id)) is None
    assert run(records.get(OWNER, record.id)) == record


def test_a_stale_export_gives_its_slot_up_when_its_owner_needs_it(open_records, run) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a user at the limit, one of whose exports has not moved for longer than the bound
    records = open_records(export_max_in_flight=2)
    stuck, _ = run(records.create(OWNER, None))
    fresh, _ = run(records.create(OWNER, None))
    long_ago = utcnow() - records.stale_after - timedelta(seconds=5)
    run(records.collection.update_one({"_id": records_oid(stuck)}, {"$set": {"updated_at": long_ago}}))
    # WHEN the user asks for another export
    third, created = run(records.create(OWNER, None))
    # THEN the stale one is failed with the reason and the request gets its slot
    assert created and third.status == "queued"
    abandoned = run(records.get(OWNER, stuck.id))
    assert abandoned.status == "failed" and abandoned.error == ABANDONED
    # AND the fresh one was left alone
    assert run(records.get(OWNER, fresh.id)).status == "queued"


def records_oid(record: ExportRecord) -> Any:
    from bson import ObjectId  # noqa: PLC0415

    return ObjectId(record.id)


def test_records_expire_through_a_ttl_index_on_expires_at(open_records, run) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a retention of 3 days
    records = open_records(export_retention_days=3)
    record, _ = run(records.create(OWNER, None))
    # THEN the record expires 3 days after it was made
    assert record.expires_at - record.created_at == timedelta(days=3)
    # AND the collection has a TTL index on expires_at with expireAfterSeconds 0
    indexes = run(records.collection.index_information())
    ttl = [spec for spec in indexes.values() if spec.get("expireAfterSeconds") is not None]
    assert ttl == [{"v": 2, "key": [("expires_at", 1)], "expireAfterSeconds": 0}], indexes
    # AND the two unique indexes the limit and the idempotency key rest on
    unique = sorted(tuple(spec["key"]) for spec in indexes.values() if spec.get("unique"))
    assert unique == [(("owner_id", 1), ("idem", 1)), (("owner_id", 1), ("slot", 1))]


def test_message_body_round_trips_and_bad_bodies_name_the_problem() -> None:
    export_id = "6650f0c2a1b2c3d4e5f607aa"
    body = message_body(export_id, OWNER)
    assert json.loads(body) == {"v": 1, "export_id": export_id, "owner_id": OWNER}
    assert parse_message(body) == (export_id, OWNER)
    # a field a later API adds is ignored
    assert parse_message(json.dumps({"v": 1, "export_id": export_id, "owner_id": OWNER, "x": 1})) == (
        export_id,
        OWNER,
    )
    for bad, named in [
        ("not json", "not JSON"),
        ("[1]", "not a JSON object"),
        (json.dumps({"export_id": export_id, "owner_id": OWNER}), "'v'"),
        (json.dumps({"v": 2, "export_id": export_id, "owner_id": OWNER}), "'v'"),
        (json.dumps({"v": True, "export_id": export_id, "owner_id": OWNER}), "'v'"),
        (json.dumps({"v": 1, "owner_id": OWNER}), "'export_id'"),
        (json.dumps({"v": 1, "export_id": export_id.upper(), "owner_id": OWNER}), "'export_id'"),
        (json.dumps({"v": 1, "export_id": export_id}), "'owner_id'"),
        (json.dumps({"v": 1, "export_id": export_id, "owner_id": "../etc"}), "'owner_id'"),
    ]:
        with pytest.raises(ValueError, match=named):
            parse_message(bad)
    with pytest.raises(ValueError, match="export_id"):
        message_body("nope", OWNER)


def test_object_key_is_a_pure_function_of_the_ids() -> None:
    export_id = "6650f0c2a1b2c3d4e5f607aa"
    assert object_key("exports/", OWNER, export_id) == f"exports/{OWNER}/{export_id}.json.gz"
    assert object_key("exports/", OWNER, export_id) == object_key("exports/", OWNER, export_id)
    for owner, export, named in [
        ("a/b", export_id, "owner_id"),
        ("", export_id, "owner_id"),
        (OWNER, "../x", "export_id"),
    ]:
        with pytest.raises(ValueError, match=named):
            object_key("exports/", owner, export)
