"""The JWT key set's first value: the format the API and the rotation read, with the key and kid
they derive from the plain string the secret held before."""

from __future__ import annotations

import json

import pytest

from infra.jwt_key import initial_key_set
from notes_rotation import jwt as rotation

GENERATED = "aB3" * 21 + "x"  # 64 letters and digits, like the stack's RandomPassword


def test_the_value_is_a_key_set_with_one_key_active_since_always() -> None:
    value = json.loads(initial_key_set(GENERATED))
    assert list(value) == ["keys"] and len(value["keys"]) == 1
    assert value["keys"][0]["not_before"] == 0
    assert set(value["keys"][0]) == {"kid", "key", "not_before"}


def test_the_rotation_reads_it_as_the_key_it_derives_from_the_legacy_string() -> None:
    # GIVEN the plain string a stack held before, and the key set made from it
    # WHEN the rotation parses both
    legacy = rotation.parse_key_set(GENERATED)
    key_set = rotation.parse_key_set(initial_key_set(GENERATED))
    # THEN they are the same key with the same kid: tokens signed before stay valid
    assert key_set == legacy, (key_set, legacy)
    assert len(rotation.decode_key(key_set[0].key)) >= rotation.MIN_KEY_BYTES


def test_a_short_value_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        initial_key_set("short")
