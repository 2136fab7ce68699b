"""Cost guard rails: an AWS Budgets monthly cost budget per environment with alerts at 80% of
actual and 100% of forecast spend, and Cost Anomaly Detection where the stack owns or names a
monitor.

Budgets and Cost Explorer are global services: their APIs answer on one endpoint whatever the
region the caller names. The AWS endpoint rule sets in botocore (``budgets`` and ``ce``) resolve
any region of the aws partition to https://budgets.amazonaws.com and
https://ce.us-east-1.amazonaws.com, both signed for us-east-1, and pulumi-aws 7 gives
``budgets.Budget`` and the ``costexplorer`` resources no ``region`` input: the stack's own
provider serves, no us-east-1 provider is needed.

The alerts go to the environment's alarm topic, which must admit budgets.amazonaws.com and
costalerts.amazonaws.com (``AlarmTopicArgs.service_publishers``) and whose key must let them
encrypt (``KeysArgs.sns_publishers``), and, for the budget, to each owner's address directly:
the mail arrives even while a topic subscription is unconfirmed.

One AWS services anomaly monitor per account: "Management accounts can have one AWS services
monitor ... Member accounts only have access to the AWS services monitor" (AWS Cost Management
User Guide, "Detecting unusual spend with AWS Cost Anomaly Detection", monitor types), and AWS
creates one ("Default-Services-Monitor") when Cost Explorer is enabled. So a stack either creates
the account's monitor (its account has none) or subscribes to an existing one by ARN; where two
environments share an account, one stack owns it and the other subscribes or has none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.budget_rules import (
    ANOMALY_MONITOR_ARN,
    MAX_ANOMALY_THRESHOLD_USD,
    email_subscribers_problem,
)
from infra.observability.endpoints import endpoint_problem
from infra.observability.naming import check_environment

# The two alerts the issue asks for: 80% of the limit spent, and 100% forecast for the month.
NOTIFICATIONS = (("ACTUAL", 80.0), ("FORECASTED", 100.0))


@dataclass(frozen=True)
class BudgetsArgs:
    """The cost guard rails of one environment."""

    environment: str
    """Environment name: the budget is notes-<env>-monthly. From config `environment`. Required."""
    monthly_limit_usd: int
    """The month's cost budget in USD. From config `budgetMonthlyUsd`. Required, above 0."""
    topic_arn: pulumi.Input[str]
    """The alarm topic the alerts go to. Required."""
    emails: Sequence[str] = ()
    """Addresses the budget mails directly as well (at most 10). From config `alarmsEmails`.
    Default none."""
    topic_ready: Sequence[pulumi.Resource] = ()
    """What the budget and the anomaly subscription wait for: the topic's policy, which AWS
    checks when a subscriber is added ("Invalid SNS topic"). Default none."""
    environment_tag_only: bool = False
    """Count only costs tagged Environment=<env> (the user-defined cost allocation tag
    ``Environment`` must be activated in the billing console first, or the budget sees nothing).
    From config `budgetEnvironmentTagOnly`. Default False: the account's whole cost, right with one
    account per environment."""
    anomaly_threshold_usd: int | None = None
    """Alert on a cost anomaly whose total impact reaches this many USD. From config
    `budgetAnomalyThresholdUsd`. Default None: no anomaly detection."""
    anomaly_monitor_arn: str | None = None
    """An existing AWS services monitor to subscribe to. From config `budgetAnomalyMonitorArn`.
    Default None: with a threshold, the stack creates the account's monitor."""


def validate_budgets(name: str, args: BudgetsArgs) -> None:
    where = f"Budgets {name}"
    check_environment(args.environment)
    if args.monthly_limit_usd <= 0:
        raise ValueError(f"{where}: monthly_limit_usd={args.monthly_limit_usd}; give a budget above 0 USD")
    if problem := email_subscribers_problem(len(args.emails)):
        raise ValueError(f"{where}: emails: {problem}")
    for index, address in enumerate(args.emails):
        if invalid := endpoint_problem("email", address):
            raise ValueError(f"{where}: emails[{index}].{invalid}")
    if len({a.lower() for a in args.emails}) != len(args.emails):
        raise ValueError(f"{where}: emails lists an address twice")
    threshold = args.anomaly_threshold_usd
    if threshold is not None and not 0 < threshold <= MAX_ANOMALY_THRESHOLD_USD:
        raise ValueError(
            f"{where}: anomaly_threshold_usd={threshold}; Cost Anomaly Detection takes 1 to "
            f"{MAX_ANOMALY_THRESHOLD_USD:,} USD"
        )
    if args.anomaly_monitor_arn is not None:
        if threshold is None:
            raise ValueError(
                f"{where}: anomaly_monitor_arn is set without anomaly_threshold_usd; "
                "the subscription needs a threshold"
            )
        if not ANOMALY_MONITOR_ARN.match(args.anomaly_monitor_arn):
            raise ValueError(
                f"{where}: anomaly_monitor_arn={args.anomaly_monitor_arn!r} is not an anomaly monitor ARN "
                "(arn:aws:ce::<account>:anomalymonitor/<id>)"
            )


