from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from notes_platform.graph.plan import Plan, run_plan

SNAPSHOT_REVISION = "0000000"  # the Makefile's snapshots target pins the same


@pytest.fixture(scope="session")
def plans() -> Iterator[dict[str, Plan]]:
    """Both stacks planned once per session: the whole-stack and snapshot tests share them."""
    previous = os.environ.get("NOTES_PLATFORM_REVISION")
    os.environ["NOTES_PLATFORM_REVISION"] = SNAPSHOT_REVISION
    try:
        yield {stack: run_plan(stack) for stack in ("staging", "prod")}
    finally:
        if previous is None:
            os.environ.pop("NOTES_PLATFORM_REVISION", None)
        else:
            os.environ["NOTES_PLATFORM_REVISION"] = previous
