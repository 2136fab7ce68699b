"""Who is told: ``AlarmTopic``, the KMS-encrypted SNS topic every alarm of an environment
notifies, its policy and its subscribers."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.kms import SNS_SERVICE_PUBLISHERS
from infra.observability.endpoints import endpoint_problem
from infra.observability.naming import check_environment

PURPOSE = re.compile(r"^[a-z][a-z0-9-]{0,40}$")


@dataclass(frozen=True)
class AlarmSubscription:
    """One recipient of every alarm notification. The stack makes one per entry of config
    ``alarmsEmails`` and ``alarmsHttpsEndpoints`` (``stacks.settings.alarm_subscriptions``)."""

    protocol: str
    """"email" (the address confirms by clicking the link SNS sends) or "https" (the endpoint
    confirms by fetching the SubscribeURL SNS posts to it). Required."""
    endpoint: str
    """An e-mail address (from config ``alarmsEmails``), or an https:// URL (from config
    ``alarmsHttpsEndpoints``). Required."""


@dataclass(frozen=True)
class AlarmTopicArgs:
    """The alarm topic of one environment."""

    environment: str
    """Environment name: the topic is notes-<env>-<purpose>. From config ``environment``. Required."""
    region: str
    """Region of the topic; alarms notify topics of their own region only. From config
    ``aws:region``. Required."""
    account_id: pulumi.Input[str]
    """Account whose CloudWatch alarms may publish (the stack's caller identity). Required."""
    kms_key_arn: pulumi.Input[str]
    """KMS key of the topic (the "sns" key: its policy lets CloudWatch use it). Required."""
    subscriptions: Sequence[AlarmSubscription] = ()
    """Who is told. From config ``alarmsEmails`` and ``alarmsHttpsEndpoints``. Default none (the
    topic still collects for later subscribers)."""
    purpose: str = "alarms"
    """Last part of the topic's name, notes-<env>-<purpose>: a second topic of the same
    environment needs its own (the edge's us-east-1 topic is "edge-alarms"). Default "alarms"."""
    service_publishers: tuple[str, ...] = ()
    """AWS services besides CloudWatch that may publish, for this account only (``kms.
    SNS_SERVICE_PUBLISHERS``: AWS Backup's vault events, Budgets, Cost Anomaly Detection); the
    topic's key must admit them too (``KeysArgs.sns_publishers``). Default none (the edge's topic)."""


def topic_policy(
    *,
    topic_arn: str,
    account_id: str,
    region: str,
    environment: str,
    service_publishers: Sequence[str] = (),
) -> dict[str, Any]:
    """CloudWatch may publish, for this account's alarms of this environment only; each of
    ``service_publishers`` for this account only. Principals of the account keep what their IAM
    policies grant: a topic policy is needed only across the account boundary, and for service
    principals."""
    alarms = f"arn:aws:cloudwatch:{region}:{account_id}:alarm:notes-{environment}-*"
    statements = [
        {
            "Sid": "CloudWatchAlarmsOfThisAccountPublish",
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": topic_arn,
            "Condition": {
                "StringEquals": {"aws:SourceAccount": account_id},
                "ArnLike": {"aws:SourceArn": alarms},
            },
        }
    ]
    # Each service's own documented conditions (confused deputy: another account's vault, budget
    # or subscription naming this topic publishes nothing).
    sources = {
        # "The value of aws:SourceArn must be a AWS Backup vault when using AWS Backup to publish
        # Amazon SNS topics on your behalf" (AWS Backup Developer Guide, "Cross-service confused
        # deputy prevention"); a vault ARN is arn:aws:backup:<region>:<account>:backup-vault:<name>.
        "backup.amazonaws.com": (
            "AwsBackupVaultsOfThisEnvironmentPublish",
            f"arn:aws:backup:{region}:{account_id}:backup-vault:notes-{environment}-*",
        ),
        # AWS Cost Management User Guide, "Creating an Amazon SNS topic for budget
        # notifications": aws:SourceAccount and aws:SourceArn arn:aws:budgets::<account-id>:*.
        "budgets.amazonaws.com": ("AwsBudgetsOfThisAccountPublish", f"arn:aws:budgets::{account_id}:*"),
        # "... for anomaly notifications": aws:SourceAccount, the subscription's account.
        "costalerts.amazonaws.com": ("CostAnomalyDetectionOfThisAccountPublishes", None),
    }
    for service in sorted(service_publishers):
        sid, source_arn = sources[service]
        condition: dict[str, Any] = {"StringEquals": {"aws:SourceAccount": account_id}}
        if source_arn:
            condition["ArnLike"] = {"aws:SourceArn": source_arn}
        statements.append(
            {
                "Sid": sid,
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": condition,
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def validate_subscriptions(subscriptions: Sequence[AlarmSubscription], field: str = "subscriptions") -> None:
    """Every recipient valid and listed once; ``field`` names the args field in messages."""
    seen: set[tuple[str, str]] = set()
    for index, s in enumerate(subscriptions):
        where = f"{field}[{index}]"
        if problem := endpoint_problem(s.protocol, s.endpoint):
            raise ValueError(f"{where}.{problem}")
        key = (s.protocol, s.endpoint.lower())
        if key in seen:
            raise ValueError(f"{where}: {s.protocol} {s.endpoint} is listed twice")
        seen.add(key)


class AlarmTopic(pulumi.ComponentResource):
    """The encrypted SNS topic of an environment's alarms, its policy and its subscribers."""

    topic: aws.sns.Topic
    arn: pulumi.Output[str]
    policy: aws.sns.TopicPolicy
    subscriptions: list[aws.sns.TopicSubscription]

    def __init__(self, name: str, args: AlarmTopicArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        check_environment(args.environment)
        if not PURPOSE.match(args.purpose):
            raise ValueError(f"purpose={args.purpose!r}: lower-case letters, digits and '-' only")
        validate_subscriptions(args.subscriptions)
        unknown = sorted(set(args.service_publishers) - SNS_SERVICE_PUBLISHERS)
        if unknown or len(set(args.service_publishers)) != len(args.service_publishers):
            raise ValueError(
                f"service_publishers={list(args.service_publishers)}: give each once, from "
                f"{', '.join(sorted(SNS_SERVICE_PUBLISHERS))}"
            )
        super().__init__("notes:infra:AlarmTopic", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        env = args.environment

        self.topic = aws.sns.Topic(
            f"{name}-topic",
            name=f"notes-{env}-{args.purpose}",
            display_name=f"notes {env} {args.purpose.replace('-', ' ')}",
            kms_master_key_id=args.kms_key_arn,
            opts=child,
        )
        self.arn = self.topic.arn
        self.policy = aws.sns.TopicPolicy(
            f"{name}-policy",
            arn=self.topic.arn,
            policy=pulumi.Output.all(topic_arn=self.topic.arn, account_id=args.account_id).apply(
                lambda v: json.dumps(
                    topic_policy(
                        region=args.region,
                        environment=env,
                        service_publishers=args.service_publishers,
                        **v,
                    )
                )
            ),
            opts=child,
        )
        # E-mail and https subscriptions stay pending until their owner confirms them; SNS
        # drops an unconfirmed one after three days, and nothing can delete it before.
        self.subscriptions = [
            aws.sns.TopicSubscription(
                # Named after the endpoint, not its position: reordering the list must not
                # delete and recreate a subscription (and ask its owner to confirm again).
                f"{name}-{s.protocol}-{hashlib.sha256(s.endpoint.lower().encode()).hexdigest()[:10]}",
                topic=self.topic.arn,
                protocol=s.protocol,
                endpoint=s.endpoint,
                opts=child,
            )
            for s in args.subscriptions
        ]
        self.register_outputs({"topicArn": self.arn})
