"""The JWT signing key set, as the secret ``notes/<env>/jwt-signing-key`` holds it.

``{"keys": [{"kid", "key", "not_before"}, ...]}``: ``key`` is the HMAC key as base64url (padded
or not), ``not_before`` the epoch second from which the API may sign with it. A legacy value, one
plain string, is one key: its UTF-8 bytes, kid the first 8 hex digits of their SHA-256, active
since always. The rotation function (``notes_rotation.jwt``, not shipped in the API's image)
writes this format; tests/app/test_keyset.py checks that both parsers read the same values alike.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass

# HS256 wants a key at least as long as its 256-bit hash output (RFC 7518 section 3.2).
MIN_KEY_BYTES = 32


class KeySetError(ValueError):
    """The value is not a key set; the message never contains a key."""


def kid_of(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:8]


def _decode_key(encoded: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError) as exc:
        raise KeySetError(f"a key is not base64url: {exc}") from None


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    key: bytes
    not_before: int


@dataclass(frozen=True, slots=True)
class KeySet:
    """Keys oldest first (by ``not_before``); immutable, so a refresh swaps the whole set."""

    keys: tuple[SigningKey, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise KeySetError("the key set has no key")
        kids = [key.kid for key in self.keys]
        if len(set(kids)) != len(kids):
            raise KeySetError(f"the key set names a kid twice: {sorted(kids)}")

    @property
    def by_kid(self) -> dict[str, bytes]:
        return {key.kid: key.key for key in self.keys}

    def signing_key(self, now: float) -> SigningKey:
        """The newest key whose ``not_before`` has passed. If none has (a clock behind the one
        that wrote the set), the oldest: refusing to sign would refuse every login."""
        active = [key for key in self.keys if key.not_before <= now]
        return active[-1] if active else self.keys[0]

    def shortest_key_bytes(self) -> int:
        return min(len(key.key) for key in self.keys)


def parse_key_set(value: str) -> KeySet:
    """Read a secret value; raise KeySetError naming what is wrong, never the value."""
    if not value.lstrip().startswith("{"):
        raw = value.encode()
        if not raw:
            raise KeySetError("the signing key is empty")
        return KeySet((SigningKey(kid_of(raw), raw, 0),))
    try:
        entries = json.loads(value)["keys"]
        keys = [
            SigningKey(str(entry["kid"]), _decode_key(str(entry["key"])), int(entry["not_before"]))
            for entry in entries
        ]
    except (ValueError, TypeError, KeyError) as exc:
        if isinstance(exc, KeySetError):
            raise
        raise KeySetError(f"the key set is not {{'keys': [{{kid, key, not_before}}]}}: {exc!r:.80}") from None
    return KeySet(tuple(sorted(keys, key=lambda k: k.not_before)))
