"""The backup* and budget* sections of a stack's configuration (``stacks.sections`` holds the
others; ``stacks.config`` puts them all together). Pure pydantic over the rules the components
share (``infra.backup_rules``, ``infra.budget_rules``), so a bad value stops the program naming
its key before anything is built."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field, model_validator

from infra.backup_rules import MAX_DAYS, MIN_CHANGEABLE_DAYS, vault_lock_problems
from infra.budget_rules import ANOMALY_MONITOR_ARN, MAX_ANOMALY_THRESHOLD_USD, email_subscribers_problem
from stacks.sections import Section

REGION = r"^[a-z]{2}(-gov)?-[a-z]+-\d$"


class Backup(Section):
    """AWS Backup of the DocumentDB cluster (infra/backup.py): a vault under the stack's backup
    key, a daily and a monthly rule, a copy of every recovery point to a second region, and Vault
    Lock in compliance mode where the stack says so. Every stack backs its cluster up."""

    daily_retention_days: int = Field(
        7, ge=1, le=MAX_DAYS, description="days a daily recovery point (and its copy) is kept"
    )
    monthly_retention_days: int = Field(
        30,
        ge=1,
        le=MAX_DAYS,
        description="days a monthly recovery point (and its copy) is kept; at least backupDailyRetentionDays",
    )
    copy_region: str | None = Field(
        None,
        pattern=REGION,
        description="region of the disaster-recovery vault every recovery point is copied to, with its "
        "own KMS key there; unset: no copy",
    )
    vault_lock: bool = Field(
        False,
        description="Vault Lock in COMPLIANCE MODE on the backup vaults. IRREVERSIBLE: once "
        "backupVaultLockChangeableDays have passed, NOBODY, AWS INCLUDED, can remove the lock, delete a "
        "recovery point before its retention ends, or delete a vault that holds recovery points; the "
        "retention keys can then only move within the lock's bounds",
    )
    vault_lock_changeable_days: int = Field(
        MIN_CHANGEABLE_DAYS,
        ge=MIN_CHANGEABLE_DAYS,
        le=MAX_DAYS,
        description="days after it is set that the lock may still be changed or removed (AWS's "
        "cooling-off, 3 at least); after them it is permanent",
    )
    vault_lock_min_retention_days: int | None = Field(
        None,
        ge=1,
        le=MAX_DAYS,
        description="shortest retention a locked vault accepts; unset: backupDailyRetentionDays",
    )
    vault_lock_max_retention_days: int | None = Field(
        None,
        ge=1,
        le=MAX_DAYS,
        description="longest retention a locked vault accepts; unset: backupMonthlyRetentionDays. "
        "Leave room: after the lock date no rule may keep longer",
    )

    @property
    def lock_bounds(self) -> tuple[int, int]:
        """The locked vaults' (minimum, maximum) retention, defaults filled in."""
        return (
            self.vault_lock_min_retention_days or self.daily_retention_days,
            self.vault_lock_max_retention_days or self.monthly_retention_days,
        )

    @model_validator(mode="after")
    def _retentions(self) -> Backup:
        # The same rules Backup enforces, here so that the message names the keys.
        problems = []
        if self.monthly_retention_days < self.daily_retention_days:
            problems.append(
                f"backupMonthlyRetentionDays: {self.monthly_retention_days} is below "
                f"backupDailyRetentionDays ({self.daily_retention_days}); the monthly points are the "
                "long-lived ones"
            )
        if self.vault_lock:
            low, high = self.lock_bounds
            problems += [
                f"backupVaultLock: {problem}"
                for problem in vault_lock_problems(
                    changeable_for_days=self.vault_lock_changeable_days,
                    min_retention_days=low,
                    max_retention_days=high,
                    retentions={
                        "backupDailyRetentionDays": self.daily_retention_days,
                        "backupMonthlyRetentionDays": self.monthly_retention_days,
                    },
                )
            ]
        if problems:
            raise ValueError("; ".join(problems))
        return self


class Budget(Section):
    """Cost guard rails (infra/budgets.py): a monthly cost budget alerting at 80% of actual and
    100% of forecast spend, and Cost Anomaly Detection alerts, both to the alarm topic."""

    monthly_usd: int = Field(
        gt=0,
        le=100_000_000,
        description="the month's cost budget in USD; alerts at 80% actual and 100% forecast go to the "
        "alarm topic and alarmsEmails",
    )
    anomaly_threshold_usd: int | None = Field(
        None,
        ge=1,
        le=MAX_ANOMALY_THRESHOLD_USD,
        description="alert on a cost anomaly whose total impact reaches this many USD; unset: no anomaly "
        "detection",
    )
    anomaly_monitor_arn: str | None = Field(
        None,
        pattern=ANOMALY_MONITOR_ARN.pattern,
        description="an existing AWS services anomaly monitor to subscribe to; unset: the stack creates "
        "the account's one (an account has only one: give the other stack of a shared account, or an "
        "account where AWS made Default-Services-Monitor, its ARN)",
    )
    environment_tag_only: bool = Field(
        False,
        description="budget only the costs tagged Environment=<environment>; the Environment cost "
        "allocation tag must be activated first, or the budget sees nothing",
    )

    @model_validator(mode="after")
    def _monitor(self) -> Budget:
        if self.anomaly_monitor_arn is not None and self.anomaly_threshold_usd is None:
            raise ValueError(
                "budgetAnomalyMonitorArn: set budgetAnomalyThresholdUsd as well; a monitor without a "
                "threshold alerts nobody"
            )
        return self


def guardrail_problems(region: str, backup: Backup, emails: Sequence[str]) -> list[tuple[str, str]]:
    """(key, problem) for the rules across sections: the copy region against the stack's, and the
    owners the budget mails directly against what a budget notification takes."""
    problems = []
    if backup.copy_region == region:
        problems.append(
            ("backupCopyRegion", f"{region} is the stack's own region: a copy there survives nothing")
        )
    if emails_problem := email_subscribers_problem(len(emails)):
        problems.append(("alarmsEmails", emails_problem))
    return problems
