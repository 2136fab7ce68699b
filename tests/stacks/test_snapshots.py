"""The committed plan snapshots: every infrastructure change shows up as a diff in review.

After an intended change, `make snapshots` refreshes them."""

from __future__ import annotations

import difflib

import pytest

from notes_platform.graph.plan import Plan, run_plan
from stacks.config import ROOT
from tests.conftest import SNAPSHOT_IMAGE_TAG

SNAPSHOTS = ROOT / "tests" / "snapshots"
MAX_DIFF_LINES = 120


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_plan_matches_the_committed_snapshot(plans: dict[str, Plan], stack: str) -> None:
    # GIVEN the committed graph and WHEN the program is planned again
    path = SNAPSHOTS / f"{stack}.json"
    assert path.is_file(), f"{path.name} is missing: run `make snapshots`"
    expected, actual = path.read_text(), plans[stack].to_json()
    # THEN nothing drifted; otherwise show the reviewer-readable diff
    if actual != expected:
        diff = list(
            difflib.unified_diff(
                expected.splitlines(),
                actual.splitlines(),
                f"committed {path.name}",
                "planned now",
                lineterm="",
                n=2,
            )
        )
        shown = "\n".join(diff[:MAX_DIFF_LINES])
        more = f"\n... {len(diff) - MAX_DIFF_LINES} more diff lines" if len(diff) > MAX_DIFF_LINES else ""
        pytest.fail(
            f"the {stack} plan drifted from {path.name}; if intended, run `make snapshots`\n{shown}{more}"
        )


def test_two_runs_are_byte_identical(plans: dict[str, Plan], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTES_PLATFORM_IMAGE_TAG", SNAPSHOT_IMAGE_TAG)
    assert run_plan("staging").to_json() == plans["staging"].to_json()
