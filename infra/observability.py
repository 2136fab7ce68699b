"""Who is told when the notes stack misbehaves, and where to look.

- ``AlarmTopic``: the KMS-encrypted SNS topic every alarm notifies, and its subscriptions.
- ``DeploymentAlarms``: the API's 5xx rate and p99 latency. They need only the ALB and its
  target group, so they exist before the ECS service, which rolls a deployment back on them.
- ``ServiceAlarms``: unhealthy targets, tasks below the desired count, service CPU and memory.
- ``DataAlarms``: DocumentDB and Redis, per instance / node.
- ``Dashboard``: one CloudWatch dashboard per environment (body in ``infra.dashboard``).

Composition order: topic -> DeploymentAlarms -> ApiService(deployment_alarm_names=...) ->
ServiceAlarms, DataAlarms -> Dashboard.

Every alarm notifies the topic on ALARM and on OK, is named ``notes-<env>-<what>``, takes its
threshold from ``AlarmThresholds`` and watches a metric from ``infra.metrics_catalog``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.cache import MAX_NODES as MAX_CACHE_NODES
from infra.dashboard import DashboardValues, check_sizes, dashboard_body, dashboard_name, dashboard_url
from infra.documentdb import MAX_INSTANCES as MAX_DOCDB_INSTANCES
from infra.ecs import api_log_group_name
from infra.metrics_catalog import (
    ALB,
    CONTAINER_INSIGHTS,
    DEFAULT_MIN_REQUESTS,
    DOCDB,
    ECS,
    ELASTICACHE,
    check,
    error_rate_expression,
)

PROTOCOLS = ("email", "https")
TREAT_MISSING_DATA = ("breaching", "notBreaching", "ignore", "missing")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
ENVIRONMENT = re.compile(r"^[a-z][a-z0-9-]*$")
MIB = 1024 * 1024
# CloudWatch evaluates at most one day of periods of a minute or more.
MAX_EVALUATION_SECONDS = 24 * 60 * 60


# --- thresholds -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AlarmThresholds:
    """Where each alarm fires. Defaults suit a small environment; a stack file tightens them."""

    # 5xx responses (tasks + ALB) as % of requests, per minute. Default 5.
    alb_5xx_percent: float = 5.0
    # Requests per minute below which the 5xx rate counts as 0 (too few to judge). Default 50.
    alb_5xx_min_requests: int = DEFAULT_MIN_REQUESTS
    # p99 of the tasks' response time, seconds. Default 1.0.
    target_p99_seconds: float = 1.0
    # Unhealthy targets in the target group at which to alarm. Default 1.
    unhealthy_hosts: int = 1
    # Tasks missing from the desired count at which to alarm. Default 1.
    running_task_shortfall: int = 1
    # Service average CPU, %: target tracking aims at 60, so this means it cannot keep up. Default 85.
    service_cpu_percent: float = 85.0
    # Service average memory, %. Default 85.
    service_memory_percent: float = 85.0
    # CPU of a DocumentDB instance, %. Default 80.
    docdb_cpu_percent: float = 80.0
    # Freeable memory of a DocumentDB instance below which to alarm, bytes. Default 256 MiB
    # (for a 4 GiB db.t4g.medium; raise it with the instance class).
    docdb_freeable_memory_bytes: int = 256 * MIB
    # Open connections on one DocumentDB instance; the class's limit is the ceiling
    # (db.t4g.medium: 500, db.r6g.large: 1700). Default 400.
    docdb_connections: int = 400
    # Lag of a DocumentDB replica behind the writer, ms; the API reads from replicas. Default 1000.
    docdb_replica_lag_ms: float = 1000.0
    # Host CPU of a cache node, %. Redis runs commands on one core, so AWS suggests 90 / vCPUs on
    # nodes of 2 vCPUs or fewer. Default 45 (2 vCPUs: cache.t4g.small, cache.r7g.large).
    redis_cpu_percent: float = 45.0
    # CPU of the Redis engine thread, %. Default 90.
    redis_engine_cpu_percent: float = 90.0
    # Memory used by the data set, % of maxmemory. Default 80.
    redis_memory_percent: float = 80.0
    # Keys evicted per minute by one node; evicted rate-limit counters weaken the limits. Default 100.
    redis_evictions: int = 100
    # Lag of a cache replica behind the primary, seconds. Default 10.
    redis_replication_lag_seconds: float = 10.0
    # Period of every alarm, seconds (a multiple of 60). Default 60.
    period_seconds: int = 60
    # Errors, latency and health: alarm when datapoints_to_alarm of the last evaluation_periods
    # periods breach. Defaults 3 of 5: a bad deployment rolls back within minutes.
    evaluation_periods: int = 5
    datapoints_to_alarm: int = 3
    # Saturation (CPU, memory, connections, lag, evictions): sustained, not a spike. Default 12 of 15.
    saturation_evaluation_periods: int = 15
    saturation_datapoints_to_alarm: int = 12
    # Tasks below desired, every period of this many: a task takes a minute or two to start
    # after a scale-out or a replacement. Default 10.
    task_shortfall_evaluation_periods: int = 10


_PERCENT_FIELDS = (
    "alb_5xx_percent",
    "service_cpu_percent",
    "service_memory_percent",
    "docdb_cpu_percent",
    "redis_cpu_percent",
    "redis_engine_cpu_percent",
    "redis_memory_percent",
)
_POSITIVE_FIELDS = (
    "alb_5xx_min_requests",
    "target_p99_seconds",
    "unhealthy_hosts",
    "running_task_shortfall",
    "docdb_freeable_memory_bytes",
    "docdb_connections",
    "docdb_replica_lag_ms",
    "redis_replication_lag_seconds",
    "evaluation_periods",
    "datapoints_to_alarm",
    "saturation_evaluation_periods",
    "saturation_datapoints_to_alarm",
    "task_shortfall_evaluation_periods",
)


def validate_thresholds(t: AlarmThresholds) -> None:
    """Refuse thresholds CloudWatch would reject or that could never fire."""
    for name in _PERCENT_FIELDS:
        value = getattr(t, name)
        if not 0 < value <= 100:
            raise ValueError(f"thresholds.{name}={value}: a percentage must lie in (0, 100]")
    for name in _POSITIVE_FIELDS:
        value = getattr(t, name)
        if value <= 0:
            raise ValueError(f"thresholds.{name}={value} must be above 0")
    if t.redis_evictions < 0:
        raise ValueError(f"thresholds.redis_evictions={t.redis_evictions} must not be negative")
    if t.period_seconds < 60 or t.period_seconds % 60:
        raise ValueError(
            f"thresholds.period_seconds={t.period_seconds}: AWS metrics have one-minute resolution; "
            "use a multiple of 60"
        )
    pairs = (
        ("datapoints_to_alarm", "evaluation_periods"),
        ("saturation_datapoints_to_alarm", "saturation_evaluation_periods"),
    )
    for datapoints, periods in pairs:
        if getattr(t, datapoints) > getattr(t, periods):
            raise ValueError(
                f"thresholds.{datapoints}={getattr(t, datapoints)} is above "
                f"thresholds.{periods}={getattr(t, periods)}: an alarm cannot need more breaching "
                "periods than it evaluates"
            )
    for periods in (
        "evaluation_periods",
        "saturation_evaluation_periods",
        "task_shortfall_evaluation_periods",
    ):
        if getattr(t, periods) * t.period_seconds > MAX_EVALUATION_SECONDS:
            raise ValueError(
                f"thresholds.{periods} x period_seconds is {getattr(t, periods) * t.period_seconds} s; "
                f"CloudWatch evaluates at most {MAX_EVALUATION_SECONDS} s"
            )


def _check_environment(environment: str) -> None:
    if not ENVIRONMENT.match(environment):
        raise ValueError(
            f"environment={environment!r}: lower-case letters, digits and '-' only; it names every alarm"
        )


def _check_alarm_args(environment: str, topic_arn: pulumi.Input[str], thresholds: AlarmThresholds) -> None:
    """What every alarm component checks before it registers anything."""
    _check_environment(environment)
    if isinstance(topic_arn, str) and not topic_arn.startswith("arn:"):
        raise ValueError(f"topic_arn={topic_arn!r} must be the ARN of the alarm topic")
    validate_thresholds(thresholds)


# --- the topic ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlarmSubscription:
    """One recipient of every alarm notification."""

    # "email" (the address confirms by clicking the link SNS sends) or "https" (the endpoint
    # confirms by fetching the SubscribeURL SNS posts to it).
    protocol: str
    # An e-mail address, or an https:// URL.
    endpoint: str


@dataclass(frozen=True)
class AlarmTopicArgs:
    """The alarm topic of one environment."""

    # Environment name: the topic is notes-<env>-alarms.
    environment: str
    # Region of the topic; alarms notify topics of their own region only.
    region: str
    # Account whose CloudWatch alarms may publish.
    account_id: pulumi.Input[str]
    # KMS key of the topic (the "sns" key: its policy lets CloudWatch use it).
    kms_key_arn: pulumi.Input[str]
    # Who is told. Default none (the topic still collects for later subscribers).
    subscriptions: Sequence[AlarmSubscription] = ()


def topic_policy(*, topic_arn: str, account_id: str, region: str, environment: str) -> dict[str, Any]:
    """CloudWatch may publish, for this account's alarms of this environment only. Principals of
    the account keep what their IAM policies grant: a topic policy is needed only across the
    account boundary, and for service principals."""
    alarms = f"arn:aws:cloudwatch:{region}:{account_id}:alarm:notes-{environment}-*"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "CloudWatchAlarmsOfThisAccountPublish",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account_id},
                    "ArnLike": {"aws:SourceArn": alarms},
                },
            }
        ],
    }


def _validate_subscriptions(subscriptions: Sequence[AlarmSubscription]) -> None:
    seen: set[tuple[str, str]] = set()
    for index, s in enumerate(subscriptions):
        where = f"subscriptions[{index}]"
        if s.protocol not in PROTOCOLS:
            raise ValueError(f"{where}.protocol={s.protocol!r}: use one of {', '.join(PROTOCOLS)}")
        if s.protocol == "email" and not EMAIL.match(s.endpoint):
            raise ValueError(f"{where}.endpoint={s.endpoint!r} is not an e-mail address")
        if s.protocol == "https" and not re.match(r"^https://[^/\s]+\.[^/\s]+(/\S*)?$", s.endpoint):
            raise ValueError(
                f"{where}.endpoint={s.endpoint!r}: an https subscription needs an https:// URL "
                "(alarm notifications never travel in plain HTTP)"
            )
        key = (s.protocol, s.endpoint.lower())
        if key in seen:
            raise ValueError(f"{where}: {s.protocol} {s.endpoint} is listed twice")
        seen.add(key)


class AlarmTopic(pulumi.ComponentResource):
    """The encrypted SNS topic of an environment's alarms, its policy and its subscribers."""

    topic: aws.sns.Topic
    arn: pulumi.Output[str]
    policy: aws.sns.TopicPolicy
    subscriptions: list[aws.sns.TopicSubscription]

    def __init__(self, name: str, args: AlarmTopicArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        _check_environment(args.environment)
        _validate_subscriptions(args.subscriptions)
        super().__init__("notes:infra:AlarmTopic", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        env = args.environment

        self.topic = aws.sns.Topic(
            f"{name}-topic",
            name=f"notes-{env}-alarms",
            display_name=f"notes {env} alarms",
            kms_master_key_id=args.kms_key_arn,
            opts=child,
        )
        self.arn = self.topic.arn
        self.policy = aws.sns.TopicPolicy(
            f"{name}-policy",
            arn=self.topic.arn,
            policy=pulumi.Output.all(topic_arn=self.topic.arn, account_id=args.account_id).apply(
                lambda v: json.dumps(topic_policy(region=args.region, environment=env, **v))
            ),
            opts=child,
        )
        # E-mail and https subscriptions stay pending until their owner confirms them; SNS
        # drops an unconfirmed one after three days, and nothing can delete it before.
        self.subscriptions = [
            aws.sns.TopicSubscription(
                # Named after the endpoint, not its position: reordering the list must not
                # delete and recreate a subscription (and ask its owner to confirm again).
                f"{name}-{s.protocol}-{hashlib.sha256(s.endpoint.lower().encode()).hexdigest()[:10]}",
                topic=self.topic.arn,
                protocol=s.protocol,
                endpoint=s.endpoint,
                opts=child,
            )
            for s in args.subscriptions
        ]
        self.register_outputs({"topicArn": self.arn})


# --- alarm building blocks ------------------------------------------------------------------


@dataclass(frozen=True)
class _Metric:
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
class _Evaluation:
    periods: int
    datapoints: int
    period_seconds: int

    @property
    def window(self) -> str:
        """The window as descriptions state it: "3 of 5 periods of 1 min"."""
        return f"{self.datapoints} of {self.periods} periods of {self.period_seconds // 60} min"


@dataclass(frozen=True)
class _Alarm:
    """What one alarm says; ``_AlarmFactory.create`` turns it into a MetricAlarm."""

    role: str
    what: str
    description: str
    comparison: str
    threshold: float
    # Deliberate per alarm: see the comment where each is chosen.
    treat_missing_data: str
    evaluation: _Evaluation
    metric: _Metric | None = None
    # Metric math: the inputs by id, and the expression whose result is compared.
    inputs: Mapping[str, _Metric] = field(default_factory=dict)
    expression: str | None = None
    evaluate_low_sample_count_percentiles: str | None = None


class _AlarmFactory:
    def __init__(
        self, parent: pulumi.Resource, name: str, environment: str, topic_arn: pulumi.Input[str]
    ) -> None:
        self.parent = parent
        self.name = name
        self.environment = environment
        self.topic_arn = topic_arn

    def create(self, a: _Alarm) -> aws.cloudwatch.MetricAlarm:
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
            opts=pulumi.ResourceOptions(parent=self.parent),
            **single,
        )


def _fast(t: AlarmThresholds) -> _Evaluation:
    return _Evaluation(t.evaluation_periods, t.datapoints_to_alarm, t.period_seconds)


def _sustained(t: AlarmThresholds) -> _Evaluation:
    return _Evaluation(t.saturation_evaluation_periods, t.saturation_datapoints_to_alarm, t.period_seconds)


# --- deployment alarms ----------------------------------------------------------------------


@dataclass(frozen=True)
class DeploymentAlarmsArgs:
    """The API's error rate and latency: the alarms a deployment rolls back on."""

    # Environment name, part of every alarm name.
    environment: str
    # The alarm topic (AlarmTopic.arn).
    topic_arn: pulumi.Input[str]
    # ARN suffixes of the ALB and of the API's target group: the metrics' dimension values.
    alb_arn_suffix: pulumi.Input[str]
    target_group_arn_suffix: pulumi.Input[str]
    # Thresholds and evaluation windows. Default AlarmThresholds().
    thresholds: AlarmThresholds = field(default_factory=AlarmThresholds)


class DeploymentAlarms(pulumi.ComponentResource):
    """5xx rate and p99 latency of the API; ``alarm_names`` go to ApiServiceArgs."""

    error_rate: aws.cloudwatch.MetricAlarm
    latency: aws.cloudwatch.MetricAlarm
    alarms: list[aws.cloudwatch.MetricAlarm]
    alarm_names: list[pulumi.Output[str]]
    alarm_arns: list[pulumi.Output[str]]

    def __init__(
        self, name: str, args: DeploymentAlarmsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        _check_alarm_args(args.environment, args.topic_arn, args.thresholds)
        super().__init__("notes:infra:DeploymentAlarms", name, None, opts)
        t = args.thresholds
        factory = _AlarmFactory(self, name, args.environment, args.topic_arn)
        fast = _fast(t)
        lb = {"LoadBalancer": args.alb_arn_suffix}
        target = {"LoadBalancer": args.alb_arn_suffix, "TargetGroup": args.target_group_arn_suffix}
        logs = api_log_group_name(args.environment)

        # Per load balancer: the ALB's own 5xx (no healthy task, task reset the connection)
        # belong to no target group. The API's target group is the ALB's only one.
        self.error_rate = factory.create(
            _Alarm(
                role="api-5xx-rate",
                what="5xx rate %",
                description=(
                    f"More than {t.alb_5xx_percent:g}% of API requests ended in a 5xx (from the tasks or "
                    f"the ALB) in {fast.window}. During a deployment ECS rolls back on this "
                    f"alarm. Otherwise read the API's errors in {logs} and check the database and "
                    "cache alarms."
                ),
                comparison="GreaterThanThreshold",
                threshold=t.alb_5xx_percent,
                # No data is no traffic, hence no errors; the low-traffic guard already reads 0.
                treat_missing_data="notBreaching",
                evaluation=fast,
                inputs={
                    "requests": _Metric(ALB, "RequestCount", lb, "Sum"),
                    "target5xx": _Metric(ALB, "HTTPCode_Target_5XX_Count", lb, "Sum"),
                    "elb5xx": _Metric(ALB, "HTTPCode_ELB_5XX_Count", lb, "Sum"),
                },
                expression=error_rate_expression(
                    requests="requests",
                    target_5xx="target5xx",
                    elb_5xx="elb5xx",
                    min_requests=t.alb_5xx_min_requests,
                ),
            )
        )
        self.latency = factory.create(
            _Alarm(
                role="api-p99-latency",
                what="p99 response time",
                description=(
                    f"The API's p99 response time was above {t.target_p99_seconds:g} s in "
                    f"{fast.window}. During a deployment ECS rolls back on this alarm. Otherwise "
                    "check service CPU, DocumentDB CPU and connections, and Redis engine CPU, and "
                    f"the slow requests in {logs}."
                ),
                comparison="GreaterThanThreshold",
                threshold=t.target_p99_seconds,
                # No requests, no latency to judge.
                treat_missing_data="notBreaching",
                evaluation=fast,
                metric=_Metric(ALB, "TargetResponseTime", target, "p99"),
                # A p99 of a handful of requests is one slow request: keep the state instead.
                evaluate_low_sample_count_percentiles="ignore",
            )
        )
        self.alarms = [self.error_rate, self.latency]
        self.alarm_names = [a.name for a in self.alarms]
        self.alarm_arns = [a.arn for a in self.alarms]
        self.register_outputs({"alarmNames": self.alarm_names})


# --- service alarms -------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceAlarmsArgs:
    """Health and saturation of the running API service."""

    environment: str
    topic_arn: pulumi.Input[str]
    alb_arn_suffix: pulumi.Input[str]
    target_group_arn_suffix: pulumi.Input[str]
    # ECS cluster and service (ApiService.cluster_name / service_name).
    cluster_name: pulumi.Input[str]
    service_name: pulumi.Input[str]
    # Default AlarmThresholds().
    thresholds: AlarmThresholds = field(default_factory=AlarmThresholds)


class ServiceAlarms(pulumi.ComponentResource):
    """Unhealthy targets, tasks below desired, service CPU and memory."""

    alarms: list[aws.cloudwatch.MetricAlarm]
    alarm_arns: list[pulumi.Output[str]]

    def __init__(
        self, name: str, args: ServiceAlarmsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        _check_alarm_args(args.environment, args.topic_arn, args.thresholds)
        super().__init__("notes:infra:ServiceAlarms", name, None, opts)
        t = args.thresholds
        factory = _AlarmFactory(self, name, args.environment, args.topic_arn)
        target = {"LoadBalancer": args.alb_arn_suffix, "TargetGroup": args.target_group_arn_suffix}
        service = {"ClusterName": args.cluster_name, "ServiceName": args.service_name}
        logs = api_log_group_name(args.environment)
        fast, sustained = _fast(t), _sustained(t)
        shortfall = _Evaluation(
            t.task_shortfall_evaluation_periods, t.task_shortfall_evaluation_periods, t.period_seconds
        )

        self.alarms = [
            factory.create(
                _Alarm(
                    role="api-unhealthy-hosts",
                    what="unhealthy targets",
                    description=(
                        f"{t.unhealthy_hosts} or more API tasks failed the ALB's health check in "
                        f"{fast.window}. Look for stopped tasks and their reason in the ECS "
                        f"console and for start-up errors in {logs}."
                    ),
                    comparison="GreaterThanOrEqualToThreshold",
                    threshold=t.unhealthy_hosts,
                    # Without registered targets there is no count; tasks that are missing
                    # altogether are the running-tasks alarm's to report.
                    treat_missing_data="notBreaching",
                    evaluation=fast,
                    metric=_Metric(ALB, "UnHealthyHostCount", target, "Maximum"),
                )
            ),
            factory.create(
                _Alarm(
                    role="api-running-tasks",
                    what="tasks below desired",
                    description=(
                        f"The API ran {t.running_task_shortfall} or more tasks fewer than desired for "
                        f"{shortfall.periods} minutes. Check the service's events in the ECS console "
                        "(capacity, image pull, secrets, failing health checks)."
                    ),
                    comparison="GreaterThanOrEqualToThreshold",
                    threshold=t.running_task_shortfall,
                    # Container Insights reports every minute while the service exists: silence
                    # means nobody can see the service, which is not health.
                    treat_missing_data="breaching",
                    evaluation=shortfall,
                    inputs={
                        "desired": _Metric(CONTAINER_INSIGHTS, "DesiredTaskCount", service, "Average"),
                        "running": _Metric(CONTAINER_INSIGHTS, "RunningTaskCount", service, "Average"),
                    },
                    # No running count while one is desired is a shortfall of all of them; no
                    # desired count leaves the result missing (breaching, above).
                    expression="desired - FILL(running, 0)",
                )
            ),
            factory.create(
                _Alarm(
                    role="api-cpu",
                    what="service CPU %",
                    description=(
                        f"The API's average CPU stayed above {t.service_cpu_percent:g}% "
                        f"({sustained.window}) although autoscaling aims lower: the service is at "
                        "its maximum task count or scaling cannot keep up. Raise the maximum or the "
                        "task size."
                    ),
                    comparison="GreaterThanThreshold",
                    threshold=t.service_cpu_percent,
                    # No tasks report no CPU; that absence is the running-tasks alarm's to report.
                    treat_missing_data="notBreaching",
                    evaluation=sustained,
                    metric=_Metric(ECS, "CPUUtilization", service, "Average"),
                )
            ),
            factory.create(
                _Alarm(
                    role="api-memory",
                    what="service memory %",
                    description=(
                        f"The API's average memory stayed above {t.service_memory_percent:g}% "
                        f"({sustained.window}). Tasks near their limit are killed (OOM): raise "
                        "the task memory or look for a leak in the API's metrics."
                    ),
                    comparison="GreaterThanThreshold",
                    threshold=t.service_memory_percent,
                    # As for CPU: absence is the running-tasks alarm's to report.
                    treat_missing_data="notBreaching",
                    evaluation=sustained,
                    metric=_Metric(ECS, "MemoryUtilization", service, "Average"),
                )
            ),
        ]
        self.alarm_arns = [a.arn for a in self.alarms]
        self.register_outputs({"alarmArns": self.alarm_arns})


# --- data store alarms ----------------------------------------------------------------------


def cache_member_ids(replication_group_id: pulumi.Input[str], node_count: int) -> list[pulumi.Output[str]]:
    """Member cluster ids of a cluster-mode-disabled replication group: ElastiCache names its
    nodes' clusters <group id>-001, -002, ... and publishes their metrics under those ids."""
    group = pulumi.Output.from_input(replication_group_id)
    return [pulumi.Output.format("{0}-{1:03d}", group, n) for n in range(1, node_count + 1)]


@dataclass(frozen=True)
class DataAlarmsArgs:
    """Saturation and replication of the database and the cache."""

    environment: str
    topic_arn: pulumi.Input[str]
    # DocumentDB instance identifiers (DocumentDb.instances[i].identifier), 1-16.
    docdb_instance_ids: Sequence[pulumi.Input[str]]
    # ElastiCache member cluster ids (see cache_member_ids), 1-6.
    cache_cluster_ids: Sequence[pulumi.Input[str]]
    # Default AlarmThresholds().
    thresholds: AlarmThresholds = field(default_factory=AlarmThresholds)


class DataAlarms(pulumi.ComponentResource):
    """Per DocumentDB instance: CPU, freeable memory, connections, replica lag. Per cache node:
    host and engine CPU, memory, evictions, replication lag. Lag alarms only with replicas."""

    alarms: list[aws.cloudwatch.MetricAlarm]
    alarm_arns: list[pulumi.Output[str]]

    def __init__(self, name: str, args: DataAlarmsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        _check_alarm_args(args.environment, args.topic_arn, args.thresholds)
        if not 1 <= len(args.docdb_instance_ids) <= MAX_DOCDB_INSTANCES:
            raise ValueError(
                f"docdb_instance_ids has {len(args.docdb_instance_ids)} entries: a DocumentDB cluster "
                f"has 1 to {MAX_DOCDB_INSTANCES} instances"
            )
        if not 1 <= len(args.cache_cluster_ids) <= MAX_CACHE_NODES:
            raise ValueError(
                f"cache_cluster_ids has {len(args.cache_cluster_ids)} entries: a replication group "
                f"has 1 to {MAX_CACHE_NODES} nodes"
            )
        super().__init__("notes:infra:DataAlarms", name, None, opts)
        factory = _AlarmFactory(self, name, args.environment, args.topic_arn)
        self.alarms = []
        for index, instance_id in enumerate(args.docdb_instance_ids):
            self.alarms += self._docdb(factory, args, index + 1, instance_id)
        for index, cluster_id in enumerate(args.cache_cluster_ids):
            self.alarms += self._cache(factory, args, index + 1, cluster_id)
        self.alarm_arns = [a.arn for a in self.alarms]
        self.register_outputs({"alarmArns": self.alarm_arns})

    @staticmethod
    def _docdb(
        factory: _AlarmFactory, args: DataAlarmsArgs, number: int, instance_id: pulumi.Input[str]
    ) -> list[aws.cloudwatch.MetricAlarm]:
        t = args.thresholds
        sustained = _sustained(t)
        instance = {"DBInstanceIdentifier": instance_id}
        where = f"DocumentDB instance {number} of notes-{args.environment}-docdb"
        role = f"docdb-{number}"
        alarms = [
            _Alarm(
                role=f"{role}-cpu",
                what="DocumentDB CPU %",
                description=(
                    f"{where} ran above {t.docdb_cpu_percent:g}% CPU ({sustained.window}). Look for "
                    "slow queries in the profiler log group; add a replica or a larger instance class."
                ),
                comparison="GreaterThanThreshold",
                threshold=t.docdb_cpu_percent,
                # Gaps come from restarts and maintenance and say nothing about load: keep the state.
                treat_missing_data="ignore",
                evaluation=sustained,
                metric=_Metric(DOCDB, "CPUUtilization", instance, "Average"),
            ),
            _Alarm(
                role=f"{role}-freeable-memory",
                what="DocumentDB freeable memory",
                description=(
                    f"{where} had less than {t.docdb_freeable_memory_bytes // MIB} MiB freeable memory "
                    f"({sustained.window}). The working set no longer fits: move to a larger "
                    "instance class."
                ),
                comparison="LessThanThreshold",
                threshold=t.docdb_freeable_memory_bytes,
                # As for CPU; and a low-memory alarm must never fire on missing data.
                treat_missing_data="ignore",
                evaluation=sustained,
                metric=_Metric(DOCDB, "FreeableMemory", instance, "Minimum"),
            ),
            _Alarm(
                role=f"{role}-connections",
                what="DocumentDB connections",
                description=(
                    f"{where} held more than {t.docdb_connections} connections "
                    f"({sustained.window}). Every API task opens its own pool: check the task "
                    "count and the pool size before the instance's connection limit is reached."
                ),
                comparison="GreaterThanThreshold",
                threshold=t.docdb_connections,
                # As for CPU.
                treat_missing_data="ignore",
                evaluation=sustained,
                metric=_Metric(DOCDB, "DatabaseConnections", instance, "Maximum"),
            ),
        ]
        # Any instance may be a replica after a failover, so every one gets a lag alarm once
        # there are replicas at all.
        if len(args.docdb_instance_ids) > 1:
            alarms.append(
                _Alarm(
                    role=f"{role}-replica-lag",
                    what="DocumentDB replica lag",
                    description=(
                        f"{where} lagged the writer by more than {t.docdb_replica_lag_ms:g} ms "
                        f"({sustained.window}); the API reads from replicas, so readers see "
                        "stale notes. Check the writer's write load and the replica's CPU."
                    ),
                    comparison="GreaterThanThreshold",
                    threshold=t.docdb_replica_lag_ms,
                    # The writer reports no lag of its own; whichever instance writes is missing.
                    treat_missing_data="notBreaching",
                    evaluation=sustained,
                    metric=_Metric(DOCDB, "DBInstanceReplicaLag", instance, "Maximum"),
                )
            )
        return [factory.create(a) for a in alarms]

    @staticmethod
    def _cache(
        factory: _AlarmFactory, args: DataAlarmsArgs, number: int, cluster_id: pulumi.Input[str]
    ) -> list[aws.cloudwatch.MetricAlarm]:
        t = args.thresholds
        sustained = _sustained(t)
        node = {"CacheClusterId": cluster_id}
        where = f"Cache node {number:03d} of notes-{args.environment}-redis"
        role = f"redis-{number:03d}"
        alarms = [
            _Alarm(
                role=f"{role}-cpu",
                what="cache host CPU %",
                description=(
                    f"{where} ran above {t.redis_cpu_percent:g}% host CPU ({sustained.window}). "
                    "Check the slow log and the connection churn (TLS handshakes); move to a larger "
                    "node type."
                ),
                comparison="GreaterThanThreshold",
                threshold=t.redis_cpu_percent,
                # Gaps come from node replacement and maintenance: keep the state.
                treat_missing_data="ignore",
                evaluation=sustained,
                metric=_Metric(ELASTICACHE, "CPUUtilization", node, "Average"),
            ),
            _Alarm(
                role=f"{role}-engine-cpu",
                what="Redis engine CPU %",
                description=(
                    f"{where}: the Redis engine thread ran above {t.redis_engine_cpu_percent:g}% "
                    f"({sustained.window}); commands queue up behind it. Look for slow "
                    "commands in the slow log; move to a larger node type."
                ),
                comparison="GreaterThanThreshold",
                threshold=t.redis_engine_cpu_percent,
                # As for host CPU.
                treat_missing_data="ignore",
                evaluation=sustained,
                metric=_Metric(ELASTICACHE, "EngineCPUUtilization", node, "Average"),
            ),
            _Alarm(
                role=f"{role}-memory",
                what="Redis memory %",
                description=(
                    f"{where} used more than {t.redis_memory_percent:g}% of its memory "
                    f"({sustained.window}); evictions follow. Shorten TTLs or move to a "
                    "node type with more memory."
                ),
                comparison="GreaterThanThreshold",
                threshold=t.redis_memory_percent,
                # As for host CPU.
                treat_missing_data="ignore",
                evaluation=sustained,
                metric=_Metric(ELASTICACHE, "DatabaseMemoryUsagePercentage", node, "Maximum"),
            ),
            _Alarm(
                role=f"{role}-evictions",
                what="Redis evictions",
                description=(
                    f"{where} evicted more than {t.redis_evictions} keys a minute "
                    f"({sustained.window}): cached notes are recomputed and rate-limit "
                    "counters are lost. Move to a node type with more memory."
                ),
                comparison="GreaterThanThreshold",
                threshold=t.redis_evictions,
                # A minute without a reported eviction count evicted nothing.
                treat_missing_data="notBreaching",
                evaluation=sustained,
                metric=_Metric(ELASTICACHE, "Evictions", node, "Sum"),
            ),
        ]
        if len(args.cache_cluster_ids) > 1:
            alarms.append(
                _Alarm(
                    role=f"{role}-replication-lag",
                    what="Redis replication lag",
                    description=(
                        f"{where} lagged the primary by more than {t.redis_replication_lag_seconds:g} s "
                        f"({sustained.window}); a failover now would lose those writes. Check "
                        "the primary's write load and network."
                    ),
                    comparison="GreaterThanThreshold",
                    threshold=t.redis_replication_lag_seconds,
                    # The primary reports no lag; whichever node is primary is missing.
                    treat_missing_data="notBreaching",
                    evaluation=sustained,
                    metric=_Metric(ELASTICACHE, "ReplicationLag", node, "Maximum"),
                )
            )
        return [factory.create(a) for a in alarms]


# --- dashboard ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DashboardArgs:
    """What the environment's dashboard shows."""

    environment: str
    # Region of the stack; CloudFront and WAF widgets read us-east-1 whatever this is.
    region: str
    alb_arn_suffix: pulumi.Input[str]
    target_group_arn_suffix: pulumi.Input[str]
    cluster_name: pulumi.Input[str]
    service_name: pulumi.Input[str]
    docdb_instance_ids: Sequence[pulumi.Input[str]]
    cache_cluster_ids: Sequence[pulumi.Input[str]]
    # Alarms the status widget lists (the alarm components' alarm_arns). Default none.
    alarm_arns: Sequence[pulumi.Input[str]] = ()
    # Name of the CLOUDFRONT-scope web ACL. Default None: no WAF widget.
    web_acl_name: pulumi.Input[str] | None = None
    # CloudFront distribution id. Default None: no CloudFront widget.
    distribution_id: pulumi.Input[str] | None = None
    # The 5xx rate's low-traffic guard comes from here, as the alarm's does. Default AlarmThresholds().
    thresholds: AlarmThresholds = field(default_factory=AlarmThresholds)


class Dashboard(pulumi.ComponentResource):
    """The CloudWatch dashboard notes-<env>; ``dashboard_url`` opens it in the console."""

    dashboard: aws.cloudwatch.Dashboard
    dashboard_name: str
    dashboard_url: pulumi.Output[str]

    def __init__(self, name: str, args: DashboardArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        _check_environment(args.environment)
        check_sizes(
            alarms=len(args.alarm_arns),
            docdb_instances=len(args.docdb_instance_ids),
            cache_nodes=len(args.cache_cluster_ids),
        )
        super().__init__("notes:infra:Dashboard", name, None, opts)
        self.dashboard_name = dashboard_name(args.environment)
        # Keyed by DashboardValues' field names, so the resolved dict is its arguments.
        resolved = pulumi.Output.all(
            alb_arn_suffix=args.alb_arn_suffix,
            target_group_arn_suffix=args.target_group_arn_suffix,
            cluster_name=args.cluster_name,
            service_name=args.service_name,
            docdb_instance_ids=pulumi.Output.all(*args.docdb_instance_ids),
            cache_cluster_ids=pulumi.Output.all(*args.cache_cluster_ids),
            alarm_arns=pulumi.Output.all(*args.alarm_arns),
            web_acl_name=args.web_acl_name,
            distribution_id=args.distribution_id,
        )
        body = resolved.apply(
            lambda v: json.dumps(
                dashboard_body(
                    DashboardValues(
                        region=args.region, min_requests=args.thresholds.alb_5xx_min_requests, **v
                    )
                )
            )
        )
        self.dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=self.dashboard_name,
            dashboard_body=body,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.dashboard_url = self.dashboard.dashboard_name.apply(lambda n: dashboard_url(args.region, n))
        self.register_outputs({"dashboardUrl": self.dashboard_url})
