"""Accounts and sessions.

A session is a refresh-token family: login starts one, every refresh spends the presented
token and issues the next one in the same family. Presenting a spent token means it leaked
(or the client misbehaved), so the whole family is revoked. Access tokens carry the family
id (``sid``); a revoked family is denied on Redis fast path, or in the database when Redis
is unavailable.
"""

from __future__ import annotations

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
from notes_api.core.security import Passwords, TokenService, new_refresh_token, refresh_digest
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
    ) -> None:
        self.db = db
        self.gate = gate
        self.tokens = tokens
        self.passwords = passwords
        # A session found live is not asked about again for this long in this process: a
        # logout handled by another task takes effect here within it (this task's own at once).
        self.session_check_seconds = session_check_seconds
        self._checked_live: dict[str, float] = {}

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
        self._checked_live.pop(family_id, None)
        await self.db.sessions.update_many({"family_id": family_id}, {"$set": {"revoked": True}})
        if self.gate.client is not None and self.gate.available:
            try:
                # Access tokens of the family stay valid at most this long after logout.
                async with self.gate.slot():
                    await self.gate.client.set(
                        self._revoked_key(family_id), b"1", ex=self.tokens.access_ttl + 60
                    )
            except RedisError as exc:
                self.gate.failed("revoke_session", exc)

    async def is_revoked(self, family_id: str) -> bool:
        now = time.monotonic()
        if self._checked_live.get(family_id, 0.0) > now:
            return False
        revoked = await self._lookup_revoked(family_id)
        if not revoked and self.session_check_seconds > 0:
            if len(self._checked_live) >= MAX_REMEMBERED_SESSIONS:
                self._checked_live.clear()
            self._checked_live[family_id] = now + self.session_check_seconds
        return revoked

    async def _lookup_revoked(self, family_id: str) -> bool:
        if self.gate.client is not None and self.gate.available:
            try:
                revoked = bool(await self.gate.pipelined("EXISTS", self._revoked_key(family_id)))
                self.gate.succeeded()
                return revoked
            except RedisError as exc:
                self.gate.failed("session_check", exc)
        found = await self.db.sessions.find_one({"family_id": family_id, "revoked": True}, {"_id": 1})
        return found is not None

    @staticmethod
    def _revoked_key(family_id: str) -> str:
        return f"notes:revoked-session:{family_id}"

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
