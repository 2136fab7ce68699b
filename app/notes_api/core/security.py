"""Password hashing (argon2id), access tokens (JWT) and opaque refresh tokens."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import re
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from notes_api.core.config import Settings
from notes_api.core.keyset import KeySet, parse_key_set

ALGORITHM = "HS256"
LEEWAY_SECONDS = 5
VERIFIED_TOKENS_CACHED = 4096


class TokenError(Exception):
    """The access token is missing, malformed, expired or not ours."""


class Passwords:
    """argon2id with the configured cost; stored hashes carry their own parameters, so a
    cost change applies to each account at its next successful login (needs_rehash)."""

    def __init__(self, settings: Settings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.password_hash_time_cost,
            memory_cost=settings.password_hash_memory_kib,
            parallelism=settings.password_hash_parallelism,
        )
        # Verifying against this hash when the account does not exist keeps login time the
        # same for unknown and known emails, so timing does not reveal who is registered.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        # argon2 runs for tens of milliseconds: keep it off the event loop (it releases the GIL).
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        def _verify() -> bool:
            try:
                return (
                    self._hasher.verify(stored_hash or self._dummy_hash, password) and stored_hash is not None
                )
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

        return await asyncio.to_thread(_verify)

    def needs_rehash(self, stored_hash: str) -> bool:
        return self._hasher.check_needs_rehash(stored_hash)


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: str
    session_id: str
    expires_at: int


class _Verifier(NamedTuple):
    """A key set and the cache of tokens verified with it, swapped together: a token verified
    with a key that has left the set is never served from the cache of the new set."""

    keys: KeySet
    by_kid: dict[str, bytes]
    cached: Callable[[str], AccessClaims]


class TokenService:
    """HS256 access tokens with the signing key's ``kid`` in the header (core/keyset.py).

    Signs with the newest key whose ``not_before`` has passed; verifies a token whose ``kid``
    names a key of the current set, so after a rotation the previous key's tokens keep working
    for as long as the rotation keeps that key. A token without a ``kid`` or with one the set
    does not hold is refused. ``use_keys`` swaps the set while serving (core/refresh.py).
    """

    def __init__(self, settings: Settings) -> None:
        value = settings.secret("jwt_signing_key")
        if not value:
            raise ValueError("TokenService needs a signing key")
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self.access_ttl = settings.access_token_ttl_seconds
        self.refresh_ttl = settings.refresh_token_ttl_seconds
        self._verifier = self._verifier_for(parse_key_set(value))

    @property
    def keys(self) -> KeySet:
        return self._verifier.keys

    def use_keys(self, keys: KeySet) -> bool:
        """Install ``keys`` (one attribute assignment: requests see the old set or the new one,
        never a mix). Returns whether anything changed; an equal set keeps the cache."""
        if keys == self._verifier.keys:
            return False
        self._verifier = self._verifier_for(keys)
        return True

    def _verifier_for(self, keys: KeySet) -> _Verifier:
        by_kid = keys.by_kid
        # Per key set: a token verified once is remembered (bounded LRU) while this set is the
        # current one; its signature cannot change, and verifying it again on every request
        # costs more than the rest of a cached read.
        cached = functools.lru_cache(maxsize=VERIFIED_TOKENS_CACHED)(functools.partial(self._verify, by_kid))
        return _Verifier(keys, by_kid, cached)

    def issue_access(self, user_id: str, session_id: str, now: float | None = None) -> tuple[str, int]:
        issued = int(now if now is not None else time.time())
        expires = issued + self.access_ttl
        claims = {
            "sub": user_id,
            "sid": session_id,
            "iat": issued,
            "nbf": issued,
            "exp": expires,
            "iss": self._issuer,
            "aud": self._audience,
            "jti": uuid.uuid4().hex,
            "typ": "access",
        }
        key = self._verifier.keys.signing_key(time.time() if now is None else now)
        return jwt.encode(claims, key.key, algorithm=ALGORITHM, headers={"kid": key.kid}), expires

    def decode_access(self, token: str) -> AccessClaims:
        """Verify a token (cached per key set, see ``_verifier_for``) and check its expiry."""
        claims = self._verifier.cached(token)
        if claims.expires_at + LEEWAY_SECONDS < time.time():
            raise TokenError("Signature has expired")
        return claims

    def _verify(self, by_kid: dict[str, bytes], token: str) -> AccessClaims:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            if not isinstance(kid, str):
                raise TokenError("the token names no signing key (kid)")
            key = by_kid.get(kid)
            if key is None:
                raise TokenError("the token's signing key (kid) is not a current one")
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "iat", "sub", "sid", "iss", "aud"]},
                leeway=LEEWAY_SECONDS,
            )
        except jwt.PyJWTError as exc:
            raise TokenError(str(exc)) from exc
        if claims.get("typ") != "access":
            raise TokenError("not an access token")
        return AccessClaims(str(claims["sub"]), str(claims["sid"]), int(claims["exp"]))


# secrets.token_urlsafe(32): 32 random bytes, URL-safe base64 with the padding stripped
# (CPython's secrets.py), so 43 characters of [A-Za-z0-9_-]. Every refresh token ever issued
# has this shape; anything else can be refused without looking it up.
REFRESH_TOKEN_BYTES = 32
_REFRESH_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")


def new_refresh_token() -> tuple[str, str]:
    """Return (token for the client, digest to store). Only the digest is ever stored."""
    token = secrets.token_urlsafe(REFRESH_TOKEN_BYTES)
    return token, refresh_digest(token)


def is_refresh_token_shaped(token: str) -> bool:
    """Whether ``token`` could be one we issued (an access token, for one, is not)."""
    return _REFRESH_TOKEN_SHAPE.fullmatch(token) is not None


def refresh_digest(token: str) -> str:
    # A plain hash suffices: the token has 256 bits of entropy, unlike a password.
    return hashlib.sha256(token.encode()).hexdigest()
