"""Backup policies: vaults under a customer-managed key; in prod every vault locked in compliance
mode, and every DocumentDB cluster selected by a backup plan."""

from __future__ import annotations

import json

import pytest
from pulumi_policy import Policy

from notes_platform.checks.policy_pack import PackConfig, evaluate, render
from policies.notes_policies import backup
from tests.policies import fixtures as f
from tests.policies.harness import (
    Happy,
    Mutation,
    Resource,
    StackMutation,
    check_stack,
    happy_path_test,
    mutation_test,
    named,
    on,
    removing,
    resource,
    setting,
    stack_mutation_test,
    undepending,
    without,
)

KEY = f"arn:aws:kms:eu-west-1:{f.ACCOUNT}:key/0f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f0"
COPY_KEY = f"arn:aws:kms:eu-central-1:{f.ACCOUNT}:key/1f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f0"
CLUSTER_ARN = f"arn:aws:rds:eu-west-1:{f.ACCOUNT}:cluster:notes-prod-docdb"
CLUSTER = f.docdb_cluster()["urn"]
ROLE_ARN = f"arn:aws:iam::{f.ACCOUNT}:role/notes-prod-backup"


def _backup(type_token: str, name: str, inputs: dict[str, object], **extra: object) -> Resource:
    return resource(type_token, name, inputs, component="Backup", **extra)  # type: ignore[arg-type]


VAULT = _backup(backup.BACKUP_VAULT, "prod-backup-vault", {"name": "notes-prod-backup", "kmsKeyArn": KEY})
COPY_VAULT = _backup(
    backup.BACKUP_VAULT,
    "prod-backup-copy-vault",
    {"name": "notes-prod-backup-copy", "kmsKeyArn": COPY_KEY},
    provider="prod-backup-eu-central-1",
)


def _lock(name: str, vault: Resource) -> Resource:
    return _backup(
        backup.VAULT_LOCK,
        name,
        {
            "backupVaultName": vault["inputs"]["name"],
            "changeableForDays": 3,
            "minRetentionDays": 35,
            "maxRetentionDays": 3650,
        },
        dependencies=[vault["urn"]],
        provider=vault["provider"].rsplit("::", 1)[-1],
    )


LOCK = _lock("prod-backup-vault-lock", VAULT)
COPY_LOCK = _lock("prod-backup-copy-vault-lock", COPY_VAULT)
# The copy region's provider as the plan registers it, a child of the Backup component (whose
# default tags the required-tags rule reads).
for _copy in (COPY_VAULT, COPY_LOCK):
    _copy["provider"] = (
        "urn:pulumi:prod::notes-platform::notes:infra:Backup$pulumi:providers:aws::prod-backup-eu-central-1"
    )
