"""The JWT key set: the API's parser against the rotation function's, signing with the newest
active key and its kid, verifying by kid, and the verified-token cache across key set changes."""

from __future__ import annotations

import base64
import hashlib
import json
import time

import jwt
import pytest

from notes_api.core.config import ConfigError, Settings, check_signing_keys, load_settings
from notes_api.core.keyset import KeySet, KeySetError, SigningKey, kid_of, parse_key_set
from notes_api.core.security import TokenError, TokenService
from notes_rotation import jwt as rotation
from notes_rotation.common import RotationError

NOW = 1_900_000_000
OLD = b"o" * 32
NEW = b"n" * 32
LATER = b"l" * 32


def b64(raw: bytes, padded: bool = False) -> str:
    text = base64.urlsafe_b64encode(raw).decode()
    return text if padded else text.rstrip("=")


def key_set(*entries: tuple[str, bytes, int], padded: bool = False) -> str:
    return json.dumps(
        {"keys": [{"kid": k, "key": b64(raw, padded), "not_before": nb} for k, raw, nb in entries]}
    )


AGREED_VALUES = [
    pytest.param("legacy-plain-string-key-" + "x" * 30, id="legacy plain string"),
    pytest.param("clé-à-accents-" + "é" * 20, id="legacy non-ASCII string"),
    pytest.param(key_set(("a1", OLD, 0)), id="one key"),
    pytest.param(key_set(("b2", NEW, NOW + 180), ("a1", OLD, NOW - 5)), id="two keys, newest first"),
    pytest.param(key_set(("a1", OLD, NOW), ("b2", NEW, NOW + 1), padded=True), id="padded base64url"),
    pytest.param(
        json.dumps({"keys": [{"kid": "c3", "key": b64(LATER), "not_before": "12"}]}), id="not_before as text"
    ),
]


@pytest.mark.parametrize("value", AGREED_VALUES)
def test_the_api_reads_a_key_set_as_the_rotation_function_wrote_it(value: str) -> None:
    # GIVEN a secret value in the format notes_rotation.jwt documents
    # WHEN both parsers read it
    theirs = [(k.kid, rotation.decode_key(k.key), k.not_before) for k in rotation.parse_key_set(value)]
    ours = [(k.kid, k.key, k.not_before) for k in parse_key_set(value).keys]
    # THEN they agree on every kid, key byte and not_before, in the same order
    assert ours == theirs


@pytest.mark.parametrize(
    "value",
    [
        pytest.param('{"keys": []}', id="no key"),
        pytest.param('{"keys": [{"kid": "a", "key": "AAAA"}]}', id="no not_before"),
        pytest.param('{"kees": []}', id="no keys member"),
        pytest.param('{"keys": ', id="not JSON"),
    ],
)
def test_both_parsers_refuse_what_is_not_a_key_set(value: str) -> None:
    with pytest.raises(RotationError):
        rotation.parse_key_set(value)
    with pytest.raises(KeySetError) as refused:
        parse_key_set(value)
    assert "AAAA" not in str(refused.value)


def test_a_legacy_key_s_kid_is_the_rotation_function_s() -> None:
    raw = b"k" * 48
    assert kid_of(raw) == rotation.kid_of(raw) == hashlib.sha256(raw).hexdigest()[:8]
    assert parse_key_set("k" * 48).keys[0].kid == kid_of(raw)


def test_the_signing_key_is_the_newest_active_one() -> None:
    keys = KeySet(
        (SigningKey("a", OLD, NOW - 100), SigningKey("b", NEW, NOW), SigningKey("c", LATER, NOW + 60))
    )
    assert keys.signing_key(NOW - 1).kid == "a"
    assert keys.signing_key(NOW).kid == "b"
    assert keys.signing_key(NOW + 60).kid == "c"
    # A clock behind every not_before still signs, with the oldest key
    assert keys.signing_key(NOW - 1000).kid == "a"


def service(value: str) -> TokenService:
    return TokenService(Settings(env="test", jwt_signing_key=value))


