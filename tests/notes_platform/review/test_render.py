"""The pull-request comment: a marker, collapsed sections, and a hard size budget that drops the
lowest-priority detail first and never the approval section. And the README's example in step."""

from __future__ import annotations

import json
from typing import Any

from notes_platform.review.findings import Level
from notes_platform.review.preview import parse_preview
from notes_platform.review.render import GITHUB_COMMENT_LIMIT, MARKER, markdown
from notes_platform.review.report import build
from stacks.config import ROOT
from tests.notes_platform.review import scenarios as s


def _many(count: int) -> dict[str, Any]:
    """A preview of ``count`` steps: alarms retuned (look, with details), log groups deleted
    (approval), and routine tag updates."""
    template = s.prod_plan()
    alarm = next(r for r in template["resources"] if r["type"] == "aws:cloudwatch/metricAlarm:MetricAlarm")
    steps = []
    for i in range(count):
        urn = f"{alarm['urn']}-{i}"
        old = {"urn": urn, "type": alarm["type"], "custom": True, "inputs": alarm["inputs"]}
        new = {**old, "inputs": {**alarm["inputs"], "threshold": 2000 + i, "alarmDescription": "x" * 200}}
        if i % 50 == 0:
            urn = f"urn:pulumi:prod::notes-platform::aws:cloudwatch/logGroup:LogGroup::logs-{i}"
            steps.append(
                {"op": "delete", "urn": urn, "oldState": {"urn": urn, "inputs": {"name": f"/x/{i}"}}}
            )
        elif i % 3 == 0:
            steps.append(
                {
                    "op": "update",
                    "urn": urn,
                    "oldState": old,
                    "newState": {**old, "inputs": {**alarm["inputs"], "tags": {"n": str(i)}}},
                    "detailedDiff": {"tags.n": {"kind": "add"}},
                }
            )
        else:
            steps.append({"op": "update", "urn": urn, "oldState": old, "newState": new, "detailedDiff": None})
    return {"steps": steps}


def test_a_preview_of_thousands_of_steps_stays_under_the_limit_and_keeps_every_approval() -> None:
    # GIVEN 5,000 steps: 100 approvals and thousands of look findings
    report = build(parse_preview(_many(5000), "big.json"))
    approvals = report.at(Level.APPROVAL)
    assert len(approvals) == 100 and len(report.at(Level.LOOK)) > 3000
    # WHEN rendered as the comment
    comment = markdown([report])
    # THEN it fits GitHub's limit, every approval is there with its details, and it says what it left out
    assert len(comment) < GITHUB_COMMENT_LIMIT
    assert comment.startswith(MARKER)
    for finding in approvals:
        assert f"`{finding.name}`" in comment
    assert "state: protect off" in comment
    assert "Left out to stay under 65,000 characters" in comment
    assert "look finding(s)" in comment and "the routine table" in comment


def test_a_small_change_is_rendered_whole_with_collapsed_sections() -> None:
    report = build(parse_preview(json.loads(s.RISKY_FIXTURE.read_text()), "risky.json"))
    comment = markdown([report])
    assert "Left out" not in comment
    assert "<details><summary>Deserves a look (3)</summary>" in comment
    assert "#### Needs explicit approval (5)" in comment  # open, never collapsed


def test_when_even_the_approvals_are_too_long_their_titles_stay() -> None:
    report = build(parse_preview(_many(5000), "big.json"))
    comment = markdown([report], budget=12_000)
    assert len(comment) <= 12_000
    assert all(f"`{f.name}`" in comment for f in report.at(Level.APPROVAL))
    assert "the details of the approval findings" in comment


def example_comment() -> str:
    """The README's example: the committed risky fixture, rendered."""
    return markdown([build(parse_preview(json.loads(s.RISKY_FIXTURE.read_text()), "prod.json"))])


README_START = "<!-- review-example:start -->\n"
README_END = "<!-- review-example:end -->\n"


def readme_block() -> str:
    return f"{README_START}````markdown\n{example_comment()}````\n{README_END}"


def test_the_fixture_is_the_risky_change_of_the_committed_prod_plan() -> None:
    expected = json.dumps(s.preview(s.risky), indent=2, sort_keys=True) + "\n"
    assert s.RISKY_FIXTURE.read_text() == expected, "run `make review-example`"


def test_the_readme_shows_the_comment_the_fixture_renders_to() -> None:
    readme = (ROOT / "README.md").read_text()
    start, end = readme.index(README_START), readme.index(README_END) + len(README_END)
    assert readme[start:end] == readme_block(), "run `make review-example`"
