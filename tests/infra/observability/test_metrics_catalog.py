"""The metrics catalog: it refuses what AWS does not publish, and it loads without Pulumi (the
stack's config schema reads it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from infra.observability.metrics_catalog import check

ROOT = Path(__file__).resolve().parents[3]


def test_catalog_refuses_metrics_and_dimensions_aws_does_not_publish() -> None:
    check("AWS/ApplicationELB", "UnHealthyHostCount", frozenset({"LoadBalancer", "TargetGroup"}))
    with pytest.raises(ValueError, match=r"not published with dimensions \['TargetGroup'\]"):
        # Health counts exist only for a target group of a load balancer.
        check("AWS/ApplicationELB", "UnHealthyHostCount", frozenset({"TargetGroup"}))
    with pytest.raises(ValueError, match=r"not published with dimensions \['LoadBalancer', 'TargetGroup'\]"):
        # The ALB's own 5xx belong to no target group.
        check("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", frozenset({"LoadBalancer", "TargetGroup"}))
    with pytest.raises(ValueError, match=r"not published with dimensions \['DBClusterIdentifier'\]"):
        # Replica lag is reported per replica instance.
        check("AWS/DocDB", "DBInstanceReplicaLag", frozenset({"DBClusterIdentifier"}))
    with pytest.raises(ValueError, match=r"publishes no metric 'RunningTasks'"):
        check("ECS/ContainerInsights", "RunningTasks", frozenset({"ClusterName", "ServiceName"}))
    with pytest.raises(ValueError, match=r"namespace 'AWS/RDS' is not in the metrics catalog"):
        check("AWS/RDS", "CPUUtilization", frozenset({"DBInstanceIdentifier"}))


def test_the_catalog_loads_without_pulumi() -> None:
    # GIVEN a fresh interpreter / WHEN it imports the catalog, as the stack's config schema does
    code = (
        "import sys; import infra.observability.metrics_catalog; "
        "print(sorted(m for m in ('pulumi', 'pulumi_aws') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    # THEN neither Pulumi nor the AWS provider is loaded
    assert result.stdout.strip() == "[]", result.stdout
