"""The backup plan's cost: snapshots kept past the cluster's own retention, and per copying rule
the transfer to the second region and the copies kept there, each in the region that bills it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from notes_platform.cost.backup import DAYS_PER_MONTH, runs_per_month
from notes_platform.cost.model import estimate
from notes_platform.cost.usage import Usage
from notes_platform.graph.mocks import ACCOUNT_ID
from tests import type_tokens as t
from tests.notes_platform.cost.test_model import DEFAULT_PROVIDER, planted, provider

COPY_VAULT = f"arn:aws:backup:eu-central-1:{ACCOUNT_ID}:backup-vault:notes-prod-backup-copy"


def _rule(name: str, schedule: str, days: int, copy: bool) -> dict[str, object]:
    rule: dict[str, object] = {"ruleName": name, "schedule": schedule, "lifecycle": {"deleteAfter": days}}
    if copy:
        rule["copyActions"] = [{"destinationVaultArn": COPY_VAULT, "lifecycle": {"deleteAfter": days}}]
    return rule


def _estimate(*, copy: bool) -> list[tuple[str, str, Decimal]]:
    cluster = planted(t.DOCDB_CLUSTER, {"backupRetentionPeriod": 35}, name="cluster")
    plan = planted(
        t.BACKUP_PLAN,
        {
            "rules": [
                _rule("daily", "cron(0 5 ? * * *)", 35, copy),
                _rule("monthly", "cron(0 5 1 * ? *)", 365, copy),
            ]
        },
        name="plan",
    )
    # Only the plan's lines: the cluster's own storage and I/O are priced elsewhere.
    result = estimate(
        [provider(DEFAULT_PROVIDER, "eu-west-1"), cluster, plan], "test", Usage(docdb_storage_gb=100)
    )
    cents = Decimal("0.01")
    return [
        (line.what, line.region, line.monthly.quantize(cents))
        for line in result.lines
        if line.type == t.BACKUP_PLAN
    ]


def test_prods_plan_pays_for_monthly_points_past_retention_and_for_every_copy() -> None:
    # GIVEN a 100 GB cluster keeping 35 days itself, 35 daily and 365 monthly days, copied to eu-central-1
    # WHEN estimated / THEN (0.02 USD per GB-month and per GB transferred, unconfirmed prices):
    daily = DAYS_PER_MONTH  # 30.4166... daily copies a month, each a full 100 GB snapshot
    cents = Decimal("0.01")
    expected = [
        # the daily points all lie within the cluster's own 35 days: nothing billed
        ("daily snapshots past the cluster's 35-day retention: 0.0 x 100 GB", "eu-west-1", Decimal(0)),
        (
            "daily copies to eu-central-1: 30.4 full snapshots a month",
            "eu-west-1",
            daily * 100 * Decimal("0.02"),
        ),
        ("daily copies kept in eu-central-1: 35.0 x 100 GB", "eu-central-1", Decimal(3500) * Decimal("0.02")),
        # 330 of the 365 days lie past the cluster's retention: 10.8 monthly points billed
        (
            "monthly snapshots past the cluster's 35-day retention: 10.8 x 100 GB",
            "eu-west-1",
            Decimal(330) / daily * 100 * Decimal("0.02"),
        ),
        ("monthly copies to eu-central-1: 1.0 full snapshots a month", "eu-west-1", Decimal(2)),
        (
            "monthly copies kept in eu-central-1: 12.0 x 100 GB",
            "eu-central-1",
            Decimal(365) / daily * 100 * Decimal("0.02"),
        ),
    ]
    assert _estimate(copy=True) == [(what, region, usd.quantize(cents)) for what, region, usd in expected]
    # 60.83 + 70.00 + 21.70 + 2.00 + 24.00: about 178.53 USD a month for prod's 100 GB
    assert sum(usd for _, _, usd in _estimate(copy=True)) == Decimal("178.53")


def test_without_a_copy_only_the_snapshots_past_retention_cost() -> None:
    lines = _estimate(copy=False)
    assert [what.split(":")[0] for what, _, _ in lines] == [
        "daily snapshots past the cluster's 35-day retention",
        "monthly snapshots past the cluster's 35-day retention",
    ]


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("cron(0 5 ? * * *)", DAYS_PER_MONTH),
        ("cron(0 5 1 * ? *)", Decimal(1)),
        ("cron(0 5 1,15 * ? *)", Decimal(2)),
        ("cron(0 5 ? * SUN *)", DAYS_PER_MONTH / 7),
    ],
)
def test_a_rules_runs_a_month_follow_its_cron_expression(schedule: str, expected: Decimal) -> None:
    assert runs_per_month(schedule) == expected
