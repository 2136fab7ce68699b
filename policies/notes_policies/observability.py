"""Observability: logs kept and encrypted, alarms that notify someone, and an alarm on everything critical."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from pulumi_policy import (
    Policy,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    StackValidationArgs,
)

from . import resource_types as t
from .common import (
    ADVISORY,
    Settings,
    customer_key,
    days,
    is_false,
    mapping,
    minimum_days,
    named_values,
    number,
    of_type,
    references,
    resource_rule,
    sequence,
    stack_rule,
    strings_setting,
    text,
)


@resource_rule(
    "log-group-retention",
    "Log groups keep logs for a set period: long enough to investigate, never forever by accident.",
    types={t.LOG_GROUP},
    config=minimum_days(14, "fewest days a log group keeps its events", minimum=1),
)
def log_group_retention(args: ResourceValidationArgs, report: ReportViolation, settings: Settings) -> None:
    minimum, retention = settings.integer("minimumDays"), number(args.props.get("retentionInDays"), 0)
    # Absent or 0 means "never expire": unbounded cost, and no decision anyone made.
    if retention <= 0:
        report("Log groups must set a retention period.", None)
    elif retention < minimum:
        report(f"Log groups must keep logs for at least {days(minimum)}.", None)


@resource_rule(
    "log-group-kms-encrypted",
    "Log groups are encrypted with a customer-managed KMS key (logs carry request data).",
    types={t.LOG_GROUP},
)
def log_group_kms_encrypted(args: ResourceValidationArgs, report: ReportViolation, _: Settings) -> None:
    if not text(args.props.get("kmsKeyId")):
        report("Log groups must be encrypted with a KMS key.", None)


@resource_rule(
    "sns-topic-encrypted",
    "SNS topics are encrypted with a customer-managed key; CloudWatch cannot publish under alias/aws/sns.",
    types={t.SNS_TOPIC},
)
def sns_topic_encrypted(args: ResourceValidationArgs, report: ReportViolation, _: Settings) -> None:
    if not customer_key(args.props.get("kmsMasterKeyId"), "alias/aws/sns"):
        report("SNS topics must be encrypted with a customer-managed KMS key.", None)


@resource_rule(
    "alarm-actions-configured",
    "An alarm notifies someone: actions enabled and at least one alarm action.",
    types={t.METRIC_ALARM},
    config={
        "requireOkActions": {
            "type": "boolean",
            "default": False,
            "description": "also require okActions, so recoveries are announced",
        }
    },
)
def alarm_actions_configured(
    args: ResourceValidationArgs, report: ReportViolation, settings: Settings
) -> None:
    if is_false(args.props.get("actionsEnabled")):
        report("Metric alarms must not disable their actions.", None)
    if not sequence(args.props.get("alarmActions")):
        report("Metric alarms must have alarm actions.", None)
    if settings.flag("requireOkActions") and not sequence(args.props.get("okActions")):
        report("Metric alarms must have OK actions.", None)


@resource_rule(
    "ecs-container-insights",
    "ECS clusters publish Container Insights metrics (task-level CPU, memory and restarts).",
    types={t.ECS_CLUSTER},
)
def ecs_container_insights(args: ResourceValidationArgs, report: ReportViolation, _: Settings) -> None:
    if named_values(args.props.get("settings")).get("containerInsights") not in ("enabled", "enhanced"):
        report("ECS clusters must enable Container Insights.", None)


# How a critical resource (or a part of it) is named in its metrics' dimensions. Identifiers
# AWS assigns (CloudFront's distribution id, the ALB's ARN suffix) are outputs a plan cannot
# know: alarms on those are recognised through the engine's dependency record instead.
Matcher = Callable[[PolicyResource, str], bool]


def _equals(*keys: str) -> Matcher:
    def match(resource: PolicyResource, value: str) -> bool:
        return value in {text(resource.props.get(k)) for k in keys} - {""}

    return match


def _cache(resource: PolicyResource, value: str) -> bool:
    group = text(resource.props.get("replicationGroupId"))
    # Node metrics name the node: <group id>-001, -002, ...
    return bool(group) and (value == group or re.fullmatch(rf"{re.escape(group)}-\d{{3}}", value) is not None)


def _load_balancer(resource: PolicyResource, value: str) -> bool:
    # app/<name>/<hash>: the name the program set or, when the provider chose it, the
    # resource's own name.
    parts = value.split("/")
    names = {text(resource.props.get("name")), resource.name} - {""}
    return len(parts) == 3 and parts[0] == "app" and parts[1] in names


CRITICAL: dict[str, str] = {
    t.DOCDB_CLUSTER: "DocumentDB clusters",
    t.REPLICATION_GROUP: "ElastiCache replication groups",
    **dict.fromkeys(t.LOAD_BALANCERS, "Load balancers"),
    t.ECS_SERVICE: "ECS services",
    t.DISTRIBUTION: "CloudFront distributions",
    # Work waits in a queue silently: no request fails while nobody consumes it.
    t.SQS_QUEUE: "SQS queues",
}
MATCHERS: dict[str, Matcher] = {
    t.DOCDB_CLUSTER: _equals("clusterIdentifier", "id"),
    t.DOCDB_INSTANCE: _equals("identifier", "id"),
    t.REPLICATION_GROUP: _cache,
    **dict.fromkeys(t.LOAD_BALANCERS, _load_balancer),
    t.ECS_SERVICE: _equals("name"),
    t.DISTRIBUTION: _equals("id"),
    # AWS/SQS metrics carry the queue's name as QueueName.
    t.SQS_QUEUE: _equals("name"),
}


def _parts(resource: PolicyResource, args: StackValidationArgs) -> list[PolicyResource]:
    """What else stands for a resource in metrics: DocumentDB publishes CPU, memory and
    connections per instance, so an alarm on an instance watches its cluster."""
    if resource.resource_type != t.DOCDB_CLUSTER:
        return []
    return [i for i in of_type(args, t.DOCDB_INSTANCE) if references(i, "clusterIdentifier", resource)]


def _dimension_values(alarm: PolicyResource) -> Iterator[str]:
    maps = [alarm.props.get("dimensions")] + [
        mapping(mapping(q).get("metric")).get("dimensions")
        for q in sequence(alarm.props.get("metricQueries"))
    ]
    for dimensions in maps:
        yield from map(text, mapping(dimensions).values())


def _fed_by(alarm: PolicyResource) -> set[str]:
    """Resources an alarm's metric was computed from. With the engine's per-property record
    that is exact; without it, any dependency of the alarm counts (its other inputs are
    actions, and a topic is never critical)."""
    recorded = alarm.property_dependencies
    if recorded:
        return {d.urn for key in ("dimensions", "metricQueries") for d in recorded.get(key, [])}
    return {d.urn for d in alarm.dependencies}


def covers(alarm: PolicyResource, target: PolicyResource) -> bool:
    if target.urn in _fed_by(alarm):
        return True
    match = MATCHERS[target.resource_type]
    return any(match(target, value) for value in _dimension_values(alarm))


@stack_rule(
    "critical-resources-alarmed",
    "Every critical resource (database, cache, load balancer, service, distribution, queue) has an alarm.",
    enforcement=ADVISORY,
    config={"types": strings_setting(sorted(CRITICAL), "resource types that need at least one metric alarm")},
)
def critical_resources_alarmed(
    args: StackValidationArgs, report: ReportViolation, settings: Settings
) -> None:
    alarms = of_type(args, t.METRIC_ALARM)
    wanted = [typ for typ in settings.strings("types") if typ in CRITICAL]
    for resource in of_type(args, wanted):
        watched = [resource, *_parts(resource, args)]
        if not any(covers(alarm, target) for alarm in alarms for target in watched):
            report(
                f"{CRITICAL[resource.resource_type]} must have at least one CloudWatch alarm.", resource.urn
            )


POLICIES: list[Policy] = [
    log_group_retention,
    log_group_kms_encrypted,
    sns_topic_encrypted,
    alarm_actions_configured,
    ecs_container_insights,
    critical_resources_alarmed,
]