def test_tokens_carry_the_kid_of_the_key_that_signed_them() -> None:
    # GIVEN a set whose newest key is not active yet
    tokens = service(key_set(("old", OLD, 0), ("new", NEW, int(time.time()) + 600)))
    # WHEN a token is issued now
    token, _ = tokens.issue_access("user", "session")
    # THEN the active key signed it and its kid is in the header
    assert jwt.get_unverified_header(token)["kid"] == "old"
    jwt.decode(token, OLD, algorithms=["HS256"], audience="notes-api")
    # AND ten minutes later the new key signs
    later, _ = tokens.issue_access("user", "session", now=time.time() + 601)
    assert jwt.get_unverified_header(later)["kid"] == "new"


def test_a_rotation_keeps_the_previous_key_s_tokens_valid() -> None:
    # GIVEN a token signed when the set had one key
    tokens = service(key_set(("old", OLD, 0)))
    token, _ = tokens.issue_access("user", "session")
    # WHEN the rotation adds a key that is active at once
    assert tokens.use_keys(parse_key_set(key_set(("old", OLD, 0), ("new", NEW, 1))))
    # THEN new tokens name the new key and the old token still verifies
    fresh, _ = tokens.issue_access("user", "session")
    assert jwt.get_unverified_header(fresh)["kid"] == "new"
    assert tokens.decode_access(token).user_id == "user"
    assert tokens.decode_access(fresh).session_id == "session"


def forged(key: bytes, headers: dict[str, str] | None) -> str:
    now = int(time.time())
    claims = {"sub": "u", "sid": "s", "iat": now, "exp": now + 60, "iss": "notes-api", "aud": "notes-api"}
    return jwt.encode({**claims, "typ": "access"}, key, algorithm="HS256", headers=headers)


@pytest.mark.parametrize(
    ("token_key", "headers", "why"),
    [
        (OLD, {"kid": "unknown"}, "not a current one"),
        (OLD, None, "names no signing key"),
        (NEW, {"kid": "old"}, "Signature verification failed"),
    ],
)
def test_a_token_whose_kid_names_no_key_of_the_set_is_refused(
    token_key: bytes, headers: dict[str, str] | None, why: str
) -> None:
    tokens = service(key_set(("old", OLD, 0)))
    with pytest.raises(TokenError, match=why):
        tokens.decode_access(forged(token_key, headers))


def test_a_cached_token_is_refused_once_its_key_left_the_set() -> None:
    # GIVEN a token verified (and so cached) while its key was in the set
    tokens = service(key_set(("old", OLD, 0), ("new", NEW, 1)))
    old_token = forged(OLD, {"kid": "old"})
    assert tokens.decode_access(old_token).user_id == "u"
    # WHEN a later rotation drops that key
    assert tokens.use_keys(parse_key_set(key_set(("new", NEW, 1), ("later", LATER, 2))))
    # THEN the same token is refused, cache or not
    with pytest.raises(TokenError, match="not a current one"):
        tokens.decode_access(old_token)


def test_an_unchanged_key_set_keeps_the_cache() -> None:
    value = key_set(("old", OLD, 0))
    tokens = service(value)
    before = tokens._verifier
    assert tokens.use_keys(parse_key_set(value)) is False
    assert tokens._verifier is before


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (key_set(("a", OLD, 0), ("b", b"short", 1)), "shorter than 32 bytes"),
        (key_set(("a", OLD, 0), ("a", NEW, 1)), "names a kid twice"),
        ('{"keys": "nope"}', "is not {'keys'"),
    ],
)
def test_production_refuses_a_key_set_with_a_weak_or_broken_key(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as refused:
        check_signing_keys(value, production=True)
    assert "NOTES_JWT_SIGNING_KEY" in str(refused.value)


def test_a_broken_key_set_stops_the_start_in_every_environment() -> None:
    with pytest.raises(ConfigError, match="NOTES_JWT_SIGNING_KEY"):
        load_settings(env="development", jwt_signing_key='{"keys": [}')
