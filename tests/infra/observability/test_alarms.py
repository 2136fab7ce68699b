"""The alarm components under mocks: every alarm tells the topic on ALARM and OK, takes its
threshold from the args, and watches a metric AWS publishes for the resource it names."""

from __future__ import annotations

import re
from typing import Any

import pulumi
import pytest

from infra.observability.alarms import (
    DataAlarms,
    DataAlarmsArgs,
    DeploymentAlarms,
    DeploymentAlarmsArgs,
    cache_member_ids,
)
from infra.observability.metrics_catalog import published
from infra.observability.thresholds import AlarmThresholds
from notes_platform.graph.mocks import Recorded
from tests.infra.harness import Graph, run
from tests.infra.observability.stack import (
    ALB_SUFFIX,
    PROD,
    STAGING,
    TARGET_GROUP_SUFFIX,
    cache_ids,
    docdb_ids,
)
from tests.type_tokens import METRIC_ALARM, SNS_TOPIC

# Alarm name (after notes-<env>-) -> the AlarmThresholds field its threshold comes from.
THRESHOLD_FIELD = {
    r"api-5xx-rate": "alb_5xx_percent",
    r"api-p99-latency": "target_p99_seconds",
    r"api-unhealthy-hosts": "unhealthy_hosts",
    r"api-running-tasks": "running_task_shortfall",
    r"api-cpu": "service_cpu_percent",
    r"api-memory": "service_memory_percent",
    r"docdb-\d+-cpu": "docdb_cpu_percent",
    r"docdb-\d+-freeable-memory": "docdb_freeable_memory_bytes",
    r"docdb-\d+-connections": "docdb_connections",
    r"docdb-\d+-replica-lag": "docdb_replica_lag_ms",
    r"redis-\d{3}-cpu": "redis_cpu_percent",
    r"redis-\d{3}-engine-cpu": "redis_engine_cpu_percent",
    r"redis-\d{3}-memory": "redis_memory_percent",
    r"redis-\d{3}-evictions": "redis_evictions",
    r"redis-\d{3}-replication-lag": "redis_replication_lag_seconds",
}
# The same, for how each alarm treats missing data (chosen per alarm, never left to the default).
TREAT_MISSING = {
    r"api-5xx-rate": "notBreaching",
    r"api-p99-latency": "notBreaching",
    r"api-unhealthy-hosts": "notBreaching",
    r"api-running-tasks": "breaching",
    r"api-cpu": "notBreaching",
    r"api-memory": "notBreaching",
    r"docdb-\d+-(cpu|freeable-memory|connections)": "ignore",
    r"docdb-\d+-replica-lag": "notBreaching",
    r"redis-\d{3}-(cpu|engine-cpu|memory)": "ignore",
    r"redis-\d{3}-(evictions|replication-lag)": "notBreaching",
}


def graphs(staging: Graph, prod: Graph) -> list[tuple[str, AlarmThresholds, Graph]]:
    return [("staging", STAGING, staging), ("prod", PROD, prod)]


def role(alarm: Recorded, env: str) -> str:
    name: str = alarm.inputs["name"]
    assert name.startswith(f"notes-{env}-"), f"{alarm.urn}: {name} is not notes-{env}-<what>"
    return name.removeprefix(f"notes-{env}-")


def lookup(table: dict[str, str], alarm: Recorded, env: str) -> str:
    what = role(alarm, env)
    found = [value for pattern, value in table.items() if re.fullmatch(pattern, what)]
    assert len(found) == 1, f"{alarm.urn}: {what} matches {found} in the table"
    return found[0]


def metrics_of(alarm: Recorded) -> list[dict[str, Any]]:
    """Every metric an alarm reads: its own, or each input of its metric math."""
    inputs = alarm.inputs
    if "metricName" in inputs:
        stat = inputs.get("statistic") or inputs.get("extendedStatistic")
        return [
            {
                "namespace": inputs["namespace"],
                "metricName": inputs["metricName"],
                "dimensions": inputs["dimensions"],
                "stat": stat,
            }
        ]
    return [{**q["metric"], "id": q["id"]} for q in inputs["metricQueries"] if "metric" in q]


