"""Backups that restore: AWS Backup for the DocumentDB cluster, a vault encrypted with the
stack's ``backup`` key, locked in compliance mode where the stack says so, a plan with a daily
and a monthly rule, and a copy of every recovery point to a vault in a second region.

What AWS Backup adds to the cluster's own backups: DocumentDB keeps continuous backups for
point-in-time restore over its retention (1-35 days, ``docdbBackupRetentionDays``); AWS Backup
takes snapshots kept beyond that (the monthly rule), outside the cluster's lifecycle (a deleted
cluster takes its automated backups with it; AWS Backup's recovery points stay), and copies them
to another region. AWS Backup supports DocumentDB and needs the region's opt-in for it
(AWS Backup Developer Guide, "How AWS Backup works with supported AWS services": "Aurora,
Neptune, and Amazon DocumentDB require service opt-in", and opt-in settings are region-specific):
an account-wide setting no stack owns, a prerequisite like the service-linked roles.

Encryption: DocumentDB is not fully managed by AWS Backup, so its snapshots in the stack's vault
keep the cluster's own key ("Backups of resource types that are not fully managed by AWS Backup
typically inherit the encryption settings from their source resource", "Encryption for backups in
AWS Backup"); a cross-region copy is re-encrypted with the destination vault's key ("AWS Backup
will re-encrypt your copy using the customer managed key of your destination vault", "Creating
backup copies across AWS Regions"), which is why the copy's vault has a key of its own there.
Both keys keep the default key policy: AWS Backup uses them with the role below, whose AWS
managed policy grants the KMS calls (the key policy delegates to IAM).

The exports bucket is not backed up: AWS Backup's S3 backups need the bucket versioned, and an
export is a disposable copy the worker rebuilds from the database on request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.backup_rules import retention_problem, vault_lock_problems
from infra.kms import Keys, KeysArgs
from infra.observability.naming import check_environment

# The AWS managed policies for a role passed to AWS Backup (AWS Managed Policy reference,
# AWSBackupServiceRolePolicyForBackup: "Type: Service role policy", ARN below; its KMSPermissions
# statement covers the vault keys; and AWSBackupServiceRolePolicyForRestores).
BACKUP_POLICY_ARN = "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup"
RESTORE_POLICY_ARN = "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores"

# What the alarm topic hears of (PutBackupVaultNotifications' BackupVaultEvents enum in botocore's
# backup model): jobs that failed or never started (EXPIRED: the start window passed), a copy to
# the second region that failed (copy jobs run from the source vault, so its events cover them),
# and a recovery point whose lifecycle someone changed.
VAULT_EVENTS = (
    "BACKUP_JOB_FAILED",
    "BACKUP_JOB_EXPIRED",
    "COPY_JOB_FAILED",
    "RESTORE_JOB_FAILED",
    "RECOVERY_POINT_MODIFIED",
)

# 05:00 UTC: after the cluster's default backup window (02:00-03:00) and its Sunday maintenance
# window (04:00-05:00), so AWS Backup's snapshot does not queue behind either.
DAILY_SCHEDULE = "cron(0 5 ? * * *)"
MONTHLY_SCHEDULE = "cron(0 5 1 * ? *)"
_CRON = re.compile(r"^cron\((\S+ ){5}\S+\)$")
_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")


@dataclass(frozen=True)
class VaultLockArgs:
    """Vault Lock in compliance mode. After ``changeable_for_days`` nobody, AWS included, can
    remove the lock or shorten a recovery point's retention, and the vault cannot be deleted while
    it holds recovery points."""

    changeable_for_days: int
    """Days the lock may still be changed or removed (the cooling-off, 3 or more). From config
    `backupVaultLockChangeableDays`. Required."""
    min_retention_days: int
    """Shortest retention a job into the vault may ask for; a shorter one fails. From config
    `backupVaultLockMinRetentionDays` (default: the shortest rule's). Required."""
    max_retention_days: int
    """Longest retention a job into the vault may ask for. From config
    `backupVaultLockMaxRetentionDays` (default: the longest rule's). Required."""


@dataclass(frozen=True)
class BackupArgs:
    """The backups of one environment's data."""

    environment: str
    """Environment name: the vaults, plan, selection and role are notes-<env>-... From config
    `environment`. Required."""
    region: str
    """The stack's region, where the cluster and the first vault live. From config `aws:region`.
    Required."""
    account_id: pulumi.Input[str]
    """Account of the stack (the caller identity's); its root administers the copy's key. Required."""
    kms_key_arn: pulumi.Input[str]
    """The stack's ``backup`` key, the vault's encryption key. Required."""
    resource_arns: Sequence[pulumi.Input[str]]
    """What the plan backs up: the DocumentDB cluster's ARN. Required, at least one."""
    topic_arn: pulumi.Input[str]
    """The alarm topic the vault's events go to; its policy must let backup.amazonaws.com publish
    (``AlarmTopicArgs.service_publishers``). Required."""
    daily_retention_days: int
    """Days a daily recovery point (and its copy) is kept. From config
    `backupDailyRetentionDays`. Required."""
    monthly_retention_days: int
    """Days a monthly recovery point (and its copy) is kept, at least the daily one's. From
    config `backupMonthlyRetentionDays`. Required."""
    topic_ready: Sequence[pulumi.Resource] = ()
    """What the notifications wait for: the topic's policy, so AWS Backup may publish from its
    first event. Default none."""
    copy_region: str | None = None
    """Region of the disaster-recovery vault every recovery point is copied to, with its own key
    and provider there. From config `backupCopyRegion`. Default None: no copy."""
    default_tags: Mapping[str, str] = field(default_factory=dict)
    """The stack provider's default tags, given to the copy region's provider. Required with
    ``copy_region``. From the stack's tags."""
    vault_lock: VaultLockArgs | None = None
    """Vault Lock in compliance mode on both vaults. From config `backupVaultLock` and its
    `backupVaultLock*` keys. Default None: no lock (a stack whose backups may be deleted)."""
    daily_schedule: str = DAILY_SCHEDULE
    """When the daily rule starts a job (a cron expression, UTC). Default 05:00 UTC, after the
    cluster's default backup and maintenance windows."""
    monthly_schedule: str = MONTHLY_SCHEDULE
    """When the monthly rule starts a job. Default the 1st of each month, 05:00 UTC."""
    start_window_minutes: int = 60
    """How long a scheduled job may wait to start before it expires (60 or more, AWS Backup's
    minimum). Default 60."""
    completion_window_minutes: int = 360
    """How long a started job may run before AWS Backup cancels it. Default 360 (6 h)."""
    copy_key_deletion_window_days: int = 30
    """Deletion window of the copy region's key (7-30). Default 30."""
    protect: bool = False
    """pulumi protect on the vaults, their locks and the role AWS Backup manages recovery points
    with. From config `docdbProtect`: the stack that keeps its database keeps its backups. Default
    False."""


def validate_backup(name: str, args: BackupArgs) -> None:
    where = f"Backup {name}"
    check_environment(args.environment)
    if not args.resource_arns:
        raise ValueError(f"{where}: resource_arns is empty; give the DocumentDB cluster's ARN")
    retentions = {
        "daily_retention_days": args.daily_retention_days,
        "monthly_retention_days": args.monthly_retention_days,
    }
    for field_name, days in retentions.items():
        if problem := retention_problem(days):
            raise ValueError(f"{where}: {field_name}={days}; {problem}")
    if args.monthly_retention_days < args.daily_retention_days:
        raise ValueError(
            f"{where}: monthly_retention_days={args.monthly_retention_days} is below "
            f"daily_retention_days={args.daily_retention_days}; the monthly points are the long-lived ones"
        )
    _validate_schedules(where, args)
    if args.copy_region is not None:
        if not _REGION.match(args.copy_region) or args.copy_region == args.region:
            raise ValueError(
                f"{where}: copy_region={args.copy_region!r}; name a region other than {args.region}: a copy "
                "in the same region survives nothing the first vault does not"
            )
        if not args.default_tags:
            raise ValueError(
                f"{where}: default_tags is empty; the copy region's provider tags as the stack's"
            )
    if args.vault_lock is not None:
        lock = args.vault_lock
        problems = vault_lock_problems(
            changeable_for_days=lock.changeable_for_days,
            min_retention_days=lock.min_retention_days,
            max_retention_days=lock.max_retention_days,
            retentions=retentions,
        )
        if problems:
            raise ValueError(f"{where}: vault_lock: " + "; ".join(problems))


def _validate_schedules(where: str, args: BackupArgs) -> None:
    for field_name, expression in (
        ("daily_schedule", args.daily_schedule),
        ("monthly_schedule", args.monthly_schedule),
    ):
        if not _CRON.match(expression):
            raise ValueError(
                f"{where}: {field_name}={expression!r}; use cron(minute hour day month weekday year)"
            )
    if args.start_window_minutes < 60:
        raise ValueError(
            f"{where}: start_window_minutes={args.start_window_minutes}; AWS Backup needs 60 or more"
        )
    if args.completion_window_minutes <= args.start_window_minutes:
        raise ValueError(
            f"{where}: completion_window_minutes={args.completion_window_minutes} must exceed "
            f"start_window_minutes={args.start_window_minutes}"
        )


def trust_policy() -> dict[str, Any]:
    # The trust AWS Backup's own default service role has ("IAM service roles": the role "must
    # have AWS Backup listed as a trusted entity"). No aws:SourceAccount condition: AWS Backup's
    # guide recommends the keys for resource policies it publishes or writes to, not for the
    # AssumeRole of its service role, and a key it did not send would stop every job.
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }


