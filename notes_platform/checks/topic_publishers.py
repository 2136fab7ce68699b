"""AWS services told to notify a topic whose policy does not let them publish, checked over the
recorded graph.

AWS Budgets, Cost Anomaly Detection and AWS Backup publish to an SNS topic as their service
principals; a topic policy that does not allow that principal sns:Publish on the topic makes
every notification fail where nobody looks (AWS Budgets User Guide, "Creating an Amazon SNS topic
for budget notifications"; AWS Cost Management User Guide, "Setting up an Amazon SNS topic for
anomaly notifications"; AWS Backup Developer Guide, "Notification options with AWS Backup"). For
each notifying resource of the plan and each topic it names, the plan's policy of that topic has
an Allow of sns:Publish for the service whose Resource covers the topic.

    findings = check(plan.resources)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from fnmatch import fnmatchcase
from typing import Any

from notes_platform.checks.ordering import Finding, Graph
from notes_platform.graph.mocks import Recorded
from policies.notes_policies.common import as_list, document

TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
BUDGET = "aws:budgets/budget:Budget"
ANOMALY_SUBSCRIPTION = "aws:costexplorer/anomalySubscription:AnomalySubscription"
VAULT_NOTIFICATIONS = "aws:backup/vaultNotifications:VaultNotifications"
SERVICES = {
    BUDGET: "budgets.amazonaws.com",
    ANOMALY_SUBSCRIPTION: "costalerts.amazonaws.com",
    VAULT_NOTIFICATIONS: "backup.amazonaws.com",
}


def check(resources: Iterable[Recorded]) -> list[Finding]:
    """Every finding; an empty list means all is well."""
    graph = Graph(resources)
    policies = {str(p.inputs.get("arn")): p for p in graph.of_type(TOPIC_POLICY)}
    findings: list[Finding] = []
    for resource in graph.of_type(*SERVICES):
        service = SERVICES[resource.type]
        for topic in sorted(set(_topics(resource))):
            policy = policies.get(topic)
            parsed = document(policy.inputs.get("policy")) if policy is not None else None
            if policy is not None and not isinstance(parsed, Mapping):
                continue  # an unknown policy: nothing to judge offline
            statements = (
                [s for s in as_list(parsed.get("Statement")) if isinstance(s, Mapping)] if parsed else []
            )
            if not any(_allows(s, service, topic) for s in statements):
                findings.append(
                    Finding(
                        resource.urn,
                        f"notifies {topic}, whose policy must let {service} sns:Publish, or its "
                        "notifications never arrive",
                    )
                )
    return findings


def _topics(resource: Recorded) -> Iterator[str]:
    inputs = resource.inputs
    if resource.type == BUDGET:
        for notification in as_list(inputs.get("notifications")):
            yield from (str(t) for t in as_list(notification.get("subscriberSnsTopicArns")))
    elif resource.type == ANOMALY_SUBSCRIPTION:
        for subscriber in as_list(inputs.get("subscribers")):
            if subscriber.get("type") == "SNS":
                yield str(subscriber.get("address"))
    elif inputs.get("snsTopicArn"):
        yield str(inputs["snsTopicArn"])


def _allows(statement: Mapping[str, Any], service: str, topic: str) -> bool:
    principal = statement.get("Principal")
    services = as_list(principal.get("Service")) if isinstance(principal, Mapping) else []
    actions = [str(a).lower() for a in as_list(statement.get("Action"))]
    return (
        statement.get("Effect") == "Allow"
        and service in services
        and any(fnmatchcase("sns:publish", a) for a in actions)
        and any(fnmatchcase(topic, str(r)) for r in as_list(statement.get("Resource")))
    )
