"""Acknowledged writes are durable: the write concern every write carries, a server that fsyncs
its journal for each of them, and nothing acknowledged lost when the server is killed with
SIGKILL right after answering and restarted on the same storage.

What SecantusDB does with it (secantus/commands.py `_wants_journal`, secantus/storage.py
`_batch_transaction(sync=...)`): its storage is WiredTiger with the journal on and
``transaction_sync=(enabled=false)``. A write whose write concern has ``j: true`` commits with
``sync=on``: the journal is written and fdatasync'ed before the reply (one fdatasync per write,
seen with strace). Without ``j`` the commit only puts the record in WiredTiger's in-memory log
buffer, flushed "by checkpoints, when log files switch or calls to commit_transaction with
sync=on" (WiredTiger, "Commit-level durability", source.wiredtiger.com tune_durability.html);
SecantusDB's own comment that such a record is in the OS page cache and survives SIGKILL does
not hold: with ``j: false`` the kill test below lost 4, 13 and 5 of 40 acknowledged writes in
three runs. So the kill test fails with ``j: false`` and with ``w: 0``; it cannot tell an
fdatasync from a write to the page cache (a SIGKILL keeps the page cache; only a power loss
would not), which is what the strace test checks: each acknowledged write was synced first.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from fastapi.testclient import TestClient
from pymongo import MongoClient

from devtools.localservices import SecantusServer
from notes_api.core.config import ConfigError, Settings
from notes_api.core.db import Database
from tests.app.conftest import new_note, signup

NOTES = "/api/v1/notes"


def test_every_write_carries_a_journaled_majority_write_concern(
    make_settings: Callable[..., Settings],
) -> None:
    # GIVEN the default settings, and a URI that asks for unacknowledged, unjournaled writes
    settings = make_settings()
    uri = settings.secret("mongodb_uri")
    overridden = make_settings(mongodb_uri=f"{uri}&w=0&journal=false")
    for given in (settings, overridden):
        # WHEN the database client is built
        db = Database(given)
        # THEN every collection the services write to acknowledges journaled majority writes
        for collection in (db.users, db.notes, db.sessions):
            assert collection.write_concern.document == {"w": "majority", "j": True}, collection.full_name
    # AND a member count is taken as a number
    assert Database(make_settings(mongodb_write_concern_w="2")).notes.write_concern.document == {
        "w": 2,
        "j": True,
    }


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            {"mongodb_write_concern_w": "0"},
            'NOTES_MONGODB_WRITE_CONCERN_W: Value error, write concern w must be "majority"',
        ),
        ({"mongodb_write_concern_w": "51"}, "a member count from 1 to 50, not '51'"),
        ({"mongodb_write_concern_w": "most"}, "not 'most'"),
        (
            {"mongodb_write_concern_j": "maybe"},
            "NOTES_MONGODB_WRITE_CONCERN_J: Input should be a valid boolean",
        ),
    ],
)
def test_a_write_concern_that_cannot_be_honoured_is_refused(
    make_settings: Callable[..., Settings], override: dict[str, str], message: str
) -> None:
    # GIVEN a write concern setting that is unacknowledged or meaningless
    # WHEN the settings are loaded THEN the service refuses to start, naming the variable
    with pytest.raises(ConfigError) as refused:
        make_settings(**override)
    assert message in str(refused.value)


@pytest.fixture
def durable_mongo() -> Iterator[SecantusServer]:
    with SecantusServer(durable=True) as server:
        yield server


def test_no_acknowledged_write_is_lost_when_the_database_is_killed(
    make_client: Callable[..., TestClient], durable_mongo: SecantusServer
) -> None:
    # GIVEN the API on a database server that keeps its data in files
    database = f"durable_{uuid.uuid4().hex[:8]}"
    client = make_client(mongodb_uri=durable_mongo.uri, mongodb_database=database)
    user = signup(client)
    h = user["headers"]
    # WHEN notes are created, updated and deleted, each answered 2xx
    expected: dict[str, dict[str, Any] | None] = {}
    for number in range(40):
        note = new_note(client, h, title=f"note {number}")
        expected[note["id"]] = {"title": note["title"], "version": note["version"]}
    ids = list(expected)
    for note_id in ids[:15]:
        response = client.patch(
            f"{NOTES}/{note_id}", json={"title": f"{note_id} v2"}, headers={**h, "If-Match": '"1"'}
        )
        assert response.status_code == 200, response.text
        expected[note_id] = {"title": f"{note_id} v2", "version": response.json()["version"]}
    for note_id in ids[15:25]:
        assert client.delete(f"{NOTES}/{note_id}", headers=h).status_code == 204
        expected[note_id] = None
    # AND the server is killed right after the last answer, then started on the same storage
    durable_mongo.kill()
    durable_mongo.start()
    # THEN every acknowledged write is there, read straight from the database
    with MongoClient(durable_mongo.uri, serverSelectionTimeoutMS=5000) as direct:
        notes = direct[database]["notes"]
        lost = []
        for note_id, acknowledged in expected.items():
            stored = notes.find_one({"_id": ObjectId(note_id)}, {"title": 1, "version": 1, "_id": 0})
            if stored != acknowledged:
                lost.append((note_id, acknowledged, stored))
        assert lost == [], f"{len(lost)} of {len(expected)} acknowledged writes lost: {lost[:3]}"
        # AND so is the account and its session, written before the notes
        assert direct[database]["users"].count_documents({"email": user["email"]}) == 1
        assert direct[database]["refresh_tokens"].count_documents({}) >= 1


class TracedSecantus(SecantusServer):
    """SecantusDB under strace, which records every fsync/fdatasync with the file's path."""

    def __init__(self) -> None:
        super().__init__(durable=True)
        self.trace = self.workdir / "syncs.trace"

    def command(self) -> list[str]:
        strace = shutil.which("strace")
        assert strace is not None
        return [strace, "-f", "-y", "-e", "trace=fsync,fdatasync", "-o", str(self.trace), *super().command()]

    def journal_syncs(self) -> int:
        if not self.trace.exists():
            return 0
        return sum("WiredTigerLog" in line for line in self.trace.read_text(errors="replace").splitlines())


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace (apt-get install strace)")
def test_each_acknowledged_write_was_synced_to_the_journal_first(
    make_client: Callable[..., TestClient],
) -> None:
    # GIVEN the API on a database server whose fsync calls are traced
    with TracedSecantus() as server:
        client = make_client(mongodb_uri=server.uri)
        user = signup(client)
        before = server.journal_syncs()
        # WHEN notes are created, updated and deleted (the cache is written only after the database)
        created = [new_note(client, user["headers"], title=f"n{n}") for n in range(10)]
        for note in created[:5]:
            response = client.patch(
                f"{NOTES}/{note['id']}", json={"title": "v2"}, headers={**user["headers"], "If-Match": '"1"'}
            )
            assert response.status_code == 200, response.text
        for note in created[5:8]:
            assert client.delete(f"{NOTES}/{note['id']}", headers=user["headers"]).status_code == 204
        acknowledged = 10 + 5 + 3
        synced = server.journal_syncs() - before
        # THEN the journal was synced at least once per acknowledged write (none without j: true)
        assert synced >= acknowledged, f"{synced} journal syncs for {acknowledged} acknowledged writes"
        assert Path(server.storage_path, "WiredTigerLog.0000000001").exists()
