"""An estimate and a capacity table as text for people (``notes-platform cost``) and as a
Markdown table for the README."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from notes_platform.cost.capacity import Benchmark, CapacityRow
from notes_platform.cost.model import Estimate, Line, round_usd
from notes_platform.cost.prices import MISSING, UNCONFIRMED

# Marks beside a figure the table could not confirm on an AWS page (see each price file's "about").
MARKS = {UNCONFIRMED: "*", MISSING: "!"}


def _quantity(value: Decimal) -> str:
    return f"{value:,.2f}" if value != value.to_integral_value() else f"{value:,.0f}"


def _line(line: Line) -> str:
    mark = MARKS.get(line.status, "")
    return (
        f"  {line.name[:44]:44} {line.what[:42]:42} {_quantity(line.quantity):>12} {line.unit[:20]:20} "
        f"x {line.unit_price:<9} {line.region:9} {round_usd(line.monthly):>10}{mark}"
    )


def render(estimate: Estimate) -> str:
    rows = [
        f"Monthly estimate of {estimate.stack} (USD)",
        f"  {'resource':44} {'charge':42} {'quantity':>12} {'unit':20}   {'unit price':9} {'region':9} "
        f"{'monthly':>10}",
        *(_line(line) for line in sorted(estimate.lines, key=lambda item: (item.type, item.name))),
        f"  {'total':>150} {round_usd(estimate.total):>10}",
        "",
    ]
    unconfirmed = [line for line in estimate.lines if line.status == UNCONFIRMED]
    if unconfirmed:
        share = sum((line.monthly for line in unconfirmed), Decimal(0))
        rows.append(
            f"* unconfirmed price: {len(unconfirmed)} lines, {round_usd(share)} USD of the total (check the "
            "AWS page each price file names before relying on it)"
        )
    if estimate.unpriced:
        rows.append(f"! no price in the tables, counted as 0: {'; '.join(estimate.unpriced)}")
    rows += [
        f"Prices taken {estimate.prices_date}: {estimate.prices_source}",
        "Assumptions:",
        *(f"  - {item}" for item in estimate.assumptions),
    ]
    return "\n".join(rows) + "\n"


def by_type(estimate: Estimate) -> list[tuple[str, Decimal]]:
    """Monthly USD per resource type, largest first (the README's table)."""
    totals: dict[str, Decimal] = {}
    for line in estimate.lines:
        totals[line.type] = totals.get(line.type, Decimal(0)) + line.monthly
    return sorted(totals.items(), key=lambda item: (-item[1], item[0]))


def render_capacity(
    stack: str, rows: Sequence[CapacityRow], rps_per_task: Decimal, benchmark: Benchmark | None
) -> str:
    basis = (
        f"{int(rps_per_task):,} req/s a task: {benchmark.rps_per_vcpu:,} req/s per vCPU from "
        f"{benchmark.source}, row '{benchmark.row}', measured {benchmark.date}"
        if benchmark
        else f"{int(rps_per_task):,} req/s a task (--rps-per-task)"
    )
    lines = [
        f"Capacity of {stack} ({basis})",
        f"  {'req/s':>8} {'tasks':>6} {'request policy asks':>20} {'max_count carries':>18} "
        f"{'monthly USD':>12}",
    ]
    for row in rows:
        lines.append(
            f"  {row.traffic:>8,} {row.tasks:>6} {row.policy_tasks:>20} {'yes' if row.carried else 'NO':>18} "
            f"{round_usd(row.monthly):>12,}"
        )
    return "\n".join(lines) + "\n"
