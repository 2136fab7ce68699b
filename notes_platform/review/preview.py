"""The steps of a change, read from `pulumi preview --json` (what the CLI writes) into `Step`s.

The CLI's document is ``{config?, steps, diagnostics?, duration, changeSummary, maybeCorrupt?}``;
a step is ``{op, urn, provider, oldState, newState, diffReasons?, replaceReasons?, detailedDiff}``
(pulumi/pulumi ``sdk/go/common/apitype``: ``PreviewDigest``, ``PreviewStep``). What this module
keeps of a state is its inputs and resource options, never its outputs: outputs are where a
provider leaves plain-text values (a ``random`` string's ``result``) that a review must not print.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The engine's unknown-value sentinel (pulumi/pulumi sdk/go/common/resource/plugin/rpc.go,
# UnknownStringValue): an input computed by the provider during apply.
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
# How our own offline plans write an unknown (notes_platform/graph/mocks.py RECORDED_UNKNOWN).
RECORDED_UNKNOWN = "[unknown]"
SECRET = "[secret]"  # noqa: S105 (the CLI's mask, not a password)

# Ops the engine emits (pulumi/pulumi sdk/go/common/display/step_op.go). With
# --show-replacement-steps a replacement is create-replacement + replace + delete-replaced; they
# are folded into one "replace" per URN. The import ops are listed so they are not unknown ops.
REPLACE_OPS = frozenset({"replace", "create-replacement", "delete-replaced", "import-replacement"})
KNOWN_OPS = REPLACE_OPS | {
    "same", "create", "update", "delete", "read", "read-replacement", "refresh",
    "import", "discard", "discard-replaced", "remove-pending-replace",
}  # fmt: skip
CHANGE_OPS = ("replace", "delete", "update", "create")  # the ops a review counts as changes


class UnreadableInput(Exception):
    """A file the review cannot read, with the file and what was wrong (exit code 1)."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


@dataclass(frozen=True)
class State:
    """What a review reads of one side of a step: the inputs and the resource options."""

    inputs: Mapping[str, Any]
    protect: bool = False
    retain_on_delete: bool = False
    dependencies: tuple[str, ...] = ()


@dataclass
class Step:
    op: str  # create | update | replace | delete | same | read | ...
    urn: str
    type: str
    old: State | None
    new: State | None
    diff_reasons: tuple[str, ...] = ()
    replace_reasons: tuple[str, ...] | None = None  # None: the source did not say
    replace_source: str = "replaceReasons"  # where replace_reasons come from
    detailed_diff: Mapping[str, Any] | None = None
    ops: tuple[str, ...] = field(default=())  # the raw ops folded into this step
    # From a plan diff of a type the force-new table lacks: update or replace could not be told.
    replacement_unjudged: bool = False

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]

    def changed_keys(self) -> list[str]:
        """Top-level inputs that differ: from detailedDiff or diffReasons when the CLI gave them,
        else by comparing the two sides' inputs."""
        if self.detailed_diff:
            return sorted({top_level(path) for path in self.detailed_diff})
        if self.diff_reasons:
            return sorted({top_level(path) for path in self.diff_reasons})
        old = self.old.inputs if self.old else {}
        new = self.new.inputs if self.new else {}
        return sorted(k for k in set(old) | set(new) if k != "__defaults" and old.get(k) != new.get(k))


@dataclass
class Change:
    """The steps of one stack's change, from one source file."""

    source: str
    stack: str
    steps: list[Step]
    unchanged: int  # same steps (and reads)
    # Every resource of both sides, when the source has them (a plan diff); a preview lists only
    # what changes.
    old_all: list[Mapping[str, Any]] | None = None
    new_all: list[Mapping[str, Any]] | None = None


def top_level(path: str) -> str:
    """``tags.CostCenter`` / ``ingress[0]`` / ``["a.b"].c`` -> the top-level property."""
    if path.startswith('["'):
        return path[2 : path.index('"]')]
    for i, char in enumerate(path):
        if char in ".[":
            return path[:i]
    return path


