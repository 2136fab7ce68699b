"""What the rules produce: findings at three levels, and the context a rule may consult."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from notes_platform.review.preview import Step


class Level(IntEnum):
    # Lower sorts first: the order of the sections and the order the budget protects them in.
    APPROVAL = 0
    LOOK = 1
    ROUTINE = 2


SECTION_TITLES = {
    Level.APPROVAL: "Needs explicit approval",
    Level.LOOK: "Deserves a look",
    Level.ROUTINE: "Routine",
}


@dataclass(frozen=True)
class Finding:
    level: Level
    rule: str  # short id, e.g. "replace-stateful"; tests and CI filters match on it
    urn: str
    title: str  # one line: what happens to what
    details: tuple[str, ...] = ()  # already redacted

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]


@dataclass
class Context:
    """What a rule may know beyond its own step: the other steps of the same change."""

    steps: list[Step]
    created: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.created = {s.urn for s in self.steps if s.op in ("create", "replace")}


def inputs(step: Step) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """(old inputs, new inputs); an absent side is empty."""
    return (step.old.inputs if step.old else {}), (step.new.inputs if step.new else {})


def dig(data: Any, path: str) -> Any:
    """``a.b.c`` in nested mappings, None when any part is missing."""
    for part in path.split("."):
        if not isinstance(data, Mapping):
            return None
        data = data.get(part)
    return data
