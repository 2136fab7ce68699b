"""Backup under mocks: the vault under the backup key, Vault Lock in compliance mode when asked, the
daily and monthly rules with their retention, the copy to a vault with its own key and provider in
the second region, the DocumentDB cluster selected with AWS Backup's role, and the vault's events
on the alarm topic."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import re
from typing import Any

import botocore.session
import pytest

from infra.backup import (
    BACKUP_POLICY_ARN,
    DAILY_SCHEDULE,
    MONTHLY_SCHEDULE,
    RESTORE_POLICY_ARN,
    VAULT_EVENTS,
    Backup,
    BackupArgs,
    VaultLockArgs,
)
from notes_platform.checks import apimodels, replacement
from notes_platform.checks.force_new import FORCE_NEW
from notes_platform.graph.mocks import ACCOUNT_ID, Recorded
from tests.infra.harness import Graph, run
from tests.type_tokens import (
    ANOMALY_MONITOR,
    ANOMALY_SUBSCRIPTION,
    BACKUP_PLAN,
    BACKUP_SELECTION,
    BACKUP_VAULT,
    BACKUP_VAULT_LOCK,
    BACKUP_VAULT_NOTIFICATIONS,
    BUDGET,
    IAM_ROLE,
    IAM_ROLE_POLICY_ATTACHMENT,
    KMS_ALIAS,
    KMS_KEY,
)

NAME = "prod-backup"
KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT_ID}:key/backup"
CLUSTER = f"arn:aws:rds:eu-west-1:{ACCOUNT_ID}:cluster:notes-prod"
TOPIC = f"arn:aws:sns:eu-west-1:{ACCOUNT_ID}:notes-prod-alarms"
TAGS = {"Project": "notes-platform", "Environment": "prod", "Owner": "o", "CostCenter": "c"}
LOCK = VaultLockArgs(changeable_for_days=3, min_retention_days=35, max_retention_days=3650)
PROVIDER = "pulumi:providers:aws"


def backup_args(**overrides: Any) -> BackupArgs:
    values: dict[str, Any] = {
        "environment": "prod",
        "region": "eu-west-1",
        "account_id": ACCOUNT_ID,
        "kms_key_arn": KEY,
        "resource_arns": [CLUSTER],
        "topic_arn": TOPIC,
        "daily_retention_days": 35,
        "monthly_retention_days": 365,
    }
    return BackupArgs(**{**values, **overrides})


def build(component_args: BackupArgs) -> Graph:
    def program() -> Any:
        backup = Backup(NAME, component_args)
        return [backup.vault_arn, backup.plan.id, backup.selection.id]

    return run(program)


@pytest.fixture(scope="module")
def prod() -> Graph:
    """Locked, copied to eu-central-1, protected: prod's shape."""
    return build(backup_args(copy_region="eu-central-1", default_tags=TAGS, vault_lock=LOCK, protect=True))


@pytest.fixture(scope="module")
def plain() -> Graph:
    """No lock, no copy: staging's shape."""
    return build(backup_args(environment="staging"))


def _named(graph: Graph, name: str) -> Recorded:
    return graph.named(name)


def _rules(graph: Graph) -> dict[str, dict[str, Any]]:
    plan = graph.one(BACKUP_PLAN)
    return {rule["ruleName"]: rule for rule in plan.inputs["rules"]}


# --- the vault and its lock -----------------------------------------------------------------------


def test_the_vault_is_encrypted_with_the_backup_key(prod: Graph) -> None:
    # GIVEN prod's backups / WHEN built / THEN the stack's vault names the backup key
    vault = _named(prod, f"{NAME}-vault")
    assert vault.inputs["name"] == "notes-prod-backup", vault.urn
    assert vault.inputs["kmsKeyArn"] == KEY, vault.urn
    # AND recovery points are never deleted with it, and a key change deletes the (empty) old vault first
    assert vault.inputs["forceDestroy"] is False, vault.urn
    assert vault.delete_before_replace and vault.protect, vault.urn


