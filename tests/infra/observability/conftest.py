from __future__ import annotations

import pytest

from tests.infra.harness import Graph
from tests.infra.observability.stack import PROD, STAGING, stack_graph


# Planned once for the package: the topic, alarm and dashboard tests read the same graphs.
@pytest.fixture(scope="package")
def staging() -> Graph:
    """Staging-like: one DocumentDB instance, one cache node, no edge."""
    return stack_graph("staging", STAGING, docdb_count=1, cache_count=1)


@pytest.fixture(scope="package")
def prod() -> Graph:
    """Prod-like: three instances, three nodes, CloudFront and WAF in front."""
    return stack_graph(
        "prod",
        PROD,
        docdb_count=3,
        cache_count=3,
        web_acl_name="notes-prod-edge",
        distribution_id="E2EXAMPLE",
    )
