"""MongoDB wire-protocol access, written for Amazon DocumentDB 5.0.

DocumentDB constraints honoured here: no retryable writes (``retryWrites=false``), TLS with
the Amazon CA bundle, no $lookup pipelines, transactions or change streams, and only index
kinds it supports (unique, compound, multikey, TTL).

Every write carries an explicit write concern (``NOTES_MONGODB_WRITE_CONCERN_W`` / ``_J``,
default ``{w: "majority", j: true}``), so an acknowledged write is on the journal (and on a
majority of a replica set) before the API answers 2xx.

A client that stops answering is replaced (``Database.supervise``): see ``HUNG_AFTER_SECONDS``.
A new connection URI (the app's secret rotated, core/refresh.py) replaces the client too
(``Database.use_uri``), the old one closed only after in-flight operations had time to finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Coroutine
from typing import Any

import pymongo
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError
from pymongo.read_preferences import SecondaryPreferred

from notes_api.core.config import Settings
from notes_api.core.metrics import DEPENDENCY_ERRORS

log = logging.getLogger("notes_api.db")

Doc = dict[str, Any]

# Why a client can wedge, and how long a worker stays wedged.
#
# On Python 3.11 (the image's interpreter), cancelling a task while pymongo waits on one of its
# asyncio conditions can leave the client's topology lock held by nobody: pymongo bounds those
# waits with asyncio.wait_for (pymongo/lock.py `_async_cond_wait`), whose 3.11 implementation
# runs the wait in a task of its own, and a second cancellation arriving while it unwinds
# returns before that task has re-acquired the lock (CPython gh-87555, gh-86296; 3.12 rewrote
# wait_for). Every later operation then waits for the lock without any deadline, server
# selection included (pymongo/asynchronous/topology.py `_select_servers_loop` runs under it),
# and the server monitor blocks in `on_change` on the same lock: the client never recovers,
# whatever serverSelectionTimeoutMS or the heartbeat say. Reproduced here: 30 tasks inserting
# under asyncio.wait_for timeouts while the database is killed and restarted wedged the client
# within four restarts, lock "locked, waiters:42", monitor parked in `on_change`; the same load
# bounded with pymongo.timeout (CSOT, no task cancelled) recovered in under 0.1 s every time.
#
# So (1) our own bounded calls use pymongo's deadline (pymongo.timeout) instead of cancelling,
# and (2) since other cancellations remain (a request cut off at shutdown, a caller's
# wait_for), a client whose deadline-bounded ping has not returned HUNG_AFTER_SECONDS after it
# started is taken as wedged: a healthy driver answers, success or error, by its deadline.
# It is replaced by a new client. A worker therefore recovers at most SUPERVISE_INTERVAL_SECONDS
# + HUNG_AFTER_SECONDS + one server selection after a wedge, database up or not, and a
# database that comes back is seen by a healthy client within a heartbeat wake-up (0.5 s,
# pymongo.common.MIN_HEARTBEAT_INTERVAL) of the next operation.
PING_TIMEOUT_SECONDS = 1.0
SUPERVISE_INTERVAL_SECONDS = 1.0
HUNG_AFTER_SECONDS = 3.0

USER_INDEXES = [IndexModel([("email", ASCENDING)], unique=True, name="email_unique")]
NOTE_INDEXES = [
    # Every list query is "this owner's notes, newest first" plus optional filters.
    IndexModel([("owner_id", ASCENDING), ("_id", DESCENDING)], name="owner_newest"),
    IndexModel([("owner_id", ASCENDING), ("tags", ASCENDING), ("_id", DESCENDING)], name="owner_tag_newest"),
    IndexModel(
        [("owner_id", ASCENDING), ("archived", ASCENDING), ("pinned", ASCENDING), ("_id", DESCENDING)],
        name="owner_flags_newest",
    ),
]
SESSION_INDEXES = [
    IndexModel([("family_id", ASCENDING)], name="family"),
    IndexModel([("user_id", ASCENDING)], name="user"),
    # Spent and expired refresh tokens disappear on their own.
    IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expires_ttl"),
]


def uri_from_secret(value: str) -> str:
    """The connection URI in a secret value: AWS's rotation JSON for MongoDB/DocumentDB gives its
    ``uri``; any other value is the URI itself."""
    if value.lstrip().startswith("{"):
        try:
            uri = json.loads(value)["uri"]
        except (ValueError, TypeError, KeyError):
            # Never the value in the message: it holds a password.
            raise ValueError("the MongoDB secret is JSON without a string 'uri'") from None
        if not isinstance(uri, str) or not uri:
            raise ValueError("the MongoDB secret is JSON without a string 'uri'")
        return uri
    return value


class Database:
    def __init__(self, settings: Settings) -> None:
        value = settings.secret("mongodb_uri")
        if not value:
            raise ValueError("NOTES_MONGODB_URI is not set")
        self._uri = uri_from_secret(value)
        # How long a retired client stays open after a URI change: an operation that started on
        # it is bounded by server selection plus one socket timeout (or has failed by then).
        self.retire_after_seconds = (
            settings.mongodb_server_selection_timeout_ms + settings.mongodb_socket_timeout_ms
        ) / 1000 + 5
        self._options: dict[str, Any] = {
            # DocumentDB does not support retryable writes; pymongo enables them by default.
            "retryWrites": False,
            "maxPoolSize": settings.mongodb_max_pool_size,
            "minPoolSize": settings.mongodb_min_pool_size,
            "serverSelectionTimeoutMS": settings.mongodb_server_selection_timeout_ms,
            "connectTimeoutMS": settings.mongodb_connect_timeout_ms,
            "socketTimeoutMS": settings.mongodb_socket_timeout_ms,
            "maxIdleTimeMS": settings.mongodb_max_idle_time_ms,
            "appname": settings.service_name,
            "tz_aware": True,
            # Keyword options win over the URI's (MongoClient doc), so w=0 in a URI cannot undo it.
            # pymongo puts a non-default write concern into every write command it sends
            # (pymongo/_csot.py `apply_write_concern`), insert/update/delete/findAndModify alike.
            **settings.mongodb_write_concern,
        }
        if settings.mongodb_tls_ca_file:
            self._options["tls"] = True
            self._options["tlsCAFile"] = settings.mongodb_tls_ca_file
        self._database_name = settings.mongodb_database
        self.indexes_ready = asyncio.Event()
        self.client_replacements = 0
        self._ping: asyncio.Task[None] | None = None
        self._ping_started = 0.0
        self._retired: set[asyncio.Task[None]] = set()
        # Clients left by a URI change, still open for their grace period (``use_uri``).
        self._retiring: set[AsyncMongoClient[Doc]] = set()
        self._supervisor: asyncio.Task[None] | None = None
        self._connect()

    def _connect(self) -> None:
        self.client: AsyncMongoClient[Doc] = AsyncMongoClient(self._uri, **self._options)
        self.db = self.client[self._database_name]
        self.users: AsyncCollection[Doc] = self.db["users"]
        self.notes: AsyncCollection[Doc] = self.db["notes"]
        # Reads that tolerate replica lag (pages after the first) may go to a replica.
        # Anything that fills the cache or precedes a conditional write reads the primary.
        self.notes_lagging: AsyncCollection[Doc] = self.notes.with_options(
            read_preference=SecondaryPreferred()
        )
        self.sessions: AsyncCollection[Doc] = self.db["refresh_tokens"]

    async def ensure_indexes(self) -> None:
        """Idempotent: create_indexes is a no-op for an index that exists with the same spec."""
        await self.users.create_indexes(USER_INDEXES)
        await self.notes.create_indexes(NOTE_INDEXES)
        await self.sessions.create_indexes(SESSION_INDEXES)
        self.indexes_ready.set()

    async def ensure_indexes_until_done(self, first_delay: float = 0.5, max_delay: float = 15.0) -> None:
        """Start-up must not wait for the database: retry in the background, /ready says 503 meanwhile.

        The app's lifespan runs this as its one background task per process, so it also starts
        the client's supervisor (``supervise``), which lives until ``close``.
        """
        if self._supervisor is None:
            self._supervisor = asyncio.create_task(self.supervise())
        delay = first_delay
        while True:
            try:
                await self.ensure_indexes()
            except PyMongoError as exc:
                DEPENDENCY_ERRORS.labels("mongodb", "ensure_indexes").inc()
                log.warning("index creation failed, retrying in %.1fs: %s", delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, max_delay)
            else:
                log.info("indexes ready")
                return

    async def _ping_once(self, client: AsyncMongoClient[Doc], within_seconds: float) -> None:
        # pymongo's own deadline (CSOT) bounds server selection, checkout and the reply, and
        # fails with a PyMongoError, without cancelling anything (see the note at the top).
        with pymongo.timeout(within_seconds):
            await client.admin.command("ping")

    async def ping(self, within_seconds: float) -> None:
        """Raise unless the database answers a ping within ``within_seconds``.

        Concurrent callers share one ping in flight, so a wedged client holds at most one
        stuck ping, never one per /ready call. The wait is bounded even for a wedged client
        (whose deadline is never checked), and the ping is shielded: cancelling it is what
        wedges clients.
        """
        if self._ping is None or self._ping.done():
            self._ping = asyncio.create_task(self._ping_once(self.client, within_seconds))
            self._ping_started = time.monotonic()
        ping = self._ping
        done, _ = await asyncio.wait({ping}, timeout=within_seconds + 0.5)
        if not done:
            raise TimeoutError(f"the database client did not answer a ping within {within_seconds}s")
        if ping.cancelled():  # its client was wedged and has just been replaced
            raise TimeoutError("the database client was replaced while this ping waited")
        ping.result()

    def hung(self) -> bool:
        """Whether the ping in flight has outlived its own deadline by HUNG_AFTER_SECONDS."""
        return (
            self._ping is not None
            and not self._ping.done()
            and time.monotonic() - self._ping_started > HUNG_AFTER_SECONDS
        )

    async def supervise(self) -> None:
        """Replace the client when it has wedged; runs until cancelled (at shutdown)."""
        while True:
            await asyncio.sleep(SUPERVISE_INTERVAL_SECONDS)
            with contextlib.suppress(PyMongoError, TimeoutError):
                await self.ping(PING_TIMEOUT_SECONDS)
            if self.hung():
                self.replace_client()

    def replace_client(self) -> None:
        """Swap in a new client; the wedged one is closed in the background.

        The services read ``db.notes`` (etc.) on every call, so new requests use the new
        client at once. Its close may never finish (it needs the lock that wedged it), so it
        is not awaited here, and it is cancelled at shutdown.
        """
        old_client, stuck_ping = self.client, self._ping
        self._connect()
        self._ping = None
        self.client_replacements += 1
        DEPENDENCY_ERRORS.labels("mongodb", "client_replaced").inc()
        log.error(
            "the database client stopped answering; replaced it (replacement %d)", self.client_replacements
        )
        if stuck_ping is not None:
            stuck_ping.cancel()  # it waits on the dead client's lock: nothing of ours is lost
        self._retire(old_client.close())

    def use_uri(self, uri: str) -> bool:
        """Connect with ``uri`` from now on, if it differs from the current one; returns whether it did.

        The new client is in place before this returns, so the next operation uses it; the old
        one is closed ``retire_after_seconds`` later, so operations already running on it (a
        request's query, a cursor being read) finish rather than fail. With DocumentDB's
        alternating users the old credentials stay valid until the next rotation, so that
        grace costs nothing.
        """
        if uri == self._uri:
            return False
        old_client, old_ping = self.client, self._ping
        self._uri = uri
        self._connect()
        self._ping = None  # /ready asks the new client from now on
        log.info(
            "the database URI changed; new client in use, the previous one closes in %.0f s",
            self.retire_after_seconds,
        )
        self._retire(self._close_later(old_client, old_ping))
        return True

    async def _close_later(self, client: AsyncMongoClient[Doc], ping: asyncio.Task[None] | None) -> None:
        self._retiring.add(client)
        await asyncio.sleep(self.retire_after_seconds)
        if ping is not None:  # long done in practice: a ping's deadline is PING_TIMEOUT_SECONDS
            await asyncio.wait({ping}, timeout=HUNG_AFTER_SECONDS)
        self._retiring.discard(client)
        await client.close()

    def _retire(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._retired.add(task)
        task.add_done_callback(self._retired.discard)

    async def close(self) -> None:
        for task in (self._supervisor, self._ping, *self._retired):
            if task is not None:
                task.cancel()
        # Healthy clients, unlike a wedged one: their close finishes. Bounded all the same.
        closing = [asyncio.ensure_future(client.close()) for client in self._retiring]
        self._retiring.clear()
        if closing:
            await asyncio.wait(closing, timeout=PING_TIMEOUT_SECONDS + HUNG_AFTER_SECONDS)
        await self.client.close()
