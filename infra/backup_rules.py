"""What AWS Backup accepts for retention and Vault Lock: the rules the backup component
(``infra.backup``) and the stack schema (``stacks.sections``, which must load without the Pulumi
SDKs) share, so that a bad stack file is refused with the key named before anything is built.

Every figure is from botocore's backup model (``PutBackupVaultLockConfiguration``): Vault Lock
"enforces a 72-hour cooling-off period before Vault Lock takes effect and becomes immutable.
Therefore, you must set ChangeableForDays to 3 or greater. The maximum value you can specify is
36,500 days"; the shortest MinRetentionDays is 1 day and the longest MaxRetentionDays 36500 days;
"any backup or copy job to the vault must have a lifecycle policy with a retention period equal
to or longer than the minimum retention period" (and at most the maximum), or the vault fails
the job.
"""

from __future__ import annotations

from collections.abc import Mapping

MIN_CHANGEABLE_DAYS = 3
MAX_DAYS = 36_500
MIN_RETENTION_DAYS = 1


def retention_problem(days: int) -> str:
    """Why AWS Backup would refuse ``days`` as a rule's (or a lock's) retention; "" if it accepts it."""
    if MIN_RETENTION_DAYS <= days <= MAX_DAYS:
        return ""
    return f"AWS Backup keeps a recovery point {MIN_RETENTION_DAYS} to {MAX_DAYS} days"


def vault_lock_problems(
    *,
    changeable_for_days: int,
    min_retention_days: int,
    max_retention_days: int,
    retentions: Mapping[str, int],
) -> list[str]:
    """Why a compliance-mode lock with these bounds is impossible, or would fail the jobs the
    rules (``retentions``: what names each retention -> days) send into the vault; [] if fine."""
    problems = []
    if not MIN_CHANGEABLE_DAYS <= changeable_for_days <= MAX_DAYS:
        problems.append(
            f"changeable for {changeable_for_days} days: AWS Backup's cooling-off period needs "
            f"{MIN_CHANGEABLE_DAYS} to {MAX_DAYS} days"
        )
    for what, days in (("minimum", min_retention_days), ("maximum", max_retention_days)):
        if problem := retention_problem(days):
            problems.append(f"{what} retention {days} days: {problem}")
    if min_retention_days > max_retention_days:
        problems.append(
            f"minimum retention {min_retention_days} days is above the maximum {max_retention_days}"
        )
    problems += [
        f"{what} keeps {days} days, outside the lock's {min_retention_days} to {max_retention_days}: "
        "the vault would fail every one of its jobs"
        for what, days in retentions.items()
        if not min_retention_days <= days <= max_retention_days
    ]
    return problems
