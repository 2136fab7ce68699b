"""The building blocks of every alarm component: ``check_alarm_args``, what each checks before
it registers anything; ``Alarm``, what one alarm says (a metric, or metric math over several, a
threshold, an ``Evaluation`` window and how missing data counts); and ``AlarmFactory``, which
turns it into a MetricAlarm of its component that notifies the alarm topic. A ``Metric`` is
checked against the metrics catalog when it is described, before anything is registered."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.observability.metrics_catalog import check
from infra.observability.naming import check_environment
from infra.observability.thresholds import AlarmThresholds, validate_thresholds

TREAT_MISSING_DATA = ("breaching", "notBreaching", "ignore", "missing")


def check_alarm_args(environment: str, topic_arn: pulumi.Input[str], thresholds: AlarmThresholds) -> None:
    """What every alarm component checks before it registers anything."""
    check_environment(environment)
    if isinstance(topic_arn, str) and not topic_arn.startswith("arn:"):
        raise ValueError(f"topic_arn={topic_arn!r} must be the ARN of the alarm topic")
    validate_thresholds(thresholds)


@dataclass(frozen=True)
class Metric:
    namespace: str
    name: str
    dimensions: Mapping[str, pulumi.Input[str]]
    # A statistic ("Average", "Sum", ...) or a percentile ("p99").
    stat: str

    def __post_init__(self) -> None:
        check(self.namespace, self.name, frozenset(self.dimensions))

    @property
    def percentile(self) -> bool:
        return bool(re.fullmatch(r"p\d+(\.\d+)?", self.stat))


@dataclass(frozen=True)
class Evaluation:
    periods: int
    datapoints: int
    period_seconds: int

    @property
    def window(self) -> str:
        """The window as descriptions state it: "3 of 5 periods of 1 min"."""
        return f"{self.datapoints} of {self.periods} periods of {self.period_seconds // 60} min"


@dataclass(frozen=True)
class Alarm:
    """What one alarm says; ``AlarmFactory.create`` turns it into a MetricAlarm."""

    role: str
    what: str
    description: str
    comparison: str
    threshold: float
    # Deliberate per alarm: see the comment where each is chosen.
    treat_missing_data: str
    evaluation: Evaluation
    metric: Metric | None = None
    # Metric math: the inputs by id, and the expression whose result is compared.
    inputs: Mapping[str, Metric] = field(default_factory=dict)
    expression: str | None = None
    evaluate_low_sample_count_percentiles: str | None = None


class AlarmFactory:
    def __init__(
        self,
        parent: pulumi.Resource,
        name: str,
        environment: str,
        topic_arn: pulumi.Input[str],
        provider: pulumi.ProviderResource | None = None,
    ) -> None:
        self.parent = parent
        self.name = name
        self.environment = environment
        self.topic_arn = topic_arn
        # An alarm lives in its metric's region: the edge's CloudFront and WAF alarms take its
        # us-east-1 provider, the others inherit the stack's from their parent.
        self.opts = pulumi.ResourceOptions(parent=parent, provider=provider)

    def create(self, a: Alarm) -> aws.cloudwatch.MetricAlarm:
        if a.treat_missing_data not in TREAT_MISSING_DATA:
            raise ValueError(f"{a.what}: treat_missing_data={a.treat_missing_data!r}")
        if (a.metric is None) == (a.expression is None) or bool(a.inputs) != (a.expression is not None):
            raise ValueError(f"{a.what}: give either one metric, or metric math inputs and an expression")
        single: dict[str, Any] = {}
        queries: list[aws.cloudwatch.MetricAlarmMetricQueryArgs] | None = None
        if a.metric is not None:
            m = a.metric
            single = {
                "namespace": m.namespace,
                "metric_name": m.name,
                "dimensions": dict(m.dimensions),
                "period": a.evaluation.period_seconds,
                **({"extended_statistic": m.stat} if m.percentile else {"statistic": m.stat}),
            }
        else:
            queries = [
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id=query_id,
                    return_data=False,
                    metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                        namespace=m.namespace,
                        metric_name=m.name,
                        dimensions=dict(m.dimensions),
                        period=a.evaluation.period_seconds,
                        stat=m.stat,
                    ),
                )
                for query_id, m in a.inputs.items()
            ]
            queries.append(
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id="result", expression=a.expression, label=a.what, return_data=True
                )
            )
        return aws.cloudwatch.MetricAlarm(
            f"{self.name}-{a.role}",
            name=f"notes-{self.environment}-{a.role}",
            alarm_description=a.description,
            comparison_operator=a.comparison,
            threshold=a.threshold,
            evaluation_periods=a.evaluation.periods,
            datapoints_to_alarm=a.evaluation.datapoints,
            treat_missing_data=a.treat_missing_data,
            evaluate_low_sample_count_percentiles=a.evaluate_low_sample_count_percentiles,
            metric_queries=queries,
            # OK as well as ALARM: whoever was paged learns that it is over.
            alarm_actions=[self.topic_arn],
            ok_actions=[self.topic_arn],
            actions_enabled=True,
            opts=self.opts,
            **single,
        )