def test_prod_locks_both_vaults_in_compliance_mode_with_the_rules_inside_the_bounds(prod: Graph) -> None:
    # GIVEN a lock with a cooling-off period / WHEN built / THEN each vault has one, in compliance
    # mode (changeableForDays set), protected and deleted before it is replaced
    locks = {r.property_dependencies["backupVaultName"][0]: r for r in prod.of_type(BACKUP_VAULT_LOCK)}
    vaults = {v.urn for v in prod.of_type(BACKUP_VAULT)}
    assert set(locks) == vaults, locks
    for lock in locks.values():
        assert lock.inputs["changeableForDays"] == 3, lock.urn
        assert (lock.inputs["minRetentionDays"], lock.inputs["maxRetentionDays"]) == (35, 3650), lock.urn
        assert lock.delete_before_replace and lock.protect, lock.urn
    # AND every rule's retention lies between the bounds, or the vault would fail its jobs
    for rule in _rules(prod).values():
        assert 35 <= rule["lifecycle"]["deleteAfter"] <= 3650, rule


def test_without_a_lock_no_lock_is_configured(plain: Graph) -> None:
    assert plain.of_type(BACKUP_VAULT_LOCK) == []


# --- the plan -------------------------------------------------------------------------------------


def test_a_daily_and_a_monthly_rule_keep_what_the_config_says(prod: Graph) -> None:
    # GIVEN 35 daily and 365 monthly days / WHEN built / THEN two rules into the stack's vault
    rules = _rules(prod)
    assert sorted(rules) == ["daily", "monthly"]
    vault = _named(prod, f"{NAME}-vault")
    plan = prod.one(BACKUP_PLAN)
    assert plan.inputs["name"] == "notes-prod-docdb", plan.urn
    assert vault.urn in plan.dependencies, plan.urn
    for rule_name, schedule, days in (("daily", DAILY_SCHEDULE, 35), ("monthly", MONTHLY_SCHEDULE, 365)):
        rule = rules[rule_name]
        assert rule["targetVaultName"] == "notes-prod-backup", rule
        assert rule["schedule"] == schedule, rule
        assert rule["lifecycle"] == {"deleteAfter": days}, rule
        assert (rule["startWindow"], rule["completionWindow"]) == (60, 360), rule


def test_every_rule_copies_to_the_second_regions_vault_and_keeps_the_copy_as_long(prod: Graph) -> None:
    copy_vault = _named(prod, f"{NAME}-copy-vault")
    plan = prod.one(BACKUP_PLAN)
    assert copy_vault.urn in plan.dependencies, plan.urn
    for rule in _rules(prod).values():
        [action] = rule["copyActions"]
        # The mock ARN of the copy vault, in the copy region
        assert ":eu-central-1:" in action["destinationVaultArn"], action
        assert action["lifecycle"] == rule["lifecycle"], rule


def test_without_a_copy_region_nothing_is_copied_and_nothing_lives_elsewhere(plain: Graph) -> None:
    assert all("copyActions" not in rule for rule in _rules(plain).values())
    assert [r for r in plain.resources if r.type == PROVIDER] == []
    assert plain.of_type(KMS_KEY) == []


def test_the_copy_lives_in_the_second_region_under_a_key_of_its_own(prod: Graph) -> None:
    # GIVEN a copy region / WHEN built / THEN its own provider, tagged like the stack's
    [provider] = [r for r in prod.resources if r.type == PROVIDER]
    assert provider.inputs["region"] == "eu-central-1", provider.urn
    assert json.loads(provider.inputs["defaultTags"])["tags"] == TAGS, provider.urn
    # AND the copy's key, alias and vault are created there (AWS Backup re-encrypts the copy with
    # the destination vault's key)
    key = prod.one(KMS_KEY)
    [alias] = prod.of_type(KMS_ALIAS)
    copy_vault = _named(prod, f"{NAME}-copy-vault")
    for resource in (key, alias, copy_vault):
        assert resource.provider == provider.urn, resource.urn
    assert alias.inputs["name"] == "alias/notes-prod-copy-backup", alias.urn
    assert copy_vault.inputs["name"] == "notes-prod-backup-copy", copy_vault.urn
    assert copy_vault.property_dependencies["kmsKeyArn"] == [key.urn], copy_vault.urn
    assert key.inputs["enableKeyRotation"] is True and key.inputs["deletionWindowInDays"] == 30, key.urn


