"""Rotation of the API's JWT signing key set (secret ``notes-<env>-jwt-signing-key``).

Handler: ``notes_rotation.jwt.lambda_handler``.

The secret holds ``{"keys": [{"kid", "key", "not_before"}, ...]}``: ``key`` is the HMAC key as
base64url (RFC 4648 section 5, unpadded, at least 32 bytes decoded) and ``not_before`` the epoch
second from which the API may sign with it. The API signs with the newest key whose
``not_before`` has passed, puts its ``kid`` in the token header, and verifies any token whose
``kid`` is in the set. A legacy value, one plain string, is read as one key whose bytes are the
string's UTF-8 bytes, kid the first 8 hex digits of their SHA-256, active since always.

createSecret adds one new key whose ``not_before`` is ACTIVATION_DELAY_SECONDS (default 180 =
twice the API's 60 s refresh interval plus 60 s) from now, so every API task has read the new
set before any task signs with the new key. Keys are dropped only when no valid token can carry
them: a key signs until the next key's ``not_before``, its tokens live at most the access-token
lifetime after that, so a key stays while its successor's ``not_before`` is less than
KEEP_SECONDS (default 900 s lifetime + 300 s margin for clocks and refresh lag) in the past. The
newest key has no successor and always stays; a key not yet active (never used for signing) has a
successor even newer and stays too. KEEP_SECONDS must cover the API's NOTES_ACCESS_TOKEN_TTL_SECONDS.

setSecret has nothing to do: no other system holds the key, the API reads the secret itself.
testSecret checks the AWSPENDING set: it parses, kids are unique, every key decodes to at least
32 bytes, and it is the AWSCURRENT set plus exactly one new key, newer than all of them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from notes_rotation.common import (
    CURRENT,
    PENDING,
    RotationError,
    Steps,
    create_pending,
    dispatch,
    finish_secret,
    log,
    secret_string,
)

ACTIVATION_DELAY_ENV = "ACTIVATION_DELAY_SECONDS"
KEEP_ENV = "KEEP_SECONDS"
DEFAULT_ACTIVATION_DELAY_SECONDS = 180
DEFAULT_KEEP_SECONDS = 900 + 300
MIN_KEY_BYTES = 32
# HS256 wants a key at least as long as its 256-bit hash output (RFC 7518 section 3.2).
NEW_KEY_BYTES = 32


@dataclass(frozen=True)
class SigningKey:
    kid: str
    key: str  # base64url, unpadded
    not_before: int

    def as_json(self) -> dict[str, Any]:
        return {"kid": self.kid, "key": self.key, "not_before": self.not_before}


def encode_key(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_key(encoded: str) -> bytes:
    """The key's bytes; padded or unpadded base64url both read."""
    try:
        return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError) as exc:
        raise RotationError(f"a key is not base64url: {exc}") from exc


def kid_of(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:8]


def parse_key_set(value: str) -> list[SigningKey]:
    """The keys of a secret value, oldest first; a legacy plain string becomes one key."""
    if not value.lstrip().startswith("{"):
        raw = value.encode()
        return [SigningKey(kid=kid_of(raw), key=encode_key(raw), not_before=0)]
    try:
        document = json.loads(value)
        entries = document["keys"]
        keys = [
            SigningKey(kid=str(entry["kid"]), key=str(entry["key"]), not_before=int(entry["not_before"]))
            for entry in entries
        ]
    except (ValueError, TypeError, KeyError) as exc:
        # The message names what is wrong, never the value itself.
        raise RotationError(
            f"the key set is not {{'keys': [{{kid, key, not_before}}]}}: {exc!r:.80}"
        ) from None
    if not keys:
        raise RotationError("the key set has no key")
    return sorted(keys, key=lambda k: k.not_before)


def dump_key_set(keys: list[SigningKey]) -> str:
    return json.dumps({"keys": [k.as_json() for k in sorted(keys, key=lambda k: k.not_before)]})


def keys_to_keep(keys: list[SigningKey], now: int, keep_seconds: int) -> list[SigningKey]:
    """The keys a valid token may still name: the newest, and every key whose successor became
    active less than ``keep_seconds`` ago (or is not active yet)."""
    ordered = sorted(keys, key=lambda k: k.not_before)
    return [
        key
        for key, successor in zip(ordered, [*ordered[1:], None], strict=True)
        if successor is None or successor.not_before > now - keep_seconds
    ]


