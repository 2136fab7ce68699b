"""The JWT signing key rotation: the key set it writes, which keys it keeps, its checks, and the
four steps against moto's Secrets Manager (stage moves, retries, the Lambda entry point)."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notes_rotation import common
from notes_rotation import jwt as rotation
from notes_rotation.jwt import SigningKey
from tests.rotation.support import begin_rotation, create_rotating_secret, event, run_steps, stages, value

LEGACY_KEY = "legacy-signing-key-" + "x" * 40
LIFETIME = 900  # the API's access-token lifetime (NOTES_ACCESS_TOKEN_TTL_SECONDS default)
DELAY = rotation.DEFAULT_ACTIVATION_DELAY_SECONDS
KEEP = rotation.DEFAULT_KEEP_SECONDS

Rule = Callable[[list[SigningKey], int], list[SigningKey]]


def key(kid: str, not_before: int) -> SigningKey:
    return SigningKey(kid=kid, key=rotation.encode_key(kid.encode() * 32), not_before=not_before)


def real_rule(keys: list[SigningKey], now: int) -> list[SigningKey]:
    return rotation.next_key_set(keys, now, DELAY, KEEP, os.urandom(32))


def naive_rule(keys: list[SigningKey], now: int) -> list[SigningKey]:
    """The mistake to catch: keep the newest and the keys whose *own* not_before is recent."""
    newest = max(keys, key=lambda k: k.not_before)
    kept = [k for k in keys if k is newest or k.not_before > now - KEEP]
    return [*kept, key(os.urandom(4).hex(), max(now + DELAY, newest.not_before + 1))]


def signer(keys: list[SigningKey], t: int) -> SigningKey | None:
    """The key the API signs with at ``t``: the newest whose not_before has passed."""
    active = [k for k in keys if k.not_before <= t]
    return max(active, key=lambda k: k.not_before) if active else None


def broken_promises(rule: Rule, gaps: list[int]) -> list[str]:
    """Run rotations ``gaps`` seconds apart from a legacy key and report every token refused
    within its lifetime and every key dropped before it ever signed."""
    keys = rotation.parse_key_set(LEGACY_KEY)
    history = [(0, keys)]
    now = 10_000
    for gap in gaps:
        now += gap
        keys = rule(keys, now)
        history.append((now, keys))
    problems = []
    # A key signs last just before its successor activates or a rotation changes the set.
    moments = {k.not_before + d for _, ks in history for k in ks for d in (-1, 0)}
    moments |= {at + d for at, _ in history for d in (-1, 0)}
    for t in sorted(m for m in moments if m >= 0):
        signed_with = signer([ks for at, ks in history if at <= t][-1], t)
        for at, ks in history:
            if signed_with and t < at <= t + LIFETIME and signed_with.kid not in {k.kid for k in ks}:
                problems.append(f"a token signed with {signed_with.kid} at {t} is refused after {at}")
    for (_, before), (at, after) in itertools.pairwise(history):
        for k in before:
            if k.not_before > at and k.kid not in {x.kid for x in after}:
                problems.append(f"{k.kid} was dropped at {at} before it ever signed")
    return problems


# --- the key set ------------------------------------------------------------------------


def test_a_legacy_plain_string_becomes_one_key_active_since_always() -> None:
    # GIVEN the legacy value: the signing key itself, as a string
    # WHEN it is read as a key set
    (only,) = rotation.parse_key_set(LEGACY_KEY)
    # THEN its kid is the first 8 hex digits of the string's SHA-256 and its bytes are the string's
    assert only.kid == hashlib.sha256(LEGACY_KEY.encode()).hexdigest()[:8]
    assert rotation.decode_key(only.key) == LEGACY_KEY.encode()
    assert only.not_before == 0
    assert "=" not in only.key


def test_a_key_set_reads_back_oldest_first() -> None:
    keys = [key("b", 200), key("a", 100)]
    text = rotation.dump_key_set(keys)
    assert json.loads(text)["keys"][0] == {"kid": "a", "key": keys[1].key, "not_before": 100}
    assert rotation.parse_key_set(text) == [keys[1], keys[0]]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"keys": []}', "has no key"),
        ('{"keys": [{"kid": "a", "not_before": 1}]}', "KeyError"),
        ('{"keys": [{"kid": "a", "key": "AAAA", "not_before": "soon"}]}', "ValueError"),
        ("{not json", "is not"),
    ],
)
def test_a_malformed_key_set_is_refused_without_echoing_it(text: str, expected: str) -> None:
    with pytest.raises(common.RotationError, match=expected) as raised:
        rotation.parse_key_set(text)
    assert "AAAA" not in str(raised.value)


def test_the_new_key_activates_after_the_delay_and_after_every_existing_key() -> None:
    # GIVEN a set whose newest key activates far ahead (a clock that stepped back)
    keys = [key("a", 100), key("b", 5_000)]
    # WHEN a key is added at 1_000
    added = rotation.next_key_set(keys, 1_000, DELAY, KEEP, os.urandom(32))[-1]
    # THEN it activates after the newest, and otherwise at now + delay
    assert added.not_before == 5_001
    assert rotation.next_key_set([key("a", 100)], 1_000, DELAY, KEEP, os.urandom(32))[-1].not_before == 1_180
    assert len(rotation.decode_key(added.key)) == rotation.NEW_KEY_BYTES


@pytest.mark.parametrize(
    ("keys", "now", "kept"),
    [
        # Monthly rotation: the key before last stopped signing a month ago.
        ([key("old", 0), key("cur", 1_000)], 3_000_000, ["cur"]),
        # The previous key stopped signing 600 s ago: its tokens may live 300 s more.
        ([key("prev", 0), key("cur", 10_000)], 10_600, ["prev", "cur"]),
        # ... and 1200 s ago (lifetime + margin): none can be valid, it goes.
        ([key("prev", 0), key("cur", 10_000)], 11_200, ["cur"]),
        # Two rotations inside the delay: the newest has not signed yet, the one before signs now.
        ([key("old", 0), key("signing", 10_000), key("next", 10_180)], 10_100, ["old", "signing", "next"]),
    ],
)
def test_keys_are_kept_while_a_token_may_name_them(keys: list[SigningKey], now: int, kept: list[str]) -> None:
    assert [k.kid for k in rotation.keys_to_keep(keys, now, KEEP)] == kept


@settings(max_examples=200, deadline=None)
@given(gaps=st.lists(st.integers(min_value=1, max_value=4_000), min_size=1, max_size=8))
def test_no_token_is_refused_within_its_lifetime_and_no_unused_key_is_dropped(gaps: list[int]) -> None:
    # GIVEN rotations at any spacing, from seconds (retried by hand) to hours apart
    # WHEN each adds a key and drops what it may
    # THEN every token stays verifiable for its whole lifetime and no key goes before it signed
    assert broken_promises(real_rule, gaps) == []


def test_the_lifetime_check_catches_keeping_keys_by_their_own_activation() -> None:
    # GIVEN the rule that looks at a key's own not_before, and two rotations 600 s apart
    problems = broken_promises(naive_rule, [5_000, 600])
    # THEN tokens the legacy key signed just before the first new key took over are refused
    assert problems
    assert "is refused after" in problems[0]


# --- testSecret's checks ----------------------------------------------------------------

CURRENT = [key("a", 100), key("b", 200)]


def pending_text(keys: list[SigningKey]) -> str:
    return rotation.dump_key_set(keys)


@pytest.mark.parametrize(
    ("pending", "expected"),
    [
        (LEGACY_KEY, "not a key set"),
        (pending_text([*CURRENT, key("b", 300)]), "repeats a kid"),
        (
            pending_text([*CURRENT, SigningKey("c", rotation.encode_key(b"short"), 300)]),
            "shorter than 32 bytes",
        ),
        (pending_text(CURRENT), "adds 0 keys"),
        (pending_text([*CURRENT, key("c", 300), key("d", 400)]), "adds 2 keys"),
        (pending_text([*CURRENT, key("c", 150)]), "not newer than"),
        (pending_text([key("a", 100), key("c", 300)]), "lost or changed AWSCURRENT's newest key b"),
        (pending_text([key("a", 999), key("b", 200), key("c", 300)]), "changed keys it kept"),
        (pending_text([CURRENT[1], SigningKey("c", "!!not base64!!", 300)]), "not base64url"),
    ],
)
def test_the_pending_set_is_checked(pending: str, expected: str) -> None:
    with pytest.raises(common.RotationError, match=expected):
        rotation.check_pending(CURRENT, pending)


def test_a_pending_set_that_drops_old_keys_and_adds_one_passes() -> None:
    rotation.check_pending(CURRENT, pending_text([CURRENT[1], key("c", 300)]))


@pytest.mark.parametrize("name", [rotation.ACTIVATION_DELAY_ENV, rotation.KEEP_ENV])
@pytest.mark.parametrize("bad", ["soon", "-5"])
def test_a_bad_duration_names_its_variable(monkeypatch: pytest.MonkeyPatch, name: str, bad: str) -> None:
    monkeypatch.setenv(name, bad)
    with pytest.raises(common.RotationError, match=name):
        rotation._seconds(name, 1)


# --- the four steps on Secrets Manager --------------------------------------------------


def test_a_rotation_adds_a_key_and_moves_the_labels(sm: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the legacy plain-string key as AWSCURRENT, rotation on, a 300 s activation delay
    monkeypatch.setenv(rotation.ACTIVATION_DELAY_ENV, "300")
    arn = create_rotating_secret(sm, "notes-test-jwt-signing-key", LEGACY_KEY)
    old = next(iter(stages(sm, arn)))
    token = begin_rotation(arn)
    started = int(time.time())
    # WHEN Secrets Manager runs the four steps
    run_steps(common.dispatch, rotation.STEPS, sm, arn, token)
    # THEN AWSCURRENT is the token's version: the legacy key, then one new key active in 300 s
    assert stages(sm, arn) == {token: ["AWSCURRENT", "AWSPENDING"], old: ["AWSPREVIOUS"]}
    legacy, new = rotation.parse_key_set(value(sm, arn))
    assert legacy == rotation.parse_key_set(LEGACY_KEY)[0]
    assert started + 300 <= new.not_before <= int(time.time()) + 300
    assert len(rotation.decode_key(new.key)) == 32
    # AND AWSPREVIOUS still holds the legacy value, for a manual roll-back
    assert value(sm, arn, "AWSPREVIOUS") == LEGACY_KEY


def test_every_step_can_run_again(sm: Any) -> None:
    # GIVEN a rotation begun
    arn = create_rotating_secret(sm, "notes-test-jwt-signing-key", LEGACY_KEY)
    token = begin_rotation(arn)
    # WHEN every step runs twice in a row (Secrets Manager retries)
    for name in ("createSecret", "createSecret"):
        common.dispatch(event(arn, token, name), rotation.STEPS, sm)
    pending = sm.get_secret_value(SecretId=arn, VersionId=token)["SecretString"]
    for name in ("setSecret", "setSecret", "testSecret", "testSecret", "finishSecret", "finishSecret"):
        common.dispatch(event(arn, token, name), rotation.STEPS, sm)
    # AND the whole rotation is replayed once it finished
    run_steps(common.dispatch, rotation.STEPS, sm, arn, token)
    # THEN the key made the first time is the one that became current, with one version added
    assert value(sm, arn) == pending
    assert len(rotation.parse_key_set(pending)) == 2
    assert len(sm.list_secret_version_ids(SecretId=arn)["Versions"]) == 2


def test_two_rotations_keep_the_key_that_signed_last(sm: Any) -> None:
    # GIVEN one rotation done
    arn = create_rotating_secret(sm, "notes-test-jwt-signing-key", LEGACY_KEY)
    run_steps(common.dispatch, rotation.STEPS, sm, arn, begin_rotation(arn))
    first = rotation.parse_key_set(value(sm, arn))
    # WHEN another follows at once (its first new key has not even activated)
    run_steps(common.dispatch, rotation.STEPS, sm, arn, begin_rotation(arn))
    # THEN all three keys are there: the legacy one signs until the first new key activates
    assert [k.kid for k in rotation.parse_key_set(value(sm, arn))][:2] == [k.kid for k in first]
    assert len(rotation.parse_key_set(value(sm, arn))) == 3


def test_test_secret_stops_a_bad_pending_value_before_finish(sm: Any) -> None:
    # GIVEN a pending version whose value adds two keys (written by hand)
    arn = create_rotating_secret(sm, "notes-test-jwt-signing-key", LEGACY_KEY)
    token = begin_rotation(arn)
    current = rotation.parse_key_set(LEGACY_KEY)
    bad = [*current, key("c", 2_000_000_000), key("d", 2_000_000_001)]
    sm.put_secret_value(
        SecretId=arn, ClientRequestToken=token, SecretString=pending_text(bad), VersionStages=["AWSPENDING"]
    )
    # WHEN the steps run THEN createSecret keeps it (a retry), testSecret refuses it
    common.dispatch(event(arn, token, "createSecret"), rotation.STEPS, sm)
    with pytest.raises(common.RotationError, match="adds 2 keys"):
        common.dispatch(event(arn, token, "testSecret"), rotation.STEPS, sm)
    # AND AWSCURRENT is untouched
    assert value(sm, arn) == LEGACY_KEY


def test_the_lambda_entry_point_rotates_with_its_own_client(sm: Any) -> None:
    # GIVEN a rotation begun, and no client handed in: the handler makes boto3's default one
    arn = create_rotating_secret(sm, "notes-test-jwt-signing-key", LEGACY_KEY)
    token = begin_rotation(arn)
    # WHEN Lambda invokes the handler for each step
    for name in ("createSecret", "setSecret", "testSecret", "finishSecret"):
        rotation.lambda_handler(event(arn, token, name), None)
    # THEN the rotation is done
    assert stages(sm, arn)[token] == ["AWSCURRENT", "AWSPENDING"]
    assert len(rotation.parse_key_set(value(sm, arn))) == 2


def test_keys_are_valid_base64url_for_the_api() -> None:
    # The API decodes ``key`` with padding restored; both forms read back the same bytes.
    raw = os.urandom(33)
    encoded = rotation.encode_key(raw)
    assert base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)) == raw
    assert rotation.decode_key(encoded) == rotation.decode_key(base64.urlsafe_b64encode(raw).decode()) == raw