# --- what is backed up, and by whom ---------------------------------------------------------------


def test_the_cluster_is_selected_with_aws_backups_role(prod: Graph) -> None:
    selection = prod.one(BACKUP_SELECTION)
    role = prod.one(IAM_ROLE)
    plan = prod.one(BACKUP_PLAN)
    assert selection.inputs["resources"] == [CLUSTER], selection.urn
    assert selection.property_dependencies["iamRoleArn"] == [role.urn], selection.urn
    assert selection.property_dependencies["planId"] == [plan.urn], selection.urn
    # AND it waits for the role's policies, and goes before its replacement (all inputs ForceNew)
    attachments = {a.urn for a in prod.of_type(IAM_ROLE_POLICY_ATTACHMENT)}
    assert attachments <= set(selection.dependencies), selection.dependencies
    assert selection.delete_before_replace, selection.urn


def test_the_role_trusts_aws_backup_and_holds_its_two_managed_policies(prod: Graph) -> None:
    role = prod.one(IAM_ROLE)
    assert role.inputs["name"] == "notes-prod-backup", role.urn
    [statement] = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert statement == {
        "Effect": "Allow",
        "Principal": {"Service": "backup.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }, role.urn
    attached = sorted(a.inputs["policyArn"] for a in prod.of_type(IAM_ROLE_POLICY_ATTACHMENT))
    assert attached == sorted([BACKUP_POLICY_ARN, RESTORE_POLICY_ARN])
    assert role.protect, role.urn


def test_the_vaults_failures_reach_the_alarm_topic(prod: Graph) -> None:
    [notifications] = prod.of_type(BACKUP_VAULT_NOTIFICATIONS)
    vault = _named(prod, f"{NAME}-vault")
    assert notifications.property_dependencies["backupVaultName"] == [vault.urn], notifications.urn
    assert notifications.inputs["snsTopicArn"] == TOPIC, notifications.urn
    assert set(notifications.inputs["backupVaultEvents"]) == set(VAULT_EVENTS), notifications.urn
    assert {"BACKUP_JOB_FAILED", "COPY_JOB_FAILED"} <= set(VAULT_EVENTS)
    assert notifications.delete_before_replace, notifications.urn


def test_the_events_are_ones_aws_backup_sends() -> None:
    # GIVEN the backup API's own list (botocore) / THEN every event named is in it
    model = botocore.session.get_session().get_service_model("backup")
    shape = model.operation_model("PutBackupVaultNotifications").input_shape.members["BackupVaultEvents"]
    assert set(VAULT_EVENTS) <= set(shape.member.enum), sorted(set(VAULT_EVENTS) - set(shape.member.enum))


def test_the_notifications_wait_for_the_topic_policy() -> None:
    # GIVEN a topic whose policy the stack registers / WHEN built / THEN the notifications wait for it
    import pulumi_aws as aws  # noqa: PLC0415

    def program() -> Any:
        policy = aws.sns.TopicPolicy("topic-policy", arn=TOPIC, policy="{}")
        return Backup(NAME, backup_args(topic_ready=[policy])).vault_arn

    graph = run(program)
    policy = graph.named("topic-policy")
    assert policy.urn in graph.one(BACKUP_VAULT_NOTIFICATIONS).dependencies


# --- impossible args ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"resource_arns": []}, "resource_arns is empty"),
        ({"daily_retention_days": 0}, "daily_retention_days=0; AWS Backup keeps a recovery point 1 to 36500"),
        ({"monthly_retention_days": 40000}, "monthly_retention_days=40000"),
        ({"daily_retention_days": 35, "monthly_retention_days": 30}, "monthly_retention_days=30 is below"),
        ({"daily_schedule": "rate(1 day)"}, "daily_schedule='rate(1 day)'; use cron"),
        ({"start_window_minutes": 30}, "start_window_minutes=30; AWS Backup needs 60 or more"),
        ({"completion_window_minutes": 60}, "completion_window_minutes=60 must exceed"),
        ({"copy_region": "eu-west-1", "default_tags": TAGS}, "copy_region='eu-west-1'; name a region other"),
        ({"copy_region": "eu-central-1"}, "default_tags is empty"),
        (
            {"vault_lock": dataclasses.replace(LOCK, changeable_for_days=2)},
            "changeable for 2 days: AWS Backup's cooling-off period needs 3",
        ),
        (
            {"vault_lock": dataclasses.replace(LOCK, min_retention_days=60)},
            "daily_retention_days keeps 35 days, outside the lock's 60 to 3650",
        ),
        (
            {"vault_lock": dataclasses.replace(LOCK, max_retention_days=100)},
            "monthly_retention_days keeps 365 days, outside the lock's 35 to 100",
        ),
        ({"environment": "Prod"}, "environment='Prod'"),
    ],
)
def test_impossible_backup_args_fail_in_the_constructor(overrides: dict[str, Any], message: str) -> None:
    # GIVEN one impossible field / WHEN the component is built / THEN it says which and why
    with pytest.raises(ValueError, match=re.escape(message)):
        run(lambda: Backup(NAME, backup_args(**overrides)))