def next_key_set(
    keys: list[SigningKey], now: int, activation_delay: int, keep_seconds: int, raw: bytes
) -> list[SigningKey]:
    """The kept keys plus a new one made of ``raw``, active after the delay and after every
    existing key (a clock that stepped back never makes the new key older than the newest)."""
    kept = keys_to_keep(keys, now, keep_seconds)
    newest = max(k.not_before for k in keys)
    kid = kid_of(raw)
    if any(k.kid == kid for k in keys):
        raise RotationError("the new key's kid is already in the set; rotate again")
    new = SigningKey(kid=kid, key=encode_key(raw), not_before=max(now + activation_delay, newest + 1))
    return [*kept, new]


def _seconds(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        seconds = int(value)
    except ValueError:
        raise RotationError(f"{name} must be a whole number of seconds, not {value!r}") from None
    if seconds < 0:
        raise RotationError(f"{name} must not be negative, not {seconds}")
    return seconds


def create_secret(client: Any, arn: str, token: str) -> None:
    def make(current: str) -> str:
        keys = next_key_set(
            parse_key_set(current),
            now=int(time.time()),
            activation_delay=_seconds(ACTIVATION_DELAY_ENV, DEFAULT_ACTIVATION_DELAY_SECONDS),
            keep_seconds=_seconds(KEEP_ENV, DEFAULT_KEEP_SECONDS),
            raw=secrets.token_bytes(NEW_KEY_BYTES),
        )
        log.info("createSecret: new key %s, keeping %s", keys[-1].kid, [k.kid for k in keys[:-1]])
        return dump_key_set(keys)

    create_pending(client, arn, token, make)


def set_secret(client: Any, arn: str, token: str) -> None:
    # No downstream system holds the key: the API reads the secret itself and the new key only
    # signs once its not_before has passed, after every task has refreshed its copy.
    log.info("setSecret: nothing to set for %s (the API reads the key set from the secret)", arn)


def check_pending(current: list[SigningKey], pending_value: str) -> None:
    """Raise RotationError unless ``pending_value`` is ``current`` plus one newer key, valid."""
    if not pending_value.lstrip().startswith("{"):
        raise RotationError("the AWSPENDING value is not a key set")
    pending = parse_key_set(pending_value)
    kids = [k.kid for k in pending]
    if len(set(kids)) != len(kids):
        raise RotationError(f"the AWSPENDING key set repeats a kid: {sorted(kids)}")
    for key in pending:
        if len(decode_key(key.key)) < MIN_KEY_BYTES:
            raise RotationError(f"key {key.kid} is shorter than {MIN_KEY_BYTES} bytes")
    by_kid: Mapping[str, SigningKey] = {k.kid: k for k in current}
    added = [k for k in pending if k.kid not in by_kid]
    if len(added) != 1:
        raise RotationError(f"the AWSPENDING set adds {len(added)} keys to AWSCURRENT's, not exactly one")
    newest = max(current, key=lambda k: k.not_before)
    if added[0].not_before <= newest.not_before:
        raise RotationError(f"the new key {added[0].kid} is not newer than AWSCURRENT's newest {newest.kid}")
    if by_kid.get(newest.kid) not in pending:
        raise RotationError(f"the AWSPENDING set lost or changed AWSCURRENT's newest key {newest.kid}")
    changed = [k.kid for k in pending if k.kid in by_kid and by_kid[k.kid] != k]
    if changed:
        raise RotationError(f"the AWSPENDING set changed keys it kept: {changed}")


def test_secret(client: Any, arn: str, token: str) -> None:
    current = parse_key_set(secret_string(client, arn, CURRENT))
    check_pending(current, secret_string(client, arn, PENDING, token))
    log.info("testSecret: version %s of %s is a valid key set", token, arn)


STEPS = Steps(create=create_secret, set=set_secret, test=test_secret, finish=finish_secret)


def lambda_handler(event: Mapping[str, Any], context: object) -> None:
    """Lambda entry point: ``{"SecretId", "ClientRequestToken", "Step"}`` from Secrets Manager."""
    dispatch(event, STEPS)
