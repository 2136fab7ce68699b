"""WorkerAlarms under mocks: the exports queue's oldest message, its dead-letter queue and the
worker's running tasks, each on a metric AWS publishes for the resource it names, notifying the
topic on ALARM and OK, with its threshold from the args; and the constructor's refusals."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest

from infra.observability.alarm_factory import Metric
from infra.observability.metrics_catalog import SQS, check, published
from infra.observability.thresholds import AlarmThresholds
from infra.observability.worker_alarms import WorkerAlarms, WorkerAlarmsArgs
from notes_platform.graph.mocks import Recorded
from tests.infra.harness import Graph, run
from tests.infra.observability.test_alarms import metrics_of
from tests.type_tokens import METRIC_ALARM

TOPIC = "arn:aws:sns:eu-west-1:123456789012:notes-{env}-alarms"
# Every field the worker alarms read a value of its own, so an alarm reading the wrong one shows.
STAGING = AlarmThresholds(
    queue_oldest_message_age_seconds=900,
    running_task_shortfall=1,
    task_shortfall_evaluation_periods=10,
    evaluation_periods=5,
    datapoints_to_alarm=3,
)
PROD = AlarmThresholds(
    queue_oldest_message_age_seconds=1200,
    running_task_shortfall=2,
    task_shortfall_evaluation_periods=12,
    evaluation_periods=4,
    datapoints_to_alarm=2,
)


def _args(env: str = "staging", **override: Any) -> WorkerAlarmsArgs:
    base: dict[str, Any] = {
        "environment": env,
        "topic_arn": TOPIC.format(env=env),
        "queue_name": f"notes-{env}-exports",
        "dlq_name": f"notes-{env}-exports-dlq",
        "cluster_name": f"notes-{env}",
        "service_name": f"notes-{env}-worker",
        "job_timeout_seconds": 600,
        "thresholds": STAGING if env == "staging" else PROD,
    }
    return WorkerAlarmsArgs(**(base | override))


@pytest.fixture(scope="module")
def graphs() -> dict[str, Graph]:
    return {
        env: run(lambda env=env: WorkerAlarms(f"{env}-worker-alarms", _args(env)))
        for env in ("staging", "prod")
    }


def alarm(graph: Graph, env: str, role: str) -> Recorded:
    return graph.one(METRIC_ALARM, f"{env}-worker-alarms-{role}")


def test_three_alarms_named_for_the_environment_each_telling_the_topic_on_alarm_and_ok(
    graphs: dict[str, Graph],
) -> None:
    for env, graph in graphs.items():
        # GIVEN the component planned WHEN its alarms are read
        alarms = graph.of_type(METRIC_ALARM)
        # THEN one per concern, named notes-<env>-<what>
        assert sorted(a.inputs["name"] for a in alarms) == [
            f"notes-{env}-exports-dlq-not-empty",
            f"notes-{env}-exports-oldest-message",
            f"notes-{env}-worker-running-tasks",
        ]
        for a in alarms:
            # AND each notifies the topic on ALARM and on OK, with actions on
            assert a.inputs["alarmActions"] == [TOPIC.format(env=env)], a.urn
            assert a.inputs["okActions"] == [TOPIC.format(env=env)], a.urn
            assert a.inputs["actionsEnabled"] is True, a.urn
            # AND says what to do, within CloudWatch's 1024 characters
            description = a.inputs["alarmDescription"]
            assert 60 <= len(description) <= 1024, a.urn
            assert re.search(r"\b(check|look|raise|move|read|purge)\b", description, re.I), a.urn


def test_every_worker_alarm_watches_a_published_metric_of_the_resource_it_names(
    graphs: dict[str, Graph],
) -> None:
    for env, graph in graphs.items():
        names = {
            "QueueName": {f"notes-{env}-exports", f"notes-{env}-exports-dlq"},
            "ClusterName": {f"notes-{env}"},
            "ServiceName": {f"notes-{env}-worker"},
        }
        for a in graph.of_type(METRIC_ALARM):
            for m in metrics_of(a):
                assert published(m["namespace"], m["metricName"], frozenset(m["dimensions"])), (
                    f"{a.urn}: {m['namespace']} {m['metricName']} {sorted(m['dimensions'])}"
                )
                for key, value in m["dimensions"].items():
                    assert value in names[key], f"{a.urn}: {key}={value} names nothing of the exports"
            periods = [a.inputs["period"]] if "period" in a.inputs else []
            periods += [q["metric"]["period"] for q in a.inputs.get("metricQueries", []) if "metric" in q]
            assert set(periods) == {60}, a.urn


def test_the_oldest_message_alarm_fires_above_its_threshold_over_the_fast_window(
    graphs: dict[str, Graph],
) -> None:
    for env, thresholds in (("staging", STAGING), ("prod", PROD)):
        i = alarm(graphs[env], env, "exports-oldest-message").inputs
        # THEN the age of the oldest message of the exports queue (not its DLQ), at its worst
        assert (i["namespace"], i["metricName"], i["statistic"]) == (
            "AWS/SQS",
            "ApproximateAgeOfOldestMessage",
            "Maximum",
        )
        assert i["dimensions"] == {"QueueName": f"notes-{env}-exports"}
        # AND above the configured age, over the configured window, each stack its own
        assert i["comparisonOperator"] == "GreaterThanThreshold"
        assert i["threshold"] == thresholds.queue_oldest_message_age_seconds
        assert (i["evaluationPeriods"], i["datapointsToAlarm"]) == (
            thresholds.evaluation_periods,
            thresholds.datapoints_to_alarm,
        )
        # AND an idle queue, which SQS stops reporting, is no breach
        assert i["treatMissingData"] == "notBreaching"


def test_one_message_in_the_dead_letter_queue_alarms_at_once(graphs: dict[str, Graph]) -> None:
    for env, graph in graphs.items():
        i = alarm(graph, env, "exports-dlq-not-empty").inputs
        assert (i["namespace"], i["metricName"], i["statistic"]) == (
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            "Maximum",
        )
        assert i["dimensions"] == {"QueueName": f"notes-{env}-exports-dlq"}
        # THEN any message at all, in the first period it shows
        assert (i["comparisonOperator"], i["threshold"]) == ("GreaterThanThreshold", 0)
        assert (i["evaluationPeriods"], i["datapointsToAlarm"]) == (1, 1)
        # AND an empty dead-letter queue that went quiet is no breach
        assert i["treatMissingData"] == "notBreaching"


def test_worker_tasks_below_desired_alarm_on_a_sustained_shortfall_and_on_silence(
    graphs: dict[str, Graph],
) -> None:
    for env, thresholds in (("staging", STAGING), ("prod", PROD)):
        i = alarm(graphs[env], env, "worker-running-tasks").inputs
        queries = {q["id"]: q for q in i["metricQueries"]}
        # THEN desired minus running, of the worker's service (not the API's), from Container Insights
        assert queries["result"]["expression"] == "desired - FILL(running, 0)"
        assert queries["result"]["returnData"] is True
        for query_id, name in (("desired", "DesiredTaskCount"), ("running", "RunningTaskCount")):
            metric = queries[query_id]["metric"]
            assert (metric["namespace"], metric["metricName"]) == ("ECS/ContainerInsights", name)
            worker = {"ClusterName": f"notes-{env}", "ServiceName": f"notes-{env}-worker"}
            assert metric["dimensions"] == worker
            assert queries[query_id]["returnData"] is False
        # AND a shortfall in every period of the window, not a task starting
        assert (i["comparisonOperator"], i["threshold"]) == (
            "GreaterThanOrEqualToThreshold",
            thresholds.running_task_shortfall,
        )
        periods = thresholds.task_shortfall_evaluation_periods
        assert (i["evaluationPeriods"], i["datapointsToAlarm"]) == (periods, periods)
        # AND silence from Container Insights is a breach
        assert i["treatMissingData"] == "breaching"


def test_a_worker_that_is_no_ecs_service_gets_the_queue_alarms_only() -> None:
    # GIVEN the EKS path's args: the queues, and no ECS cluster or service
    args = _args(cluster_name=None, service_name=None)
    # WHEN the component is planned
    graph = run(lambda: WorkerAlarms("staging-worker-alarms", args))
    alarms = graph.of_type(METRIC_ALARM)
    # THEN the oldest-message and dead-letter alarms only, no ECS metric anywhere
    assert sorted(a.inputs["name"] for a in alarms) == [
        "notes-staging-exports-dlq-not-empty",
        "notes-staging-exports-oldest-message",
    ]
    assert "ECS" not in str([a.inputs for a in alarms])
    # AND the oldest-message alarm sends the reader to the pods, not to an ECS console
    oldest = alarm(graph, "staging", "exports-oldest-message").inputs["alarmDescription"]
    assert "Deployment's pods" in oldest and "running-tasks" not in oldest, oldest


@pytest.mark.parametrize("missing", ["cluster_name", "service_name"])
def test_half_an_ecs_service_is_refused(missing: str) -> None:
    # GIVEN one of the two names of the worker's ECS service WHEN built THEN refused
    with pytest.raises(ValueError, match=r"cluster_name and service_name name the worker's ECS service"):
        WorkerAlarms("bad", _args(**{missing: None}))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            {"job_timeout_seconds": 900},
            r"queue_oldest_message_age_seconds=900 must be above job_timeout_seconds=900",
        ),
        (
            {"thresholds": replace(STAGING, queue_oldest_message_age_seconds=300)},
            r"queue_oldest_message_age_seconds=300 must be above job_timeout_seconds=600",
        ),
        ({"job_timeout_seconds": 0}, r"job_timeout_seconds=0 must be above 0"),
        (
            {"thresholds": replace(STAGING, queue_oldest_message_age_seconds=0)},
            r"thresholds\.queue_oldest_message_age_seconds=0 must be above 0",
        ),
        ({"topic_arn": "notes-alarms"}, "must be the ARN"),
        ({"environment": "Bad Env"}, "environment='Bad Env'"),
    ],
)
def test_impossible_worker_alarm_args_fail_in_the_constructor(override: dict[str, Any], message: str) -> None:
    # GIVEN args with one mistake WHEN the component is built THEN the message names it
    with pytest.raises(ValueError, match=message):
        WorkerAlarms("bad", _args(**override))


def test_the_catalog_refuses_an_sqs_metric_aws_does_not_publish() -> None:
    # GIVEN SQS metrics as an alarm would describe them
    check(SQS, "ApproximateAgeOfOldestMessage", frozenset({"QueueName"}))
    # WHEN one has a dimension SQS never sends, or a name it never publishes
    # THEN the catalog refuses it before anything is registered, naming what is published
    with pytest.raises(ValueError, match=r"it is with \[\['QueueName'\]\]"):
        Metric(SQS, "ApproximateNumberOfMessagesVisible", {"QueueName": "q", "ClusterName": "c"}, "Maximum")
    with pytest.raises(ValueError, match=r"AWS/SQS publishes no metric 'ApproximateNumberOfMessages'"):
        # The GetQueueAttributes attribute's name, not the CloudWatch metric's.
        Metric(SQS, "ApproximateNumberOfMessages", {"QueueName": "q"}, "Maximum")
