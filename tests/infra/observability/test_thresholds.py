"""Alarm thresholds: the defaults are valid, and thresholds CloudWatch would refuse or that
could never fire stop an alarm component in its constructor."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from infra.observability.alarms import DeploymentAlarms, DeploymentAlarmsArgs
from infra.observability.thresholds import AlarmThresholds, validate_thresholds


def test_default_thresholds_are_valid() -> None:
    validate_thresholds(AlarmThresholds())


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"alb_5xx_percent": 0}, r"thresholds\.alb_5xx_percent=0: a percentage"),
        ({"redis_memory_percent": 120}, r"thresholds\.redis_memory_percent=120"),
        ({"target_p99_seconds": 0}, r"thresholds\.target_p99_seconds=0 must be above 0"),
        ({"docdb_freeable_memory_bytes": -1}, r"thresholds\.docdb_freeable_memory_bytes"),
        ({"redis_evictions": -1}, r"thresholds\.redis_evictions=-1 must not be negative"),
        ({"period_seconds": 30}, r"thresholds\.period_seconds=30"),
        (
            {"datapoints_to_alarm": 6},
            r"thresholds\.datapoints_to_alarm=6 is above thresholds\.evaluation_periods=5",
        ),
        (
            {"saturation_datapoints_to_alarm": 16},
            r"thresholds\.saturation_datapoints_to_alarm=16 is above",
        ),
        ({"saturation_evaluation_periods": 1441, "saturation_datapoints_to_alarm": 1}, r"at most 86400 s"),
    ],
)
def test_impossible_thresholds_fail_in_the_constructor(overrides: dict[str, Any], message: str) -> None:
    # GIVEN thresholds CloudWatch would refuse or that could never fire / THEN construction says which
    args = DeploymentAlarmsArgs(
        environment="staging",
        topic_arn="arn:aws:sns:eu-west-1:123456789012:notes-staging-alarms",
        alb_arn_suffix="app/x/1",
        target_group_arn_suffix="targetgroup/x/1",
        thresholds=replace(AlarmThresholds(), **overrides),
    )
    with pytest.raises(ValueError, match=message):
        DeploymentAlarms("bad", args)
