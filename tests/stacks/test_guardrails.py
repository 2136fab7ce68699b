"""The guard rails in both stacks: the cluster's backups (locked in prod, copied to a second region in
both), the cost budget and prod's anomaly alerts, the alarm topic and its key admitting the services
that publish to it, and every backup* / budget* key that is wrong named by the schema."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from notes_platform.checks.policy_pack import evaluate
from notes_platform.graph.mocks import Recorded
from notes_platform.graph.plan import Plan, run_plan
from stacks.config import ROOT, StackConfigError, load, read_stack_file
from stacks.guardrails import SERVICE_PUBLISHERS
from tests.type_tokens import (
    ANOMALY_MONITOR,
    ANOMALY_SUBSCRIPTION,
    BACKUP_PLAN,
    BACKUP_SELECTION,
    BACKUP_VAULT,
    BACKUP_VAULT_LOCK,
    BACKUP_VAULT_NOTIFICATIONS,
    BUDGET,
    DOCDB_CLUSTER,
    KMS_KEY,
    SNS_TOPIC,
    SNS_TOPIC_POLICY,
)

PROVIDER = "pulumi:providers:aws"


def _one(plan: Plan, type_token: str, name: str) -> Recorded:
    [found] = [r for r in plan.of_type(type_token) if r.name == name]
    return found


# --- backups --------------------------------------------------------------------------------------


def test_prod_locks_both_vaults_in_compliance_mode_and_staging_none(plans: dict[str, Plan]) -> None:
    prod, staging = plans["prod"], plans["staging"]
    locks = prod.of_type(BACKUP_VAULT_LOCK)
    assert len(locks) == len(prod.of_type(BACKUP_VAULT)) == 2
    for lock in locks:
        assert lock.inputs["changeableForDays"] == 7, lock.urn
        assert (lock.inputs["minRetentionDays"], lock.inputs["maxRetentionDays"]) == (35, 3650), lock.urn
    assert staging.of_type(BACKUP_VAULT_LOCK) == []


@pytest.mark.parametrize(("stack", "daily", "monthly"), [("staging", 7, 30), ("prod", 35, 365)])
def test_each_stack_backs_its_cluster_up_and_copies_it_to_eu_central_1(
    plans: dict[str, Plan], stack: str, daily: int, monthly: int
) -> None:
    plan = plans[stack]
    # GIVEN the stack's retention keys / THEN the rules keep that long, here and in the copy region
    [backup_plan] = plan.of_type(BACKUP_PLAN)
    rules = {rule["ruleName"]: rule for rule in backup_plan.inputs["rules"]}
    for name, days in (("daily", daily), ("monthly", monthly)):
        assert rules[name]["lifecycle"] == {"deleteAfter": days}, rules[name]
        [copy] = rules[name]["copyActions"]
        assert ":eu-central-1:" in copy["destinationVaultArn"], copy
        assert copy["lifecycle"] == {"deleteAfter": days}, copy
    # AND the copy's vault and key live in eu-central-1 through a provider of their own
    providers = {r.urn: r for r in plan.resources if r.type == PROVIDER}
    copy_vault = _one(plan, BACKUP_VAULT, f"{stack}-backup-copy-vault")
    copy_key = _one(plan, KMS_KEY, f"{stack}-backup-copy-keys-backup")
    for resource in (copy_vault, copy_key):
        assert providers[str(resource.provider)].inputs["region"] == "eu-central-1", resource.urn
    # AND the stack's own vault is under the stack's backup key
    vault = _one(plan, BACKUP_VAULT, f"{stack}-backup-vault")
    key = _one(plan, KMS_KEY, f"{stack}-keys-backup")
    assert vault.property_dependencies["kmsKeyArn"] == [key.urn], vault.urn
    # AND the selection names the stack's cluster
    [selection] = plan.of_type(BACKUP_SELECTION)
    [cluster] = plan.of_type(DOCDB_CLUSTER)
    assert selection.property_dependencies["resources"] == [cluster.urn], selection.urn


def test_the_vault_events_reach_the_alarm_topic_after_its_policy(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    [notifications] = plan.of_type(BACKUP_VAULT_NOTIFICATIONS)
    topic = _one(plan, SNS_TOPIC, "prod-alarm-topic-topic")
    policy = _one(plan, SNS_TOPIC_POLICY, "prod-alarm-topic-policy")
    assert notifications.property_dependencies["snsTopicArn"] == [topic.urn], notifications.urn
    assert policy.urn in notifications.dependencies, notifications.urn


def test_prod_protects_its_backups_as_its_database(plans: dict[str, Plan]) -> None:
    prod = plans["prod"]
    for resource in (*prod.of_type(BACKUP_VAULT), *prod.of_type(BACKUP_VAULT_LOCK)):
        assert resource.protect, resource.urn
    assert not any(v.protect for v in plans["staging"].of_type(BACKUP_VAULT))


# --- budgets --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("stack", "limit"), [("staging", "450"), ("prod", "6000")])
def test_each_stack_has_its_monthly_budget_alerting_the_topic_and_its_owners(
    plans: dict[str, Plan], stack: str, limit: str
) -> None:
    plan = plans[stack]
    [budget] = plan.of_type(BUDGET)
    assert (budget.inputs["name"], budget.inputs["limitAmount"]) == (f"notes-{stack}-monthly", limit)
    topic = _one(plan, SNS_TOPIC, f"{stack}-alarm-topic-topic")
    emails = plan.config.alarms.emails
    for notification in budget.inputs["notifications"]:
        assert notification["subscriberEmailAddresses"] == emails, notification
        assert len(notification["subscriberSnsTopicArns"]) == 1, notification
    assert topic.urn in budget.dependencies, budget.urn


def test_only_prod_owns_the_accounts_anomaly_monitor(plans: dict[str, Plan]) -> None:
    assert (
        len(plans["prod"].of_type(ANOMALY_MONITOR)) == len(plans["prod"].of_type(ANOMALY_SUBSCRIPTION)) == 1
    )
    [subscription] = plans["prod"].of_type(ANOMALY_SUBSCRIPTION)
    assert subscription.inputs["thresholdExpression"]["dimension"]["values"] == ["100"]
    assert plans["staging"].of_type(ANOMALY_MONITOR) == plans["staging"].of_type(ANOMALY_SUBSCRIPTION) == []


# --- the topic and its key ------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_alarm_topic_and_its_key_admit_exactly_the_services_that_publish(
    plans: dict[str, Plan], stack: str
) -> None:
    plan = plans[stack]

    def services(document: str) -> set[str]:
        found: set[str] = set()
        for statement in json.loads(document)["Statement"]:
            principal = statement["Principal"]
            if isinstance(principal, dict) and "Service" in principal:
                value = principal["Service"]
                found |= {value} if isinstance(value, str) else set(value)
        return found

    expected = {"cloudwatch.amazonaws.com", *SERVICE_PUBLISHERS}
    topic_policy = _one(plan, SNS_TOPIC_POLICY, f"{stack}-alarm-topic-policy")
    sns_key = _one(plan, KMS_KEY, f"{stack}-keys-sns")
    assert services(topic_policy.inputs["policy"]) == expected, topic_policy.urn
    assert services(sns_key.inputs["policy"]) == expected, sns_key.urn
    # AND the edge's us-east-1 topic, which nobody but CloudWatch publishes to, admits nobody else
    edge_policy = _one(plan, SNS_TOPIC_POLICY, f"{stack}-edge-alarm-topic-policy")
    assert services(edge_policy.inputs["policy"]) == {"cloudwatch.amazonaws.com"}


# --- a planted unlocked prod ----------------------------------------------------------------------


def _prod_with(tmp_path: Path, **values: object) -> Path:
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    document = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())
    document["config"].update({f"notes-platform:{k}": v for k, v in values.items()})
    (tmp_path / "Pulumi.prod.yaml").write_text(yaml.safe_dump(document))
    return tmp_path


def test_an_unlocked_prod_vault_is_a_mandatory_violation(tmp_path: Path) -> None:
    # GIVEN prod with the vault lock switched off / WHEN planned and checked as CI checks it
    plan = run_plan("prod", _prod_with(tmp_path, backupVaultLock=False))
    violations = [v for v in evaluate(plan.resources, "prod") if v.policy == "backup-vault-locked"]
    # THEN both vaults are reported, mandatory
    assert sorted(v.urn.rsplit("::", 1)[-1] for v in violations) == [
        "prod-backup-copy-vault",
        "prod-backup-vault",
    ]
    assert {v.enforcement for v in violations} == {"mandatory"}


# --- the schema -----------------------------------------------------------------------------------


def _error(stack: str, **changes: Any) -> str:
    values = read_stack_file(stack)
    for key, value in changes.items():
        full = f"notes-platform:{key}"
        if value is None:
            values.pop(full, None)
        else:
            values[full] = value
    with pytest.raises(StackConfigError) as caught:
        load(values, stack)
    return str(caught.value)


@pytest.mark.parametrize(
    ("stack", "changes", "expected"),
    [
        ("staging", {"budgetMonthlyUsd": None}, "notes-platform:budgetMonthlyUsd: required key is missing"),
        (
            "staging",
            {"budgetMonthlyUsd": 0},
            "notes-platform:budgetMonthlyUsd: Input should be greater than 0",
        ),
        (
            "staging",
            {"backupMonthlyRetentionDays": 5},
            "notes-platform:backupMonthlyRetentionDays: 5 is below backupDailyRetentionDays (7)",
        ),
        (
            "staging",
            {"backupCopyRegion": "eu-west-1"},
            "notes-platform:backupCopyRegion: eu-west-1 is the stack's own region",
        ),
        (
            "staging",
            {"backupCopyRegion": "Frankfurt"},
            "notes-platform:backupCopyRegion: String should match",
        ),
        (
            "prod",
            {"backupVaultLockChangeableDays": 2},
            "notes-platform:backupVaultLockChangeableDays: Input should be greater than or equal to 3",
        ),
        (
            "prod",
            {"backupVaultLockMinRetentionDays": 60},
            "notes-platform:backupVaultLock: backupDailyRetentionDays keeps 35 days, outside the lock's 60",
        ),
        (
            "prod",
            {"backupMonthlyRetentionDays": 4000},
            "notes-platform:backupVaultLock: backupMonthlyRetentionDays keeps 4000 days, outside the lock's",
        ),
        (
            "staging",
            {"budgetAnomalyMonitorArn": "arn:aws:ce::123456789012:anomalymonitor/abc-123"},
            "notes-platform:budgetAnomalyMonitorArn: set budgetAnomalyThresholdUsd as well",
        ),
        (
            "prod",
            {"budgetAnomalyMonitorArn": "arn:aws:ce::123456789012:monitor/abc"},
            "notes-platform:budgetAnomalyMonitorArn: String should match",
        ),
        (
            "staging",
            {"alarmsEmails": [f"owner{i}@example.com" for i in range(11)]},
            "notes-platform:alarmsEmails: a budget notification takes at most 10 e-mail subscribers",
        ),
    ],
)
def test_bad_backup_and_budget_values_name_the_key(
    stack: str, changes: dict[str, Any], expected: str
) -> None:
    message = _error(stack, **changes)
    assert message.startswith(f"Pulumi.{stack}.yaml: "), message
    assert expected in message, message


def test_an_unlocked_stack_may_keep_any_retention_and_defaults_fill_the_lock_bounds() -> None:
    # GIVEN staging (no lock) with a long monthly retention / THEN it loads
    values = read_stack_file("staging") | {"notes-platform:backupMonthlyRetentionDays": 4000}
    assert load(values, "staging").backup.monthly_retention_days == 4000
    # AND a lock without bounds takes the rules' own retentions as its bounds
    values = read_stack_file("staging") | {"notes-platform:backupVaultLock": True}
    assert load(values, "staging").backup.lock_bounds == (7, 30)
