"""One change reviewed: its findings, counts, and the optional cost line and picture.

The cost and the picture come from modules other parts of the tooling provide
(``notes_platform.cost.model.estimate`` and ``notes_platform.graph.diagram.mermaid``). HOOK: while
either is missing the review leaves that part out and says so in one line; nothing else changes.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from notes_platform.review.findings import Finding, Level
from notes_platform.review.preview import Change, State, Step
from notes_platform.review.rules import counts, review


@dataclass
class Report:
    change: Change
    findings: list[Finding]
    counts: Mapping[tuple[str, str], int]
    cost: str | None = None  # "monthly cost: +$12.40 ($310.00 -> $322.40)"
    diagram: str | None = None  # Mermaid source
    notes: list[str] = field(default_factory=list)  # what could not be shown, and why

    def at(self, level: Level) -> list[Finding]:
        return [f for f in self.findings if f.level == level]

    @property
    def changes(self) -> int:
        return len(self.change.steps)


def _optional(module: str, name: str) -> Any | None:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


def _recorded(urn: str, type_: str, state: State) -> Any:
    from notes_platform.graph.mocks import Recorded  # noqa: PLC0415 (imports pulumi; only with the cost model)

    return Recorded(
        urn=urn, type=type_, name=urn.rsplit("::", 1)[-1], custom=True, parent=None, provider=None,
        dependencies=list(state.dependencies), protect=state.protect, inputs=dict(state.inputs),
    )  # fmt: skip


def sides(steps: Iterable[Step]) -> tuple[list[Any], list[Any]]:
    """Recorded-like resources of the old and the new side of the changed steps."""
    old = [_recorded(s.urn, s.type, s.old) for s in steps if s.old is not None]
    new = [_recorded(s.urn, s.type, s.new) for s in steps if s.new is not None]
    return old, new


def cost_line(old: Sequence[Any], new: Sequence[Any], stack: str, *, scope: str) -> str | None:
    estimate = _optional("notes_platform.cost.model", "estimate")
    if estimate is None:
        return None
    before, after = float(estimate(old, stack).total), float(estimate(new, stack).total)
    if not (before or after):
        return None  # nothing priced on either side (not our resources, or nothing billable)
    delta = after - before
    sign = "-" if delta < 0 else "+"
    return f"monthly cost{scope}: {sign}${abs(delta):,.2f} (${before:,.2f} -> ${after:,.2f})"


# A picture of more resources than this is unreadable in a comment (and the budget would drop it);
# it also keeps a 5,000-step review fast, the diagram's layout growing faster than linearly.
MAX_PICTURED = 400


def diagram(new: Sequence[Any], findings: Sequence[Finding], steps: Sequence[Step]) -> str | None:
    mermaid = _optional("notes_platform.graph.diagram", "mermaid")
    if mermaid is None or len(new) > MAX_PICTURED:
        return None
    highlight = {s.urn: "changed" for s in steps}
    highlight.update({f.urn: "risky" for f in findings if f.level == Level.APPROVAL})
    return str(mermaid(new, highlight))


def build(change: Change) -> Report:
    """Review ``change``, with its cost and picture when those modules are there. A plan diff
    knows every resource of both sides; a preview lists only what changes, so its cost covers the
    changed resources."""
    findings = review(change.steps)
    report = Report(change=change, findings=findings, counts=counts(change.steps))
    wants_cost = _optional("notes_platform.cost.model", "estimate") is not None
    wants_picture = _optional("notes_platform.graph.diagram", "mermaid") is not None
    if not (wants_cost or wants_picture):
        report.notes.append(
            "cost and picture: not available (notes_platform.cost, notes_platform.graph.diagram)"
        )
        return report
    if change.old_all is not None and change.new_all is not None:
        from notes_platform.graph.mocks import Recorded  # noqa: PLC0415 (imports pulumi)

        old = [Recorded.from_json(r) for r in change.old_all]
        new = [Recorded.from_json(r) for r in change.new_all]
        scope = ""
    else:
        old, new = sides(change.steps)
        scope = " of the changed resources"
    report.cost = cost_line(old, new, change.stack, scope=scope) if wants_cost else None
    report.diagram = diagram(new, findings, change.steps) if wants_picture and change.steps else None
    if wants_picture and len(new) > MAX_PICTURED:
        report.notes.append(
            f"picture: left out, {len(new)} resources are more than a picture can show ({MAX_PICTURED})"
        )
    return report