def plan_rules(
    args: BackupArgs, vault_name: pulumi.Input[str], copy_vault_arn: pulumi.Input[str] | None
) -> list[aws.backup.PlanRuleArgs]:
    """The daily and the monthly rule; each copies to ``copy_vault_arn`` (when there is one) and
    keeps the copy as long as the original."""

    def rule(rule_name: str, schedule: str, days: int) -> aws.backup.PlanRuleArgs:
        copies = (
            [
                aws.backup.PlanRuleCopyActionArgs(
                    destination_vault_arn=copy_vault_arn,
                    lifecycle=aws.backup.PlanRuleCopyActionLifecycleArgs(delete_after=days),
                )
            ]
            if copy_vault_arn is not None
            else None
        )
        return aws.backup.PlanRuleArgs(
            rule_name=rule_name,
            target_vault_name=vault_name,
            schedule=schedule,
            start_window=args.start_window_minutes,
            completion_window=args.completion_window_minutes,
            # DocumentDB snapshots have no cold tier: delete_after alone.
            lifecycle=aws.backup.PlanRuleLifecycleArgs(delete_after=days),
            copy_actions=copies,
        )

    return [
        rule("daily", args.daily_schedule, args.daily_retention_days),
        rule("monthly", args.monthly_schedule, args.monthly_retention_days),
    ]