# --- every alarm ----------------------------------------------------------------------------


def test_every_alarm_notifies_the_topic_on_alarm_and_on_ok(staging: Graph, prod: Graph) -> None:
    for _, _, graph in graphs(staging, prod):
        topic_arn = graph.result["topic"]
        alarms = graph.of_type(METRIC_ALARM)
        assert alarms
        for alarm in alarms:
            assert alarm.inputs["alarmActions"] == [topic_arn], alarm.urn
            assert alarm.inputs["okActions"] == [topic_arn], alarm.urn
            assert alarm.inputs["actionsEnabled"] is True, alarm.urn
            assert graph.one(SNS_TOPIC).urn in alarm.dependencies, alarm.urn


def test_alarm_names_are_unique_per_environment_and_descriptions_say_what_to_do(
    staging: Graph, prod: Graph
) -> None:
    for env, _, graph in graphs(staging, prod):
        alarms = graph.of_type(METRIC_ALARM)
        names = [role(a, env) for a in alarms]
        assert len(names) == len(set(names)), sorted(names)
        for alarm in alarms:
            description = alarm.inputs["alarmDescription"]
            assert 60 <= len(description) <= 1024, alarm.urn
            # A what-to-do sentence, not only a restatement of the threshold.
            assert re.search(r"\b(check|look|raise|move|read|shorten|add)\b", description, re.I), alarm.urn


def test_every_alarm_threshold_comes_from_its_config_field(staging: Graph, prod: Graph) -> None:
    for env, thresholds, graph in graphs(staging, prod):
        used = set()
        for alarm in graph.of_type(METRIC_ALARM):
            field_name = lookup(THRESHOLD_FIELD, alarm, env)
            used.add(field_name)
            assert alarm.inputs["threshold"] == getattr(thresholds, field_name), f"{alarm.urn}: {field_name}"
        if env == "prod":
            # THEN with replicas, every threshold the dataclass offers is read by some alarm
            assert used == set(THRESHOLD_FIELD.values())


def test_staging_and_prod_alarms_differ_exactly_where_their_thresholds_do(
    staging: Graph, prod: Graph
) -> None:
    staging_alarms = {role(a, "staging"): a for a in staging.of_type(METRIC_ALARM)}
    for alarm in prod.of_type(METRIC_ALARM):
        what = role(alarm, "prod")
        twin = staging_alarms.get(what)
        if twin is None:
            continue  # a replica-lag alarm: staging has no replicas
        field_name = lookup(THRESHOLD_FIELD, alarm, "prod")
        differs = getattr(STAGING, field_name) != getattr(PROD, field_name)
        assert (alarm.inputs["threshold"] != twin.inputs["threshold"]) == differs, alarm.urn


def test_every_alarm_treats_missing_data_deliberately(staging: Graph, prod: Graph) -> None:
    for env, _, graph in graphs(staging, prod):
        for alarm in graph.of_type(METRIC_ALARM):
            assert alarm.inputs.get("treatMissingData") == lookup(TREAT_MISSING, alarm, env), alarm.urn


def test_every_alarm_watches_a_metric_aws_publishes_for_the_resource_it_names(
    staging: Graph, prod: Graph
) -> None:
    for env, _, graph in graphs(staging, prod):
        resources = {
            "LoadBalancer": {ALB_SUFFIX.format(env=env)},
            "TargetGroup": {TARGET_GROUP_SUFFIX.format(env=env)},
            "ClusterName": {f"notes-{env}"},
            "ServiceName": {f"notes-{env}-api"},
            "DBInstanceIdentifier": set(docdb_ids(env, 3)),
            "CacheClusterId": set(cache_ids(env, 3)),
        }
        for alarm in graph.of_type(METRIC_ALARM):
            for m in metrics_of(alarm):
                dimensions = m["dimensions"]
                assert published(m["namespace"], m["metricName"], frozenset(dimensions)), (
                    f"{alarm.urn}: {m['namespace']} {m['metricName']} {sorted(dimensions)}"
                )
                for key, value in dimensions.items():
                    assert value in resources[key], (
                        f"{alarm.urn}: {key}={value} names no resource of the stack"
                    )
                assert m["stat"], alarm.urn
            # AND every metric is read at the configured period
            periods = [alarm.inputs["period"]] if "period" in alarm.inputs else []
            periods += [q["metric"]["period"] for q in alarm.inputs.get("metricQueries", []) if "metric" in q]
            assert periods, alarm.urn
            assert set(periods) == {60}, alarm.urn


