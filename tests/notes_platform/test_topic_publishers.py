"""The topic-publishers check: in both stacks AWS Budgets, Cost Anomaly Detection and AWS Backup
notify the alarm topic, whose policy lets each publish; a policy planted without one of them is
found, naming the resource that would notify in vain."""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest

from notes_platform.checks import topic_publishers
from notes_platform.graph.mocks import Recorded
from notes_platform.graph.plan import Plan


def _alarm_topic_policy(resources: list[Recorded], stack: str) -> Recorded:
    [found] = [
        r
        for r in resources
        if r.type == topic_publishers.TOPIC_POLICY and r.name == f"{stack}-alarm-topic-policy"
    ]
    return found


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_every_notifying_service_may_publish_to_the_topic_it_names(
    plans: dict[str, Plan], stack: str
) -> None:
    # GIVEN a committed stack's plan
    resources = plans[stack].resources
    notifiers = [r for r in resources if r.type in topic_publishers.SERVICES]
    # THEN the budget and the backup vault notify the alarm topic (prod's anomaly alerts too)
    expected = {topic_publishers.BUDGET, topic_publishers.VAULT_NOTIFICATIONS}
    if stack == "prod":
        expected.add(topic_publishers.ANOMALY_SUBSCRIPTION)
    assert {r.type for r in notifiers} == expected
    topic = _alarm_topic_policy(resources, stack).inputs["arn"]
    assert all(topic in set(topic_publishers._topics(r)) for r in notifiers)
    # AND the check finds nothing
    assert topic_publishers.check(resources) == []


@pytest.mark.parametrize(
    ("service", "notifier"),
    [
        ("budgets.amazonaws.com", "prod-budgets-monthly"),
        ("costalerts.amazonaws.com", "prod-budgets-anomaly-alerts"),
        ("backup.amazonaws.com", "prod-backup-notifications"),
    ],
)
def test_a_topic_policy_without_a_publisher_is_found(
    plans: dict[str, Plan], service: str, notifier: str
) -> None:
    # GIVEN prod's plan whose alarm topic policy no longer lets one service publish
    resources = copy.deepcopy(plans["prod"].resources)
    policy = _alarm_topic_policy(resources, "prod")
    document = json.loads(policy.inputs["policy"])
    kept = [s for s in document["Statement"] if s.get("Principal") != {"Service": service}]
    assert len(kept) == len(document["Statement"]) - 1, document["Statement"]
    planted = dataclasses.replace(
        policy, inputs={**policy.inputs, "policy": json.dumps({**document, "Statement": kept})}
    )
    resources = [planted if r is policy else r for r in resources]
    # WHEN the check runs  THEN exactly that service's notifier is named, with the service
    findings = topic_publishers.check(resources)
    assert [f.urn.rsplit("::", 1)[1] for f in findings] == [notifier]
    assert service in findings[0].message
