"""Fixtures: Secrets Manager in process (moto) per test, and one SecantusDB with access control on
per session (tests/rotation/support.py says why and how)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.rotation.support import AuthSecantusServer, secrets_manager


@pytest.fixture
def sm() -> Iterator[Any]:
    """A Secrets Manager client on a fresh moto backend."""
    with secrets_manager() as client:
        yield client


@pytest.fixture(scope="session")
def docdb() -> Iterator[AuthSecantusServer]:
    with AuthSecantusServer() as server:
        yield server