def test_the_5xx_rate_is_metric_math_over_requests_with_a_low_traffic_guard(prod: Graph) -> None:
    alarm = prod.named("prod-deployment-alarms-api-5xx-rate")
    queries = alarm.inputs["metricQueries"]
    [result] = [q for q in queries if q.get("returnData")]
    inputs = {q["id"]: q["metric"] for q in queries if "metric" in q}
    # THEN it divides both kinds of 5xx by the request count: a rate, not a raw count
    assert sorted(m["metricName"] for m in inputs.values()) == [
        "HTTPCode_ELB_5XX_Count",
        "HTTPCode_Target_5XX_Count",
        "RequestCount",
    ], alarm.urn
    assert all(m["stat"] == "Sum" for m in inputs.values()), alarm.urn
    expression = result["expression"]
    assert (
        set(re.findall(r"\b[a-z][A-Za-z0-9_]*\b", expression)) - {"requests", "target5xx", "elb5xx"} == set()
    )
    assert expression.startswith(f"IF(FILL(requests, 0) >= {PROD.alb_5xx_min_requests}, 100 * ("), alarm.urn
    assert "FILL(target5xx, 0)" in expression and "FILL(elb5xx, 0)" in expression, alarm.urn
    assert alarm.inputs["comparisonOperator"] == "GreaterThanThreshold", alarm.urn
    assert "metricName" not in alarm.inputs, alarm.urn


def test_latency_is_the_targets_p99_and_ignores_tiny_samples(prod: Graph) -> None:
    alarm = prod.named("prod-deployment-alarms-api-p99-latency")
    assert alarm.inputs["metricName"] == "TargetResponseTime", alarm.urn
    assert alarm.inputs["extendedStatistic"] == "p99", alarm.urn
    assert "statistic" not in alarm.inputs, alarm.urn
    assert alarm.inputs["evaluateLowSampleCountPercentiles"] == "ignore", alarm.urn


def test_running_tasks_alarm_compares_desired_with_running(prod: Graph) -> None:
    alarm = prod.named("prod-service-alarms-api-running-tasks")
    queries = alarm.inputs["metricQueries"]
    inputs = {q["id"]: q["metric"]["metricName"] for q in queries if "metric" in q}
    assert inputs == {"desired": "DesiredTaskCount", "running": "RunningTaskCount"}, alarm.urn
    [result] = [q for q in queries if q.get("returnData")]
    assert result["expression"] == "desired - FILL(running, 0)", alarm.urn
    assert alarm.inputs["comparisonOperator"] == "GreaterThanOrEqualToThreshold", alarm.urn
    # THEN it fires only when every period of the window is short of tasks
    assert alarm.inputs["evaluationPeriods"] == alarm.inputs["datapointsToAlarm"] == 10, alarm.urn


def test_low_memory_alarms_fire_below_and_everything_else_above(prod: Graph) -> None:
    for alarm in prod.of_type(METRIC_ALARM):
        operator = alarm.inputs["comparisonOperator"]
        if role(alarm, "prod").endswith("freeable-memory"):
            assert operator == "LessThanThreshold", alarm.urn
        else:
            assert operator.startswith("GreaterThan"), alarm.urn