# --- against the offline checks -------------------------------------------------------------------

NEW_TYPES = (
    BACKUP_VAULT,
    BACKUP_VAULT_LOCK,
    BACKUP_VAULT_NOTIFICATIONS,
    BACKUP_PLAN,
    BACKUP_SELECTION,
    BUDGET,
    ANOMALY_MONITOR,
    ANOMALY_SUBSCRIPTION,
)


def test_the_resources_pass_the_api_model_and_replacement_checks(prod: Graph, plain: Graph) -> None:
    for graph in (prod, plain):
        assert apimodels.check(graph.resources) == [], apimodels.render(apimodels.check(graph.resources))
        assert replacement.check(graph.resources) == []


@pytest.mark.parametrize("type_token", NEW_TYPES)
def test_every_new_type_has_replacing_inputs_the_sdk_knows(type_token: str) -> None:
    # GIVEN the table's entry / THEN each replacing input is an input of pulumi_aws's class
    entry = FORCE_NEW[type_token]
    module_path, _, kind = type_token.removeprefix("aws:").partition(":")
    module = importlib.import_module(f"pulumi_aws.{module_path.replace('/', '.')}".rsplit(".", 1)[0])
    source = inspect.getsource(getattr(module, kind))
    for wire in entry.force_new | {entry.name}:
        snake = re.sub(r"(?<!^)([A-Z])", r"_\1", wire).lower()
        assert f'name="{wire}"' in source or f"def {snake}(" in source, f"{type_token}: {wire}"
    assert re.fullmatch(r"internal/service/\S+\.go@([0-9a-f]{12}|index:\d+)", entry.source), entry.source


def test_a_lock_replaced_create_first_is_found() -> None:
    # GIVEN the lock without delete_before_replace / WHEN the replacement check reads it
    graph = build(backup_args(vault_lock=LOCK))
    lock = graph.one(BACKUP_VAULT_LOCK)
    planted = dataclasses.replace(
        lock, delete_before_replace=False, inputs={**lock.inputs, "backupVaultName": "v"}
    )
    # THEN its fixed vault name and the bounds that replace it are named
    [finding] = replacement.check([planted])
    assert "changeableForDays, maxRetentionDays, minRetentionDays force a replacement" in finding.message
