"""Reports as text: a terminal view, and Markdown for one sticky pull-request comment.

The comment starts with a hidden marker so CI finds and updates the same comment instead of adding
one per push (pulumi/actions#633 duplicates, #482 overflow). GitHub refuses a comment body over
65,536 characters ("body is too long (maximum is 65536 characters)", the REST API's validation of
an issue comment); the comment keeps under ``BUDGET`` by leaving out the lowest-priority detail
first: the picture, the routine table, then the details and titles of the look findings from the
last. It says what it left out. The approval section is never cut; only if its full text alone
would not fit are its findings' details folded into one line each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from notes_platform.review.findings import SECTION_TITLES, Finding, Level
from notes_platform.review.report import Report

MARKER = "<!-- notes-platform-review -->"
GITHUB_COMMENT_LIMIT = 65_536
BUDGET = 65_000  # below the limit, with room for what a CI step may wrap around the body


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;")


def _code(text: str) -> str:
    """Text for an inline code span: a backtick would end it."""
    return text.replace("`", "'")


def _finding_md(finding: Finding, *, details: bool) -> str:
    head = f"- **{_md_escape(finding.title)}** `{finding.name}` <sub>{finding.rule}</sub>"
    if not details or not finding.details:
        return head + "\n"
    body = "\n".join(f"  - `{_code(line)}`" for line in finding.details)
    return f"{head}\n{body}\n"


def _headline(report: Report) -> str:
    approval, look = len(report.at(Level.APPROVAL)), len(report.at(Level.LOOK))
    if not report.changes:
        verdict = "no changes"
    elif approval:
        verdict = f"**{approval} need explicit approval**, {look} deserve a look"
    else:
        verdict = f"no risky change, {look} deserve a look"
    return f"{report.changes} change(s), {report.change.unchanged} unchanged: {verdict}"


def _routine_table(report: Report) -> str:
    rows = sorted(report.counts.items(), key=lambda item: (item[0][0], item[0][1]))
    lines = ["| op | type | count |", "|---|---|---:|"]
    lines += [f"| {op} | `{type_}` | {n} |" for (op, type_), n in rows]
    return "\n".join(lines) + "\n"


@dataclass
class _Kept:
    look_titles: int
    look_details: int
    routine_notes: bool
    routine_table: bool
    diagram: bool
    approval_details: bool = True


def _stack_md(report: Report, kept: _Kept) -> str:
    out = [f"### {report.change.stack or report.change.source}\n", _headline(report) + "\n"]
    if report.cost:
        out.append(f"\n{report.cost}\n")
    approvals = report.at(Level.APPROVAL)
    if approvals:
        out.append(f"\n#### {SECTION_TITLES[Level.APPROVAL]} ({len(approvals)})\n\n")
        out += [_finding_md(f, details=kept.approval_details) for f in approvals]
    looks = report.at(Level.LOOK)
    if looks:
        out.append(f"\n<details><summary>{SECTION_TITLES[Level.LOOK]} ({len(looks)})</summary>\n\n")
        out += [
            _finding_md(f, details=i < kept.look_details) for i, f in enumerate(looks[: kept.look_titles])
        ]
        if kept.look_titles < len(looks):
            out.append(f"- … and {len(looks) - kept.look_titles} more (left out for size)\n")
        out.append("\n</details>\n")
    routine = report.at(Level.ROUTINE)
    out.append(
        f"\n<details><summary>{SECTION_TITLES[Level.ROUTINE]}: {report.changes} change(s)</summary>\n\n"
    )
    if kept.routine_notes:
        out += [f"- {_md_escape(f.title)} `{f.name}`\n" for f in routine]
    if kept.routine_table and report.counts:
        out.append("\n" + _routine_table(report))
    out.append("\n</details>\n")
    if report.diagram and kept.diagram:
        out.append(
            f"\n<details><summary>Picture</summary>\n\n```mermaid\n{report.diagram}\n```\n\n</details>\n"
        )
    return "".join(out)


def _dropped(reports: Sequence[Report], kept: Sequence[_Kept]) -> list[str]:
    said = []
    for report, k in zip(reports, kept, strict=True):
        looks = len(report.at(Level.LOOK))
        parts = []
        if report.diagram and not k.diagram:
            parts.append("the picture")
        if not k.routine_table:
            parts.append("the routine table")
        if not k.routine_notes and report.at(Level.ROUTINE):
            parts.append("the routine notes")
        if k.look_details < looks:
            parts.append(f"details of {looks - min(k.look_details, k.look_titles)} look finding(s)")
        if k.look_titles < looks:
            parts.append(f"{looks - k.look_titles} look finding(s)")
        if not k.approval_details:
            parts.append("the details of the approval findings (too many to show)")
        if parts:
            said.append(f"{report.change.stack}: {', '.join(parts)}")
    return said


def _document(reports: Sequence[Report], kept: Sequence[_Kept], budget: int) -> str:
    body = "".join(_stack_md(r, k) for r, k in zip(reports, kept, strict=True))
    dropped = _dropped(reports, kept)
    note = ""
    if dropped:
        note = (
            f"\n> Left out to stay under {budget:,} characters: {'; '.join(dropped)}. "
            "Run `notes-platform review` on the preview for everything.\n"
        )
    return f"{MARKER}\n## Infrastructure review\n\n{body}{note}"


def _fits(reports: Sequence[Report], kept: Sequence[_Kept], budget: int) -> bool:
    return len(_document(reports, kept, budget)) <= budget


def _shrink(reports: Sequence[Report], kept: Sequence[_Kept], budget: int, field: str) -> None:
    """The largest count of ``field`` (look details or titles) per report that fits, by bisection:
    O(log n) renders of the whole document rather than one per finding."""
    for k in kept:
        low, high = 0, getattr(k, field)
        while low < high:
            mid = (low + high + 1) // 2
            setattr(k, field, mid)
            low, high = (mid, high) if _fits(reports, kept, budget) else (low, mid - 1)
        setattr(k, field, low)
        k.look_details = min(k.look_details, k.look_titles)


def markdown(reports: Sequence[Report], budget: int = BUDGET) -> str:
    """One comment for every stack's report, under ``budget`` characters."""
    kept = [_Kept(len(r.at(Level.LOOK)), len(r.at(Level.LOOK)), True, True, True) for r in reports]
    # Leave out, lowest priority first, until the whole document fits.
    for attribute in ("diagram", "routine_table", "routine_notes"):
        if _fits(reports, kept, budget):
            return _document(reports, kept, budget)
        for k in kept:
            setattr(k, attribute, False)
    for field in ("look_details", "look_titles"):
        if _fits(reports, kept, budget):
            return _document(reports, kept, budget)
        _shrink(reports, kept, budget, field)
    if not _fits(reports, kept, budget):
        for k in kept:
            k.approval_details = False
    return _document(reports, kept, budget)


def terminal(reports: Sequence[Report]) -> str:
    """Everything, for a person at a terminal: no budget, no Markdown."""
    out = []
    for report in reports:
        out.append(f"== {report.change.stack or report.change.source}: {_headline(report).replace('**', '')}")
        if report.cost:
            out.append(report.cost)
        for level in (Level.APPROVAL, Level.LOOK):
            found = report.at(level)
            if found:
                out.append(f"\n{SECTION_TITLES[level].upper()} ({len(found)})")
                for f in found:
                    out.append(f"  {f.title}  [{f.rule}]\n    {f.urn}")
                    out += [f"      {line}" for line in f.details]
        out.append(f"\n{SECTION_TITLES[Level.ROUTINE].upper()}")
        out += [f"  {f.title}  ({f.name})" for f in report.at(Level.ROUTINE)]
        width = max((len(t) for _, t in report.counts), default=0)
        out += [f"  {op:<8} {t:<{width}} {n}" for (op, t), n in sorted(report.counts.items())]
        out += [f"  ({note})" for note in report.notes]
        out.append("")
    return "\n".join(out)
