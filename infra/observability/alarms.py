"""The alarms of the API and of its data stores, one component per moment of the composition:

- ``DeploymentAlarms``: the API's 5xx rate and p99 latency. They need only the ALB and its
  target group, so they exist before the ECS service, which rolls a deployment back on them.
- ``ServiceAlarms``: unhealthy targets, tasks below the desired count, service CPU and memory.
- ``DataAlarms``: DocumentDB and Redis, per instance / node.

Composition order: topic -> DeploymentAlarms -> ApiService(deployment_alarm_names=...) ->
ServiceAlarms, DataAlarms -> Dashboard.

Every alarm notifies the topic on ALARM and on OK, is named ``notes-<env>-<what>``, takes its
threshold from ``AlarmThresholds`` and watches a metric from ``infra.observability.metrics_catalog``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.cache import MAX_NODES as MAX_CACHE_NODES
from infra.documentdb import MAX_INSTANCES as MAX_DOCDB_INSTANCES
from infra.ecs import api_log_group_name
from infra.observability.alarm_factory import Alarm, AlarmFactory, Evaluation, Metric, check_alarm_args
from infra.observability.metrics_catalog import (
    ALB,
    CONTAINER_INSIGHTS,
    DOCDB,
    ECS,
    ELASTICACHE,
    error_rate_expression,
)
from infra.observability.thresholds import MIB, AlarmThresholds


def _fast(t: AlarmThresholds) -> Evaluation:
    return Evaluation(t.evaluation_periods, t.datapoints_to_alarm, t.period_seconds)


def _sustained(t: AlarmThresholds) -> Evaluation:
    return Evaluation(t.saturation_evaluation_periods, t.saturation_datapoints_to_alarm, t.period_seconds)


# --- deployment alarms ----------------------------------------------------------------------


@dataclass(frozen=True)
class DeploymentAlarmsArgs:
    """The API's error rate and latency: the alarms a deployment rolls back on."""

    environment: str
    """Environment name, part of every alarm name. From config ``environment``. Required."""
    topic_arn: pulumi.Input[str]
    """The alarm topic (``AlarmTopic.arn``). Required."""
    alb_arn_suffix: pulumi.Input[str]
    """ARN suffix of the ALB (``LoadBalancer.arn_suffix``): the metrics' ``LoadBalancer``
    dimension value. Required."""
    target_group_arn_suffix: pulumi.Input[str]
    """ARN suffix of the API's target group (``LoadBalancer.target_group_arn_suffix``): the
    latency metric's ``TargetGroup`` dimension value. Required."""
    thresholds: AlarmThresholds = field(default_factory=AlarmThresholds)
    """Thresholds and evaluation windows, from the ``alarms*`` config keys. Default
    ``AlarmThresholds()``."""


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
        check_alarm_args(args.environment, args.topic_arn, args.thresholds)
        super().__init__("notes:infra:DeploymentAlarms", name, None, opts)
        t = args.thresholds
        factory = AlarmFactory(self, name, args.environment, args.topic_arn)
        fast = _fast(t)
        lb = {"LoadBalancer": args.alb_arn_suffix}
        target = {"LoadBalancer": args.alb_arn_suffix, "TargetGroup": args.target_group_arn_suffix}
        logs = api_log_group_name(args.environment)

        # Per load balancer: the ALB's own 5xx (no healthy task, task reset the connection)
        # belong to no target group. The API's target group is the ALB's only one.
        self.error_rate = factory.create(
            Alarm(
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
                    "requests": Metric(ALB, "RequestCount", lb, "Sum"),
                    "target5xx": Metric(ALB, "HTTPCode_Target_5XX_Count", lb, "Sum"),
                    "elb5xx": Metric(ALB, "HTTPCode_ELB_5XX_Count", lb, "Sum"),
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
            Alarm(
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
                metric=Metric(ALB, "TargetResponseTime", target, "p99"),
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
    """Environment name, part of every alarm name. From config ``environment``. Required."""
    topic_arn: pulumi.Input[str]
    """The alarm topic (``AlarmTopic.arn``). Required."""
    alb_arn_suffix: pulumi.Input[str]
    """ARN suffix of the ALB (``LoadBalancer.arn_suffix``): the health metric's ``LoadBalancer``
    dimension value. Required."""
    target_group_arn_suffix: pulumi.Input[str]
    """ARN suffix of the API's target group (``LoadBalancer.target_group_arn_suffix``). Required."""
    cluster_name: pulumi.Input[str]
    """ECS cluster (``ApiService.cluster_name``): the ``ClusterName`` dimension value. Required."""
    service_name: pulumi.Input[str]
    """ECS service (``ApiService.service_name``): the ``ServiceName`` dimension value. Required."""
    thresholds: AlarmThresholds = field(default_factory=AlarmThresholds)
    """Thresholds and evaluation windows, from the ``alarms*`` config keys. Default
    ``AlarmThresholds()``."""


class ServiceAlarms(pulumi.ComponentResource):
    """Unhealthy targets, tasks below desired, service CPU and memory."""

    alarms: list[aws.cloudwatch.MetricAlarm]
    alarm_arns: list[pulumi.Output[str]]

    def __init__(
        self, name: str, args: ServiceAlarmsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        check_alarm_args(args.environment, args.topic_arn, args.thresholds)
        super().__init__("notes:infra:ServiceAlarms", name, None, opts)
        t = args.thresholds
        factory = AlarmFactory(self, name, args.environment, args.topic_arn)
        target = {"LoadBalancer": args.alb_arn_suffix, "TargetGroup": args.target_group_arn_suffix}
        service = {"ClusterName": args.cluster_name, "ServiceName": args.service_name}
        logs = api_log_group_name(args.environment)
        fast, sustained = _fast(t), _sustained(t)
        shortfall = Evaluation(
            t.task_shortfall_evaluation_periods, t.task_shortfall_evaluation_periods, t.period_seconds
        )

        self.alarms = [
            factory.create(
                Alarm(
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
                    metric=Metric(ALB, "UnHealthyHostCount", target, "Maximum"),
                )
            ),
            factory.create(
                Alarm(
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
                        "desired": Metric(CONTAINER_INSIGHTS, "DesiredTaskCount", service, "Average"),
                        "running": Metric(CONTAINER_INSIGHTS, "RunningTaskCount", service, "Average"),
                    },
                    # No running count while one is desired is a shortfall of all of them; no
                    # desired count leaves the result missing (breaching, above).
                    expression="desired - FILL(running, 0)",
                )
            ),
            factory.create(
                Alarm(
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
                    metric=Metric(ECS, "CPUUtilization", service, "Average"),
                )
            ),
            factory.create(
                Alarm(
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
                    metric=Metric(ECS, "MemoryUtilization", service, "Average"),
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
    """Environment name, part of every alarm name. From config ``environment``. Required."""
    topic_arn: pulumi.Input[str]
    """The alarm topic (``AlarmTopic.arn``). Required."""
    docdb_instance_ids: Sequence[pulumi.Input[str]]
    """DocumentDB instance identifiers (DocumentDb.instances[i].identifier), 1-16: as many as
    config ``docdbInstanceCount``. Required."""
    cache_cluster_ids: Sequence[pulumi.Input[str]]
    """ElastiCache member cluster ids (see cache_member_ids), 1-6: as many as config
    ``cacheNodeCount``. Required."""
    thresholds: AlarmThresholds = field(default_factory=AlarmThresholds)
    """Thresholds and evaluation windows, from the ``alarms*`` config keys. Default
    ``AlarmThresholds()``."""


class DataAlarms(pulumi.ComponentResource):
    """Per DocumentDB instance: CPU, freeable memory, connections, replica lag. Per cache node:
    host and engine CPU, memory, evictions, replication lag. Lag alarms only with replicas."""

    alarms: list[aws.cloudwatch.MetricAlarm]
    alarm_arns: list[pulumi.Output[str]]

    def __init__(self, name: str, args: DataAlarmsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        check_alarm_args(args.environment, args.topic_arn, args.thresholds)
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
        factory = AlarmFactory(self, name, args.environment, args.topic_arn)
        self.alarms = []
        for index, instance_id in enumerate(args.docdb_instance_ids):
            self.alarms += self._docdb(factory, args, index + 1, instance_id)
        for index, cluster_id in enumerate(args.cache_cluster_ids):
            self.alarms += self._cache(factory, args, index + 1, cluster_id)
        self.alarm_arns = [a.arn for a in self.alarms]
        self.register_outputs({"alarmArns": self.alarm_arns})

    @staticmethod
    def _docdb(
        factory: AlarmFactory, args: DataAlarmsArgs, number: int, instance_id: pulumi.Input[str]
    ) -> list[aws.cloudwatch.MetricAlarm]:
        t = args.thresholds
        sustained = _sustained(t)
        instance = {"DBInstanceIdentifier": instance_id}
        where = f"DocumentDB instance {number} of notes-{args.environment}-docdb"
        role = f"docdb-{number}"
        alarms = [
            Alarm(
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
                metric=Metric(DOCDB, "CPUUtilization", instance, "Average"),
            ),
            Alarm(
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
                metric=Metric(DOCDB, "FreeableMemory", instance, "Minimum"),
            ),
            Alarm(
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
                metric=Metric(DOCDB, "DatabaseConnections", instance, "Maximum"),
            ),
        ]
        # Any instance may be a replica after a failover, so every one gets a lag alarm once
        # there are replicas at all.
        if len(args.docdb_instance_ids) > 1:
            alarms.append(
                Alarm(
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
                    metric=Metric(DOCDB, "DBInstanceReplicaLag", instance, "Maximum"),
                )
            )
        return [factory.create(a) for a in alarms]

    @staticmethod
    def _cache(
        factory: AlarmFactory, args: DataAlarmsArgs, number: int, cluster_id: pulumi.Input[str]
    ) -> list[aws.cloudwatch.MetricAlarm]:
        t = args.thresholds
        sustained = _sustained(t)
        node = {"CacheClusterId": cluster_id}
        where = f"Cache node {number:03d} of notes-{args.environment}-redis"
        role = f"redis-{number:03d}"
        alarms = [
            Alarm(
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
                metric=Metric(ELASTICACHE, "CPUUtilization", node, "Average"),
            ),
            Alarm(
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
                metric=Metric(ELASTICACHE, "EngineCPUUtilization", node, "Average"),
            ),
            Alarm(
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
                metric=Metric(ELASTICACHE, "DatabaseMemoryUsagePercentage", node, "Maximum"),
            ),
            Alarm(
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
                metric=Metric(ELASTICACHE, "Evictions", node, "Sum"),
            ),
        ]
        if len(args.cache_cluster_ids) > 1:
            alarms.append(
                Alarm(
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
                    metric=Metric(ELASTICACHE, "ReplicationLag", node, "Maximum"),
                )
            )
        return [factory.create(a) for a in alarms]
