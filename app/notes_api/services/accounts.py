"""Accounts and sessions.

A session is a refresh-token family: login starts one, every refresh spends the presented
token and issues the next one in the same family. Presenting a spent token means it leaked
(or the client misbehaved), so the whole family is revoked. Access tokens carry the family
id (``sid``).

The database is the source of truth for whether a session is live; Redis only caches the
answer, and a Redis miss (a restart, a failover to an empty replica, an eviction) is looked
up in the database again, never taken for "live". A revocation is written to the database
first, then to the cache. A cached "revoked" outlives every access token of the family; a
cached "live" expires after ``session_live_cache_seconds``, which bounds how long a
revocation that reached only the database (Redis down at the time) goes unseen.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError
from redis.exceptions import RedisError

from notes_api.core.cache import RedisGate
from notes_api.core.db import Database
from notes_api.core.errors import APIError, unauthorized
from notes_api.core.security import (
    Passwords,
    TokenService,
    is_refresh_token_shaped,
    new_refresh_token,
    refresh_digest,
)
from notes_api.models import TokenPair, UserOut

log = logging.getLogger("notes_api.accounts")

MAX_REMEMBERED_SESSIONS = 50_000


def utcnow() -> datetime:
    # MongoDB keeps milliseconds; truncating here makes what we return equal what we stored.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    session_id: str


def user_out(doc: dict[str, Any]) -> UserOut:
    return UserOut(id=str(doc["_id"]), email=doc["email"], created_at=doc["created_at"])


class Accounts:
    def __init__(
        self,
        db: Database,
        gate: RedisGate,
        tokens: TokenService,
        passwords: Passwords,
        session_check_seconds: float = 0.0,
        session_live_cache_seconds: float = 0.0,
    ) -> None:
        self.db = db
        self.gate = gate
        self.tokens = tokens
        self.passwords = passwords
        # A session found live is not asked about again for this long in this process: a
        # logout handled by another task takes effect here within it (this task's own at once).
        self.session_check_seconds = session_check_seconds
        # How long Redis may answer "live" for a session read from the database: a revocation
        # that could not be written to Redis takes effect everywhere within this time (plus
        # the window above). 0 = "live" is never cached, every Redis miss asks the database.
        self.session_live_cache_seconds = session_live_cache_seconds
        self._checked_live: dict[str, float] = {}
        # Families this process knows revoked, until their last access token has expired: a
        # revocation is final, and the task that made it must refuse the session at once
        # even when its write to Redis failed and Redis still holds a "live" entry.
        self._known_revoked: dict[str, float] = {}
        self._lookups: dict[str, asyncio.Future[bool]] = {}

    async def register(self, email: str, password: str) -> UserOut:
        doc = {
            "email": email.lower(),
            "password_hash": await self.passwords.hash(password),
            "created_at": utcnow(),
        }
        try:
            result = await self.db.users.insert_one(doc)
        except DuplicateKeyError as exc:
            raise APIError(409, "email_taken", "an account with this email exists") from exc
        doc["_id"] = result.inserted_id
        return user_out(doc)

    async def login(self, email: str, password: str) -> TokenPair:
        user = await self.db.users.find_one({"email": email.lower()})
        stored = user["password_hash"] if user else None
        if not await self.passwords.verify(stored, password) or user is None:
            raise unauthorized("invalid_credentials", "email or password is incorrect")
        if stored and self.passwords.needs_rehash(stored):
            await self.db.users.update_one(
                {"_id": user["_id"]}, {"$set": {"password_hash": await self.passwords.hash(password)}}
            )
        return await self._issue(str(user["_id"]), uuid.uuid4().hex)

    async def get_user(self, user_id: str) -> UserOut:
        try:
            oid = ObjectId(user_id)
        except (InvalidId, TypeError) as exc:
            raise unauthorized("invalid_token", "unknown account") from exc
        doc = await self.db.users.find_one({"_id": oid}, {"password_hash": 0})
        if doc is None:
            raise unauthorized("invalid_token", "unknown account")
        return user_out(doc)

    async def refresh(self, token: str) -> TokenPair:
        if not is_refresh_token_shaped(token):
            # An access token, a truncated copy, any string we never issued: the same 401 as
            # an unknown token, without a database round trip.
            raise unauthorized("invalid_refresh_token", "refresh token is invalid, expired or spent")
        digest = refresh_digest(token)
        now = utcnow()
        spent = await self.db.sessions.find_one_and_update(
            {"_id": digest, "used_at": None, "revoked": False, "expires_at": {"$gt": now}},
            {"$set": {"used_at": now}},
            return_document=ReturnDocument.BEFORE,
        )
        if spent is None:
            known = await self.db.sessions.find_one({"_id": digest})
            if known is not None and known.get("used_at") is not None and not known.get("revoked"):
                log.warning(
                    "refresh token reuse: revoking session family",
                    extra={"user_id": known["user_id"], "family_id": known["family_id"]},
                )
                await self.revoke_family(known["family_id"])
            raise unauthorized("invalid_refresh_token", "refresh token is invalid, expired or spent")
        pair = await self._issue(spent["user_id"], spent["family_id"])
        # A reuse detected between our spend and our insert revoked the family without
        # seeing the new token: check once more so it cannot survive the revocation.
        if await self.db.sessions.find_one({"family_id": spent["family_id"], "revoked": True}, {"_id": 1}):
            await self.revoke_family(spent["family_id"])
            raise unauthorized("invalid_refresh_token", "refresh token is invalid, expired or spent")
        return pair

    async def logout(self, principal: Principal) -> None:
        await self.revoke_family(principal.session_id)

    async def revoke_family(self, family_id: str) -> None:
        """Database first: if it fails the caller gets the error and nothing claims the session
        ended; if Redis then fails, the database still says so and cached "live" answers
        expire within ``session_live_cache_seconds``."""
        await self.db.sessions.update_many({"family_id": family_id}, {"$set": {"revoked": True}})
        self._remember_revoked(family_id)
        await self._cache_state(family_id, revoked=True)

    async def is_revoked(self, family_id: str) -> bool:
        now = time.monotonic()
        if self._known_revoked.get(family_id, 0.0) > now:
            return True
        if self._checked_live.get(family_id, 0.0) > now:
            return False
        # One lookup per session at a time in this process: when a cached answer expires under
        # load, every request of the session in flight would otherwise ask Redis and, on a
        # miss, the database, all at once (the benchmark's cached note, 64 connections of one
        # user: p99 62 ms in one run without this, 20 ms in one run with it). The lookup runs
        # as its own task, so a cancelled caller does not cancel it for the others; its error
        # reaches every caller.
        lookup = self._lookups.get(family_id)
        if lookup is None:
            lookup = asyncio.ensure_future(self._look_up(family_id))
            self._lookups[family_id] = lookup
            lookup.add_done_callback(functools.partial(self._lookup_done, family_id))
        # A revocation made here while the lookup was under way wins over what it found.
        revoked = await asyncio.shield(lookup) or self._known_revoked.get(family_id, 0.0) > now
        if revoked:
            self._remember_revoked(family_id)
        elif self.session_check_seconds > 0:
            if len(self._checked_live) >= MAX_REMEMBERED_SESSIONS:
                self._checked_live.clear()
            self._checked_live[family_id] = now + self.session_check_seconds
        return revoked

    async def _look_up(self, family_id: str) -> bool:
        revoked = await self._cached_revoked(family_id)
        if revoked is None:
            # Redis does not know (or is down): ask the database, which always knows, and
            # let the other tasks find the answer in Redis. A database error propagates: a
            # session that cannot be checked is never taken for live.
            revoked = await self._revoked_in_database(family_id)
            await self._cache_state(family_id, revoked=revoked)
        return revoked

    def _lookup_done(self, family_id: str, lookup: asyncio.Future[bool]) -> None:
        if self._lookups.get(family_id) is lookup:
            del self._lookups[family_id]
        if not lookup.cancelled():
            lookup.exception()  # retrieved here, so one whose callers all left is not logged as lost

    async def _cached_revoked(self, family_id: str) -> bool | None:
        """True or False as cached in Redis; None when Redis has neither answer or is down."""
        if self.gate.client is None or not self.gate.available:
            return None
        try:
            # One command, so a check still costs one pipelined round trip (see RedisGate).
            revoked, live = await self.gate.pipelined(
                "MGET", self._revoked_key(family_id), self._live_key(family_id)
            )
        except RedisError as exc:
            self.gate.failed("session_check", exc)
            return None
        self.gate.succeeded()
        if revoked is not None:  # wins over a "live" cached before the revocation
            return True
        if live is not None:
            return False
        return None

    async def _revoked_in_database(self, family_id: str) -> bool:
        # Every refresh token of the family is a document; a revocation marks them all, and a
        # token inserted by a racing refresh is marked again by refresh()'s re-check, so one
        # marked document means revoked. Both queries use the `family` index.
        if await self.db.sessions.find_one({"family_id": family_id, "revoked": True}, {"_id": 1}):
            return True
        # No document at all: every refresh token of the family has expired and the TTL index
        # removed it (or the family never existed). The session is over, not live.
        return await self.db.sessions.find_one({"family_id": family_id}, {"_id": 1}) is None

    async def _cache_state(self, family_id: str, *, revoked: bool) -> None:
        if self.gate.client is None or not self.gate.available:
            return
        ttl: float
        if revoked:
            # Access tokens of the family stay valid at most this long after the revocation.
            key, ttl = self._revoked_key(family_id), self.tokens.access_ttl + 60
        elif self.session_live_cache_seconds > 0:
            key, ttl = self._live_key(family_id), self.session_live_cache_seconds
        else:
            return
        try:
            async with self.gate.slot():
                # Two keys rather than one with two values: a "live" written by a reader that
                # raced the revocation can never overwrite "revoked". Redis keeps expiry times
                # as absolute timestamps, so a "live" restored from a snapshot or held by a
                # replica still expires on time (redis.io, EXPIRE: "Expires and persistence").
                await self.gate.client.set(key, b"1", px=max(1, round(ttl * 1000)))
        except RedisError as exc:
            self.gate.failed("revoke_session" if revoked else "session_cache", exc)

    def _remember_revoked(self, family_id: str) -> None:
        self._checked_live.pop(family_id, None)
        if len(self._known_revoked) >= MAX_REMEMBERED_SESSIONS:
            self._known_revoked.clear()
        self._known_revoked[family_id] = time.monotonic() + self.tokens.access_ttl + 60

    @staticmethod
    def _revoked_key(family_id: str) -> str:
        # The name tasks of earlier releases write and read: a rolling deploy keeps honouring
        # revocations made on either side.
        return f"notes:revoked-session:{family_id}"

    @staticmethod
    def _live_key(family_id: str) -> str:
        return f"notes:live-session:{family_id}"

    async def _issue(self, user_id: str, family_id: str) -> TokenPair:
        access, _expires = self.tokens.issue_access(user_id, family_id)
        refresh, digest = new_refresh_token()
        now = utcnow()
        await self.db.sessions.insert_one(
            {
                "_id": digest,
                "family_id": family_id,
                "user_id": user_id,
                "created_at": now,
                "expires_at": now + timedelta(seconds=self.tokens.refresh_ttl),
                "used_at": None,
                "revoked": False,
            }
        )
        return TokenPair(
            access_token=access,
            refresh_token=refresh,
            expires_in=self.tokens.access_ttl,
            refresh_expires_in=self.tokens.refresh_ttl,
        )
