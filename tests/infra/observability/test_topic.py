"""The alarm topic under mocks: encrypted, published to only by this environment's alarms of
this account, and subscribed to from the args."""

from __future__ import annotations

import json

import pytest

from infra.observability.topic import AlarmSubscription, AlarmTopic, AlarmTopicArgs
from notes_platform.graph.mocks import ACCOUNT_ID
from tests.infra.harness import Graph, run
from tests.infra.observability.stack import (
    REGION,
    SNS_KEY,
    STAGING,
    SUBSCRIPTIONS,
    stack_graph,
)
from tests.type_tokens import SNS_SUBSCRIPTION, SNS_TOPIC, SNS_TOPIC_POLICY


def test_topic_is_encrypted_with_the_sns_key_and_named_per_environment(staging: Graph) -> None:
    topic = staging.one(SNS_TOPIC)
    assert topic.inputs["name"] == "notes-staging-alarms", topic.urn
    assert topic.inputs["kmsMasterKeyId"] == SNS_KEY, topic.urn


def test_topic_policy_lets_only_this_accounts_alarms_of_this_environment_publish(staging: Graph) -> None:
    topic = staging.one(SNS_TOPIC)
    policy = staging.one(SNS_TOPIC_POLICY)
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
    topic = staging.one(SNS_TOPIC)
    subscriptions = staging.of_type(SNS_SUBSCRIPTION)
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
    assert {s.urn for s in reordered.of_type(SNS_SUBSCRIPTION)} == {
        s.urn for s in first.of_type(SNS_SUBSCRIPTION)
    }


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


def _topic_statements(**args: object) -> dict[str, dict[str, object]]:
    """The topic policy's statements by Sid, for a topic built from ``args``."""
    values = {"environment": "prod", "region": REGION, "account_id": ACCOUNT_ID, "kms_key_arn": SNS_KEY}
    graph = run(lambda: AlarmTopic("prod-alarm-topic", AlarmTopicArgs(**{**values, **args})))  # type: ignore[arg-type]
    policy = graph.one(SNS_TOPIC_POLICY)
    return {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}


def test_aws_backup_budgets_and_anomaly_detection_publish_for_this_account_only() -> None:
    # GIVEN the stack's three service publishers / WHEN the topic is built
    statements = _topic_statements(
        service_publishers=("budgets.amazonaws.com", "backup.amazonaws.com", "costalerts.amazonaws.com")
    )
    # THEN each may publish, only on behalf of this account, and where its guide gives a source
    # ARN, only from this environment's vaults / this account's budgets
    own = {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}}
    expected = {
        "AwsBackupVaultsOfThisEnvironmentPublish": (
            "backup.amazonaws.com",
            {
                **own,
                "ArnLike": {
                    "aws:SourceArn": f"arn:aws:backup:{REGION}:{ACCOUNT_ID}:backup-vault:notes-prod-*"
                },
            },
        ),
        "AwsBudgetsOfThisAccountPublish": (
            "budgets.amazonaws.com",
            {**own, "ArnLike": {"aws:SourceArn": f"arn:aws:budgets::{ACCOUNT_ID}:*"}},
        ),
        "CostAnomalyDetectionOfThisAccountPublishes": ("costalerts.amazonaws.com", own),
    }
    for sid, (service, condition) in expected.items():
        statement = statements[sid]
        assert statement["Principal"] == {"Service": service}, sid
        assert (statement["Effect"], statement["Action"]) == ("Allow", "sns:Publish"), sid
        assert statement["Condition"] == condition, sid
    assert set(statements) == {*expected, "CloudWatchAlarmsOfThisAccountPublish"}


def test_without_service_publishers_only_cloudwatch_publishes() -> None:
    assert list(_topic_statements()) == ["CloudWatchAlarmsOfThisAccountPublish"]


@pytest.mark.parametrize(
    "publishers", [("events.amazonaws.com",), ("budgets.amazonaws.com", "budgets.amazonaws.com")]
)
def test_an_unknown_or_repeated_service_publisher_is_refused(publishers: tuple[str, ...]) -> None:
    args = AlarmTopicArgs(
        environment="staging",
        region=REGION,
        account_id=ACCOUNT_ID,
        kms_key_arn=SNS_KEY,
        service_publishers=publishers,
    )
    with pytest.raises(ValueError, match=r"service_publishers=.*give each once"):
        AlarmTopic("bad", args)
