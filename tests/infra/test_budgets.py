"""Budgets under mocks: a monthly cost budget with alerts at 80% actual and 100% forecast to the
alarm topic and the owners' addresses, and cost anomaly alerts from a monitor the stack owns or
names."""

from __future__ import annotations

import re
from typing import Any

import botocore.session
import pytest

from infra.budget_rules import MAX_EMAIL_SUBSCRIBERS
from infra.budgets import Budgets, BudgetsArgs
from notes_platform.checks import apimodels, replacement
from notes_platform.graph.mocks import ACCOUNT_ID
from tests.infra.harness import Graph, run
from tests.type_tokens import ANOMALY_MONITOR, ANOMALY_SUBSCRIPTION, BUDGET

NAME = "prod-budgets"
TOPIC = f"arn:aws:sns:eu-west-1:{ACCOUNT_ID}:notes-prod-alarms"
EMAILS = ("platform-oncall@example.com", "finance@example.com")
MONITOR_ARN = f"arn:aws:ce::{ACCOUNT_ID}:anomalymonitor/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


def budgets_args(**overrides: Any) -> BudgetsArgs:
    values: dict[str, Any] = {
        "environment": "prod",
        "monthly_limit_usd": 2500,
        "topic_arn": TOPIC,
        "emails": EMAILS,
    }
    return BudgetsArgs(**{**values, **overrides})


def build(component_args: BudgetsArgs) -> Graph:
    def program() -> Any:
        return Budgets(NAME, component_args).budget.name

    return run(program)


@pytest.fixture(scope="module")
def prod() -> Graph:
    return build(budgets_args(anomaly_threshold_usd=100))


def test_a_monthly_cost_budget_in_usd_named_per_environment(prod: Graph) -> None:
    budget = prod.one(BUDGET)
    assert budget.inputs["name"] == "notes-prod-monthly", budget.urn
    assert (budget.inputs["budgetType"], budget.inputs["timeUnit"]) == ("COST", "MONTHLY"), budget.urn
    assert (budget.inputs["limitAmount"], budget.inputs["limitUnit"]) == ("2500", "USD"), budget.urn
    # AND the whole account's cost by default (no filter that an inactive tag would empty)
    assert "costFilters" not in budget.inputs, budget.urn


def test_alerts_at_80_percent_actual_and_100_percent_forecast_to_the_topic_and_the_owners(
    prod: Graph,
) -> None:
    budget = prod.one(BUDGET)
    alerts = {(n["notificationType"], n["threshold"]): n for n in budget.inputs["notifications"]}
    assert sorted(alerts) == [("ACTUAL", 80), ("FORECASTED", 100)], budget.urn
    for alert in alerts.values():
        assert (alert["comparisonOperator"], alert["thresholdType"]) == ("GREATER_THAN", "PERCENTAGE"), alert
        assert alert["subscriberSnsTopicArns"] == [TOPIC], alert
        assert sorted(alert["subscriberEmailAddresses"]) == sorted(EMAILS), alert
    # AND each notification stays within AWS's one SNS and ten e-mail subscribers
    model = botocore.session.get_session().get_service_model("budgets")
    subscribers = model.operation_model("CreateBudget").input_shape.members["NotificationsWithSubscribers"]
    assert subscribers.member.members["Subscribers"].metadata["max"] == MAX_EMAIL_SUBSCRIBERS + 1


def test_only_the_environments_tagged_costs_when_asked() -> None:
    budget = build(budgets_args(environment_tag_only=True)).one(BUDGET)
    assert budget.inputs["costFilters"] == [{"name": "TagKeyValue", "values": ["user:Environment$prod"]}]


def test_the_stack_creates_the_accounts_services_monitor_and_alerts_the_topic_at_once(prod: Graph) -> None:
    monitor = prod.one(ANOMALY_MONITOR)
    assert (monitor.inputs["monitorType"], monitor.inputs["monitorDimension"]) == ("DIMENSIONAL", "SERVICE")
    # One per account: a replacement must delete the old monitor first
    assert monitor.delete_before_replace, monitor.urn
    subscription = prod.one(ANOMALY_SUBSCRIPTION)
    assert subscription.property_dependencies["monitorArnLists"] == [monitor.urn], subscription.urn
    assert subscription.inputs["frequency"] == "IMMEDIATE", subscription.urn
    assert subscription.inputs["subscribers"] == [{"type": "SNS", "address": TOPIC}], subscription.urn
    assert subscription.inputs["thresholdExpression"] == {
        "dimension": {
            "key": "ANOMALY_TOTAL_IMPACT_ABSOLUTE",
            "matchOptions": ["GREATER_THAN_OR_EQUAL"],
            "values": ["100"],
        }
    }, subscription.urn


def test_an_existing_monitor_is_subscribed_to_not_created() -> None:
    graph = build(budgets_args(anomaly_threshold_usd=50, anomaly_monitor_arn=MONITOR_ARN))
    assert graph.of_type(ANOMALY_MONITOR) == []
    assert graph.one(ANOMALY_SUBSCRIPTION).inputs["monitorArnLists"] == [MONITOR_ARN]


def test_no_threshold_no_anomaly_detection() -> None:
    graph = build(budgets_args())
    assert graph.of_type(ANOMALY_MONITOR) == graph.of_type(ANOMALY_SUBSCRIPTION) == []


def test_the_alerts_wait_for_the_topic_policy() -> None:
    import pulumi_aws as aws  # noqa: PLC0415

    def program() -> Any:
        policy = aws.sns.TopicPolicy("topic-policy", arn=TOPIC, policy="{}")
        return Budgets(NAME, budgets_args(anomaly_threshold_usd=100, topic_ready=[policy])).budget.name

    graph = run(program)
    policy = graph.named("topic-policy")
    for token in (BUDGET, ANOMALY_SUBSCRIPTION):
        assert policy.urn in graph.one(token).dependencies, token


def test_the_resources_pass_the_api_model_and_replacement_checks(prod: Graph) -> None:
    assert apimodels.check(prod.resources) == []
    assert replacement.check(prod.resources) == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"monthly_limit_usd": 0}, "monthly_limit_usd=0; give a budget above 0 USD"),
        (
            {"emails": tuple(f"owner{i}@example.com" for i in range(11))},
            "a budget notification takes at most 10 e-mail subscribers (11 given)",
        ),
        ({"emails": ("not-an-address",)}, "emails[0].endpoint='not-an-address' is not an e-mail address"),
        ({"emails": ("a@example.com", "A@example.com")}, "emails lists an address twice"),
        ({"anomaly_threshold_usd": 0}, "anomaly_threshold_usd=0; Cost Anomaly Detection takes 1 to"),
        ({"anomaly_monitor_arn": MONITOR_ARN}, "anomaly_monitor_arn is set without anomaly_threshold_usd"),
        (
            {"anomaly_threshold_usd": 10, "anomaly_monitor_arn": "arn:aws:ce::1:monitor/x"},
            "is not an anomaly monitor ARN",
        ),
        ({"environment": "prod_1"}, "environment='prod_1'"),
    ],
)
def test_impossible_budget_args_fail_in_the_constructor(overrides: dict[str, Any], message: str) -> None:
    # GIVEN one impossible field / WHEN the component is built / THEN it says which and why
    with pytest.raises(ValueError, match=re.escape(message)):
        run(lambda: Budgets(NAME, budgets_args(**overrides)))
