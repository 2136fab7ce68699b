"""Where each alarm fires: ``AlarmThresholds``, read by every alarm component and by the
dashboard's 5xx rate, and ``validate_thresholds``, which refuses what CloudWatch would reject
or what could never fire. Pure Python: the stack builds the thresholds from its config."""

from __future__ import annotations

from dataclasses import dataclass

from infra.observability.metrics_catalog import DEFAULT_MIN_REQUESTS

MIB = 1024 * 1024
# CloudWatch evaluates at most one day of periods of a minute or more.
MAX_EVALUATION_SECONDS = 24 * 60 * 60


@dataclass(frozen=True)
class AlarmThresholds:
    """Where each alarm fires. Defaults suit a small environment; a stack file tightens them.

    ``stacks.settings.alarm_thresholds`` builds it from the stack's ``alarms*`` config keys (whole
    units there: ms and MiB); a field without a config key keeps its default in every stack.
    """

    alb_5xx_percent: float = 5.0
    """5xx responses (tasks + ALB) as % of requests, per minute. From config
    ``alarmsAlb5xxPercent``. Default 5."""
    alb_5xx_min_requests: int = DEFAULT_MIN_REQUESTS
    """Requests per minute below which the 5xx rate counts as 0 (too few to judge). From config
    ``alarmsAlb5xxMinRequests``. Default 50."""
    target_p99_seconds: float = 1.0
    """p99 of the tasks' response time, seconds. From config ``alarmsTargetP99Ms`` (in ms there).
    Default 1.0."""
    unhealthy_hosts: int = 1
    """Unhealthy targets in the target group at which to alarm. Default 1."""
    running_task_shortfall: int = 1
    """Tasks missing from the desired count at which to alarm. Default 1."""
    service_cpu_percent: float = 85.0
    """Service average CPU, %: target tracking aims at 60, so this means it cannot keep up. From
    config ``alarmsServiceCpuPercent``. Default 85."""
    service_memory_percent: float = 85.0
    """Service average memory, %. From config ``alarmsServiceMemoryPercent``. Default 85."""
    docdb_cpu_percent: float = 80.0
    """CPU of a DocumentDB instance, %. From config ``alarmsDocdbCpuPercent``. Default 80."""
    docdb_freeable_memory_bytes: int = 256 * MIB
    """Freeable memory of a DocumentDB instance below which to alarm, bytes. From config
    ``alarmsDocdbFreeableMemoryMib`` (in MiB there). Default 256 MiB (for a 4 GiB db.t4g.medium;
    raise it with the instance class)."""
    docdb_connections: int = 400
    """Open connections on one DocumentDB instance; the class's limit is the ceiling
    (db.t4g.medium: 500, db.r6g.large: 1700). From config ``alarmsDocdbConnections``. Default 400."""
    docdb_replica_lag_ms: float = 1000.0
    """Lag of a DocumentDB replica behind the writer, ms; the API reads from replicas. From config
    ``alarmsDocdbReplicaLagMs``. Default 1000."""
    redis_cpu_percent: float = 45.0
    """Host CPU of a cache node, %. Redis runs commands on one core, so AWS suggests 90 / vCPUs on
    nodes of 2 vCPUs or fewer. From config ``alarmsRedisCpuPercent``. Default 45 (2 vCPUs:
    cache.t4g.small, cache.r7g.large)."""
    redis_engine_cpu_percent: float = 90.0
    """CPU of the Redis engine thread, %. From config ``alarmsRedisEngineCpuPercent``. Default 90."""
    redis_memory_percent: float = 80.0
    """Memory used by the data set, % of maxmemory. From config ``alarmsRedisMemoryPercent``.
    Default 80."""
    redis_evictions: int = 100
    """Keys evicted per minute by one node; evicted rate-limit counters weaken the limits. From
    config ``alarmsRedisEvictions``. Default 100."""
    redis_replication_lag_seconds: float = 10.0
    """Lag of a cache replica behind the primary, seconds. From config
    ``alarmsRedisReplicationLagSeconds``. Default 10."""
    queue_oldest_message_age_seconds: int = 900
    """Age of the oldest message in the exports queue at which to alarm, seconds. A message
    stays in the queue until the worker deletes it after its job, so this must exceed the job
    timeout (``WorkerAlarmsArgs.job_timeout_seconds``, the worker's
    ``NOTES_EXPORT_JOB_TIMEOUT_SECONDS``). Default 900: 15 min, the default job timeout of 600 s
    and 5 min of waiting."""
    period_seconds: int = 60
    """Period of every alarm, seconds (a multiple of 60). Default 60."""
    evaluation_periods: int = 5
    """Errors, latency and health: alarm when ``datapoints_to_alarm`` of the last
    ``evaluation_periods`` periods breach. Default 5 (3 of 5: a bad deployment rolls back within
    minutes)."""
    datapoints_to_alarm: int = 3
    """Breaching periods, of the last ``evaluation_periods``, at which errors, latency and health
    alarm. Default 3."""
    saturation_evaluation_periods: int = 15
    """Saturation (CPU, memory, connections, lag, evictions): sustained, not a spike; alarm when
    ``saturation_datapoints_to_alarm`` of the last this many periods breach. Default 15 (12 of 15)."""
    saturation_datapoints_to_alarm: int = 12
    """Breaching periods, of the last ``saturation_evaluation_periods``, at which saturation
    alarms. Default 12."""
    task_shortfall_evaluation_periods: int = 10
    """Tasks below desired, every period of this many: a task takes a minute or two to start
    after a scale-out or a replacement. Default 10."""


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
    "queue_oldest_message_age_seconds",
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
