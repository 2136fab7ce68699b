"""What an AWS Backup plan of the DocumentDB cluster costs: the snapshots it keeps, and for each
rule that copies to another region, the transfer and the copies kept there.

How a charge is counted, with its source:
- DocumentDB bills a snapshot at the cluster volume's size ("The size of each snapshot is the size
  of the cluster volume at the time you take the snapshot"), and only beyond the cluster's own
  backup retention ("Manual snapshots taken within the retention period do not count against your
  backup storage"): Amazon DocumentDB Developer Guide, "Understanding backup storage usage". The
  cluster's continuous backups (and the free allowance of one cluster volume) are not priced here.
- A copy to another region is a full snapshot each time ("When you copy a snapshot to an AWS Region
  that is different from the source snapshot's AWS Region, each copy is a full snapshot": "Copying
  Amazon DocumentDB cluster snapshots"), transferred out of the source region and kept whole in the
  destination, where no cluster's retention covers it.
A rule's snapshots a month follow its cron expression: a day of the month is monthly, a day of the
week weekly, neither daily. Steady state: a rule keeping ``days`` holds ``days x per_month / days a
month`` snapshots.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from notes_platform.cost.context import HOURS_PER_MONTH, Context, Line

if TYPE_CHECKING:
    from notes_platform.graph.mocks import Recorded

DAYS_PER_MONTH = HOURS_PER_MONTH / 24
WEEKS_PER_MONTH = DAYS_PER_MONTH / 7
DOCDB_CLUSTER = "aws:docdb/cluster:Cluster"


def runs_per_month(schedule: str) -> Decimal:
    """How often a cron(minute hour day-of-month month day-of-week year) rule runs in a month."""
    fields = schedule.removeprefix("cron(").removesuffix(")").split()
    day_of_month, day_of_week = (fields[2], fields[4]) if len(fields) == 6 else ("*", "?")
    if day_of_month not in ("*", "?"):
        return Decimal(len(day_of_month.split(",")))
    if day_of_week not in ("*", "?"):
        return WEEKS_PER_MONTH * len(day_of_week.split(","))
    return DAYS_PER_MONTH


def _days(lifecycle: Any) -> Decimal:
    value = (lifecycle or {}).get("deleteAfter") if isinstance(lifecycle, dict) else None
    return Decimal(str(value)) if value else Decimal(0)


def _region_of_arn(arn: Any) -> str | None:
    parts = str(arn).split(":")
    return parts[3] if len(parts) > 3 and parts[0] == "arn" and parts[3] else None


def backup_plan(context: Context, plan: Recorded) -> list[Line]:
    clusters = context.of_type(DOCDB_CLUSTER)
    retention = Decimal(str(clusters[0].inputs.get("backupRetentionPeriod") or 1)) if clusters else Decimal(0)
    size = context.usage.docdb_storage_gb
    lines = []
    for rule in plan.inputs.get("rules") or ():
        name = rule.get("ruleName", "rule")
        per_month = runs_per_month(str(rule.get("schedule") or "cron(0 5 ? * * *)"))
        kept = _days(rule.get("lifecycle"))
        # The share of a day's snapshot each kept day stands for: exactly 1 for a daily rule.
        share = per_month / DAYS_PER_MONTH
        billed = max(Decimal(0), kept - retention) * share
        lines.append(
            context.line(
                plan,
                "backup_docdb_snapshot_gb_month",
                f"{name} snapshots past the cluster's {retention}-day retention: {billed:.1f} x {size} GB",
                billed * size,
            )
        )
        for action in rule.get("copyActions") or ():
            destination = _region_of_arn(action.get("destinationVaultArn")) or context.region_of(plan)
            copies = _days(action.get("lifecycle")) or kept
            held = copies * share
            lines += [
                context.line(
                    plan,
                    "inter_region_transfer_gb",
                    f"{name} copies to {destination}: {per_month:.1f} full snapshots a month",
                    per_month * size,
                ),
                context.line(
                    plan,
                    "backup_docdb_snapshot_gb_month",
                    f"{name} copies kept in {destination}: {held:.1f} x {size} GB",
                    held * size,
                    region=destination,
                ),
            ]
    return lines
