from __future__ import annotations

import pytest

from notes_platform.graph.plan import ProjectPlan, run_bootstrap_plan


@pytest.fixture(scope="session")
def bootstrap_plan() -> ProjectPlan:
    """The committed bootstrap stack planned once per session under Pulumi's mocks."""
    return run_bootstrap_plan("bootstrap")
