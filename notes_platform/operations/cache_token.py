"""The Redis AUTH token rotation as edits of a stack file: the two keys and nothing else.

infra/cache.py turns the keys into ElastiCache's strategy: ROTATE while
``cacheAuthTokenPreviousGeneration`` is set (the new token and the previous one are both
accepted while ECS replaces the tasks), SET once it is gone (only the current token works).
So a rotation is two deployed edits, each a step here:

- ``rotate``: previous := current, current := current + 1. Allowed only when no rotation is under
  way (no previous generation), since a second ROTATE would drop the token the oldest tasks hold.
- ``set``: remove the previous generation. Allowed only while one is set; and only once the rotate
  step is deployed, which the file cannot show: cache_token_gate checks the running service.

The edit goes through ruamel.yaml's round trip with promote's settings (stack_file.py), and is
refused if any line other than the two keys' would differ; the result must pass the stack schema
(stacks/config.py) before it is written.
"""

from __future__ import annotations

import difflib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from notes_platform.release.stack_file import PROJECT, StackFileError, load

GENERATION = f"{PROJECT}:cacheAuthTokenGeneration"
PREVIOUS = f"{PROJECT}:cacheAuthTokenPreviousGeneration"
ROTATE = "rotate"
SET = "set"
STEPS = (ROTATE, SET)


class StepRefused(Exception):
    """The file's state forbids the step; the message says why and what comes first."""


@dataclass(frozen=True)
class TokenState:
    generation: int
    previous: int | None

    @property
    def next_step(self) -> str:
        return SET if self.previous is not None else ROTATE

    def describe(self) -> str:
        if self.previous is None:
            return f"generation {self.generation} alone (SET: only its token is accepted)"
        return (
            f"generation {self.generation} with {self.previous} still accepted "
            "(ROTATE: a rotation is under way)"
        )


def _state(path: Path, config: Any) -> TokenState:
    if GENERATION not in config:
        raise StackFileError(
            f"{path}: {GENERATION}: missing; write `{GENERATION}: 1` (the schema's default) first, "
            "so the rotation has a line to change"
        )
    generation, previous = config[GENERATION], config.get(PREVIOUS)
    if isinstance(generation, bool) or not isinstance(generation, int) or generation < 1:
        raise StackFileError(f"{path}: {GENERATION}: expected a whole number from 1, found {generation!r}")
    if previous is not None and (isinstance(previous, bool) or not isinstance(previous, int)):
        raise StackFileError(f"{path}: {PREVIOUS}: expected a whole number, found {previous!r}")
    return TokenState(int(generation), None if previous is None else int(previous))


def read_state(path: Path) -> TokenState:
    return _state(path, load(path)["config"])


def step_problem(state: TokenState, step: str) -> str | None:
    """Why the file's state forbids ``step``; None when it allows it."""
    if step == ROTATE and state.previous is not None:
        return (
            f"{PREVIOUS} is {state.previous}: the rotation to generation {state.generation} is under way. "
            "Its next step is `set` (once that rotation is deployed); a second ROTATE now would stop "
            f"ElastiCache accepting the token of generation {state.previous}, which tasks may still hold"
        )
    if step == SET and state.previous is None:
        return (
            f"no {PREVIOUS}: no rotation is under way, and SET would change nothing. Start one with `rotate`"
        )
    return None


@dataclass(frozen=True)
class TokenEdit:
    path: Path
    step: str
    before: str
    after: str
    was: TokenState
    becomes: TokenState

    def diff(self) -> str:
        lines = difflib.unified_diff(
            self.before.splitlines(keepends=True),
            self.after.splitlines(keepends=True),
            fromfile=f"{self.path.name} (now)",
            tofile=f"{self.path.name} ({self.step})",
            n=1,
        )
        return "".join(lines)

    def write(self) -> None:
        self.path.write_text(self.after)


def _dump(document: Any) -> str:
    # The emitter settings promote writes imageDigest with, so both edits keep a file alike.
    from notes_platform.release.stack_file import _round_trip  # noqa: PLC0415

    out = io.StringIO()
    _round_trip().dump(document, out)
    return out.getvalue()


def plan_edit(path: Path, step: str) -> TokenEdit:
    """The file after ``step``; :class:`StepRefused` when its state forbids it,
    :class:`StackFileError` when the edit would touch another line."""
    before = path.read_text() if path.exists() else ""
    document = load(path)
    config = document["config"]
    was = _state(path, config)
    if problem := step_problem(was, step):
        raise StepRefused(f"{path}: {step}: {problem}")
    if step == ROTATE:
        becomes = TokenState(was.generation + 1, was.generation)
        config[GENERATION] = becomes.generation
        config.insert(list(config).index(GENERATION) + 1, PREVIOUS, was.generation)
        # ruamel keeps the blank line or comment that follows a key on that key: move it to the
        # new key, which now ends the group, or it would sit between the two.
        if GENERATION in config.ca.items:
            config.ca.items[PREVIOUS] = config.ca.items.pop(GENERATION)
    else:
        becomes = TokenState(was.generation, None)
        if PREVIOUS in config.ca.items:
            config.ca.items[GENERATION] = config.ca.items.pop(PREVIOUS)
        del config[PREVIOUS]
    edit = TokenEdit(path, step, before, _dump(document), was, becomes)
    only_token_lines(edit)
    return edit


def only_token_lines(edit: TokenEdit) -> None:
    """Every line the edit removes or adds is one of the two keys' lines."""
    before, after = edit.before.splitlines(), edit.after.splitlines()
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    touched = [
        line
        for tag, i1, i2, j1, j2 in matcher.get_opcodes()
        if tag != "equal"
        for line in before[i1:i2] + after[j1:j2]
    ]
    keys = (f"{GENERATION}:", f"{PREVIOUS}:")
    if any(not line.strip().startswith(keys) for line in touched):
        raise StackFileError(
            f"{edit.path}: the {edit.step} step would change more than the AUTH token lines; "
            f"edit it by hand:\n{edit.diff()}"
        )


def validate(edit: TokenEdit, stack: str) -> Any:
    """The edited file through the stack schema (stacks.config.load, with the other stack files
    next to it); the config it gives, or StackConfigError naming the file and key."""
    import yaml  # noqa: PLC0415

    from stacks.config import load as load_config  # noqa: PLC0415

    values = (yaml.safe_load(edit.after) or {}).get("config") or {}
    return load_config(values, stack, edit.path.parent)
