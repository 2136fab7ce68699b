"""Alarms, their topic and the dashboard under mocks: every alarm tells the topic on ALARM and
OK, takes its threshold from the args, and watches a metric AWS publishes for the resource it
names; the dashboard charts only such metrics."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

import pulumi
import pytest

from infra.dashboard import (
    GRID_WIDTH,
    DashboardValues,
    dashboard_body,
    dashboard_url,
)
from infra.metrics_catalog import CATALOG, GLOBAL_REGION, check, published
from infra.observability import (
    AlarmSubscription,
    AlarmThresholds,
    AlarmTopic,
    AlarmTopicArgs,
    DashboardArgs,
    DataAlarms,
    DataAlarmsArgs,
    DeploymentAlarms,
    DeploymentAlarmsArgs,
    ServiceAlarms,
    ServiceAlarmsArgs,
    cache_member_ids,
    validate_thresholds,
)
from infra.observability import Dashboard as DashboardComponent
from notes_platform.graph.mocks import ACCOUNT_ID, Recorded
from tests.infra.harness import Graph, run

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC = "aws:sns/topic:Topic"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"

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


@pytest.fixture(scope="module")
def staging() -> Graph:
    """Staging-like: one DocumentDB instance, one cache node, no edge."""
    return stack_graph("staging", STAGING, docdb_count=1, cache_count=1)


@pytest.fixture(scope="module")
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


# --- the topic ------------------------------------------------------------------------------


def test_topic_is_encrypted_with_the_sns_key_and_named_per_environment(staging: Graph) -> None:
    topic = staging.one(TOPIC)
    assert topic.inputs["name"] == "notes-staging-alarms", topic.urn
    assert topic.inputs["kmsMasterKeyId"] == SNS_KEY, topic.urn


def test_topic_policy_lets_only_this_accounts_alarms_of_this_environment_publish(staging: Graph) -> None:
    topic = staging.one(TOPIC)
    policy = staging.one(TOPIC_POLICY)
    assert topic.urn in policy.dependencies, policy.urn
    [statement] = json.loads(policy.inputs["policy"])["Statement"]
    assert statement["Effect"] == "Allow", policy.urn
    assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}, policy.urn
    assert statement["Action"] == "sns:Publish", policy.urn
    assert statement["Resource"] == policy.inputs["arn"], policy.urn
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT_ID},
        "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:notes-staging-*"},
    }, policy.urn


def test_subscriptions_come_from_the_args(staging: Graph) -> None:
    topic = staging.one(TOPIC)
    subscriptions = staging.of_type(SUBSCRIPTION)
    assert sorted((s.inputs["protocol"], s.inputs["endpoint"]) for s in subscriptions) == sorted(
        (s.protocol, s.endpoint) for s in SUBSCRIPTIONS
    )
    for s in subscriptions:
        assert topic.urn in s.dependencies, s.urn


def test_reordering_subscriptions_keeps_their_resource_names() -> None:
    # GIVEN the same subscribers in another order / WHEN planned again
    reordered = stack_graph(
        "staging", STAGING, docdb_count=1, cache_count=1, subscriptions=tuple(reversed(SUBSCRIPTIONS))
    )
    first = stack_graph("staging", STAGING, docdb_count=1, cache_count=1)
    # THEN no subscription is replaced (its owner would have to confirm again)
    assert {s.urn for s in reordered.of_type(SUBSCRIPTION)} == {s.urn for s in first.of_type(SUBSCRIPTION)}


@pytest.mark.parametrize(
    ("subscription", "message"),
    [
        (AlarmSubscription("sms", "+15550100"), r"subscriptions\[0\]\.protocol='sms'"),
        (AlarmSubscription("email", "oncall.example.com"), r"subscriptions\[0\]\.endpoint=.* not an e-mail"),
        (AlarmSubscription("https", "http://hooks.example.com/x"), r"needs an https:// URL"),
        (AlarmSubscription("https", "https://"), r"needs an https:// URL"),
    ],
)
def test_bad_subscriptions_fail_in_the_constructor(subscription: AlarmSubscription, message: str) -> None:
    args = AlarmTopicArgs(
        environment="staging",
        region=REGION,
        account_id=ACCOUNT_ID,
        kms_key_arn=SNS_KEY,
        subscriptions=(subscription,),
    )
    with pytest.raises(ValueError, match=message):
        AlarmTopic("bad", args)


def test_a_subscriber_listed_twice_is_refused() -> None:
    twice = (
        AlarmSubscription("email", "oncall@example.com"),
        AlarmSubscription("email", "OnCall@example.com"),
    )
    args = AlarmTopicArgs(
        environment="staging", region=REGION, account_id=ACCOUNT_ID, kms_key_arn=SNS_KEY, subscriptions=twice
    )
    with pytest.raises(ValueError, match=r"subscriptions\[1\]: email .* listed twice"):
        AlarmTopic("bad", args)


# --- every alarm ----------------------------------------------------------------------------


def test_every_alarm_notifies_the_topic_on_alarm_and_on_ok(staging: Graph, prod: Graph) -> None:
    for _, _, graph in graphs(staging, prod):
        topic_arn = graph.result["topic"]
        alarms = graph.of_type(ALARM)
        assert alarms
        for alarm in alarms:
            assert alarm.inputs["alarmActions"] == [topic_arn], alarm.urn
            assert alarm.inputs["okActions"] == [topic_arn], alarm.urn
            assert alarm.inputs["actionsEnabled"] is True, alarm.urn
            assert graph.one(TOPIC).urn in alarm.dependencies, alarm.urn


def test_alarm_names_are_unique_per_environment_and_descriptions_say_what_to_do(
    staging: Graph, prod: Graph
) -> None:
    for env, _, graph in graphs(staging, prod):
        alarms = graph.of_type(ALARM)
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
        for alarm in graph.of_type(ALARM):
            field_name = lookup(THRESHOLD_FIELD, alarm, env)
            used.add(field_name)
            assert alarm.inputs["threshold"] == getattr(thresholds, field_name), f"{alarm.urn}: {field_name}"
        if env == "prod":
            # THEN with replicas, every threshold the dataclass offers is read by some alarm
            assert used == set(THRESHOLD_FIELD.values())


def test_staging_and_prod_alarms_differ_exactly_where_their_thresholds_do(
    staging: Graph, prod: Graph
) -> None:
    staging_alarms = {role(a, "staging"): a for a in staging.of_type(ALARM)}
    for alarm in prod.of_type(ALARM):
        what = role(alarm, "prod")
        twin = staging_alarms.get(what)
        if twin is None:
            continue  # a replica-lag alarm: staging has no replicas
        field_name = lookup(THRESHOLD_FIELD, alarm, "prod")
        differs = getattr(STAGING, field_name) != getattr(PROD, field_name)
        assert (alarm.inputs["threshold"] != twin.inputs["threshold"]) == differs, alarm.urn


def test_every_alarm_treats_missing_data_deliberately(staging: Graph, prod: Graph) -> None:
    for env, _, graph in graphs(staging, prod):
        for alarm in graph.of_type(ALARM):
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
        for alarm in graph.of_type(ALARM):
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
    for alarm in prod.of_type(ALARM):
        operator = alarm.inputs["comparisonOperator"]
        if role(alarm, "prod").endswith("freeable-memory"):
            assert operator == "LessThanThreshold", alarm.urn
        else:
            assert operator.startswith("GreaterThan"), alarm.urn


def test_errors_react_in_minutes_and_saturation_must_last(prod: Graph) -> None:
    fast = {"api-5xx-rate", "api-p99-latency", "api-unhealthy-hosts"}
    for alarm in prod.of_type(ALARM):
        what = role(alarm, "prod")
        window = (alarm.inputs["datapointsToAlarm"], alarm.inputs["evaluationPeriods"])
        if what in fast:
            assert window == (PROD.datapoints_to_alarm, PROD.evaluation_periods), alarm.urn
        elif what != "api-running-tasks":
            assert window == (PROD.saturation_datapoints_to_alarm, PROD.saturation_evaluation_periods), (
                alarm.urn
            )


def test_alarms_per_instance_and_node_and_lag_alarms_only_with_replicas(staging: Graph, prod: Graph) -> None:
    staging_roles = sorted(role(a, "staging") for a in staging.of_type(ALARM))
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
    prod_roles = {role(a, "prod") for a in prod.of_type(ALARM)}
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
            assert child.type == ALARM, child.urn
            assert child.name.startswith(f"{parent.name}-"), child.urn


# --- thresholds -----------------------------------------------------------------------------


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


# --- the metrics catalog --------------------------------------------------------------------


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


def test_cache_member_ids_follow_elasticache_numbering() -> None:
    def program() -> Any:
        return cache_member_ids(pulumi.Output.from_input("notes-prod-redis"), 3)

    assert run(program).result == ["notes-prod-redis-001", "notes-prod-redis-002", "notes-prod-redis-003"]


# --- the dashboard --------------------------------------------------------------------------


def values(**overrides: Any) -> DashboardValues:
    base: dict[str, Any] = {
        "region": REGION,
        "alb_arn_suffix": ALB_SUFFIX.format(env="prod"),
        "target_group_arn_suffix": TARGET_GROUP_SUFFIX.format(env="prod"),
        "cluster_name": "notes-prod",
        "service_name": "notes-prod-api",
        "docdb_instance_ids": docdb_ids("prod", 3),
        "cache_cluster_ids": cache_ids("prod", 3),
        "alarm_arns": [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:notes-prod-a{n}" for n in range(3)],
        "web_acl_name": "notes-prod-edge",
        "distribution_id": "E2EXAMPLE",
        **overrides,
    }
    return DashboardValues(**base)


def metric_widgets(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [w for w in body["widgets"] if w["type"] == "metric"]


def metric_lines(widget: dict[str, Any]) -> list[tuple[str, str, dict[str, str], dict[str, Any]]]:
    """(namespace, name, dimensions, options) of each metric line; expressions left out."""
    lines = []
    for line in widget["properties"]["metrics"]:
        if isinstance(line[0], dict):
            continue
        options = line[-1] if isinstance(line[-1], dict) else {}
        names_and_values = line[2:-1] if options else line[2:]
        dimensions = dict(zip(names_and_values[::2], names_and_values[1::2], strict=True))
        lines.append((line[0], line[1], dimensions, options))
    return lines


def test_every_dashboard_metric_is_published_for_the_resources_it_names() -> None:
    v = values()
    resources = {
        "LoadBalancer": {v.alb_arn_suffix},
        "TargetGroup": {v.target_group_arn_suffix},
        "ClusterName": {v.cluster_name},
        "ServiceName": {v.service_name},
        "DBInstanceIdentifier": set(v.docdb_instance_ids),
        "CacheClusterId": set(v.cache_cluster_ids),
        "WebACL": {v.web_acl_name},
        "Rule": {"ALL"},
        "DistributionId": {v.distribution_id},
        "Region": {"Global"},
    }
    body = dashboard_body(v)
    seen = set()
    for widget in metric_widgets(body):
        for namespace, name, dimensions, _ in metric_lines(widget):
            title = widget["properties"]["title"]
            assert published(namespace, name, frozenset(dimensions)), (
                f"{title}: {namespace} {name} {dimensions}"
            )
            for key, value in dimensions.items():
                assert value in resources[key], f"{title}: {key}={value} names no resource of the stack"
            seen.add(namespace)
    # THEN the dashboard covers every namespace of the catalog
    assert seen == set(CATALOG)


def test_dashboard_expressions_use_only_ids_of_their_own_widget() -> None:
    for widget in metric_widgets(dashboard_body(values())):
        lines = widget["properties"]["metrics"]
        ids = {line[-1]["id"] for line in lines if isinstance(line[-1], dict) and "id" in line[-1]}
        for line in lines:
            if isinstance(line[0], dict):
                referenced = set(re.findall(r"\b[a-z][A-Za-z0-9_]*\b", line[0]["expression"]))
                assert referenced <= ids, f"{widget['properties']['title']}: {referenced - ids}"


def test_every_metric_widget_says_its_region_and_edge_metrics_read_us_east_1() -> None:
    for widget in metric_widgets(dashboard_body(values())):
        namespaces = {namespace for namespace, *_ in metric_lines(widget)}
        region = widget["properties"]["region"]
        if namespaces & {"AWS/CloudFront", "AWS/WAFV2"}:
            assert region == GLOBAL_REGION, widget["properties"]["title"]
        else:
            assert region == REGION, widget["properties"]["title"]


def test_dashboard_covers_traffic_errors_latency_saturation_and_waf() -> None:
    body = dashboard_body(values())
    titles = " | ".join(w["properties"]["title"] for w in body["widgets"])
    for section in (
        "Traffic",
        "Errors: 5xx rate",
        "Latency",
        "Service saturation",
        "Database saturation",
        "Cache saturation",
        "WAF",
        "Alarms",
    ):
        assert section in titles, titles
    latency = next(w for w in metric_widgets(body) if w["properties"]["title"].startswith("Latency"))
    assert {o["stat"] for *_, o in metric_lines(latency)} >= {"p50", "p90", "p99"}


def test_edge_widgets_appear_only_for_what_exists() -> None:
    body = dashboard_body(values(web_acl_name=None, distribution_id=None))
    namespaces = {line[0] for w in metric_widgets(body) for line in metric_lines(w)}
    assert not namespaces & {"AWS/CloudFront", "AWS/WAFV2"}
    # AND with one instance and one node there is no lag to chart
    single = dashboard_body(values(docdb_instance_ids=["notes-prod-docdb-1"], cache_cluster_ids=["c-001"]))
    names = {line[1] for w in metric_widgets(single) for line in metric_lines(w)}
    assert not names & {"DBInstanceReplicaLag", "ReplicationLag"}


def test_dashboard_widgets_fit_the_grid_without_overlapping() -> None:
    cells: set[tuple[int, int]] = set()
    for widget in dashboard_body(values())["widgets"]:
        x, y, width, height = widget["x"], widget["y"], widget["width"], widget["height"]
        assert x + width <= GRID_WIDTH, widget["properties"]["title"]
        area = {(column, row) for column in range(x, x + width) for row in range(y, y + height)}
        assert not area & cells, widget["properties"]["title"]
        cells |= area


def test_too_many_alarms_for_one_status_widget_are_refused() -> None:
    with pytest.raises(ValueError, match=r"101 alarms: an alarm status widget shows at most 100"):
        dashboard_body(values(alarm_arns=[f"arn:aws:cloudwatch:x:1:alarm:a{n}" for n in range(101)]))


def test_dashboard_component_refuses_what_the_body_cannot_show_before_anything_resolves() -> None:
    # GIVEN more alarms than a status widget shows / WHEN the component is built / THEN it fails
    # at construction, not later inside an apply
    args = DashboardArgs(
        environment="prod",
        region=REGION,
        alb_arn_suffix="app/x/1",
        target_group_arn_suffix="targetgroup/x/1",
        cluster_name="notes-prod",
        service_name="notes-prod-api",
        docdb_instance_ids=["notes-prod-docdb-1"],
        cache_cluster_ids=["notes-prod-redis-001"],
        alarm_arns=[f"arn:aws:cloudwatch:x:1:alarm:a{n}" for n in range(101)],
    )
    with pytest.raises(ValueError, match=r"101 alarms: an alarm status widget shows at most 100"):
        DashboardComponent("bad", args)
    with pytest.raises(ValueError, match=r"must each name at least one"):
        DashboardComponent("bad", replace(args, alarm_arns=(), cache_cluster_ids=()))


def test_dashboard_component_lists_the_stacks_alarms_and_links_to_the_console(prod: Graph) -> None:
    dashboard = prod.one(DASHBOARD)
    assert dashboard.inputs["dashboardName"] == "notes-prod", dashboard.urn
    body = json.loads(dashboard.inputs["dashboardBody"])
    # THEN the body is the pure function's, for the stack's resolved values
    expected = dashboard_body(
        values(alarm_arns=prod.result["alarm_arns"], min_requests=PROD.alb_5xx_min_requests)
    )
    assert body == expected, dashboard.urn
    # AND its status widget lists every alarm of the stack, and nothing else
    [status] = [w for w in body["widgets"] if w["type"] == "alarm"]
    alarm_arns = {
        f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:metricalarm/{a.name}-" for a in prod.of_type(ALARM)
    }
    assert len(status["properties"]["alarms"]) == len(alarm_arns) == len(prod.of_type(ALARM))
    for arn in status["properties"]["alarms"]:
        assert [prefix for prefix in alarm_arns if arn.startswith(prefix)], arn
    assert prod.result["dashboard_url"] == dashboard_url(REGION, "notes-prod")
    assert prod.result["dashboard_url"] == (
        f"https://{REGION}.console.aws.amazon.com/cloudwatch/home?region={REGION}#dashboards:name=notes-prod"
    )