def test_errors_react_in_minutes_and_saturation_must_last(prod: Graph) -> None:
    fast = {"api-5xx-rate", "api-p99-latency", "api-unhealthy-hosts"}
    for alarm in prod.of_type(METRIC_ALARM):
        what = role(alarm, "prod")
        window = (alarm.inputs["datapointsToAlarm"], alarm.inputs["evaluationPeriods"])
        if what in fast:
            assert window == (PROD.datapoints_to_alarm, PROD.evaluation_periods), alarm.urn
        elif what != "api-running-tasks":
            assert window == (PROD.saturation_datapoints_to_alarm, PROD.saturation_evaluation_periods), (
                alarm.urn
            )


def test_alarms_per_instance_and_node_and_lag_alarms_only_with_replicas(staging: Graph, prod: Graph) -> None:
    staging_roles = sorted(role(a, "staging") for a in staging.of_type(METRIC_ALARM))
    assert staging_roles == sorted(
        [
            "api-5xx-rate",
            "api-p99-latency",
            "api-unhealthy-hosts",
            "api-running-tasks",
            "api-cpu",
            "api-memory",
            "docdb-1-cpu",
            "docdb-1-freeable-memory",
            "docdb-1-connections",
            "redis-001-cpu",
            "redis-001-engine-cpu",
            "redis-001-memory",
            "redis-001-evictions",
        ]
    )
    prod_roles = {role(a, "prod") for a in prod.of_type(METRIC_ALARM)}
    # Any instance or node may be a replica after a failover: each has a lag alarm.
    assert {f"docdb-{n}-replica-lag" for n in (1, 2, 3)} <= prod_roles
    assert {f"redis-00{n}-replication-lag" for n in (1, 2, 3)} <= prod_roles
    assert len(prod_roles) == 6 + 3 * 4 + 3 * 5


def test_deployment_alarm_names_are_the_5xx_and_latency_alarms(prod: Graph) -> None:
    assert prod.result["deployment_alarm_names"] == ["notes-prod-api-5xx-rate", "notes-prod-api-p99-latency"]


def test_alarms_are_children_of_their_components(prod: Graph) -> None:
    for component in ("DeploymentAlarms", "ServiceAlarms", "DataAlarms"):
        [parent] = prod.of_type(f"notes:infra:{component}")
        children = prod.children_of(parent.urn)
        assert children, parent.urn
        for child in children:
            assert child.type == METRIC_ALARM, child.urn
            assert child.name.startswith(f"{parent.name}-"), child.urn


# --- arguments ------------------------------------------------------------------------------


def test_data_alarms_refuse_impossible_instance_and_node_counts() -> None:
    topic = "arn:aws:sns:eu-west-1:123456789012:notes-staging-alarms"
    with pytest.raises(ValueError, match=r"docdb_instance_ids has 0 entries"):
        DataAlarms(
            "bad", DataAlarmsArgs("staging", topic, docdb_instance_ids=[], cache_cluster_ids=["c-001"])
        )
    with pytest.raises(ValueError, match=r"cache_cluster_ids has 7 entries"):
        DataAlarms(
            "bad", DataAlarmsArgs("staging", topic, ["d-1"], cache_cluster_ids=[f"c-{n}" for n in range(7)])
        )


def test_environment_and_topic_are_checked() -> None:
    with pytest.raises(ValueError, match=r"environment='Prod Env'"):
        DeploymentAlarms(
            "bad", DeploymentAlarmsArgs("Prod Env", "arn:aws:sns:x", "app/x/1", "targetgroup/x/1")
        )
    with pytest.raises(ValueError, match=r"topic_arn='notes-prod-alarms' must be the ARN"):
        DeploymentAlarms(
            "bad", DeploymentAlarmsArgs("prod", "notes-prod-alarms", "app/x/1", "targetgroup/x/1")
        )


def test_cache_member_ids_follow_elasticache_numbering() -> None:
    def program() -> Any:
        return cache_member_ids(pulumi.Output.from_input("notes-prod-redis"), 3)

    assert run(program).result == ["notes-prod-redis-001", "notes-prod-redis-002", "notes-prod-redis-003"]