def budget_notifications(
    topic_arn: pulumi.Input[str], emails: Sequence[str]
) -> list[aws.budgets.BudgetNotificationArgs]:
    return [
        aws.budgets.BudgetNotificationArgs(
            notification_type=kind,
            comparison_operator="GREATER_THAN",
            threshold=percent,
            threshold_type="PERCENTAGE",
            subscriber_sns_topic_arns=[topic_arn],
            subscriber_email_addresses=list(emails) or None,
        )
        for kind, percent in NOTIFICATIONS
    ]


class Budgets(pulumi.ComponentResource):
    """An environment's monthly cost budget and, when configured, its cost anomaly alerts."""

    budget: aws.budgets.Budget
    anomaly_monitor: aws.costexplorer.AnomalyMonitor | None
    anomaly_subscription: aws.costexplorer.AnomalySubscription | None

    def __init__(self, name: str, args: BudgetsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        validate_budgets(name, args)
        super().__init__("notes:infra:Budgets", name, None, opts)
        env = args.environment
        ready = pulumi.ResourceOptions(parent=self, depends_on=list(args.topic_ready))
        filters = (
            # Cost allocation tags are filtered as TagKeyValue "user:<key>$<value>" (AWS Budgets
            # API Reference, Budget.CostFilters, as the console writes them).
            [aws.budgets.BudgetCostFilterArgs(name="TagKeyValue", values=[f"user:Environment${env}"])]
            if args.environment_tag_only
            else None
        )
        self.budget = aws.budgets.Budget(
            f"{name}-monthly",
            name=f"notes-{env}-monthly",
            budget_type="COST",
            time_unit="MONTHLY",
            limit_amount=str(args.monthly_limit_usd),
            limit_unit="USD",
            cost_filters=filters,
            notifications=budget_notifications(args.topic_arn, args.emails),
            opts=ready,
        )
        self.anomaly_monitor = self.anomaly_subscription = None
        if args.anomaly_threshold_usd is not None:
            monitor_arn: pulumi.Input[str]
            if args.anomaly_monitor_arn is None:
                self.anomaly_monitor = aws.costexplorer.AnomalyMonitor(
                    f"{name}-anomaly-monitor",
                    name=f"notes-{env}-aws-services",
                    monitor_type="DIMENSIONAL",
                    monitor_dimension="SERVICE",
                    # One AWS services monitor per account: a replacement (its type and dimension
                    # are ForceNew) can only be created once the old one is gone.
                    opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
                )
                monitor_arn = self.anomaly_monitor.arn
            else:
                monitor_arn = args.anomaly_monitor_arn
            self.anomaly_subscription = aws.costexplorer.AnomalySubscription(
                f"{name}-anomaly-alerts",
                name=f"notes-{env}-cost-anomalies",
                # SNS subscribers take IMMEDIATE alerts only; the topic reaches the owners.
                frequency="IMMEDIATE",
                monitor_arn_lists=[monitor_arn],
                subscribers=[
                    aws.costexplorer.AnomalySubscriptionSubscriberArgs(type="SNS", address=args.topic_arn)
                ],
                threshold_expression=aws.costexplorer.AnomalySubscriptionThresholdExpressionArgs(
                    dimension=aws.costexplorer.AnomalySubscriptionThresholdExpressionDimensionArgs(
                        key="ANOMALY_TOTAL_IMPACT_ABSOLUTE",
                        match_options=["GREATER_THAN_OR_EQUAL"],
                        values=[str(args.anomaly_threshold_usd)],
                    )
                ),
                opts=ready,
            )
        self.register_outputs(
            {
                "budgetName": self.budget.name,
                "anomalyMonitorArn": self.anomaly_monitor.arn
                if self.anomaly_monitor
                else args.anomaly_monitor_arn,
            }
        )