def type_of(urn: str) -> str:
    """The resource type of a URN: the last type of its qualified-type chain."""
    return urn.split("::")[2].rsplit("$", 1)[-1]


def stack_of(urn: str) -> str:
    return urn.split("::", 1)[0].removeprefix("urn:pulumi:")


def _state(data: Any) -> State | None:
    if not isinstance(data, Mapping):
        return None
    inputs = data.get("inputs")
    return State(
        inputs=inputs if isinstance(inputs, Mapping) else {},
        protect=bool(data.get("protect")),
        retain_on_delete=bool(data.get("retainOnDelete")),
        dependencies=tuple(data.get("dependencies") or ()),
    )


def _fold(raw_steps: Iterable[Mapping[str, Any]], source: str) -> tuple[list[Step], int]:
    """One Step per URN: the replacement ops of a URN become one replace."""
    by_urn: dict[str, Step] = {}
    unchanged = 0
    for index, raw in enumerate(raw_steps):
        if not isinstance(raw, Mapping) or not isinstance(raw.get("urn"), str) or "op" not in raw:
            raise UnreadableInput(source, f"steps[{index}] is not a step with an op and a urn")
        op, urn = str(raw["op"]), raw["urn"]
        if op not in KNOWN_OPS:
            raise UnreadableInput(source, f"steps[{index}] ({urn}): unknown op {op!r}")
        if op in ("same", "read", "refresh", "discard", "discard-replaced", "remove-pending-replace"):
            unchanged += 1
            continue
        folded = "replace" if op in REPLACE_OPS else op
        step = by_urn.get(urn)
        if step is None:
            step = by_urn[urn] = Step(op=folded, urn=urn, type=type_of(urn), old=None, new=None)
        elif folded == "replace":
            step.op = "replace"
        step.ops += (op,)
        # delete-replaced carries only the old state and create-replacement only the new one.
        step.old = _state(raw.get("oldState")) or step.old
        step.new = _state(raw.get("newState")) or step.new
        step.diff_reasons = step.diff_reasons or tuple(raw.get("diffReasons") or ())
        if raw.get("replaceReasons") is not None:
            step.replace_reasons = tuple(raw["replaceReasons"])
        step.detailed_diff = step.detailed_diff or raw.get("detailedDiff") or None
    return list(by_urn.values()), unchanged


def parse_preview(document: Any, source: str) -> Change:
    """A preview document (already decoded) -> its Change. Raises UnreadableInput."""
    if not isinstance(document, Mapping):
        raise UnreadableInput(
            source, f"expected a JSON object from `pulumi preview --json`, got {type(document).__name__}"
        )
    if "steps" not in document:
        hint = " (this looks like a plan graph: use `notes-platform diff`)" if "resources" in document else ""
        raise UnreadableInput(source, f"no `steps` list: not the output of `pulumi preview --json`{hint}")
    raw_steps = document["steps"]
    if not isinstance(raw_steps, list):
        raise UnreadableInput(source, "`steps` is not a list")
    steps, unchanged = _fold(raw_steps, source)
    urns = [s.get("urn") for s in raw_steps if isinstance(s, Mapping)]
    stack = stack_of(urns[0]) if urns and isinstance(urns[0], str) else Path(source).stem
    return Change(source=source, stack=stack, steps=steps, unchanged=unchanged)


def read_json(path: str) -> Any:
    """The decoded file, or UnreadableInput naming the file and the problem."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UnreadableInput(path, exc.strerror or str(exc)) from exc
    except UnicodeDecodeError as exc:
        raise UnreadableInput(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    if not text.strip():
        raise UnreadableInput(path, "the file is empty (did `pulumi preview --json` fail before writing?)")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnreadableInput(path, f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc


def read_preview(path: str) -> Change:
    return parse_preview(read_json(path), path)