class Backup(pulumi.ComponentResource):
    """An environment's AWS Backup: vault (locked in compliance mode when asked), the copy
    region's vault, the plan, the selection of the DocumentDB cluster and the vault's events."""

    vault: aws.backup.Vault
    vault_arn: pulumi.Output[str]
    vault_lock: aws.backup.VaultLockConfiguration | None
    copy_provider: aws.Provider | None
    copy_keys: Keys | None
    copy_vault: aws.backup.Vault | None
    copy_vault_lock: aws.backup.VaultLockConfiguration | None
    role: aws.iam.Role
    plan: aws.backup.Plan
    selection: aws.backup.Selection
    notifications: aws.backup.VaultNotifications

    def __init__(self, name: str, args: BackupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        validate_backup(name, args)
        super().__init__("notes:infra:Backup", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        env = args.environment
        self.vault, self.vault_lock = self._vault(name, f"notes-{env}-backup", args.kms_key_arn, args, child)
        self.vault_arn = self.vault.arn
        self.copy_provider = self.copy_keys = self.copy_vault = self.copy_vault_lock = None
        if args.copy_region is not None:
            self._copy_vault(name, args, args.copy_region)
        copy_vault_arn = self.copy_vault.arn if self.copy_vault is not None else None

        self.role = aws.iam.Role(
            f"{name}-role",
            name=f"notes-{env}-backup",
            description="AWS Backup takes, copies, expires and restores the environment's backups",
            assume_role_policy=json.dumps(trust_policy()),
            # AWS Backup manages the recovery points' lifecycle with this role; without it some
            # stay behind EXPIRED ("Identity and access management in AWS Backup", warning).
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-role-{what}", role=self.role.name, policy_arn=policy_arn, opts=child
            )
            for what, policy_arn in (("backup", BACKUP_POLICY_ARN), ("restore", RESTORE_POLICY_ARN))
        ]
        self.plan = aws.backup.Plan(
            f"{name}-plan",
            name=f"notes-{env}-docdb",
            rules=plan_rules(args, self.vault.name, copy_vault_arn),
            # A lock's bounds hold for the jobs the plan sends: the plan waits for them.
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[lock for lock in (self.vault_lock, self.copy_vault_lock) if lock]
            ),
        )
        self.selection = aws.backup.Selection(
            f"{name}-selection",
            name=f"notes-{env}-docdb",
            plan_id=self.plan.id,
            iam_role_arn=self.role.arn,
            resources=list(args.resource_arns),
            # Every input replaces a selection (terraform-provider-aws selection.go, all ForceNew)
            # and its name is fixed: the old one goes first; the cluster is unselected for
            # seconds, between two schedules. The role's policies come before the first job.
            opts=pulumi.ResourceOptions(parent=self, depends_on=attachments, delete_before_replace=True),
        )
        self.notifications = aws.backup.VaultNotifications(
            f"{name}-notifications",
            backup_vault_name=self.vault.name,
            sns_topic_arn=args.topic_arn,
            backup_vault_events=list(VAULT_EVENTS),
            # PutBackupVaultNotifications replaces the vault's one configuration: a replacement
            # created first would be deleted by the old one's delete, so the old one goes first.
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=list(args.topic_ready), delete_before_replace=True
            ),
        )
        self.register_outputs(
            {
                "vaultArn": self.vault_arn,
                "copyVaultArn": copy_vault_arn,
                "planId": self.plan.id,
                "roleArn": self.role.arn,
            }
        )

    def _vault(
        self,
        name: str,
        vault_name: str,
        kms_key_arn: pulumi.Input[str],
        args: BackupArgs,
        opts: pulumi.ResourceOptions,
    ) -> tuple[aws.backup.Vault, aws.backup.VaultLockConfiguration | None]:
        vault = aws.backup.Vault(
            f"{name}-vault",
            name=vault_name,
            kms_key_arn=kms_key_arn,
            force_destroy=False,
            # The key replaces the vault (ForceNew) under its fixed name: the old one is deleted
            # first, which AWS refuses while it holds recovery points, so a key change stops
            # there instead of orphaning them.
            opts=pulumi.ResourceOptions.merge(
                opts, pulumi.ResourceOptions(protect=args.protect, delete_before_replace=True)
            ),
        )
        if args.vault_lock is None:
            return vault, None
        lock = aws.backup.VaultLockConfiguration(
            f"{name}-vault-lock",
            backup_vault_name=vault.name,
            changeable_for_days=args.vault_lock.changeable_for_days,
            min_retention_days=args.vault_lock.min_retention_days,
            max_retention_days=args.vault_lock.max_retention_days,
            # Every input is ForceNew and PutBackupVaultLockConfiguration replaces the vault's lock:
            # a replacement created first would be deleted with the old one. Deleted first it goes
            # only before the lock date; after it, the delete fails and so does the change.
            opts=pulumi.ResourceOptions.merge(
                opts, pulumi.ResourceOptions(protect=args.protect, delete_before_replace=True)
            ),
        )
        return vault, lock

    def _copy_vault(self, name: str, args: BackupArgs, region: str) -> None:
        self.copy_provider = aws.Provider(
            f"{name}-{region}",
            region=region,
            default_tags=aws.ProviderDefaultTagsArgs(tags=dict(args.default_tags)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.copy_keys = Keys(
            f"{name}-copy-keys",
            KeysArgs(
                environment=args.environment,
                region=region,
                account_id=args.account_id,
                deletion_window_days=args.copy_key_deletion_window_days,
                purposes=("backup",),
                alias_scope="copy",
            ),
            pulumi.ResourceOptions(parent=self, providers=[self.copy_provider]),
        )
        self.copy_vault, self.copy_vault_lock = self._vault(
            f"{name}-copy",
            f"notes-{args.environment}-backup-copy",
            self.copy_keys.arn("backup"),
            args,
            pulumi.ResourceOptions(parent=self, provider=self.copy_provider),
        )
