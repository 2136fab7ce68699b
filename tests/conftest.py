from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from notes_platform.graph.plan import Plan, run_plan

SNAPSHOT_IMAGE_TAG = "0000000-000000000000"  # the Makefile's snapshots target pins the same


@pytest.fixture(scope="session")
def plans() -> Iterator[dict[str, Plan]]:
    """Both stacks planned once per session: the whole-stack and snapshot tests share them."""
    previous = os.environ.get("NOTES_PLATFORM_IMAGE_TAG")
    os.environ["NOTES_PLATFORM_IMAGE_TAG"] = SNAPSHOT_IMAGE_TAG
    try:
        yield {stack: run_plan(stack) for stack in ("staging", "prod")}
    finally:
        if previous is None:
            os.environ.pop("NOTES_PLATFORM_IMAGE_TAG", None)
        else:
            os.environ["NOTES_PLATFORM_IMAGE_TAG"] = previous
