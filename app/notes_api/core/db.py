"""MongoDB wire-protocol access, written for Amazon DocumentDB 5.0.

DocumentDB constraints honoured here: no retryable writes (``retryWrites=false``), TLS with
the Amazon CA bundle, no $lookup pipelines, transactions or change streams, and only index
kinds it supports (unique, compound, multikey, TTL).

Every write carries an explicit write concern (``NOTES_MONGODB_WRITE_CONCERN_W`` / ``_J``,
default ``{w: "majority", j: true}``), so an acknowledged write is on the journal (and on a
majority of a replica set) before the API answers 2xx.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError
from pymongo.read_preferences import SecondaryPreferred

from notes_api.core.config import Settings
from notes_api.core.metrics import DEPENDENCY_ERRORS

log = logging.getLogger("notes_api.db")

Doc = dict[str, Any]

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


class Database:
    def __init__(self, settings: Settings) -> None:
        uri = settings.secret("mongodb_uri")
        if not uri:
            raise ValueError("NOTES_MONGODB_URI is not set")
        options: dict[str, Any] = {
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
            options["tls"] = True
            options["tlsCAFile"] = settings.mongodb_tls_ca_file
        self.client: AsyncMongoClient[Doc] = AsyncMongoClient(uri, **options)
        self.db = self.client[settings.mongodb_database]
        self.users: AsyncCollection[Doc] = self.db["users"]
        self.notes: AsyncCollection[Doc] = self.db["notes"]
        # Reads that tolerate replica lag (pages after the first) may go to a replica.
        # Anything that fills the cache or precedes a conditional write reads the primary.
        self.notes_lagging: AsyncCollection[Doc] = self.notes.with_options(
            read_preference=SecondaryPreferred()
        )
        self.sessions: AsyncCollection[Doc] = self.db["refresh_tokens"]
        self.indexes_ready = asyncio.Event()

    async def ensure_indexes(self) -> None:
        """Idempotent: create_indexes is a no-op for an index that exists with the same spec."""
        await self.users.create_indexes(USER_INDEXES)
        await self.notes.create_indexes(NOTE_INDEXES)
        await self.sessions.create_indexes(SESSION_INDEXES)
        self.indexes_ready.set()

    async def ensure_indexes_until_done(self, first_delay: float = 0.5, max_delay: float = 15.0) -> None:
        """Start-up must not wait for the database: retry in the background, /ready says 503 meanwhile."""
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

    async def ping(self, within_seconds: float) -> None:
        await asyncio.wait_for(self.client.admin.command("ping"), within_seconds)

    async def close(self) -> None:
        await self.client.close()
