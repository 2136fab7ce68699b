from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from notes_platform.graph.plan import Plan, run_plan

SNAPSHOT_IMAGE_TAG = "0000000-000000000000"  # the Makefile's snapshots target pins the same


@contextmanager
def pinned_image_tag() -> Iterator[None]:
    """Plans made inside name the image the committed snapshots name, whatever the checkout."""
    previous = os.environ.get("NOTES_PLATFORM_IMAGE_TAG")
    os.environ["NOTES_PLATFORM_IMAGE_TAG"] = SNAPSHOT_IMAGE_TAG
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("NOTES_PLATFORM_IMAGE_TAG", None)
        else:
            os.environ["NOTES_PLATFORM_IMAGE_TAG"] = previous


@pytest.fixture(scope="session")
def plans() -> Iterator[dict[str, Plan]]:
    """Both stacks planned once per session: the whole-stack and snapshot tests share them."""
    with pinned_image_tag():
        yield {stack: run_plan(stack) for stack in ("staging", "prod")}


@pytest.fixture(scope="session")
def eks_plan() -> Iterator[Plan]:
    """staging-eks planned once per session, for every test of the EKS path."""
    with pinned_image_tag():
        yield run_plan("staging-eks")


@pytest.fixture(autouse=True)
def _the_main_thread_keeps_an_event_loop() -> Iterator[None]:
    """Fail the test that leaves the main thread without a current event loop (``asyncio.run``
    does: it ends with ``set_event_loop(None)``). Pulumi's mocks and the plan ask for the current
    loop, so every infrastructure test after it would fail far from the cause."""
    yield
    try:
        asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())
        pytest.fail(
            "this test left the main thread without a current event loop (asyncio.run does): "
            "run coroutines on a loop of its own, as tests/app/test_redis_gate.py's _run does"
        )
