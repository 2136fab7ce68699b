"""The observability part of a stack under mocks, as the composition builds it: the topic, the
three alarm components and the dashboard. The topic, alarm and dashboard tests share it."""

from __future__ import annotations

from typing import Any

import pulumi

from infra.observability.alarms import (
    DataAlarms,
    DataAlarmsArgs,
    DeploymentAlarms,
    DeploymentAlarmsArgs,
    ServiceAlarms,
    ServiceAlarmsArgs,
    cache_member_ids,
)
from infra.observability.dashboard import Dashboard as DashboardComponent
from infra.observability.dashboard import DashboardArgs
from infra.observability.thresholds import AlarmThresholds
from infra.observability.topic import AlarmSubscription, AlarmTopic, AlarmTopicArgs
from notes_platform.graph.mocks import ACCOUNT_ID
from tests.infra.harness import Graph, run

REGION = "eu-west-1"
SNS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/sns"
ALB_SUFFIX = "app/notes-{env}/fedcba9876543210"
TARGET_GROUP_SUFFIX = "targetgroup/notes-{env}-api-8000/0123456789abcdef"
SUBSCRIPTIONS = (
    AlarmSubscription("email", "oncall@example.com"),
    AlarmSubscription("https", "https://events.pagerduty.example.com/integration/abc/enqueue"),
)

# Every threshold field a value of its own, so an alarm reading the wrong field shows.
STAGING = AlarmThresholds(
    alb_5xx_percent=5,
    alb_5xx_min_requests=20,
    target_p99_seconds=2,
    unhealthy_hosts=1,
    running_task_shortfall=1,
    service_cpu_percent=85,
    service_memory_percent=86,
    docdb_cpu_percent=80,
    docdb_freeable_memory_bytes=256 * 1024 * 1024,
    docdb_connections=400,
    docdb_replica_lag_ms=2000,
    redis_cpu_percent=45,
    redis_engine_cpu_percent=90,
    redis_memory_percent=81,
    redis_evictions=100,
    redis_replication_lag_seconds=10,
)
PROD = AlarmThresholds(
    alb_5xx_percent=1,
    alb_5xx_min_requests=50,
    target_p99_seconds=0.8,
    unhealthy_hosts=2,
    running_task_shortfall=3,
    service_cpu_percent=75,
    service_memory_percent=76,
    docdb_cpu_percent=70,
    docdb_freeable_memory_bytes=1024 * 1024 * 1024,
    docdb_connections=1360,
    docdb_replica_lag_ms=1000,
    redis_cpu_percent=44,
    redis_engine_cpu_percent=77,
    redis_memory_percent=78,
    redis_evictions=10,
    redis_replication_lag_seconds=5,
)


def docdb_ids(env: str, count: int) -> list[str]:
    return [f"notes-{env}-docdb-{n}" for n in range(1, count + 1)]


def cache_ids(env: str, count: int) -> list[str]:
    return [f"notes-{env}-redis-{n:03d}" for n in range(1, count + 1)]


def stack_graph(
    env: str,
    thresholds: AlarmThresholds,
    *,
    docdb_count: int,
    cache_count: int,
    web_acl_name: str | None = None,
    distribution_id: str | None = None,
    subscriptions: tuple[AlarmSubscription, ...] = SUBSCRIPTIONS,
) -> Graph:
    """The observability part of a stack, in the order the composition builds it."""
    alb, target_group = ALB_SUFFIX.format(env=env), TARGET_GROUP_SUFFIX.format(env=env)

    def program() -> Any:
        topic = AlarmTopic(
            f"{env}-alarms",
            AlarmTopicArgs(
                environment=env,
                region=REGION,
                account_id=ACCOUNT_ID,
                kms_key_arn=SNS_KEY,
                subscriptions=subscriptions,
            ),
        )
        deployment = DeploymentAlarms(
            f"{env}-deployment-alarms",
            DeploymentAlarmsArgs(
                environment=env,
                topic_arn=topic.arn,
                alb_arn_suffix=pulumi.Output.from_input(alb),
                target_group_arn_suffix=pulumi.Output.from_input(target_group),
                thresholds=thresholds,
            ),
        )
        service = ServiceAlarms(
            f"{env}-service-alarms",
            ServiceAlarmsArgs(
                environment=env,
                topic_arn=topic.arn,
                alb_arn_suffix=alb,
                target_group_arn_suffix=target_group,
                cluster_name=pulumi.Output.from_input(f"notes-{env}"),
                service_name=pulumi.Output.from_input(f"notes-{env}-api"),
                thresholds=thresholds,
            ),
        )
        data = DataAlarms(
            f"{env}-data-alarms",
            DataAlarmsArgs(
                environment=env,
                topic_arn=topic.arn,
                docdb_instance_ids=[pulumi.Output.from_input(i) for i in docdb_ids(env, docdb_count)],
                cache_cluster_ids=cache_member_ids(
                    pulumi.Output.from_input(f"notes-{env}-redis"), cache_count
                ),
                thresholds=thresholds,
            ),
        )
        dashboard = DashboardComponent(
            f"{env}-dashboard",
            DashboardArgs(
                environment=env,
                region=REGION,
                alb_arn_suffix=alb,
                target_group_arn_suffix=target_group,
                cluster_name=f"notes-{env}",
                service_name=f"notes-{env}-api",
                docdb_instance_ids=docdb_ids(env, docdb_count),
                cache_cluster_ids=cache_ids(env, cache_count),
                alarm_arns=[*deployment.alarm_arns, *service.alarm_arns, *data.alarm_arns],
                web_acl_name=web_acl_name,
                distribution_id=distribution_id,
                thresholds=thresholds,
            ),
        )
        return {
            "topic": topic.arn,
            "deployment_alarm_names": deployment.alarm_names,
            "alarm_arns": [*deployment.alarm_arns, *service.alarm_arns, *data.alarm_arns],
            "dashboard_url": dashboard.dashboard_url,
        }

    return run(program)
