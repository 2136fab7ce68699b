"""The dispatcher every rotation function shares: the template's stage checks before any step,
createSecret's idempotence, finishSecret's stage moves. Against moto's Secrets Manager."""

from __future__ import annotations

from typing import Any

import pytest

from notes_rotation import common
from tests.rotation.support import (
    begin_rotation,
    create_rotating_secret,
    enable_rotation,
    event,
    stages,
    value,
)


class Recorder:
    """Steps that only record that they ran."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []

    def step(self, name: str) -> common.Step:
        def run(client: Any, arn: str, token: str) -> None:
            self.calls.append((name, arn, token))

        return run

    def steps(self) -> common.Steps:
        return common.Steps(*(self.step(n) for n in ("create", "set", "test", "finish")))


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def test_each_step_runs_for_a_pending_version(sm: Any, recorder: Recorder) -> None:
    # GIVEN a secret with rotation on and a rotation begun under a token
    arn = create_rotating_secret(sm, "notes-test-plain", "v1")
    token = begin_rotation(arn)
    # WHEN each of the four steps is invoked
    for name in ("createSecret", "setSecret", "testSecret", "finishSecret"):
        common.dispatch(event(arn, token, name), recorder.steps(), sm)
    # THEN each ran its own function, with the secret and the token
    assert recorder.calls == [(n, arn, token) for n in ("create", "set", "test", "finish")]


@pytest.mark.parametrize(
    ("prepare", "expected"),
    [
        ("never configured", "is not enabled for rotation"),
        ("token unknown", "has no stage for rotation"),
        ("token is AWSPREVIOUS", "is not AWSPENDING"),
        ("unknown step", "invalid step 'rotateSecret'"),
    ],
)
def test_a_misdirected_invocation_fails_before_any_step(
    sm: Any, recorder: Recorder, prepare: str, expected: str
) -> None:
    # GIVEN a secret in the state the case names
    arn = str(sm.create_secret(Name="notes-test-plain", SecretString="v1")["ARN"])
    step, token = "createSecret", "00000000-0000-4000-8000-000000000000"
    if prepare != "never configured":
        enable_rotation(arn)
        token = begin_rotation(arn)
    if prepare == "token unknown":
        token = "11111111-1111-4111-8111-111111111111"
    if prepare == "token is AWSPREVIOUS":
        token = _current(sm, arn)
        sm.put_secret_value(SecretId=arn, SecretString="v2")  # the first version becomes AWSPREVIOUS
        assert stages(sm, arn)[token] == ["AWSPREVIOUS"]
    if prepare == "unknown step":
        step = "rotateSecret"
    before = stages(sm, arn)
    # WHEN a step is invoked for it
    with pytest.raises(common.RotationError, match=expected):
        common.dispatch(event(arn, token, step), recorder.steps(), sm)
    # THEN no step ran and no label moved
    assert recorder.calls == []
    assert stages(sm, arn) == before


def test_rotation_turned_off_stops_every_step(sm: Any, recorder: Recorder) -> None:
    # GIVEN a rotation begun, then rotation turned off (CancelRotateSecret)
    arn = create_rotating_secret(sm, "notes-test-plain", "v1")
    token = begin_rotation(arn)
    sm.cancel_rotate_secret(SecretId=arn)
    assert sm.describe_secret(SecretId=arn)["RotationEnabled"] is False
    # WHEN any step is invoked THEN it fails and runs nothing
    with pytest.raises(common.RotationError, match="not enabled for rotation"):
        common.dispatch(event(arn, token, "setSecret"), recorder.steps(), sm)
    assert recorder.calls == []


def test_a_version_already_current_is_done_whatever_the_step(sm: Any, recorder: Recorder) -> None:
    # GIVEN the token's version is AWSCURRENT (a retry after finishSecret succeeded)
    arn = create_rotating_secret(sm, "notes-test-plain", "v1")
    token = _current(sm, arn)
    # WHEN every step is invoked again THEN none runs
    for name in ("createSecret", "setSecret", "testSecret", "finishSecret"):
        common.dispatch(event(arn, token, name), recorder.steps(), sm)
    assert recorder.calls == []


def test_an_event_without_a_key_names_it(sm: Any, recorder: Recorder) -> None:
    with pytest.raises(common.RotationError, match="has no ClientRequestToken"):
        common.dispatch({"SecretId": "x", "Step": "createSecret"}, recorder.steps(), sm)


def test_create_pending_puts_once_per_token(sm: Any) -> None:
    # GIVEN a rotation begun
    arn = create_rotating_secret(sm, "notes-test-plain", "v1")
    token = begin_rotation(arn)
    made: list[str] = []

    def make(current: str) -> str:
        made.append(current)
        return f"{current}+{len(made)}"

    # WHEN createSecret runs twice (Secrets Manager retried it)
    common.create_pending(sm, arn, token, make)
    common.create_pending(sm, arn, token, make)
    # THEN the value was made once, from AWSCURRENT, and is the token's AWSPENDING value
    assert made == ["v1"]
    assert sm.get_secret_value(SecretId=arn, VersionId=token)["SecretString"] == "v1+1"
    assert stages(sm, arn)[token] == ["AWSPENDING"]
    assert value(sm, arn) == "v1"


def test_finish_moves_current_and_previous_once(sm: Any) -> None:
    # GIVEN a pending version with a value
    arn = create_rotating_secret(sm, "notes-test-plain", "v1")
    old = _current(sm, arn)
    token = begin_rotation(arn)
    common.create_pending(sm, arn, token, lambda current: "v2")
    # WHEN finishSecret runs, and runs again
    common.finish_secret(sm, arn, token)
    common.finish_secret(sm, arn, token)
    # THEN the token's version is AWSCURRENT, the old one AWSPREVIOUS, and nothing else moved
    assert stages(sm, arn) == {token: ["AWSCURRENT", "AWSPENDING"], old: ["AWSPREVIOUS"]}
    assert value(sm, arn) == "v2"


def test_generated_passwords_avoid_the_excluded_characters(sm: Any) -> None:
    # GIVEN GetRandomPassword as Secrets Manager answers it (moto draws from the same alphabet)
    passwords = [common.random_password(sm) for _ in range(50)]
    # THEN none contains a character that breaks DocumentDB or a URI, and each has its length
    assert all(len(p) == common.PASSWORD_LENGTH for p in passwords)
    assert not {c for p in passwords for c in p} & set(common.EXCLUDE_CHARACTERS)


def _current(sm: Any, arn: str) -> str:
    return next(v for v, s in stages(sm, arn).items() if "AWSCURRENT" in s)
