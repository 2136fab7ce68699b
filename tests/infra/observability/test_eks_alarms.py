"""EksServiceAlarms: the API's alarms on the EKS path, from Container Insights metrics AWS publishes
for EKS (metrics_catalog's ContainerInsights namespace), with their constructor checks."""

from __future__ import annotations

from typing import Any

import pytest

from infra.observability.eks_alarms import EksServiceAlarms, EksServiceAlarmsArgs
from infra.observability.metrics_catalog import EKS_CONTAINER_INSIGHTS, check, published
from tests.infra.harness import Graph, run
from tests.type_tokens import METRIC_ALARM

TOPIC = "arn:aws:sns:eu-west-1:123456789012:notes-staging-alarms"


def _args(**override: Any) -> EksServiceAlarmsArgs:
    base: dict[str, Any] = {
        "environment": "staging",
        "topic_arn": TOPIC,
        "alb_arn_suffix": "app/notes/1",
        "target_group_arn_suffix": "targetgroup/notes/1",
        "cluster_name": "notes-staging",
        "namespace": "notes",
        "service": "notes-api",
        "pod_name": "notes-api",
        "min_running_pods": 2,
    }
    return EksServiceAlarmsArgs(**(base | override))


@pytest.fixture(scope="module")
def graph() -> Graph:
    return run(lambda: EksServiceAlarms("staging-service-alarms", _args()))


def test_every_eks_alarm_watches_a_published_metric_of_the_api(graph: Graph) -> None:
    # GIVEN the component planned WHEN its alarms are read
    alarms = graph.of_type(METRIC_ALARM)
    # THEN there are five, each on a metric and dimension set AWS publishes, named for the API
    assert len(alarms) == 5
    for alarm in alarms:
        i = alarm.inputs
        assert published(i["namespace"], i["metricName"], frozenset(i["dimensions"])), alarm.urn
        if i["namespace"] == EKS_CONTAINER_INSIGHTS:
            assert i["dimensions"]["ClusterName"] == "notes-staging", alarm.urn
            assert i["dimensions"]["Namespace"] == "notes", alarm.urn
        assert i["alarmActions"] == [TOPIC] and i["okActions"] == [TOPIC], alarm.urn


def test_running_pods_alarm_fires_below_the_minimum_and_on_silence(graph: Graph) -> None:
    # GIVEN the running-pods alarm WHEN read THEN below the minimum, and no data is a breach
    alarm = graph.one(METRIC_ALARM, "staging-service-alarms-api-running-pods")
    assert alarm.inputs["metricName"] == "service_number_of_running_pods"
    assert (alarm.inputs["comparisonOperator"], alarm.inputs["threshold"]) == ("LessThanThreshold", 2)
    assert alarm.inputs["treatMissingData"] == "breaching"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"min_running_pods": 0}, "min_running_pods=0"),
        ({"restarts": 0}, "restarts=0"),
        ({"topic_arn": "notes-alarms"}, "must be the ARN"),
        ({"environment": "Bad Env"}, "environment='Bad Env'"),
    ],
)
def test_impossible_eks_alarm_args_fail_in_the_constructor(override: dict[str, Any], message: str) -> None:
    # GIVEN args with one mistake WHEN the component is built THEN the message names it
    with pytest.raises(ValueError, match=message):
        EksServiceAlarms("bad", _args(**override))


def test_the_catalog_refuses_an_eks_metric_with_dimensions_aws_does_not_publish() -> None:
    # GIVEN restarts, published per pod only WHEN asked per Service THEN refused, naming what is
    with pytest.raises(ValueError, match=r"PodName"):
        check(
            EKS_CONTAINER_INSIGHTS, "pod_number_of_container_restarts", frozenset({"Service", "ClusterName"})
        )
    assert published(
        EKS_CONTAINER_INSIGHTS, "pod_cpu_utilization", frozenset({"Service", "Namespace", "ClusterName"})
    )
