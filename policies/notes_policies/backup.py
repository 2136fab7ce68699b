"""Backups: AWS Backup vaults under a customer-managed key, locked in compliance mode where the
stack must keep its backups whatever anyone does, and every DocumentDB cluster in a backup plan."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pulumi_policy import Policy, PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationArgs

from . import resource_types as t
from .common import (
    Settings,
    current_stack,
    customer_key,
    number,
    of_type,
    references,
    resource_rule,
    sequence,
    stack_rule,
    stacks_setting,
    text,
)

BACKUP_VAULT = "aws:backup/vault:Vault"
VAULT_LOCK = "aws:backup/vaultLockConfiguration:VaultLockConfiguration"
BACKUP_SELECTION = "aws:backup/selection:Selection"

# Vault Lock's cooling-off period: ChangeableForDays "must be 3 or greater" (botocore's backup
# model, PutBackupVaultLockConfiguration). Without it the lock is in governance mode: anyone with
# backup:DeleteBackupVaultLockConfiguration may remove it at any time.
MIN_CHANGEABLE_DAYS = 3


@resource_rule(
    "backup-vault-customer-key",
    "AWS Backup vaults are encrypted with a customer-managed KMS key, so its key policy, not the "
    "AWS managed alias/aws/backup key's, decides who may use what the vault keeps.",
    types={BACKUP_VAULT},
)
def backup_vault_customer_key(args: ResourceValidationArgs, report: ReportViolation, _: Settings) -> None:
    # Without kmsKeyArn AWS Backup uses the account's AWS managed key (aws/backup), whose policy
    # cannot be edited (pulumi_aws backup.Vault kms_key_arn; CreateBackupVault's EncryptionKeyArn).
    if not customer_key(args.props.get("kmsKeyArn"), "alias/aws/backup"):
        report("AWS Backup vaults must be encrypted with a customer-managed KMS key (kmsKeyArn).", None)


def _named(resource: PolicyResource) -> Callable[[Any], bool]:
    name = text(resource.props.get("name"))
    return lambda value: bool(name) and value == name


@stack_rule(
    "backup-vault-locked",
    "In prod, every AWS Backup vault has a Vault Lock in compliance mode (changeableForDays set): "
    "after its cooling-off period nobody, AWS included, can delete a recovery point early or "
    "remove the lock.",
    config={"stacks": stacks_setting("stacks whose backup vaults must be locked in compliance mode")},
)
def backup_vault_locked(args: StackValidationArgs, report: ReportViolation, settings: Settings) -> None:
    stack = current_stack(args)
    if stack not in settings.strings("stacks"):
        return
    locks = of_type(args, VAULT_LOCK)
    for vault in of_type(args, BACKUP_VAULT):
        own = [lock for lock in locks if references(lock, "backupVaultName", vault, _named(vault))]
        if not own:
            report(f"AWS Backup vaults must have a Vault Lock in {stack}.", vault.urn)
        elif not any(number(lock.props.get("changeableForDays"), 0) >= MIN_CHANGEABLE_DAYS for lock in own):
            report(
                f"AWS Backup vault locks must be in compliance mode (changeableForDays of "
                f"{MIN_CHANGEABLE_DAYS} or more) in {stack}.",
                vault.urn,
            )


def _selects(cluster: PolicyResource) -> Callable[[Any], bool]:
    """Whether a selection's resources name ``cluster`` by its ARN (arn:aws:rds:<region>:<account>:
    cluster:<identifier>: DocumentDB clusters are RDS resources)."""
    identifier = text(cluster.props.get("clusterIdentifier"))
    return lambda value: (
        bool(identifier) and any(text(arn).endswith(f":cluster:{identifier}") for arn in sequence(value))
    )


@stack_rule(
    "docdb-cluster-backed-up",
    "In prod, every DocumentDB cluster is selected by an AWS Backup plan: snapshots kept beyond the "
    "cluster's own retention and outside its lifecycle.",
    config={"stacks": stacks_setting("stacks whose DocumentDB clusters must be in a backup plan")},
)
def docdb_cluster_backed_up(args: StackValidationArgs, report: ReportViolation, settings: Settings) -> None:
    stack = current_stack(args)
    if stack not in settings.strings("stacks"):
        return
    selections = of_type(args, BACKUP_SELECTION)
    for cluster in of_type(args, t.DOCDB_CLUSTER):
        if not any(references(s, "resources", cluster, _selects(cluster)) for s in selections):
            report(f"DocumentDB clusters must be selected by an AWS Backup plan in {stack}.", cluster.urn)


POLICIES: list[Policy] = [backup_vault_customer_key, backup_vault_locked, docdb_cluster_backed_up]