ROLE = _backup(
    "aws:iam/role:Role",
    "prod-backup-role",
    {
        "name": "notes-prod-backup",
        "assumeRolePolicy": json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "backup.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    },
)
PLAN = _backup(
    "aws:backup/plan:Plan", "prod-backup-plan", {"name": "notes-prod-docdb"}, dependencies=[VAULT["urn"]]
)
SELECTION = _backup(
    backup.BACKUP_SELECTION,
    "prod-backup-selection",
    {"name": "notes-prod-docdb", "planId": "plan-1", "iamRoleArn": ROLE_ARN, "resources": [CLUSTER_ARN]},
    dependencies=[CLUSTER, PLAN["urn"], ROLE["urn"]],
)


def backups() -> list[Resource]:
    """Prod's backups as infra/backup.py makes them: both vaults locked, the cluster selected."""
    return json.loads(json.dumps([VAULT, LOCK, COPY_VAULT, COPY_LOCK, ROLE, PLAN, SELECTION]))


def prod_graph_with_backups() -> list[Resource]:
    # The fixtures' vaults, locks and selection in place of the plan's own.
    return [r for r in f.prod_graph_with_exports() if not r["type"].startswith("aws:backup/")] + backups()


def vault() -> Resource:
    return json.loads(json.dumps(VAULT))


def copy_vault() -> Resource:
    return json.loads(json.dumps(COPY_VAULT))


CUSTOMER_KEY = "AWS Backup vaults must be encrypted with a customer-managed KMS key (kmsKeyArn)."
UNLOCKED = "AWS Backup vaults must have a Vault Lock in prod."
GOVERNANCE = "AWS Backup vault locks must be in compliance mode (changeableForDays of 3 or more) in prod."
NOT_SELECTED = "DocumentDB clusters must be selected by an AWS Backup plan in prod."

HAPPY: Happy = [
    (backup.backup_vault_customer_key, vault),
    (backup.backup_vault_customer_key, copy_vault),
]

MUTATIONS = [
    Mutation(
        backup.backup_vault_customer_key, vault, removing("kmsKeyArn"), CUSTOMER_KEY, "AWS Backup's own key"
    ),
    Mutation(
        backup.backup_vault_customer_key,
        copy_vault,
        setting("kmsKeyArn", "alias/aws/backup"),
        CUSTOMER_KEY,
        "the AWS managed key by its alias",
    ),
]

STACK_MUTATIONS = [
    StackMutation(
        backup.backup_vault_locked, without("prod-backup-vault-lock"), [(UNLOCKED, VAULT["urn"])], "no lock"
    ),
    StackMutation(
        backup.backup_vault_locked,
        without("prod-backup-copy-vault-lock"),
        [(UNLOCKED, COPY_VAULT["urn"])],
        "the copy's vault unlocked",
    ),
    StackMutation(
        backup.backup_vault_locked,
        on("prod-backup-vault-lock", removing("changeableForDays")),
        [(GOVERNANCE, VAULT["urn"])],
        "governance mode",
    ),
    StackMutation(
        backup.backup_vault_locked,
        on("prod-backup-vault-lock", setting("changeableForDays", 2)),
        [(GOVERNANCE, VAULT["urn"])],
        "a cooling-off AWS refuses",
    ),
    StackMutation(
        backup.backup_vault_locked,
        on(
            "prod-backup-copy-vault-lock",
            setting("backupVaultName", "notes-prod-backup"),
            undepending(COPY_VAULT["urn"]),
            # The copy's lock moved onto the first vault: that one is locked twice, the copy not at all
        ),
        [(UNLOCKED, COPY_VAULT["urn"])],
        "a lock on another vault",
    ),
    StackMutation(
        backup.docdb_cluster_backed_up,
        without("prod-backup-selection"),
        [(NOT_SELECTED, CLUSTER)],
        "no selection",
    ),
    StackMutation(
        backup.docdb_cluster_backed_up,
        on(
            "prod-backup-selection",
            setting("resources", [f"arn:aws:rds:eu-west-1:{f.ACCOUNT}:cluster:someone-else"]),
            undepending(CLUSTER),
        ),
        [(NOT_SELECTED, CLUSTER)],
        "another cluster selected",
    ),
]

test_the_happy_path_passes = happy_path_test(HAPPY)
test_one_change_is_reported = mutation_test(MUTATIONS)
test_one_stack_change_is_reported = stack_mutation_test(STACK_MUTATIONS, prod_graph_with_backups)


@pytest.mark.parametrize(
    "policy", [backup.backup_vault_locked, backup.docdb_cluster_backed_up], ids=lambda p: p.name
)
def test_the_prod_graph_with_backups_passes(policy: Policy) -> None:
    assert check_stack(policy, prod_graph_with_backups()) == []


def test_the_whole_pack_finds_nothing_in_prod_with_backups() -> None:
    violations = evaluate(prod_graph_with_backups(), "prod")
    assert violations == [], render(violations)


def test_a_cluster_named_by_its_arn_is_selected_without_a_recorded_dependency() -> None:
    # GIVEN the cluster's ARN typed into the selection, no dependency on the cluster
    graph = prod_graph_with_backups()
    selection = named(graph, "prod-backup-selection")
    selection["dependencies"] = [d for d in selection["dependencies"] if d != CLUSTER]
    # THEN its identifier at the end of the ARN is enough
    assert check_stack(backup.docdb_cluster_backed_up, graph) == []


def test_the_engines_property_dependencies_decide_which_vault_a_lock_is_for() -> None:
    # GIVEN the first vault's lock recorded as fed by the copy's vault (the engine's exact record)
    graph = prod_graph_with_backups()
    lock = named(graph, "prod-backup-vault-lock")
    lock["propertyDependencies"] = {"backupVaultName": [COPY_VAULT["urn"]]}
    # THEN the first vault counts as unlocked, whatever its name says
    assert check_stack(backup.backup_vault_locked, graph) == [(UNLOCKED, VAULT["urn"])]


@pytest.mark.parametrize(
    "policy", [backup.backup_vault_locked, backup.docdb_cluster_backed_up], ids=lambda p: p.name
)
def test_outside_the_listed_stacks_nothing_is_required(policy: Policy) -> None:
    # GIVEN prod with neither locks nor a selection / WHEN the rule holds for staging only
    graph = [
        r for r in prod_graph_with_backups() if r["type"] not in (backup.VAULT_LOCK, backup.BACKUP_SELECTION)
    ]
    # THEN prod is not judged by it
    assert check_stack(policy, graph, {"stacks": ["staging"]}) == []
    assert check_stack(policy, graph) != []


@pytest.mark.parametrize("stack", ["staging", "staging-eks"])
def test_the_staging_stacks_require_their_cluster_in_a_backup_plan(stack: str) -> None:
    # GIVEN the settings CI passes for a staging stack / THEN its cluster must be in a backup plan
    # too, and its vaults need no lock
    config = PackConfig.for_stack(stack)
    assert config.settings(backup.docdb_cluster_backed_up)["stacks"] == [stack]
    assert stack not in config.settings(backup.backup_vault_locked)["stacks"]
