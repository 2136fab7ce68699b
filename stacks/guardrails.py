"""The stack's day-2 guard rails, built from the backup* and budget* keys: the backups of the
DocumentDB cluster (``infra.backup``) and the cost budget with its anomaly alerts
(``infra.budgets``). ``stacks.tiers`` calls them: the budgets once the alarm topic exists, the
backups once the cluster does.

Both report to the environment's alarm topic, so the topic's policy and the sns key admit the
services that publish to it themselves (``SERVICE_PUBLISHERS``); the foundation passes them.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

from infra.backup import Backup, BackupArgs, VaultLockArgs
from infra.budgets import Budgets, BudgetsArgs
from infra.documentdb import DocumentDb
from infra.kms import Keys
from infra.observability.topic import AlarmTopic
from stacks.config import StackConfig

# AWS Backup's vault events, AWS Budgets and Cost Anomaly Detection publish to the alarm topic.
SERVICE_PUBLISHERS = ("backup.amazonaws.com", "budgets.amazonaws.com", "costalerts.amazonaws.com")


def stack_budgets(config: StackConfig, topic: AlarmTopic, opts: pulumi.ResourceOptions) -> Budgets:
    budget = config.budget
    return Budgets(
        f"{config.general.environment}-budgets",
        BudgetsArgs(
            environment=config.general.environment,
            monthly_limit_usd=budget.monthly_usd,
            topic_arn=topic.arn,
            emails=tuple(config.alarms.emails),
            topic_ready=[topic.policy],
            environment_tag_only=budget.environment_tag_only,
            anomaly_threshold_usd=budget.anomaly_threshold_usd,
            anomaly_monitor_arn=budget.anomaly_monitor_arn,
        ),
        opts,
    )


def stack_backup(
    config: StackConfig,
    *,
    account_id: pulumi.Input[str],
    keys: Keys,
    topic: AlarmTopic,
    database: DocumentDb,
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> Backup:
    backup = config.backup
    low, high = backup.lock_bounds
    return Backup(
        f"{config.general.environment}-backup",
        BackupArgs(
            environment=config.general.environment,
            region=config.region,
            account_id=account_id,
            kms_key_arn=keys.arn("backup"),
            resource_arns=[database.cluster.arn],
            topic_arn=topic.arn,
            topic_ready=[topic.policy],
            daily_retention_days=backup.daily_retention_days,
            monthly_retention_days=backup.monthly_retention_days,
            copy_region=backup.copy_region,
            default_tags=dict(tags),
            vault_lock=(
                VaultLockArgs(
                    changeable_for_days=backup.vault_lock_changeable_days,
                    min_retention_days=low,
                    max_retention_days=high,
                )
                if backup.vault_lock
                else None
            ),
            # The stack that keeps its database keeps its backups (docdbProtect).
            protect=config.docdb.protect,
        ),
        opts,
    )
